"""torchtitan's per-op selective activation checkpointing (``recompute: per-op``).

torchtitan wraps each transformer block in a checkpoint whose policy decides op by op what the
forward pass keeps (``parallelize_llama.py`` ``_apply_ac_to_transformer_block`` with
``selective_ac_option = 'op'``, the default of its Llama 3 8B config; commits 9dec370 and d4c86e3,
December 2024 - January 2025):

* **saved**: the outputs of the ops in its ``_save_list`` -- matrix multiplies (``aten.mm``), the
  SDPA kernels, reduce-scatters and the ``abs``/``max`` of FP8 scaling -- *except every second
  matrix multiply of the block* (a counter per block forward);
* **recomputed** in the backward pass: everything else -- norms, rotary, the activation function,
  residual adds, all-gathers (sequence parallelism) -- and the 2nd, 4th, 6th ... matrix multiply.

``torch.compile`` keeps the policy: its partitioner treats ``PREFER_RECOMPUTE`` as must-recompute
(``torch/_functorch/partitioners.py`` ``must_recompute``).  A Llama block multiplies in the order
wq, wk, wv, wo, w1, w3, w2, so wk, wo and w3 run again: 36.5% of a Llama 3 8B block's GEMM FLOPs.

fabricsim's layers fuse q, k and v into one GEMM and SwiGLU's gate and up into FC1
(:mod:`fabricsim.workload.layers`); here they are split back into the separate matrix multiplies
torchtitan's ``nn.Linear`` modules run.  Float8 linears (torchao) reach the policy as ``aten.mm`` on
Float8 tensors (the dispatch mode sees the op before the tensor subclass turns it into
``_scaled_mm``), so they count the same way.
"""

from __future__ import annotations

from fabricsim.workload.gemm import gemm_seconds
from fabricsim.workload.layers import Gemm

POLICY = "per-op"


def matmul_widths(gemm: Gemm, model) -> list[float]:
    """Output widths of the separate matrix multiplies one fabricsim GEMM stands for, in forward order:
    q, k, v for a fused QKV projection, gate and up for a SwiGLU FC1, otherwise the GEMM itself."""
    if gemm.name == "QKV":
        return [float(model.attention_heads), float(model.kv_heads), float(model.kv_heads)]
    if gemm.name.endswith("FC1") and model.mlp == "swiglu":
        return [1.0, 1.0]
    return [1.0]


def recomputed_shares(gemms: list[Gemm], model) -> list[float]:
    """Per GEMM of one layer (forward order), the share of its output the policy recomputes: every
    second matrix multiply of the block, counted from the first."""
    count, shares = 0, []
    for gemm in gemms:
        widths = matmul_widths(gemm, model)
        recomputed = 0.0
        for width in widths:
            count += 1
            if count % 2 == 0:
                recomputed += width
        shares.append(recomputed / sum(widths))
    return shares


def saved_matmuls(gemms: list[Gemm], model) -> int:
    """Matrix multiplies of one layer whose output the policy keeps (their kernels do not run again)."""
    total = sum(len(matmul_widths(g, model)) for g in gemms)
    return total - total // 2


def saved_bytes_per_token(gemms: list[Gemm], model, hidden_shard: float, attention_shard: float) -> float:
    """Bytes one layer keeps per token under the policy (BF16): the block input (the checkpoint's
    input, ``hidden_shard`` elements of it on this GPU), the outputs of the kept matrix multiplies
    (``gemms`` built for one token on this GPU: ``m x n x batch`` output elements each, routed experts
    with ``k / experts`` tokens per expert), and SDPA's output and
    FP32 log-sum-exp (``attention_shard`` = local query heads x head dim).  The ``abs`` outputs of
    FP8 scaling, also on the save list, are not counted."""
    kept = sum(g.m * g.n * g.batch * (1.0 - share) for g, share in zip(gemms, recomputed_shares(gemms, model)))
    heads = attention_shard / model.head_dim
    return 2.0 * (hidden_shard + kept + attention_shard) + 4.0 * heads


def per_op_recompute(gemms, model, rates, memory_s: float, launch_s: float) -> tuple[float, float]:
    """(seconds, GEMM FLOPs) torchtitan's per-op checkpointing runs again in a layer's backward: every
    memory-bound kernel of the forward (``memory_s``) and its launches other than the kept matrix
    multiplies and attention (``launch_s``), and every second matrix multiply, timed as its own GEMM
    (wk alone is narrower than the fused QKV GEMM)."""
    seconds, flops = memory_s + launch_s, 0.0
    for g, share in zip(gemms, recomputed_shares(gemms, model)):
        if share:
            seconds += float(gemm_seconds(g.m, g.n * share, g.k, rates, g.batch))
            flops += g.flops * share
    return seconds, flops


__all__ = ["per_op_recompute", "POLICY", "matmul_widths", "recomputed_shares", "saved_matmuls", "saved_bytes_per_token"]
