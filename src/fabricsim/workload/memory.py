"""Memory per GPU of a training job, checked against HBM.

Each pipeline stage holds its layers' weights, gradients and optimizer states (sharded over
data parallelism as the ZeRO stage says: 1 optimizer, 2 + gradients, 3 + weights) and the
activations of every model chunk in flight at its peak (1F1B: ``pp - stage`` micro-batches;
interleaved: Megatron's warm-up count, Narayanan et al. 2021 section 2.2.2).  The busiest stage
is reported (usually the first).  Recomputation trades activations for compute: ``selective``
frees what it recomputes (Megatron-Core's ``recompute_modules`` when given:
:mod:`fabricsim.workload.recompute_modules`), ``full`` keeps only layer inputs, on all layers or on the first
``recompute_layers`` of each stage (Megatron's ``recompute_num_layers``), ``per-op`` what
torchtitan's policy saves (:mod:`fabricsim.workload.per_op_checkpoint`).  Offloading the activations of the
first layers to host memory instead (Megatron-Core ``cpu_offloading``) keeps only what Transformer Engine's
schedule leaves resident (:mod:`fabricsim.workload.activation_offload`).  Bytes throughout.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fabricsim.errors import FabricsimError
from fabricsim.workload.activation_offload import FIELD as OFFLOAD_FIELD
from fabricsim.workload.activation_offload import resident_peak
from fabricsim.workload.fp8_casts import run_recipe
from fabricsim.workload.model import activation_bytes_per_token_per_layer, parameter_counts
from fabricsim.workload.optimizer_states import STATES, WEIGHT_BYTES, OptimizerStates
from fabricsim.workload.parallelism import Parallelism
from fabricsim.workload.per_op_checkpoint import POLICY as PER_OP
from fabricsim.workload.pipeline import StageLayout, stage_layout
from fabricsim.workload.recompute_modules import layer_parts

OPTIMIZER_BYTES = STATES["fp32"].held_bytes
"""Mixed-precision Adam: FP32 master weights, momentum and variance, 4 bytes each (Rajbhandari et
al. 2020, ZeRO, section 3.1: K = 12); a job's own precision: ``MemoryJob.optimizer``."""
FP8_WEIGHT_BYTES = {"blackwell": 1.0}
"""Bytes per element of a linear weight kept in FP8 under a per-tensor recipe (Megatron fp8_param: Transformer
Engine fp8_model_init makes the weights Float8Tensors; Megatron-Core b0cc2706
distributed/distributed_data_parallel.py lines 138-146 gives them a uint8 parameter buffer).  Transformer
Engine v2.12 (pytorch/csrc/quantizer.cpp Float8CurrentScalingQuantizer::create_tensor, line 342; utils.py
is_non_tn_fp8_gemm_supported, line 491) keeps the column-wise (transposed) copy only on GPUs whose FP8 GEMMs
take TN layouts alone: none on Blackwell (compute capability 10.x), one more byte before it."""
FP8_WEIGHT_BYTES_WITH_TRANSPOSE = 2.0
FP8_GATHER_BYTES = 1.0
"""Bytes per FP8 weight element the parameter all-gather moves: the row-wise data only."""
RESERVED_BYTES = 4e9
"""ASSUMPTION: CUDA context, NCCL buffers and allocator fragmentation per GPU (PyTorch's context
alone is ~0.5-1 GB; NCCL reserves ~1-2 GB for many communicators)."""


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
    recompute_layers: int = 0  # with 'full': layers per stage recomputed (0 = all)
    stage: int = 0  # the pipeline stage these figures are for (the busiest)
    offload_layers: int = 0  # layers whose activations go to host memory (Megatron cpu_offloading_num_layers)
    host_offload: float = 0.0  # bytes of one micro-batch's activations in host memory (not counted in total)

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


