"""Fused attention kernels run slower per FLOP on narrow heads.

A fused attention kernel does two kinds of work per score of the ``seq x seq`` square: matrix multiplies whose
FLOPs grow with the head dimension ``d`` (``Q K^T`` and ``P V`` forward, five products backward), and work whose
cost does not -- the softmax's exponentials on the special-function units, its running maximum and rescaling.
The FLOPs the model counts are the matrix multiplies', so a narrower head does the same fixed work per score over
fewer counted FLOPs.  With a fixed cost per score worth ``x`` head-dimension columns,

    rate(d) ~ d / (d + x)

and the catalog's rates, all measured at head dimension 128 (``attention_efficiency``), scale by
``rate(d) / rate(128)`` (:func:`head_dim_factor`).  ``x`` comes from the measured ratio ``r`` of the rate at head
dimension 64 to the rate at 128 (catalog ``attention_head_dim_64_ratio``, forward + backward weighted 1 : 2.5 like
``attention_efficiency``): ``r = (128 + x) / (2 (64 + x))``, so ``x = 128 (1 - r) / (2 r - 1)``.

Heads wider than 128 keep the head-dim-128 rate (factor 1): the same measurements (Shah et al. 2024, FlashAttention-3
Fig. 5) show cuDNN and FlashAttention-3 at head dimension 256 no faster than at 128 -- the matrix multiplies already
bound the kernel there.  A GPU whose catalog entry gives no ratio for a kernel keeps one rate at every head dimension.
"""

from __future__ import annotations

MEASURED_HEAD_DIM = 128
"""Head dimension of the catalog's ``attention_efficiency`` measurements (cuDNN's llama presets, FlashAttention-2/3
papers' head-dim-128 panels)."""


def fixed_columns(ratio_at_64: float) -> float:
    """Fixed work per score, in head-dimension columns, implied by the rate ratio ``r`` at head dimension 64 over 128:
    ``x = 128 (1 - r) / (2 r - 1)`` (module docstring); 0 when the ratio is 1."""
    if not 0.5 < ratio_at_64 <= 1.0:
        raise ValueError(f"attention_head_dim_64_ratio={ratio_at_64} must lie in (0.5, 1]")
    return MEASURED_HEAD_DIM * (1.0 - ratio_at_64) / (2.0 * ratio_at_64 - 1.0)


def head_dim_factor(ratio_at_64: float | None, head_dim: float) -> float:
    """Rate of a fused attention kernel at ``head_dim`` over its rate at head dimension 128, from the measured ratio at
    64 (None: 1 at every head dimension); capped at 1 for wider heads."""
    if ratio_at_64 is None or head_dim >= MEASURED_HEAD_DIM:
        return 1.0
    x = fixed_columns(ratio_at_64)
    return min(1.0, (head_dim / (head_dim + x)) / (MEASURED_HEAD_DIM / (MEASURED_HEAD_DIM + x)))  # 1 up to rounding


def attention_head_dim(model) -> int:
    """The head dimension that sets the kernel's work per score: the query/key width (multi-head latent attention:
    ``qk_nope + qk_rope``, its values being narrower), else ``head_dim``."""
    if model.attention == "mla":
        return model.qk_nope_head_dim + model.qk_rope_head_dim
    return model.head_dim


def kernel_head_dim_factor(gpu, kernel: str, model) -> float:
    """:func:`head_dim_factor` for ``model``'s heads on ``gpu``'s ``kernel`` (``<kernel>-fp8`` falls back to the BF16
    kernel's ratio); 1 without a model."""
    if model is None:
        return 1.0
    table = gpu.attention_head_dim_64_ratio
    ratio = table.get(kernel, table.get(kernel.removesuffix("-fp8")))
    return head_dim_factor(ratio, attention_head_dim(model))


__all__ = ["MEASURED_HEAD_DIM", "fixed_columns", "head_dim_factor", "attention_head_dim", "kernel_head_dim_factor"]
