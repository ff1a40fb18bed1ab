"""Compute time of one micro-batch on one pipeline stage (seconds).

Three kinds of work, each at the rate that bounds it:

* GEMMs (every weight matrix the token meets: 2 FLOPs per active weight per token forward, twice
  that backward) at dense peak x the GPU's achievable matmul efficiency (catalog ``matmul_efficiency``,
  measured maximum achievable matmul FLOPS);
* attention scores and values (FLOPs grow with the sequence) at dense peak x the flash-attention
  efficiency (``ATTENTION_EFFICIENCY`` by default);
* memory-bound elementwise work (norms, residual adds, rotary embedding, the gated activation)
  at HBM bandwidth: bytes read and written per token per layer are counted from the shapes.

Tensor parallelism divides all three (sequence parallelism shards the elementwise work too);
context parallelism divides tokens.  Backward does twice the forward GEMM FLOPs; flash attention's
backward does 2.5x its forward (it recomputes the scores: 5 matmuls against 2); full
recomputation adds one forward.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabricsim.workload.model import attention_flops_per_token_per_layer, parameter_counts
from fabricsim.workload.parallelism import Parallelism

ATTENTION_EFFICIENCY = 0.35
"""Default fraction of dense BF16 peak that flash attention sustains (``workload.train.attention_efficiency``
overrides it): Shah et al. 2024 (FlashAttention-3, section 1) measure FlashAttention-2 -- the kernel of
2023-24 training runs -- at 35% of H100 peak, and FlashAttention-3 at up to 75% forward; Dao 2023
(FlashAttention-2, abstract) reaches 50-73% of peak on A100."""
ATTENTION_BACKWARD_FACTOR = 2.5
"""Flash attention backward FLOPs / forward FLOPs (Dao 2023: 5 matmuls backward vs 2 forward)."""
ACTIVATION_BYTES = 2
ADAM_BYTES_PER_PARAMETER = 2 * 12 + 4 + 2
"""Adam update per parameter: read and write FP32 master, momentum and variance (2 x 12 bytes),
read the FP32 gradient (4), write the BF16 weight (2)."""


@dataclass(frozen=True)
class StageCompute:
    """One micro-batch on one GPU of the busiest stage (seconds and FLOPs)."""

    forward_s: float
    backward_s: float  # includes recomputation
    gemm_flops: float  # forward + backward + recompute, this GPU
    attention_flops: float
    hbm_bytes: float


def elementwise_bytes_per_token_per_layer(model) -> float:
    """Bytes of memory-bound traffic per token per layer, forward (reads + writes, BF16).

    Counted per layer: two norms (read + write the hidden vector each: 4 h), two residual adds
    (2 reads + 1 write each: 6 h), rotary embedding on queries and keys (read + write), and the gated
    activation of the MLP (read gate and up, write the product: 3 x the active FFN width)."""
    h = model.hidden_size
    qk = model.attention_heads * model.head_dim + model.kv_heads * model.head_dim
    ffn = model.active_ffn_width
    return ACTIVATION_BYTES * (10 * h + 2 * qk + 3 * ffn)


def gemm_flops_per_token_per_layer(model) -> float:
    """Forward GEMM FLOPs per token of an average transformer layer (2 per active weight)."""
    counts = parameter_counts(model)
    return 2.0 * (counts.active - counts.embedding) / model.layers


def stage_compute(model, gpu, par: Parallelism, seq: int, micro_batch: int, layers: int, recompute: str,
                  precision: str, head: bool, attention_efficiency: float = ATTENTION_EFFICIENCY) -> StageCompute:
    """Forward and backward time of one micro-batch through ``layers`` layers on one GPU.

    ``head``: the stage also computes the output projection to the vocabulary (the last stage)."""
    tokens = micro_batch * seq / par.cp
    gemm_rate = (gpu.fp8_dense_flops if precision == "fp8" else gpu.bf16_dense_flops) * gpu.matmul_efficiency
    attention_rate = gpu.bf16_dense_flops * attention_efficiency
    gemm = gemm_flops_per_token_per_layer(model) * tokens * layers / par.tp
    if head:
        gemm += 2.0 * model.hidden_size * model.vocab_size * tokens / par.tp
    attention = attention_flops_per_token_per_layer(model, seq) * tokens * layers / par.tp
    sp = par.tp if par.sequence_parallel else 1
    hbm = elementwise_bytes_per_token_per_layer(model) * tokens * layers / sp
    forward = gemm / gemm_rate + attention / attention_rate + hbm / gpu.hbm_bytes_per_s
    backward = 2 * gemm / gemm_rate + ATTENTION_BACKWARD_FACTOR * attention / attention_rate \
        + 2 * hbm / gpu.hbm_bytes_per_s
    extra = 1.0 if recompute == "full" else 0.0
    backward += extra * forward
    return StageCompute(forward, backward, (3 + extra) * gemm, (1 + ATTENTION_BACKWARD_FACTOR + extra) * attention,
                        (3 + extra) * hbm)


def optimizer_step_s(gpu, dense_params: float, expert_params: float, par: Parallelism) -> float:
    """Adam update of this GPU's shard of parameters, HBM-bound (seconds)."""
    shards = par.dp * par.cp if par.zero >= 1 else 1
    expert_shards = max(1, par.dp * par.cp // par.ep) if par.zero >= 1 else 1
    return ADAM_BYTES_PER_PARAMETER * (dense_params / shards + expert_params / expert_shards) / gpu.hbm_bytes_per_s
