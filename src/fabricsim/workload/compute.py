"""Compute time of one micro-batch on one GPU of a pipeline stage, kernel by kernel (seconds).

Four kinds of work, each at the rate that bounds it:

* **GEMMs** (:mod:`fabricsim.workload.layers` lists them with their shapes) at the efficiency their
  shape and precision reach on this GPU (:mod:`fabricsim.workload.gemm`): forward, then the input-
  and weight-gradient GEMMs backward.
* **Attention scores and values**: a fused flash kernel at the GPU's measured attention efficiency
  for the software profile's kernel (catalog ``attention_efficiency``; backward does 2.5x the
  forward FLOPs, Dao 2023), or -- before FlashAttention -- batched GEMMs of the full ``s x s``
  score matrix plus softmax and dropout kernels that stream it through HBM (``materialized``).
* **Memory-bound kernels** (norms, residual adds, dropout, rotary embedding, the activation
  function, MoE token permutation, the loss, FP8 casts of GEMM inputs, the FP32 merges of PyTorch's
  ring attention: :mod:`fabricsim.workload.ring_attention`) at HBM bandwidth, bytes
  counted from the shapes, forward and backward kernel by kernel.  Weight-gradient GEMMs
  accumulate into FP32 main gradients (8 bytes per element in their epilogue).
* **Kernel launches**: the software profile's idle time per kernel gap and host time per issued
  kernel (or one per layer under CUDA graphs, one per pass for the parts a recipe captures:
  ``cuda_graph_scope``; each captured kernel after a graph's first still costs the GPU's per-node
  time of a graph replay, the profile's ``graph_node_s``), kernels counted by
  :mod:`fabricsim.workload.kernels` (the routed experts launch per local expert).

Recomputation adds forward work: ``full`` the whole layer, ``selective`` only what it frees
(Megatron-Core ``recompute_modules``, :mod:`fabricsim.workload.recompute_modules`; by default under
materialized attention the attention core, Korthikanti et al. 2022, in the flash era the norms and
the activation functions), ``per-op`` torchtitan's policy
(:mod:`fabricsim.workload.per_op_checkpoint`: every memory-bound kernel and every second matrix
multiply of the block).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

from fabricsim.workload.a2a_overlap import MoePhases
from fabricsim.workload.attention_head_dim import kernel_head_dim_factor
from fabricsim.workload.elementwise import (chains, expert_padding_bytes, expert_sort_bytes, fused_mlp_saved_bytes,
                                            layer_elementwise_bytes, routed_activation_bytes)
from fabricsim.workload.expert_epilogue import NONE as NO_EPILOGUE, eager_expert_epilogue
from fabricsim.workload.fp8_casts import fp8_cast_bytes, quantized, run_recipe
from fabricsim.workload.fp8_attention import backward_pass_flops, cast_elements, fp8_attention_efficiency
from fabricsim.workload.gemm import OUTPUT_BYTES, WGRAD_OUTPUT_BYTES, gemm_seconds, rates_for, wgrad_output_bytes
from fabricsim.workload.host_sync import synced_forward_s
from fabricsim.workload.kernels import kernels_before_sync, layer_kernels
from fabricsim.workload.layers import Gemm, backward_of, dense_layer_gemms, head_gemms, moe_layer_gemms
from fabricsim.workload.memory import recomputed_share
from fabricsim.workload.model import attention_flops_per_token_per_layer
from fabricsim.workload.optimizer_states import STATES
from fabricsim.workload.per_op_checkpoint import POLICY as PER_OP, per_op_recompute, saved_matmuls
from fabricsim.workload.recompute_modules import layer_parts, rerun_seconds
from fabricsim.workload.ring_attention import merge_bytes
from fabricsim.workload.windowed_attention import attention_seconds_by_layer_kind, windowed_attention_efficiency

ATTENTION_BACKWARD_FACTOR = 2.5
"""Flash attention backward FLOPs / forward FLOPs (Dao 2023: 5 matmuls backward vs 2 forward)."""
DEFAULT_ATTENTION_EFFICIENCY = 0.35
"""Used only when a (user) GPU entry gives no attention_efficiency for the kernel: FlashAttention-2 on H100."""
ADAM_BYTES_PER_PARAMETER = STATES["fp32"].update_bytes
"""Adam update per parameter with FP32 states: read and write FP32 master, momentum and variance (2 x 12 bytes),
read the FP32 gradient (4), write the BF16 weight (2); other precisions: :mod:`fabricsim.workload.optimizer_states`."""


@dataclass(frozen=True)
class LayerWork:
    """One micro-batch through one layer on one GPU (seconds)."""

    gemm_forward: float
    gemm_backward: float
    attention_forward: float
    attention_backward: float
    memory_forward: float  # elementwise kernels + FP8 casts, HBM-bound
    memory_backward: float
    launch_forward: float
    launch_backward: float
    selective_recompute: float  # forward work 'selective' recomputation repeats
    gemm_flops: float  # forward + backward
    attention_flops: float  # executed, forward + backward
    host_forward: float = 0.0  # CPU time to issue the forward's kernels
    host_backward: float = 0.0
    synced_forward: float = 0.0  # forward of a layer whose host waits for the device once (host_sync.py)
    per_op_recompute: float = 0.0  # forward work torchtitan's per-op checkpointing repeats (seconds)
    per_op_recompute_flops: float = 0.0  # the GEMM FLOPs it repeats
    gemms: tuple = ()  # (Gemm, forward+backward seconds, count) per forward GEMM
    expert_forward: float = 0.0  # routed experts' share of the forward (GEMMs, activation, casts), seconds
    expert_backward: float = 0.0

    @property
    def forward(self) -> float:
        return self.gemm_forward + self.attention_forward + self.memory_forward + self.launch_forward

    @property
    def backward(self) -> float:
        return self.gemm_backward + self.attention_backward + self.memory_backward + self.launch_backward

    def scaled(self, n: float) -> "LayerWork":
        return LayerWork(*(getattr(self, f) * n for f in _FIELDS), gemms=tuple((g, s * n, c * n) for g, s, c in self.gemms),
                         expert_forward=self.expert_forward * n, expert_backward=self.expert_backward * n)


_FIELDS = ("gemm_forward", "gemm_backward", "attention_forward", "attention_backward", "memory_forward",
           "memory_backward", "launch_forward", "launch_backward", "selective_recompute", "gemm_flops",
           "attention_flops", "host_forward", "host_backward", "synced_forward", "per_op_recompute",
           "per_op_recompute_flops")


def _add(a: LayerWork, b: LayerWork) -> LayerWork:
    return LayerWork(*(getattr(a, f) + getattr(b, f) for f in _FIELDS), gemms=a.gemms + b.gemms,
                     expert_forward=a.expert_forward + b.expert_forward,
                     expert_backward=a.expert_backward + b.expert_backward)


@dataclass(frozen=True)
class Shape:
    """What the layers see: tokens of one micro-batch on this GPU and how they are split."""

    tokens: float  # micro_batch x seq / cp
    seq: int
    micro_batch: int
    tp: int
    sequence_parallel: bool
    precision: str
    ep: int = 1
    etp: int = 1
    tokens_per_expert: float = 0.0  # routed tokens of the busiest GPU's experts, per expert
    routed_tokens: float = 0.0  # token copies this GPU's experts process (tokens_per_expert x local experts)
    fp8_recipe: str | None = None  # Megatron fp8_recipe (delayed | tensorwise | mxfp8 | blockwise); None: the profile's
    cuda_graph_scope: tuple | None = None  # parts captured as one CUDA graph per layer; None: the profile's
    elementwise: str | None = None  # fused | eager elementwise chains; None: the profile's
    cp: int = 1  # context-parallel ranks the sequence is split over
    token_drop: str = ""  # MoE: '' dropless, 'drop' token-drop, 'pad' token-drop padded to capacity (no host sync)
    cuda_graphs: bool | None = None  # every layer captured whole as a CUDA graph; None: the profile's
    gradient_bytes: int = 4  # bytes per element of the main gradients weight-gradient GEMMs accumulate into
    recompute_modules: tuple | None = None  # selective: Megatron-Core recompute_modules; None: the default set
    full_iteration: bool = False  # one CUDA graph for the whole forward-backward (no host issue per kernel)
    sync_free: bool = False  # dropless MoE into static receive buffers: no device-to-host token counts
    fused_mlp: bool = False  # routed experts as Transformer Engine's fused grouped MLP (elementwise.py, kernels.py)
    fp8_attention: bool = False  # attention core in FP8 (fp8_attention.py)
    expert_sort: bool = False  # MoE: received tokens re-sorted by local expert and back (elementwise.py)
    expert_padding: bool = False  # MoE, FP8: grouped experts copy rows into aligned blocks and back (moe.quantization_padding)
    fp8_output_head: bool = False  # the output head's GEMMs in MXFP8 (Megatron-Core fp8_output_proj): head_work


def attention_kind(model, profile) -> str:
    """The attention path the stack runs for this model: unfused when its fused kernel lacks a feature."""
    if getattr(model, "attention_sinks", False) and not profile.fused_attention_sinks:
        return "materialized"
    return profile.attention


def attention_efficiency(gpu, profile, override: float | None, fp8: bool = False, seq: float | None = None,
                         model=None) -> float:
    """Share of dense BF16 peak the profile's fused attention kernel sustains on this GPU in a training step
    (``fp8``: FP8 inputs, :mod:`fabricsim.workload.fp8_attention`) at ``seq`` tokens per call (catalog
    ``attention_half_sequence_tokens``) on ``model``'s heads (:mod:`fabricsim.workload.attention_head_dim`; None:
    head dimension 128, where the catalog measures)."""
    if override is not None:
        return override
    kernel = f"{profile.attention}-fp8" if fp8 else profile.attention
    half = gpu.attention_half_sequence_tokens.get(kernel)
    length = seq / (seq + half) if half and seq else 1.0
    shape = length * kernel_head_dim_factor(gpu, kernel, model)
    if fp8:
        return fp8_attention_efficiency(gpu, profile) * shape
    table = gpu.attention_efficiency
    measured = table.get(profile.attention, table.get("flash2", DEFAULT_ATTENTION_EFFICIENCY))
    return measured * shape * gpu.sustained_compute_ratio * profile.kernel_efficiency


@lru_cache(maxsize=65536)
def _gemm_s(m: float, n: float, k: float, rates, batch: float, out_bytes: float) -> float:
    """Seconds of one (batched) GEMM shape (:func:`fabricsim.workload.gemm.gemm_seconds`), remembered: a step asks
    for the same shapes stage after stage and a layout search layout after layout."""
    return float(gemm_seconds(m, n, k, rates, batch, out_bytes))


def _gemm_work(gemms: list[Gemm], rates, profile, fp8: bool, wgrad_bytes: int = WGRAD_OUTPUT_BYTES,
               cast_bytes: float | None = None) -> tuple[float, float, float, float, tuple]:
    """(forward s, backward s, FP8-cast bytes forward, backward, per-GEMM rows); ``wgrad_bytes``: bytes the
    weight-gradient epilogue moves per element (:func:`fabricsim.workload.gemm.wgrad_output_bytes`);
    ``cast_bytes``: bytes per quantized element (:func:`fp8_cast_bytes`; None: the profile's)."""
    forward = backward = cast_f = cast_b = 0.0
    rows = []
    for g in gemms:
        f = _gemm_s(g.m, g.n, g.k, rates, g.batch, OUTPUT_BYTES)
        dgrad, wgrad = backward_of(g)
        b = (_gemm_s(dgrad.m, dgrad.n, dgrad.k, rates, dgrad.batch, OUTPUT_BYTES)
             + _gemm_s(wgrad.m, wgrad.n, wgrad.k, rates, wgrad.batch, wgrad_bytes))
        forward, backward = forward + f, backward + b
        rows.append((g, f + b, 1.0))
        if fp8:
            if not (g.follows_norm and profile.fused_norm_cast):
                cast_f += g.m * g.k * g.batch
            cast_b += g.m * g.n * g.batch  # the output gradient, quantized for dgrad and wgrad
    per = profile.fp8_cast_bytes_per_element if cast_bytes is None else cast_bytes
    return forward, backward, cast_f * per, cast_b * per, tuple(rows)


def _attention_work(model, gpu, shape: Shape, profile, rates, efficiency: float,
                    windowed: float | None = None) -> tuple[float, float, float]:
    """(forward s, backward s, executed FLOPs); recomputing the attention core repeats the forward.
    ``windowed``: efficiency of the fused kernel on sliding-window layers (:mod:`fabricsim.workload.windowed_attention`;
    None: the same as full layers)."""
    t, s, b = shape.tp, shape.seq, shape.micro_batch
    if attention_kind(model, profile) != "materialized":
        rate = gpu.bf16_dense_flops * efficiency
        if not shape.fp8_attention and windowed is not None:  # windowed layers at their measured band rate
            fwd_flops, fwd = attention_seconds_by_layer_kind(model, s, shape.tokens / t, gpu.bf16_dense_flops,
                                                             efficiency, windowed)
            return fwd, ATTENTION_BACKWARD_FACTOR * fwd, (1 + ATTENTION_BACKWARD_FACTOR) * fwd_flops
        fwd_flops = attention_flops_per_token_per_layer(model, s) * shape.tokens / t
        bwd_flops = ATTENTION_BACKWARD_FACTOR * (backward_pass_flops(model, s) * shape.tokens / t
                                                 if shape.fp8_attention else fwd_flops)
        return fwd_flops / rate, bwd_flops / rate, fwd_flops + bwd_flops
    # scores written to HBM: batched GEMMs over (micro-batch x heads / t) of the full s x s square
    if model.attention == "mla":
        dqk, dv = model.qk_nope_head_dim + model.qk_rope_head_dim, model.head_dim
    else:
        dqk = dv = model.head_dim
    heads = b * model.attention_heads / t
    fwd = float(gemm_seconds(s, s, dqk, rates, heads) + gemm_seconds(s, dv, s, rates, heads))
    bwd = float(gemm_seconds(s, s, dv, rates, heads) + gemm_seconds(s, dv, s, rates, heads)
                + 2 * gemm_seconds(s, dqk, s, rates, heads))
    scores = heads * s * s  # elements per score matrix set
    fwd_bytes = scores * (4 + (5 if profile.dropout else 0))  # scale+mask+softmax r/w; dropout r/w + mask
    bwd_bytes = scores * (6 + (5 if profile.dropout else 0))
    fwd += fwd_bytes / gpu.hbm_stream_bytes_per_s
    bwd += bwd_bytes / gpu.hbm_stream_bytes_per_s
    flops = 2.0 * heads * s * s * (dqk + dv) * 3
    return fwd, bwd, flops


def layer_work(model, gpu, shape: Shape, profile, moe: bool, attention_override: float | None = None) -> LayerWork:
    """Forward and backward seconds of one layer (dense or MoE) for one micro-batch on one GPU."""
    recipe = run_recipe(shape, profile)
    rates = rates_for(gpu, shape.precision, profile.kernel_efficiency, recipe)
    bf16 = rates_for(gpu, "bf16", profile.kernel_efficiency)
    fp8 = quantized(shape.precision, gpu)  # FP8 or NVFP4 GEMM inputs: cast kernels before the GEMMs
    if shape.expert_padding and not (moe and fp8 and profile.expert_gemm_streams and not shape.fused_mlp):
        shape = replace(shape, expert_padding=False)  # only Transformer Engine GroupedLinear pads, and only in FP8
    if moe:
        gemms = moe_layer_gemms(model, shape.tokens, shape.tp, shape.ep, shape.etp, shape.tokens_per_expert)
    else:
        gemms = dense_layer_gemms(model, shape.tokens, shape.tp)
    per = fp8_cast_bytes(profile, shape.fp8_recipe)
    gf, gb, cast_f, cast_b, rows = _gemm_work(gemms, rates, profile, fp8, wgrad_output_bytes(shape.gradient_bytes), per)
    efficiency = attention_efficiency(gpu, profile, attention_override, shape.fp8_attention, shape.seq / shape.cp, model)
    windowed = None if attention_override is not None or not model.sliding_window_layers else \
        windowed_attention_efficiency(gpu, profile, model.sliding_window, model)
    af, ab, attention_flops = _attention_work(model, gpu, shape, profile, bf16, efficiency, windowed)
    elementwise_f, elementwise_b, rerun_bytes, attention_side = layer_elementwise_bytes(model, shape, profile, moe)
    hbm = gpu.hbm_stream_bytes_per_s
    qkv, d_out = cast_elements(model, shape.tokens, shape.tp) if shape.fp8_attention else (0.0, 0.0)
    saved_f, saved_b = fused_mlp_saved_bytes(model, shape, profile, per) if moe and shape.fused_mlp else (0.0, 0.0)
    elementwise_f, elementwise_b = elementwise_f + per * qkv - saved_f, elementwise_b + per * d_out - saved_b
    local_experts = next((g.batch for g in gemms if g.grouped), 1)
    epilogue = eager_expert_epilogue(model, shape.routed_tokens, shape.etp, local_experts) \
        if moe and not shape.fused_mlp else NO_EPILOGUE  # gpt-oss's clamp and expert bias, op by op
    elementwise_f, elementwise_b = elementwise_f + epilogue.forward_bytes, elementwise_b + epilogue.backward_bytes
    if epilogue.rerun_bytes:
        rerun_bytes = {**rerun_bytes, "routed_act": rerun_bytes["routed_act"] + epilogue.rerun_bytes}
    attention_side += per * qkv
    ring_f, ring_b = merge_bytes(model, shape.tokens, shape.tp, shape.cp, profile.attention_kv_expanded) \
        if profile.context_parallel == "pytorch-ring" and attention_kind(model, profile) != "materialized" else (0, 0)
    scope = profile.cuda_graph_scope if shape.cuda_graph_scope is None else shape.cuda_graph_scope
    graphs = profile.cuda_graphs if shape.cuda_graphs is None else shape.cuda_graphs
    kernel_args = (gemms, model, profile, attention_kind(model, profile))
    kernel_kw = dict(recipe=recipe, scope=scope, chain=chains(profile, shape.elementwise, model),
                     token_drop=shape.token_drop if moe else "")
    kernels = layer_kernels(*kernel_args, moe=moe, fp8=fp8, **kernel_kw, sync_free=shape.sync_free,
                            fused_mlp=shape.fused_mlp, fp8_attention=shape.fp8_attention,
                            expert_padding=shape.expert_padding)
    node = profile.graph_node_seconds(gpu.architecture)
    if shape.full_iteration:  # one graph per step: no host issue, every kernel a graph node
        kernels = kernels.full_iteration()
        host_f = host_b = 0.0
    elif graphs:  # one graph per layer and pass: one launch, every further kernel a graph node
        kernels = kernels.whole_graph()
        host_f, host_b = profile.host_s_per_kernel, 2 * profile.host_s_per_kernel
    else:
        host_f, host_b = (profile.host_s_per_kernel * n for n in (kernels.issued_forward, kernels.issued_backward))
        if moe:
            host_f, host_b = host_f + profile.moe_layer_host_s, host_b + 2 * profile.moe_layer_host_s
    launch_f, launch_b = (profile.kernel_overhead_s * gaps + node * nodes for gaps, nodes in
                          ((kernels.gaps_forward, kernels.graph_nodes_forward),
                           (kernels.gaps_backward, kernels.graph_nodes_backward)))
    parts = layer_parts("selective", shape.recompute_modules, model, moe, attention_kind(model, profile) == "materialized",
                        profile.recompute_mla_up_projection)
    selective = rerun_seconds(parts, gemms, rates, rerun_bytes, hbm, af)
    # the recomputation relaunches every forward kernel but the kept matrix multiplies and attention
    rerun = 1.0 if graphs or shape.full_iteration else max(0.0, 1.0 - (saved_matmuls(gemms, model) + 1) / max(1.0, kernels.gaps_forward))
    per_op, per_op_flops = per_op_recompute(gemms, model, rates, (elementwise_f + cast_f) / hbm, launch_f * rerun)
    work = LayerWork(gf, gb, af, ab, (elementwise_f + cast_f + ring_f) / hbm, (elementwise_b + cast_b + ring_b) / hbm,
                     launch_f, launch_b, selective, sum(g.flops for g in gemms) * 3, attention_flops, host_f, host_b,
                     0.0, per_op, per_op_flops, rows)
    if moe:
        ef, eb, ecast_f, ecast_b, _ = _gemm_work([g for g in gemms if g.grouped], rates, profile, fp8,
                                                wgrad_output_bytes(shape.gradient_bytes), per)
        act_f, act_b = routed_activation_bytes(model, shape, profile)
        moved = expert_sort_bytes(model, shape) + expert_padding_bytes(model, shape)  # copies in the experts' phase
        act_f, act_b = act_f + moved, act_b + moved
        work = replace(work, expert_forward=ef + (ecast_f + act_f - saved_f + epilogue.forward_bytes) / hbm,
                       expert_backward=eb + (ecast_b + act_b - saved_b + epilogue.backward_bytes) / hbm)
    # padded token-drop knows its all-to-all splits on the host, a sync-free dispatch never asks: no synchronization
    synced = not (graphs or shape.full_iteration or shape.sync_free or shape.token_drop == "pad")
    if moe and profile.moe_host_sync and synced:
        pre_gemm_f, _, pre_cast_f, _, _ = _gemm_work([g for g in gemms if g.graph_part], rates, profile, fp8,
                                                  cast_bytes=per)
        pre_kernels = kernels_before_sync(*kernel_args, fp8=fp8, **kernel_kw)
        pre_gpu = pre_gemm_f + af + (attention_side + pre_cast_f) / hbm + profile.kernel_overhead_s * pre_kernels \
            + node * kernels.graph_nodes_forward  # the captured parts all run before the synchronization
        pre_host = profile.host_s_per_kernel * pre_kernels
        work = replace(work, synced_forward=synced_forward_s(pre_gpu, work.forward - pre_gpu, pre_host, host_f - pre_host))
    return work


def head_work(model, gpu, shape: Shape, profile, mtp: bool = False) -> LayerWork:
    """The output projection and the loss of the last stage (one micro-batch); ``mtp``: those of a
    multi-token-prediction module, which first projects [norm(embedding), norm(hidden)] (2h) to h.

    The output projection runs in BF16 even in FP8 training: Megatron-Core builds it as its own
    ``tensor_parallel.ColumnParallelLinear`` (models/gpt/gpt_model.py), not a Transformer Engine
    module, so ``fp8_autocast`` leaves it alone; the MTP projection is a Transformer Engine linear.
    With ``shape.fp8_output_head`` (Megatron-Core ``fp8_output_proj`` under MXFP8) it is Transformer Engine's
    ``TELMHeadColumnParallelLinear`` (extensions/transformer_engine.py), a plain linear inside the FP8 context: its
    three GEMMs run at the FP8 rate, its input is quantized by a kernel of its own (the final norm is a separate
    module, so no fused norm-and-cast) and the logits' gradient before the data- and weight-gradient GEMMs."""
    fp8_head = shape.fp8_output_head and quantized(shape.precision, gpu)  # as the layers: FP8 runs as BF16 on A100
    rates = rates_for(gpu, shape.precision, profile.kernel_efficiency, run_recipe(shape, profile))  # TE linears' rate
    per = fp8_cast_bytes(profile, shape.fp8_recipe)
    wgrad = wgrad_output_bytes(shape.gradient_bytes)
    gemms = head_gemms(model, shape.tokens, shape.tp)
    if fp8_head:  # its own input cast: no norm to fuse it into
        gemms = [replace(g, follows_norm=False) for g in gemms]
    head_rates = rates if fp8_head else rates_for(gpu, "bf16", profile.kernel_efficiency)
    gf, gb, cast_f, cast_b, rows = _gemm_work(gemms, head_rates, profile, fp8_head, wgrad, per)
    if mtp:
        fp8 = quantized(shape.precision, gpu)
        projection = [Gemm("MTP projection", shape.tokens, model.hidden_size / shape.tp, 2 * model.hidden_size)]
        pf, pb, pcf, pcb, prows = _gemm_work(projection, rates, profile, fp8, wgrad, per)
        gf, gb, cast_f, cast_b, rows = gf + pf, gb + pb, cast_f + pcf, cast_b + pcb, prows + rows
    logits = shape.tokens * model.vocab_size / shape.tp
    loss_f, loss_b = 12 * logits, 8 * logits  # FP32 softmax cross-entropy: write, read, reduce; gradient
    node = profile.graph_node_seconds(gpu.architecture)
    per_kernel = node if profile.cuda_graphs else profile.kernel_overhead_s
    launch = profile.kernel_overhead_s + 3 * per_kernel  # projection and loss: four kernels forward, twice that back
    host = profile.host_s_per_kernel * (1 if profile.cuda_graphs else 4)
    casts = 1 if fp8_head else 0  # quantizing the head's input (forward) and the logits' gradient (backward)
    host_cast = 0.0 if profile.cuda_graphs else casts * profile.host_s_per_kernel
    launch_f, launch_b, host_f, host_b = (launch + casts * per_kernel, 2 * launch + casts * per_kernel,
                                          host + host_cast, 2 * host + host_cast)
    if shape.full_iteration:  # inside the step's one graph: every kernel a graph node, nothing issued per kernel
        launch_f, launch_b, host_f, host_b = (4 + casts) * node, (8 + casts) * node, 0.0, 0.0
    hbm = gpu.hbm_stream_bytes_per_s
    return LayerWork(gf, gb, 0.0, 0.0, (loss_f + cast_f) / hbm, (loss_b + cast_b) / hbm, launch_f, launch_b, 0.0,
                     sum(row[0].flops for row in rows) * 3, 0.0, host_f, host_b, gemms=rows)


@dataclass(frozen=True)
class StageCompute:
    """One micro-batch on one GPU of a stage (seconds and FLOPs); backward includes recomputation."""

    forward_s: float
    backward_s: float
    recompute_s: float
    gemm_s: float
    attention_s: float
    memory_s: float
    launch_s: float
    gemm_flops: float
    attention_flops: float
    gemms: list = field(default_factory=list)  # (Gemm, seconds per micro-batch on this stage, share of peak)
    host_bound_s: float = 0.0  # time the GPU waits for the host to issue kernels (included in forward/backward)
    recompute_flops: float = 0.0  # GEMM FLOPs of per-op recomputation ('full' is counted per layer by the caller)
    moe_phases: MoePhases | None = None  # one MoE layer split as the merged 1F1B schedule pairs it (a2a_overlap.py)
    gemm_kernels: float = 0.0  # GEMM kernels of the micro-batch (forward, dgrad, wgrad; one per local expert)

    @property
    def total_s(self) -> float:
        return self.forward_s + self.backward_s


def stage_compute(model, gpu, shape: Shape, profile, dense_layers: int, moe_layers: int, head: bool,
                  recompute: str, recompute_layers: int = 0, attention_override: float | None = None,
                  mtp: int = 0) -> StageCompute:
    """Forward and backward of one micro-batch through a stage's layers (and the head on the last stage,
    plus the projection, head and loss of its ``mtp`` multi-token-prediction modules, whose blocks are
    among the layers).

    ``recompute``: none | selective | full | per-op; ``recompute_layers``: with 'full', how many of the
    stage's layers are recomputed (0 = all of them, Megatron's ``recompute_num_layers``)."""
    work = LayerWork(*(0.0,) * len(_FIELDS))
    moe = None
    if dense_layers:
        work = _add(work, layer_work(model, gpu, shape, profile, False, attention_override).scaled(dense_layers))
    if moe_layers:
        moe = layer_work(model, gpu, shape, profile, True, attention_override)
        work = _add(work, moe.scaled(moe_layers))
    if recompute == "full":
        extra = recomputed_share(recompute, recompute_layers, dense_layers + moe_layers) * work.forward
    elif recompute == "selective":
        extra = work.selective_recompute
    elif recompute == PER_OP:
        extra = work.per_op_recompute
    else:
        extra = 0.0
    if head:
        work = _add(work, head_work(model, gpu, shape, profile))
        for _ in range(mtp):
            work = _add(work, head_work(model, gpu, shape, profile, mtp=True))
    rows = _merge_rows(work.gemms, gpu, shape.precision)
    forward, backward = _host_bound(work, moe, moe_layers)
    host = forward + backward - work.forward - work.backward
    return StageCompute(forward, backward + extra, extra, work.gemm_forward + work.gemm_backward,
                        work.attention_forward + work.attention_backward,
                        work.memory_forward + work.memory_backward, work.launch_forward + work.launch_backward,
                        work.gemm_flops, work.attention_flops, rows, host,
                        work.per_op_recompute_flops if recompute == PER_OP else 0.0,
                        None if moe is None else MoePhases(moe.forward - moe.expert_forward, moe.expert_forward,
                                                           moe.backward - moe.expert_backward, moe.expert_backward),
                        sum(3 * count * (g.batch if g.grouped else 1) for g, _, count in work.gemms))


def _host_bound(work: LayerWork, moe: LayerWork | None, moe_layers: int) -> tuple[float, float]:
    """Forward and backward seconds of a stage's ``work`` once the host's kernel issue is accounted for:
    the CPU runs ahead of the GPU except across a host synchronization (dropless or unpadded token-drop MoE layers, ``moe``
    one of them), where that layer takes its synchronized time (host_sync.py); and a pass never runs faster than its
    host can issue it."""
    forward = work.forward
    if work.synced_forward:
        forward += moe_layers * (moe.synced_forward - moe.forward)
    return max(forward, work.host_forward), max(work.backward, work.host_backward)


def _merge_rows(rows, gpu, precision: str) -> list:
    """Per-GEMM rows summed over the stage's layers: (Gemm, seconds, achieved share of the precision's peak)."""
    merged: dict[str, list] = {}
    for gemm, seconds, count in rows:
        entry = merged.setdefault(gemm.name, [gemm, 0.0, 0.0])
        entry[1] += seconds
        entry[2] += 3 * gemm.flops * count
    peak = rates_for(gpu, precision).peak
    return [(g, s, flops / (s * peak) if s else 0.0) for g, s, flops in merged.values()]


def optimizer_step_s(gpu, dense_params: float, expert_params: float, par,
                     update_bytes: float = ADAM_BYTES_PER_PARAMETER) -> float:
    """Adam update of this GPU's shard of parameters, HBM-bound (seconds); ``update_bytes``: bytes moved per
    parameter (:attr:`fabricsim.workload.optimizer_states.OptimizerStates.update_bytes`)."""
    shards = par.zero_shards if par.zero >= 1 else 1
    expert_shards = par.expert_data_parallel if par.zero >= 1 else 1
    return update_bytes * (dense_params / shards + expert_params / expert_shards) / gpu.hbm_stream_bytes_per_s


__all__ = ["LayerWork", "Shape", "StageCompute", "layer_work", "head_work", "stage_compute", "optimizer_step_s",
           "attention_efficiency", "ATTENTION_BACKWARD_FACTOR", "ADAM_BYTES_PER_PARAMETER"]