@dataclass(frozen=True)
class MemoryJob:
    """What the memory of a training job depends on besides the recomputation policy."""

    model: object
    gpu: object
    par: Parallelism
    seq: int
    micro_batch: int
    micro_batches: int
    gradient_bytes: int
    layout: StageLayout
    materialized: bool = False  # attention scores written to HBM (no flash kernel)
    dropout: bool = False
    pipeline_group: int | None = None  # micro-batches per round of the interleaved schedule (default pp)
    schedule: str = "1f1b"  # 1f1b (interleaved with virtual stages) or dualpipe
    storage: str = "bf16"  # how linear layers' inputs are cached (software profile activation_storage)
    recompute_up_projection: bool = False  # selective also rebuilds MLA's q, k, v (software profile)
    routed_copies: float | None = None  # MoE copies per token the experts keep; None: k (token-drop: its capacity's)
    recompute_modules: tuple | None = None  # selective: Megatron-Core modules recomputed; None: fabricsim's default set
    offload_layers: int = 0  # first layers whose activations go to host memory (pp 1, recompute none)
    fp8_weight_bytes: float = 0.0  # bytes per linear weight kept in FP8 (Megatron fp8_param); 0: BF16 weights
    optimizer: OptimizerStates = STATES["fp32"]  # Adam's state precision (fabricsim.workload.optimizer_states)


def recomputed_layers(recompute: str, recompute_layers: int, layers: int) -> int:
    """Layers of a stage of ``layers`` whose forward pass is recomputed: with 'full', the first
    ``recompute_layers`` (0: all of them); none otherwise."""
    if recompute != "full":
        return 0
    return min(layers, recompute_layers) if recompute_layers else layers


def recomputed_share(recompute: str, recompute_layers: int, layers: int) -> float:
    """Share of a stage's layers whose forward pass is recomputed: 1 with 'full' on all of them, 0 (an
    int, so counts built on it stay whole) without 'full'."""
    if recompute != "full":
        return 0
    return recomputed_layers(recompute, recompute_layers, layers) / layers if layers else 1.0


def fp8_weight_bytes(architecture: str) -> float:
    """Bytes per linear weight element with primary FP8 weights on a GPU of ``architecture``
    (:data:`FP8_WEIGHT_BYTES`)."""
    return FP8_WEIGHT_BYTES.get(architecture, FP8_WEIGHT_BYTES_WITH_TRANSPOSE)


def weight_bytes_per_gpu(job: "MemoryJob", stage: int, dense: float, experts: float) -> tuple[float, float]:
    """(dense, expert) weight bytes one GPU of ``stage`` holds before ZeRO-3 sharding: BF16, or with primary FP8
    weights (``job.fp8_weight_bytes``) the layers' linear weights in FP8 and the embeddings, norms and routers in
    BF16 (Transformer Engine quantizes only its linear modules' weights)."""
    return _fp8_split(job, stage, dense, experts, job.fp8_weight_bytes)


def _fp8_split(job: "MemoryJob", stage: int, dense: float, experts: float, fp8_bytes: float) -> tuple[float, float]:
    """(dense, expert) bytes with every linear weight at ``fp8_bytes`` and the rest in BF16 under primary FP8 weights
    (BF16 throughout without them)."""
    if not job.fp8_weight_bytes:
        return WEIGHT_BYTES * dense, WEIGHT_BYTES * experts
    kept = _kept_in_bf16(job, stage)
    return WEIGHT_BYTES * kept + fp8_bytes * (dense - kept), fp8_bytes * experts


def _kept_in_bf16(job: "MemoryJob", stage: int) -> float:
    """Dense parameters of one GPU of ``stage`` that stay BF16 under primary FP8 weights: embeddings, norms and
    routers (Transformer Engine quantizes only its linear modules' weights)."""
    model, layout = job.model, job.layout
    counts = parameter_counts(model)
    return (embedding_parameters(model, layout, stage) + layout.layers[stage] * counts.norms_per_layer
            + layout.moe_layers[stage] * model.routed_experts * model.hidden_size) / job.par.tp


