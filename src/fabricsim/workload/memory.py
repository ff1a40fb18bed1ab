"""Memory per GPU of a training job, checked against HBM.

The busiest GPU is on the first pipeline stage: it holds its layers' weights, gradients and
optimizer states (sharded over data parallelism as the ZeRO stage says) and the activations
of every micro-batch in flight (1F1B keeps ``pp`` micro-batches alive on stage 0; interleaving
adds (pp-1)/(pp x v) more, Narayanan et al. 2021 section 2.2.2).  Bytes throughout.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fabricsim.errors import FabricsimError
from fabricsim.workload.model import activation_bytes_per_token_per_layer, parameter_counts
from fabricsim.workload.parallelism import Parallelism

WEIGHT_BYTES = 2
"""BF16 weights used by forward and backward."""
OPTIMIZER_BYTES = 12
"""Mixed-precision Adam: FP32 master weights, momentum and variance, 4 bytes each (Rajbhandari et
al. 2020, ZeRO, section 3.1: K = 12)."""
RESERVED_BYTES = 4e9
"""ASSUMPTION: CUDA context, NCCL buffers and allocator fragmentation per GPU (PyTorch's context
alone is ~0.5-1 GB; NCCL reserves ~1-2 GB for many communicators)."""
RECOMPUTE_LEVELS = ("none", "selective", "full")


@dataclass(frozen=True)
class MemoryUse:
    """Bytes per GPU on the most loaded pipeline stage."""

    weights: float
    gradients: float
    optimizer: float
    activations: float
    logits: float
    reserved: float
    hbm: float
    recompute: str

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations + self.logits + self.reserved

    @property
    def fits(self) -> bool:
        return self.total <= self.hbm

    def as_dict(self) -> dict[str, float]:
        return {"weights": self.weights, "gradients": self.gradients, "optimizer": self.optimizer,
                "activations": self.activations, "logits": self.logits, "reserved": self.reserved,
                "total": self.total, "hbm": self.hbm}


def parameters_per_gpu(model, par: Parallelism) -> tuple[float, float]:
    """(dense, expert) parameters held by one GPU of the first stage before ZeRO sharding.

    Dense parameters (attention, dense MLPs, shared experts, embeddings) split over TP and PP;
    routed experts also over EP.  The first stage also holds the input embedding (and, without
    pipelining, the output projection); its share of layers is the ceiling of layers / pp."""
    counts = parameter_counts(model)
    layers_here = -(-model.layers // par.pp)
    dense_layer = (counts.total - counts.embedding - counts.routed_experts_total) / model.layers
    expert_layer = counts.routed_experts_total / model.layers
    embeddings = counts.input_embedding + (counts.output_embedding if par.pp == 1 else 0.0)
    dense = (dense_layer * layers_here + embeddings) / par.tp
    experts = expert_layer * layers_here / (par.tp * par.ep)
    return dense, experts


def memory_use(model, gpu, par: Parallelism, seq: int, micro_batch: int, micro_batches: int,
               recompute: str, gradient_bytes: int) -> MemoryUse:
    """Memory of one GPU of the first pipeline stage (bytes)."""
    dense, experts = parameters_per_gpu(model, par)
    dense_shards = par.dp * par.cp
    expert_shards = max(1, par.dp * par.cp // par.ep)
    weights = WEIGHT_BYTES * (dense / (dense_shards if par.zero >= 3 else 1)
                              + experts / (expert_shards if par.zero >= 3 else 1))
    gradients = gradient_bytes * (dense / (dense_shards if par.zero >= 2 else 1)
                                  + experts / (expert_shards if par.zero >= 2 else 1))
    optimizer = OPTIMIZER_BYTES * (dense / (dense_shards if par.zero >= 1 else 1)
                                   + experts / (expert_shards if par.zero >= 1 else 1))
    tokens = micro_batch * seq / par.cp
    per_layer = activation_bytes_per_token_per_layer(model, seq, par.tp, par.sequence_parallel, recompute) * tokens
    layers_here = -(-model.layers // par.pp)
    in_flight = min(micro_batches, par.pp)
    if par.virtual_stages > 1 and par.pp > 1:
        in_flight *= 1 + (par.pp - 1) / (par.pp * par.virtual_stages)
    activations = per_layer * layers_here * in_flight
    logits = 4.0 * tokens * model.vocab_size / par.tp if par.pp == 1 else 0.0  # FP32 logits live on the last stage
    return MemoryUse(weights, gradients, optimizer, activations, logits, RESERVED_BYTES, gpu.hbm_bytes, recompute)


def choose_recompute(model, gpu, par, seq, micro_batch, micro_batches, recompute, gradient_bytes) -> MemoryUse:
    """The requested recomputation, or for ``auto`` the least recomputation whose memory fits HBM."""
    levels = RECOMPUTE_LEVELS if recompute == "auto" else (recompute,)
    use = None
    for level in levels:
        use = memory_use(model, gpu, par, seq, micro_batch, micro_batches, level, gradient_bytes)
        if use.fits:
            return use
    raise FabricsimError(_does_not_fit(model, gpu, par, seq, micro_batch, micro_batches, use, gradient_bytes))


def _does_not_fit(model, gpu, par, seq, micro_batch, micro_batches, use: MemoryUse, gradient_bytes) -> str:
    GB = 1e9
    parts = ", ".join(f"{k} {v / GB:.1f}" for k, v in use.as_dict().items() if k not in ("total", "hbm") and v)
    fixes = []
    options = [("recompute=full", par, "full"), ("zero=3", replace(par, zero=3), use.recompute)]
    if par.zero < 3:
        options.append(("recompute=full and zero=3", replace(par, zero=3), "full"))
    for name, degree in (("pp", par.pp * 2), ("tp", par.tp * 2)):
        options.append((f"{name}={degree} (dp={par.dp // 2})" if par.dp % 2 == 0 else f"{name}={degree}",
                        replace(par, **{name: degree, "dp": max(1, par.dp // 2)}), use.recompute))
    for name, option, level in options:
        if option.pp > model.layers or model.attention_heads % option.tp:
            continue
        other = memory_use(model, gpu, option, seq, micro_batch, micro_batches, level, gradient_bytes)
        if other.fits and name not in fixes:
            fixes.append(f"{name} ({other.total / GB:.0f} GB)")
    hint = "; would fit: " + ", ".join(fixes) if fixes else "; no single change tried (recompute, ZeRO-3, 2x PP or TP) fits"
    return (f"{model.name} with tp={par.tp} pp={par.pp} cp={par.cp} dp={par.dp} zero={par.zero} "
            f"recompute={use.recompute} needs {use.total / GB:.1f} GB per GPU but {gpu.name} has "
            f"{gpu.hbm_bytes / GB:.0f} GB of HBM (over by {(use.total - gpu.hbm_bytes) / GB:.1f} GB; "
            f"GB: {parts}){hint}")
