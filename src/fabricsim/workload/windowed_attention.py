"""Sliding-window layers on the fused attention kernel run at their own, measured rate.

A model that alternates full and sliding-window layers (gpt-oss: 18 of 36 layers attend through a 128-token
window) gives the fused kernel two very different shapes.  In a windowed layer every 128-query tile reaches only
two 128-key tiles, the diagonal one and the one before, so the kernel's fixed work per query tile (loading the
queries, the softmax statistics, writing the output and, backward, the dQ/dK/dV tiles) is spread over a two-tile
loop instead of a ``seq / 256`` one on average.  cuDNN's own benchmark of that shape (catalog
``windowed_attention_efficiency``: NVIDIA/cudnn-frontend benchmark/sdpa_benchmark_training, gpt_oss preset, GB200
and GB300) runs the band at 161-191 TFLOP/s of its FLOPs, 0.07 of BF16 peak, while the same kernel reaches 0.47 on
a full causal layer of 4,096 tokens.

Where the catalog has no band measurement (Hopper), the band rate follows from the same tile loop and the kernel's
full-layer curve ``e(seq) = e_max x seq / (seq + h)`` (catalog ``attention_efficiency`` and
``attention_half_sequence_tokens``): a causal query tile reaches ``seq / 256`` key tiles on average, so the curve
says each query tile costs a fixed ``h / 256`` key tiles' worth of work besides its loop.  A band of ``W`` keys
does ``W / 128`` tiles of FLOPs in a loop of ``W / 128 + 1`` tiles (:func:`band_efficiency`).  On GB200 this
predicts 0.074 from the head-dim-128 full-layer curve against the 0.070 cuDNN measures on gpt-oss's head-dim-64
band; on H200 (cuDNN 9.19, results/h200_919_only_cudnn/gpt_oss_20260227_034819.csv, a 1,024-token window, head
dim 64) it predicts 0.38 from the head-dim-128 curve against a measured 0.31: the narrow head's fixed work per
score (:mod:`fabricsim.workload.attention_head_dim`, catalog ``attention_head_dim_64_ratio``, 0.80 for cuDNN on
Hopper from FlashAttention-3's head-dim-64 and -128 panels) takes it to 0.30.  A band measurement, where there is
one, sets the rate at its window (128 keys) and head dimension (64), and the tile loop and the head-dimension
factor scale it to other windows and heads.  Kernels without a length curve (FlashAttention-2) run windowed layers
at the full-layer rate.

The FLOPs stay :func:`fabricsim.workload.model.attention_flops_per_token_per_layer`'s, split by layer kind
(:func:`fabricsim.workload.model.causal_keys_by_layer_kind`); only the windowed part's rate changes.
"""

from __future__ import annotations

from fabricsim.workload.attention_head_dim import MEASURED_HEAD_DIM, attention_head_dim, head_dim_factor
from fabricsim.workload.model import attention_flops_per_key, causal_keys_by_layer_kind


TILE_TOKENS = 128
"""Queries and keys per tile of the fused attention kernels (cuDNN and FlashAttention tile 128 x 128 on Hopper and
Blackwell)."""
MEASURED_WINDOW_TOKENS = 128
"""The window of the catalog's band measurements (cudnn-frontend's gpt_oss preset: sliding_window_size 128)."""
MEASURED_BAND_HEAD_DIM = 64
"""The head dimension of the catalog's band measurements (the gpt_oss preset's heads)."""


def band_efficiency(window_tokens: float, full_efficiency: float, half_sequence_tokens: float) -> float:
    """Share of peak a fused kernel sustains on a sliding-window band of ``window_tokens`` keys, from its full-layer
    curve ``full_efficiency x seq / (seq + half_sequence_tokens)``: the window's ``W / 128`` tiles of FLOPs over a
    fixed ``half_sequence_tokens / 256`` tiles per query tile plus a ``W / 128 + 1``-tile loop (module docstring)."""
    tiles = window_tokens / TILE_TOKENS
    return full_efficiency * tiles / (half_sequence_tokens / (2 * TILE_TOKENS) + tiles + 1)


def windowed_attention_efficiency(gpu, profile, window_tokens: float = MEASURED_WINDOW_TOKENS,
                                  model=None) -> float | None:
    """Share of dense BF16 peak the profile's fused kernel sustains on a sliding-window layer's band of
    ``window_tokens`` keys on ``gpu`` for ``model``'s heads (None: head dimension 128): the catalog's measurement (at
    its 128-key window and head dimension 64, scaled to others by the tile loop and the head-dimension factor), else
    the tile loop on the kernel's full-layer curve times the head-dimension factor; scaled like every attention
    efficiency by the GPU's sustained compute ratio and the profile's kernel efficiency.  None for a kernel with
    neither."""
    kernel = profile.attention
    full, half = gpu.attention_efficiency.get(kernel), gpu.attention_half_sequence_tokens.get(kernel)
    measured = gpu.windowed_attention_efficiency.get(kernel)
    curve = full is not None and bool(half)
    ratio = gpu.attention_head_dim_64_ratio.get(kernel)
    heads = head_dim_factor(ratio, MEASURED_HEAD_DIM if model is None else attention_head_dim(model))
    if measured is not None:
        scale = band_efficiency(window_tokens, full, half) / band_efficiency(MEASURED_WINDOW_TOKENS, full, half) \
            if curve else 1.0
        band = measured * scale * heads / head_dim_factor(ratio, MEASURED_BAND_HEAD_DIM)
    elif curve:
        band = band_efficiency(window_tokens, full, half) * heads
    else:
        return None
    return band * gpu.sustained_compute_ratio * profile.kernel_efficiency


def attention_seconds_by_layer_kind(model, seq: float, tokens: float, peak_flops: float, full_efficiency: float,
                                    windowed_efficiency: float | None) -> tuple[float, float]:
    """(forward-equivalent FLOPs, seconds) of one layer's attention core averaged over the model's layers, for
    ``tokens`` query tokens of ``seq``-token causal sequences on one GPU: full layers at ``full_efficiency`` of
    ``peak_flops`` (FLOP/s), sliding-window layers at ``windowed_efficiency`` (None: the full layers' rate)."""
    full_keys, windowed_keys = causal_keys_by_layer_kind(model, seq)
    per_key = attention_flops_per_key(model) * tokens
    full, windowed = per_key * full_keys, per_key * windowed_keys
    band_efficiency = full_efficiency if windowed_efficiency is None else windowed_efficiency
    return full + windowed, full / (peak_flops * full_efficiency) + windowed / (peak_flops * band_efficiency)


__all__ = ["windowed_attention_efficiency", "band_efficiency", "attention_seconds_by_layer_kind"]