def gathered_weight_bytes(job: "MemoryJob", stage: int, dense: float, experts: float) -> tuple[float, float]:
    """(dense, expert) bytes of one GPU's weights as the distributed optimizer all-gathers them after each step:
    BF16, or with primary FP8 weights the linear weights as their one-byte row-wise copy (Megatron-Core
    fp8_param_gather: the parameter buffer is uint8 and the all-gather moves it; a column-wise copy, where the GPU
    keeps one, is made locally afterwards) beside the embeddings, norms and routers in BF16."""
    return _fp8_split(job, stage, dense, experts, FP8_GATHER_BYTES)


def embedding_parameters(model, layout: StageLayout, stage: int) -> float:
    """Parameters of a stage outside its layers, before TP: the input embedding on the first stage, the
    output projection on the last (one stage holds both when there is one)."""
    counts = parameter_counts(model)
    return (counts.input_embedding if stage == 0 else 0.0) \
        + (counts.output_embedding if stage == layout.stages - 1 else 0.0)


def parameters_per_gpu(model, par: Parallelism, layout: StageLayout | None = None, stage: int = 0) -> tuple[float, float]:
    """(dense, expert) parameters held by one GPU of a pipeline stage before ZeRO sharding.

    Dense parameters (attention, dense MLPs, norms, router, shared experts, embeddings) split over
    TP; routed experts over EP x expert-TP.  The first stage holds the input embedding, the last
    the output projection (one stage holds both when ``pp`` is 1)."""
    layout = layout or stage_layout(model, par.pp)
    counts = parameter_counts(model)
    n_moe = layout.moe_layers[stage]
    n_dense = layout.layers[stage] - n_moe
    shared = model.shared_experts * counts.expert + model.routed_experts * model.hidden_size
    dense = n_dense * (counts.attention_per_layer + counts.dense_mlp_per_layer + counts.norms_per_layer) \
        + n_moe * (counts.attention_per_layer + counts.norms_per_layer + shared)
    dense += embedding_parameters(model, layout, stage)
    experts = n_moe * model.routed_experts * counts.expert / (par.ep * par.etp)
    return dense / par.tp, experts


def in_flight_chunks(par: Parallelism, micro_batches: int, stage: int, group: int | None = None) -> int:
    """Model chunks whose activations stage ``stage`` holds at its peak (1F1B / interleaved warm-up + 1;
    Megatron's schedules: warm-up ``pp - stage - 1`` forwards, interleaved ``2 (pp - stage - 1) + (v - 1) N``
    with N micro-batches per round, ``microbatch_group_size_per_vp_stage``, default pp)."""
    v = par.virtual_stages
    group = group or par.pp
    warmup = (par.pp - stage - 1) * 2 + (v - 1) * group if v > 1 else par.pp - stage - 1
    return min(warmup + 1, micro_batches * v)


def schedule_chunks(micro_batches: int, chunks: int, group: int) -> np.ndarray:
    """Model chunk of each forward of Megatron-Core's interleaved schedule, in order (``get_schedule_table``,
    megatron/core/pipeline_parallel/schedules.py at b0cc2706, line 798): rounds of ``group`` micro-batches
    run through chunk 0, then chunk 1, ...; the last round takes the micro-batches left.  Backwards run the
    same table with the chunks reversed."""
    table = []
    for start in range(0, micro_batches, group):
        size = min(group, micro_batches - start)
        table.append(np.repeat(np.arange(chunks), size))
    return np.concatenate(table) if table else np.zeros(0, dtype=int)


def in_flight_layers(par: Parallelism, micro_batches: int, stage: int, chunk_layers, group: int | None = None) -> float:
    """Peak layer-micro-batches whose activations stage ``stage`` holds (sum over chunks in flight of their
    layers), stepping Megatron-Core's interleaved 1F1B: the warm-up forwards (:func:`in_flight_chunks` - 1),
    then one forward and one backward in turn, forwards in :func:`schedule_chunks` order and backwards with
    the chunks reversed.  With equal chunks this is ``in_flight_chunks x layers per chunk``; with the embedding's
    or loss's slot (one layer fewer in a chunk) the peak depends on which chunks are in flight."""
    v = par.virtual_stages
    group = group or par.pp
    weights = np.asarray(chunk_layers, dtype=float)
    total = micro_batches * v
    warmup = in_flight_chunks(par, micro_batches, stage, group) - 1
    order = schedule_chunks(micro_batches, v, group)
    forward, backward = weights[order], weights[v - 1 - order]
    held = np.concatenate(([0.0], np.cumsum(forward)))  # layers forwarded after i forwards
    freed = np.concatenate(([0.0], np.cumsum(backward)))
    if warmup + 1 >= total:
        return float(held[total])
    steps = np.arange(total - warmup)  # step k: forward number warmup + k done, k backwards done
    return float(np.max(held[warmup + 1 + steps] - freed[steps]))


def memory_use(job: MemoryJob, recompute: str, recompute_layers: int = 0) -> MemoryUse:
    """Memory of the busiest GPU (bytes): every pipeline stage (DualPipe: every rank's pair of stages)
    is counted, the largest returned."""
    if job.schedule == "dualpipe":
        candidates = (_dualpipe_rank_memory(job, r, recompute, recompute_layers) for r in range(job.par.pp // 2))
    else:
        candidates = (_stage_memory(job, stage, recompute, recompute_layers) for stage in range(job.layout.stages))
    return max(candidates, key=lambda use: use.total)


def _dualpipe_rank_memory(job: MemoryJob, rank: int, recompute: str, recompute_layers: int) -> MemoryUse:
    """DualPipe rank ``rank`` (of the first half; rank ``pp - 1 - rank`` is its mirror) holds stages
    ``rank`` and ``pp - 1 - rank``: weights, gradients and optimizer states of both (two copies of the
    model over the pipeline), and at its peak ``pp + 1`` chunks' activations (DeepSeek-V3 report,
    Table 2): ``pp - rank`` of stage ``rank``, which it feeds like 1F1B's stage ``rank``, and ``rank + 1``
    of its partner stage (the warm-up of github.com/deepseek-ai/DualPipe: ``2 (pp/2 - rank - 1)``
    forwards of one direction, ``rank + 1`` of each, then one more of the first).  One set of logits is
    live.  ASSUMPTION: each copy's optimizer states shard over its own DP group, as with 1F1B."""
    pp = job.par.pp
    a = _stage_memory(job, rank, recompute, recompute_layers, pp - rank)
    b = _stage_memory(job, pp - 1 - rank, recompute, recompute_layers, rank + 1)
    return replace(a, weights=a.weights + b.weights, gradients=a.gradients + b.gradients,
                   optimizer=a.optimizer + b.optimizer, activations=a.activations + b.activations,
                   logits=max(a.logits, b.logits))


def _stage_memory(job: MemoryJob, stage: int, recompute: str, recompute_layers: int,
                  chunks: int | None = None) -> MemoryUse:
    model, par = job.model, job.par
    dense, experts = parameters_per_gpu(model, par, job.layout, stage)
    dense_shards = par.zero_shards
    expert_shards = par.expert_data_parallel

    def sharded(per_parameter: float, stage_needed: int) -> float:
        return per_parameter * (dense / (dense_shards if par.zero >= stage_needed else 1)
                                + experts / (expert_shards if par.zero >= stage_needed else 1))

    tokens = job.micro_batch * job.seq / par.cp
    layers = job.layout.layers[stage]
    n_moe = job.layout.moe_layers[stage]

    level = "none" if recompute == "full" and recompute_layers else recompute
    stored = (layers - n_moe) * _layer_bytes(job, level, False) + n_moe * _layer_bytes(job, level, True)
    if recompute == "full" and recompute_layers:
        k = recomputed_layers(recompute, recompute_layers, layers)
        full_moe = min(k, n_moe)
        stored -= (k - full_moe) * (_layer_bytes(job, "none", False) - _layer_bytes(job, "full", False))
        stored -= full_moe * (_layer_bytes(job, "none", True) - _layer_bytes(job, "full", True))
    if chunks is not None:  # DualPipe: the caller's count
        activations = stored * chunks / par.virtual_stages
    elif layers and (job.layout.embedding_slot or job.layout.loss_slot):  # unequal chunks: step the schedule
        split = job.layout.chunk_layers(stage, par.virtual_stages)
        activations = stored / layers * in_flight_layers(par, job.micro_batches, stage, split, job.pipeline_group)
    else:
        activations = stored * in_flight_chunks(par, job.micro_batches, stage, job.pipeline_group) / par.virtual_stages
    host = 0.0
    if job.offload_layers:  # pp 1: one micro-batch in flight, its first layers on the host
        saved = layer_activation_bytes(job, stage)
        decoder = job.layout.decoder_layers[stage]
        host = sum(saved[:job.offload_layers])
        activations = resident_peak(saved[:decoder], job.offload_layers) + sum(saved[decoder:])
    if recompute == "full":  # one layer's activations are rebuilt at a time during backward
        activations += _layer_bytes(job, "none", n_moe > 0)
    elif recompute == PER_OP:  # and under per-op checkpointing, what one layer did not keep
        activations += _layer_bytes(job, "none", n_moe > 0) - _layer_bytes(job, PER_OP, n_moe > 0)
    last = stage == job.layout.stages - 1
    logits = 4.0 * tokens * model.vocab_size / par.tp if last else 0.0  # FP32 logits on the last stage
    weight_dense, weight_experts = weight_bytes_per_gpu(job, stage, dense, experts)
    weights = weight_dense / (dense_shards if par.zero >= 3 else 1) + weight_experts / (expert_shards if par.zero >= 3 else 1)
    gradients = sharded(job.optimizer.held_gradient_bytes(job.gradient_bytes), 2)
    return MemoryUse(weights, gradients, sharded(job.optimizer.held_bytes, 1),
                     activations, logits, RESERVED_BYTES, job.gpu.hbm_bytes, recompute,
                     recompute_layers if recompute == "full" else 0, stage, job.offload_layers, host)


def _layer_bytes(job: MemoryJob, level: str, moe: bool) -> float:
    """Bytes one layer (an MoE layer when ``moe``) keeps for its backward in one micro-batch under ``level``."""
    model, par = job.model, job.par
    parts = layer_parts(level, job.recompute_modules, model, moe, job.materialized, job.recompute_up_projection)
    per_token = activation_bytes_per_token_per_layer(model, job.seq, par.tp, par.sequence_parallel, level,
                                                     job.materialized, job.dropout, moe, job.storage,
                                                     job.recompute_up_projection, job.routed_copies, parts)
    return per_token * job.micro_batch * job.seq / par.cp


def layer_activation_bytes(job: MemoryJob, stage: int) -> list[float]:
    """Bytes each layer of a stage saves for its backward in one micro-batch without recomputation, first
    layer first.  ASSUMPTION: a stage's dense layers come before its MoE layers (DeepSeek-V3's first three
    dense layers); the MTP blocks are the last."""
    n_moe = job.layout.moe_layers[stage]
    dense, moe = _layer_bytes(job, "none", False), _layer_bytes(job, "none", True)
    return [dense] * (job.layout.layers[stage] - n_moe) + [moe] * n_moe


def recompute_options(job: MemoryJob, recompute: str, recompute_layers: int | None) -> list[tuple[str, int]]:
    """Policies to try, least recomputation first: none, selective, full on 1, 2, ... layers, full."""
    if job.offload_layers:  # Megatron-Core: no recomputation with CPU offloading
        if recompute not in ("auto", "none"):
            raise FabricsimError(f"{OFFLOAD_FIELD}={job.offload_layers} with recompute={recompute!r}: Megatron-Core "
                                 "refuses CPU offloading with activation recomputation; use recompute none (or auto)")
        return [("none", 0)]
    if recompute != "auto":
        return [(recompute, recompute_layers or 0)]
    most = max(job.layout.layers)
    return [("none", 0), ("selective", 0)] + [("full", k) for k in range(1, most)] + [("full", 0)]


def choose_recompute(job: MemoryJob, recompute: str, recompute_layers: int | None = None) -> MemoryUse:
    """The requested recomputation, or for ``auto`` the least recomputation whose memory fits HBM."""
    use = None
    for level, layers in recompute_options(job, recompute, recompute_layers):
        use = memory_use(job, level, layers)
        if use.host_offload > (job.gpu.host_memory_bytes or 0.0):
            raise FabricsimError(
                f"{OFFLOAD_FIELD}={job.offload_layers}: {use.host_offload / 1e9:.1f} GB of activations per GPU go to "
                f"host memory but {job.gpu.name} has {(job.gpu.host_memory_bytes or 0) / 1e9:.0f} GB of host memory per "
                "GPU (gpus.yaml host_memory_bytes); offload fewer layers")
        if use.fits:
            return use
    raise FabricsimError(_does_not_fit(job, use))


def _does_not_fit(job: MemoryJob, use: MemoryUse) -> str:
    GB = 1e9
    model, gpu, par = job.model, job.gpu, job.par
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
        if job.offload_layers and (option.pp > 1 or level != "none"):  # Megatron: offloading with pp 1, no recompute
            continue
        layout = job.layout if option.pp == par.pp else stage_layout(model, option.pp)
        other = memory_use(replace(job, par=option, layout=layout), level)
        if other.fits and name not in fixes:
            fixes.append(f"{name} ({other.total / GB:.0f} GB)")
    if job.optimizer.moment_bytes > STATES["bf16-moments"].moment_bytes:  # DeepSeek-V3's BF16 moments
        other = memory_use(replace(job, optimizer=STATES["bf16-moments"]), use.recompute)
        if other.fits:
            fixes.append(f"optimizer_states=bf16-moments ({other.total / GB:.0f} GB)")
    hint = ("; would fit: " + ", ".join(fixes) if fixes
            else "; no single change tried (recompute, ZeRO-3, 2x PP or TP, BF16 optimizer moments) fits")
    where = f" on pipeline stage {use.stage}" if par.pp > 1 else ""
    if use.offload_layers:
        where += f" with the activations of {use.offload_layers} layers offloaded to host memory"
    return (f"{model.name} with tp={par.tp} pp={par.pp} cp={par.cp} dp={par.dp} zero={par.zero} "
            f"recompute={use.recompute} needs {use.total / GB:.1f} GB per GPU{where} but {gpu.name} has "
            f"{gpu.hbm_bytes / GB:.0f} GB of HBM (over by {(use.total - gpu.hbm_bytes) / GB:.1f} GB; "
            f"GB: {parts}){hint}")


def activation_storage(profile, spec) -> str:
    """How this run keeps linear layers' inputs (workload.model.STORAGE_BYTES): the profile's way in FP8 runs,
    BF16 otherwise; Transformer Engine's delayed scaling keeps an extra FP8 copy of the attention output; NVFP4 runs
    keep Transformer Engine's NVFP4 casts (``te-nvfp4``)."""
    if spec.precision == "fp4":
        return "te-nvfp4"
    if spec.precision != "fp8":
        return "bf16"
    if profile.activation_storage == "te-fp8" and run_recipe(spec, profile) == "delayed":
        return "te-fp8-delayed"
    return profile.activation_storage


def primary_fp8_weight_bytes(spec, profile, gpu) -> float:
    """Bytes per linear weight with primary FP8 weights (:func:`fp8_weight_bytes`), 0 without them."""
    if not spec.fp8_weights:
        return 0.0
    recipe = run_recipe(spec, profile)
    if spec.precision != "fp8" or recipe not in ("delayed", "tensorwise"):
        raise FabricsimError(
            f"workload.train.fp8_weights=true with precision={spec.precision!r} and fp8_recipe={recipe!r}: FP8 weights "
            "are modelled for per-tensor FP8 recipes only (precision fp8, fp8_recipe delayed or tensorwise; MXFP8 "
            "and blockwise weights keep row- and column-wise copies with block scales, not modelled); drop fp8_weights")
    return fp8_weight_bytes(gpu.architecture)
