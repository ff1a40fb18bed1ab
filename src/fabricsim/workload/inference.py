"""LLM serving on the fabric: disaggregated prefill/decode instances, or one static batch.

* **Forward passes** are costed kernel by kernel (:mod:`fabricsim.workload.forward`): GEMMs at
  the efficiency their shape reaches (decode GEMMs stream their weights), attention (prefill:
  causal flash; decode: KV-cache reads, MLA in the absorbed latent space), elementwise kernels,
  and the idle time between kernels.
* **Communication** of every layer is timed on the fabric: tensor-parallel all-reduces (two per
  layer) and the MoE dispatch and combine all-to-alls among the EP group (one copy per routed
  expert, or per target node with node-limited routing).  Two-micro-batch overlap
  (``two_batch_overlap``) runs the decode batch as two halves whose compute and all-to-alls
  overlap -- the all-to-all hides, but every memory-bound GEMM streams its weights twice.
* **Disaggregated**: time-to-first-token = prefill of the prompt + KV-cache hand-over (every
  prefill GPU sends its part of the cache to a decode GPU, all at once); time per output token =
  the decode step; the deployment's throughput counts as many prefill instances as it takes to
  keep a decode instance fed.
* **Static** (TensorRT-LLM's gptSessionBenchmark): one TP instance prefills the whole batch, then
  decodes it to the last token; throughput = batch x output tokens / (prefill + decode steps).
Seconds, bytes, FLOP/s throughout.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, replace

import numpy as np

from fabricsim.collectives.concurrent import time_groups, time_transfers
from fabricsim.errors import FabricsimError
from fabricsim.workload.finite_run import simulate
from fabricsim.workload.forward import ForwardCost, forward_cost
from fabricsim.workload.model import kv_cache_bytes, kv_cache_bytes_per_token, parameter_counts
from fabricsim.workload.moe import dispatch_copies
from fabricsim.workload.request_lengths import RequestLengths
from fabricsim.workload.serving_memory import check_resident, weights_and_kv_per_gpu
from fabricsim.workload.weight_format import describe, expert_precision, stored_weight_bytes, weight_precision
from fabricsim.workload.trtllm_bench import engine_limits, generation_only_share, graph_batch_sizes, padded_batch

DISPATCH_BYTES = 1
"""Bytes per hidden element dispatched to experts (FP8; DeepSeek-V3 report section 3.3.2) -- combine is BF16."""
COMBINE_BYTES = 2
LOGIT_BYTES = 2
"""Bytes per logit gathered from the TP shards of the output head (the model's BF16/FP16 dtype: TensorRT-LLM
gathers the lm_head output before casting it to its float32 ``logits`` output)."""


@dataclass
class InferenceResult:
    model: str
    prefill_gpus: int
    decode_gpus: int
    batch: int
    context: int
    prefill_s: float  # compute + MoE all-to-all + TP all-reduce of one prefill pass
    prefill_a2a_s: float
    kv_transfer_s: float
    kv_bytes_per_request: float
    decode_compute_s: float  # GEMMs, attention compute, elementwise, kernel gaps of one decode step
    decode_memory_s: float  # of which streaming weights and KV cache from HBM (memory-bound GEMMs and attention)
    decode_tp_s: float
    decode_a2a_s: float  # exposed
    tpot_s: float
    prefill_instances_per_decode: float
    decode_memory_bytes: float
    mode: str = "disaggregated"
    output_tokens: int = 0
    prefill_tokens: float = 0.0  # prompt tokens of one prefill pass (per attention group)
    _tp: int = 1  # GPUs of one attention group (not reported by as_dict)
    decode_active_experts: float = 0.0  # local experts a decode step's tokens reach, per MoE layer and GPU
    local_experts: float = 0.0  # routed experts held per GPU
    decode_rows: int = 0  # static under CUDA-graph padding: rows a generation-only decode step computes (else 0)
    pp: int = 1  # pipeline stages of the instance (static mode)
    decode_p2p_s: float = 0.0  # pp > 1: hops of one micro-batch's trip per decode cycle (hidden-state sends + token ids)
    decode_stage_s: float = 0.0  # pp > 1: the slowest stage's decode time for one micro-batch (compute + its TP all-reduces)
    requests: int = 0  # a finite benchmark: requests served in all (0: the steady state)
    run_s: float = 0.0  # a finite benchmark: seconds to serve them all (waves, or the queue and its drain)
    run_steady_s: float = 0.0  # a finite benchmark: seconds the same tokens take with the batch full throughout
    run_half_done_s: float = 0.0  # a finite run of varying lengths: seconds until half the requests are done
    run_nine_tenths_done_s: float = 0.0  # ... until nine tenths are done (0: not simulated, finite_run)
    weights: str = ""  # the checkpoint's weight formats as the GEMMs run them (weight_format.describe)
    decode_context: float = 0.0  # cached tokens a decode step reads per sequence, over the run (request_lengths)
    lengths_vary: bool = False  # requests differ in length (context_cv or output_tokens_cv above 0)

    @property
    def ttft_s(self) -> float:
        return self.prefill_s + self.kv_transfer_s

    @property
    def decode_tokens_per_s(self) -> float:
        return self.batch / self.tpot_s

    @property
    def batch_s(self) -> float:
        """Static mode: seconds to prefill the batch and decode it to the end."""
        return self.prefill_s + self.output_tokens * self.tpot_s

    @property
    def tokens_per_s_per_gpu(self) -> float:
        """Output tokens/s per GPU of the whole deployment (static: the batch's throughput per GPU), or with
        ``requests`` the whole run's."""
        gpus = self.decode_gpus if self.mode == "static" else \
            self.decode_gpus + self.prefill_instances_per_decode * self.prefill_gpus
        if self.requests:
            return self.requests * self.output_tokens / self.run_s / gpus
        if self.mode == "static":
            return self.batch * self.output_tokens / self.batch_s / gpus
        return self.decode_tokens_per_s / gpus

    @property
    def prefill_tokens_per_s_per_gpu(self) -> float:
        """Prompt tokens/s per prefill GPU (each attention group prefills its own prompts)."""
        return self.prefill_tokens / self.prefill_s / max(1, self._tp)

    def as_dict(self) -> dict:
        out = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        out.update(ttft_s=self.ttft_s, decode_tokens_per_s=self.decode_tokens_per_s,
                   tokens_per_s_per_gpu=self.tokens_per_s_per_gpu)
        return out


def _check(spec, model, design) -> int:
    ep = spec.ep or (spec.decode_gpus if spec.mode == "disaggregated" else 1)
    if spec.attention_dp_contexts == "independent" and (spec.mode != "disaggregated" or spec.tp >= spec.prefill_gpus):
        raise FabricsimError(f"workload.infer.attention_dp_contexts=independent: ranks that prefill on their own need "
                             f"attention data parallelism (tp < prefill_gpus), not tp={spec.tp} on prefill_gpus="
                             f"{spec.prefill_gpus} in mode={spec.mode!r}; use aligned")
    if spec.mode == "static" and model.routed_experts and (ep > spec.tp or spec.tp % ep):
        raise FabricsimError(f"workload.infer.ep={ep}: a static batch runs on one tensor-parallel group of tp={spec.tp} "
                             f"GPUs, so its experts can be spread over at most those GPUs; use an ep that divides "
                             f"{spec.tp}, or mode: disaggregated for expert parallelism across groups")
    if spec.pp > 1:
        if spec.mode != "static":
            raise FabricsimError(f"workload.infer.pp={spec.pp}: pipeline parallelism is modelled in mode: static only; "
                                 f"use pp: 1 with mode: disaggregated")
        if spec.pp > model.layers:
            raise FabricsimError(f"workload.infer.pp={spec.pp}: {model.name} has {model.layers} layers, so at most "
                                 f"{model.layers} pipeline stages")
    gpus = spec.prefill_gpus + spec.decode_gpus if spec.mode == "disaggregated" else spec.tp * spec.pp
    if gpus > design.gpus:
        what = "prefill_gpus + decode_gpus" if spec.mode == "disaggregated" else f"tp x pp = {spec.tp} x {spec.pp}"
        hint = (f"; give each fewer (--prefill-gpus / --decode-gpus, e.g. {max(1, design.gpus // 2):,} each), or serve "
                f"one static batch on one tensor-parallel group (--mode static --tp {min(design.gpus, 8)})"
                if spec.mode == "disaggregated" else "; lower --tp / --pp or add GPUs (cluster.gpus)")
        raise FabricsimError(f"workload.infer: {what} = {gpus:,} GPUs is more than the cluster's {design.gpus:,} GPUs"
                             + hint)
    for name in ("prefill_gpus", "decode_gpus"):
        if getattr(spec, name) % spec.tp:
            raise FabricsimError(f"workload.infer.{name}={getattr(spec, name)} is not a multiple of tp={spec.tp}")
    if model.attention_heads % spec.tp:
        raise FabricsimError(f"workload.infer.tp={spec.tp} does not divide {model.name}'s {model.attention_heads} heads")
    if model.routed_experts:
        if ep > spec.decode_gpus or spec.decode_gpus % ep:
            raise FabricsimError(f"workload.infer.ep={ep} must divide decode_gpus={spec.decode_gpus}")
    elif ep > 1 and spec.ep is not None:
        raise FabricsimError(f"workload.infer.ep={ep}: {model.name} is dense (no experts); leave ep unset")
    return ep if model.routed_experts else 1


def _a2a(fabric, gpus: np.ndarray, ep: int, tokens_per_gpu: float, copies: float, model, policy,
         tp: int = 1) -> float:
    """Dispatch + combine all-to-all of one MoE layer among ``gpus`` in EP groups of ``ep`` (seconds).

    None when the EP group sits inside one tensor-parallel attention group (``ep <= tp``): after the
    attention's all-reduce every GPU of the group holds every token, so each runs its own experts on the
    tokens routed to them and the layer's closing all-reduce (timed with the TP all-reduces) sums the
    experts' outputs -- nothing is dispatched (SGLang / TensorRT-LLM / vLLM expert parallelism without
    data-parallel attention)."""
    if ep <= 1 or tokens_per_gpu <= 0 or ep <= tp:
        return 0.0
    groups = gpus[: gpus.size // ep * ep].reshape(-1, ep)
    total = 0.0
    for element_bytes in (DISPATCH_BYTES, COMBINE_BYTES):
        size = max(1, int(tokens_per_gpu * copies * model.hidden_size * element_bytes))
        # serving stacks dispatch with their own kernels (DeepEP in SGLang and DeepSeek's system, TensorRT-LLM's
        # MNNVL all-to-all), which write into the peers' buffers: no NCCL point-to-point copy bound (direct)
        total += time_groups(fabric, "all_to_all", "auto", groups, size, policy, direct=True).time_s
    return total


def tp_all_reduce_seconds(fabric, gpus: np.ndarray, tp: int, tokens: float, model, policy) -> float:
    """Two all-reduces of the hidden state per layer over the TP group (seconds per pass)."""
    if tp <= 1:
        return 0.0
    size = max(1, int(tokens * model.hidden_size * 2))
    return 2 * model.layers * time_groups(fabric, "all_reduce", "auto", gpus[:tp].reshape(1, tp), size, policy).time_s


def tp_logits_gather_seconds(fabric, gpus: np.ndarray, tp: int, rows: float, model, policy) -> float:
    """All-gather of the output head's logits over the TP group (seconds per pass).

    The head is column-parallel: each GPU computes ``rows`` x vocab / tp logits, and every GPU then needs all
    vocab logits of its rows to sample (TensorRT-LLM: ``lm_head = ColumnLinear(..., gather_output=True)`` in
    tensorrt_llm/models/llama/model.py, gathered in the model's 16-bit dtype before the cast to the float32
    ``logits`` output).  ``rows``: positions whose logits are computed -- every sequence of a decode step, the
    last token of each prompt of a prefill pass.  The size is the gathered tensor (NCCL convention)."""
    if tp <= 1 or rows <= 0:
        return 0.0
    size = max(1, int(rows * model.vocab_size * LOGIT_BYTES))
    return time_groups(fabric, "all_gather", "auto", gpus[:tp].reshape(1, tp), size, policy).time_s


def serve(scenario, spec, model, fabric=None) -> InferenceResult:
    """Serve ``spec`` (an InferSpec) on the scenario's fabric: static instances or disaggregated prefill and decode
    (:func:`_serve`), the result labelled with the weight formats its GEMMs ran."""
    finite = spec.requests is not None and (spec.mode != "static" or spec.pp > 1 or spec.output_tokens_cv > 0)
    result = (_finite_run if finite else _serve)(scenario, spec, model, fabric)
    gpu = fabric.design.gpu if fabric is not None else scenario.catalog().get("gpus", scenario.cluster.gpu)
    return replace(result, weights=describe(spec, gpu))


def _finite_run(scenario, spec, model, fabric=None) -> InferenceResult:
    """A run of ``spec.requests`` requests whose output lengths vary, or on a disaggregated deployment or a pipelined
    instance: the decode steps of its queue and drain (:mod:`fabricsim.workload.finite_run`), each step timed as the
    steady state's at that many sequences in flight, plus, on a static instance, the prompts' prefill in series."""
    from fabricsim.topology.build import build_fabric
    from fabricsim.topology.design import design_fabric

    design = fabric.design if fabric is not None else design_fabric(scenario)
    _check(spec, model, design)  # before building the fabric (seconds at scale), which every step below shares
    fabric = fabric if fabric is not None else build_fabric(design)
    steady = spec.model_copy(update={"requests": None})
    result = _serve(scenario, steady, model, fabric)

    def step_seconds(batch: int) -> float:
        if batch == spec.batch:
            return result.tpot_s
        return _serve(scenario, steady.model_copy(update={"batch": batch}), model, fabric).tpot_s

    run = simulate(spec.requests, spec.batch, spec.output_tokens, spec.output_tokens_cv, step_seconds)
    decode_s = run.seconds * spec.requests * spec.output_tokens / run.tokens  # the run's mean output, whatever the rounding
    prefill_s = spec.requests / spec.batch * result.prefill_s if spec.mode == "static" else 0.0
    steady_s = spec.requests * spec.output_tokens * result.tpot_s / spec.batch + prefill_s
    stretch = (prefill_s + decode_s) / run.seconds  # a static instance's prefills spread over the run (approximation)
    return replace(result, requests=spec.requests, run_s=prefill_s + decode_s, run_steady_s=steady_s,
                   run_half_done_s=run.half_done_s * stretch, run_nine_tenths_done_s=run.nine_tenths_done_s * stretch)


def _serve(scenario, spec, model, fabric=None) -> InferenceResult:
    from fabricsim.topology.build import build_fabric
    from fabricsim.topology.design import design_fabric
    from fabricsim.workload import catalog_entry

    design = fabric.design if fabric is not None else design_fabric(scenario)
    ep = _check(spec, model, design)
    profile = catalog_entry(scenario, "software", spec.software, "workload.infer.software")
    if fabric is None:
        fabric = build_fabric(design)
    policy = spec.load_balancing or design.load_balancing
    gpu = design.gpu
    precision = weight_precision(spec.weight_bytes)
    moe_layers = model.moe_layers if model.routed_experts else 0
    per_node = min(design.scale_up.gpus, design.scenario.cluster.gpus_per_server)
    if spec.mode == "static" and spec.pp > 1:
        from fabricsim.workload.serving_pipeline import static_pipelined  # it builds on this module

        return static_pipelined(spec, model, gpu, profile, fabric, policy, precision, ep)
    if spec.mode == "static":
        result = _static(spec, model, gpu, profile, fabric, policy, precision, ep)
        if spec.requests is not None:
            last = spec.requests % spec.batch
            tail = _static(spec.model_copy(update={"batch": last}), model, gpu, profile, fabric, policy, precision, ep) \
                if last else None
            result = replace(result, requests=spec.requests, run_s=run_seconds(spec.requests, spec.batch, result, tail),
                             run_steady_s=spec.requests / spec.batch * result.batch_s)
        return result

    # prefill: each attention group (tp GPUs) runs prefill_batch prompts; MoE layers over all prefill GPUs
    prefill = np.arange(spec.prefill_gpus)
    decode = spec.prefill_gpus + np.arange(spec.decode_gpus)
    prompt_tokens = spec.prefill_batch * spec.context
    prefill_ep = spec.prefill_gpus if model.routed_experts else 1
    moe_tokens = prompt_tokens / spec.tp
    lengths = RequestLengths.of(spec)
    cost = forward_cost(model, gpu, profile, prompt_tokens, spec.context, spec.tp, precision, spec.kv_bytes, False,
                        prefill_ep, moe_tokens, expert_precision=expert_precision(spec),
                        attention_span=lengths.prompt_attention_span())
    copies = _copies(model, prefill_ep, per_node, spec.routing_node_limit)
    prefill_a2a = moe_layers * _a2a(fabric, prefill, prefill_ep, moe_tokens, copies, model, policy, spec.tp)
    prefill_s = (cost.total_s + prefill_a2a
                 + tp_all_reduce_seconds(fabric, prefill, spec.tp, prompt_tokens, model, policy)
                 + tp_logits_gather_seconds(fabric, prefill, spec.tp, spec.prefill_batch, model, policy))

    # KV hand-over: every prefill GPU sends its part of a request's cache to a decode GPU, all at once
    kv_request = kv_cache_bytes(model, spec.context, spec.kv_bytes)
    receivers = decode[np.arange(spec.prefill_gpus) % spec.decode_gpus]
    kv_s = time_transfers(fabric, prefill, receivers, max(1.0, kv_request / spec.tp), policy).time_s

    # decode step: one token per sequence; attention data-parallel over groups of tp, experts over ep
    groups = spec.decode_gpus // spec.tp
    seqs_per_group = spec.batch / groups
    tokens_per_gpu = spec.batch / spec.decode_gpus
    context = lengths.decode_context()
    copies = _copies(model, ep, per_node, spec.routing_node_limit)
    split = 2 if spec.two_batch_overlap else 1
    step = forward_cost(model, gpu, profile, seqs_per_group / split, context, spec.tp, precision, spec.kv_bytes, True,
                        ep, tokens_per_gpu / split, expert_precision=expert_precision(spec))
    tp_s = split * _tp_decode_seconds(fabric, decode, spec.tp, seqs_per_group / split, model, policy)
    a2a = split * moe_layers * _a2a(fabric, decode, ep, tokens_per_gpu / split, copies, model, policy, spec.tp)
    compute_s = split * step.total_s
    if split == 2:
        # micro-batch A's compute runs under B's all-to-alls and back: the longer of the two streams sets the
        # step, plus one layer of the shorter that cannot overlap at the ends
        hidden = min(compute_s, a2a) * (1 - 1 / model.layers)
        a2a_exposed = a2a - hidden
    else:
        a2a_exposed = a2a * (1 - spec.ep_comm_overlap)
    tpot = compute_s + tp_s + a2a_exposed
    resident = _resident(model, spec, ep, seqs_per_group, gpu)
    decode_requests_per_s = spec.batch / tpot / spec.output_tokens
    prefills = concurrent_prefills(spec.prefill_gpus // spec.tp, spec.batch, spec.output_tokens,
                                   spec.attention_dp_contexts)
    prefill_requests_per_s = prefills * spec.prefill_batch / (prefill_s + kv_s)
    return InferenceResult(model.name, spec.prefill_gpus, spec.decode_gpus, spec.batch, spec.context, prefill_s,
                           prefill_a2a, kv_s, kv_request, compute_s, split * kv_stream_seconds(step, gpu), tp_s,
                           a2a_exposed, tpot, decode_requests_per_s / prefill_requests_per_s, resident, "disaggregated",
                           spec.output_tokens, prompt_tokens, spec.tp,
                           decode_active_experts=step.active_experts, local_experts=step.local_experts,
                           decode_context=context, lengths_vary=not lengths.fixed)


def _copies(model, ep: int, per_node: int, node_limit: int | None) -> float:
    if not model.routed_experts:
        return 0.0
    from fabricsim.workload.parallelism import Parallelism

    return dispatch_copies(model, Parallelism(ep=ep, etp=1), per_node, node_limit)


def kv_stream_seconds(step, gpu) -> float:
    """Seconds of the step spent streaming the KV cache (the weights stream inside the memory-bound GEMMs)."""
    return step.kv_bytes / gpu.hbm_stream_bytes_per_s


def _resident(model, spec, ep: int, seqs_per_group: float, gpu) -> float:
    """Bytes per decode GPU: its share of the weights and the KV cache of its sequences; too many is an error."""
    counts = parameter_counts(model)
    weights, kv = weights_and_kv_per_gpu(spec, model, counts.total, counts.routed_experts_total, ep, seqs_per_group)
    return check_resident(spec, gpu, weights, kv, seqs_per_group, "decode")


def _graph_padding(spec, model, gpu, profile) -> tuple[int, float]:
    """(rows a generation-only decode step computes, share of decode steps that are generation-only) under the
    profile's CUDA-graph padding with trtllm-bench's engine limits (fabricsim.workload.trtllm_bench)."""
    if not profile.decode_graph_batch_sizes:
        return spec.batch, 0.0
    kv = kv_cache_bytes_per_token(model, spec.kv_bytes)
    if model.attention != "mla":  # tuning.py: at least one KV head per GPU
        kv *= max(spec.tp, model.kv_heads) / model.kv_heads
    memory = gpu.memory_total_bytes or gpu.hbm_bytes
    counts = parameter_counts(model)
    routed = counts.routed_experts_total
    per_parameter = stored_weight_bytes(spec, counts.total - routed, routed) / counts.total
    max_bs, max_tokens = engine_limits(counts.total, per_parameter, kv, memory, spec.tp,
                                       spec.context, spec.output_tokens, spec.kv_cache_fraction)
    sizes = graph_batch_sizes(profile.decode_graph_batch_sizes, max_bs, max_tokens)
    share = generation_only_share(spec.batch, max_tokens, spec.context, spec.output_tokens)
    return padded_batch(spec.batch, sizes), share


def _tp_decode_seconds(fabric, gpus: np.ndarray, tp: int, rows: float, model, policy) -> float:
    """TP communication of one decode step of ``rows`` sequences: the layers' all-reduces and the logits gather."""
    return (tp_all_reduce_seconds(fabric, gpus, tp, rows, model, policy)
            + tp_logits_gather_seconds(fabric, gpus, tp, rows, model, policy))


def _static(spec, model, gpu, profile, fabric, policy, precision, ep: int = 1) -> InferenceResult:
    """One TP instance: prefill the whole batch, then decode it; context grows from the prompt to the end.
    Under CUDA-graph padding the generation-only share of the steps computes the padded rows.  An MoE
    model's experts are spread over ``ep`` GPUs of the group: every GPU holds every token after the
    attention's all-reduce, runs its own experts on the tokens routed to them, and the layer's all-reduce
    sums the experts (no all-to-all)."""
    gpus = np.arange(spec.tp)
    prompt_tokens = spec.batch * spec.context
    lengths = RequestLengths.of(spec)
    prefill = forward_cost(model, gpu, profile, prompt_tokens, spec.context, spec.tp, precision, spec.kv_bytes, False,
                           ep, prompt_tokens / ep, expert_precision=expert_precision(spec),
                           attention_span=lengths.prompt_attention_span())
    prefill_s = (prefill.total_s + tp_all_reduce_seconds(fabric, gpus, spec.tp, prompt_tokens, model, policy)
                 + tp_logits_gather_seconds(fabric, gpus, spec.tp, spec.batch, model, policy))
    context = lengths.decode_context()
    step = forward_cost(model, gpu, profile, spec.batch, context, spec.tp, precision, spec.kv_bytes, True,
                        ep, spec.batch / ep, expert_precision=expert_precision(spec))
    tp_s = _tp_decode_seconds(fabric, gpus, spec.tp, spec.batch, model, policy)
    rows, share = _graph_padding(spec, model, gpu, profile)
    if rows > spec.batch and share > 0:
        padded = forward_cost(model, gpu, profile, spec.batch, context, spec.tp, precision, spec.kv_bytes, True,
                              ep, spec.batch / ep, rows=rows, expert_precision=expert_precision(spec))
        step = _mix(padded, step, share)
        tp_s = share * _tp_decode_seconds(fabric, gpus, spec.tp, rows, model, policy) + (1 - share) * tp_s
    tpot = step.total_s + tp_s
    resident = _resident(model, spec, ep, spec.batch, gpu)
    kv_request = kv_cache_bytes(model, spec.context, spec.kv_bytes)
    return InferenceResult(model.name, 0, spec.tp, spec.batch, spec.context, prefill_s, 0.0, 0.0, kv_request,
                           step.total_s, kv_stream_seconds(step, gpu), tp_s, 0.0, tpot, 0.0, resident, "static",
                           spec.output_tokens, prompt_tokens, spec.tp, decode_rows=rows if share > 0 else spec.batch,
                           decode_active_experts=step.active_experts, local_experts=step.local_experts,
                           decode_context=context, lengths_vary=not lengths.fixed)


def concurrent_prefills(ranks: int, batch: int, output_tokens: int, contexts: str) -> float:
    """Prompts an attention-data-parallel instance of ``ranks`` ranks prefills per iteration that holds a prompt,
    averaged: ``ranks`` when its ranks prefill together (aligned), else (independent, in-flight batching without
    ADP balance) each rank starts a prompt in an iteration with the chance p that one of its batch / ranks
    sequences of ``output_tokens`` tokens ended, and any rank's prompt holds every rank's iteration: ranks x p
    prompts in 1 - (1 - p)^ranks stalled iterations (TensorRT-LLM tech blog 10, 'ADP Balance Strategy': without
    it contexts run one rank after another, 54% balance and 35% below the balanced throughput on 8 GB200)."""
    if contexts == "aligned" or ranks <= 1:
        return float(ranks)
    p = min(1.0, batch / ranks / max(1, output_tokens))
    return ranks * p / (1.0 - (1.0 - p) ** ranks)


def run_seconds(requests: int, batch: int, full: InferenceResult, tail: InferenceResult | None) -> float:
    """Seconds a static instance takes to serve ``requests`` requests of one length ``batch`` at a time: requests
    of equal lengths admitted together finish together, so they run in waves -- requests // batch full ones
    (``full``) and, for the rest, one short wave (``tail``), which streams the same weights for fewer tokens.
    In-flight batching admits a wave's prompts in chunks over its first steps (TensorRT-LLM max_num_tokens);
    that stagger is not modelled."""
    return requests // batch * full.batch_s + (tail.batch_s if tail is not None else 0.0)


def _mix(a: ForwardCost, b: ForwardCost, share: float) -> ForwardCost:
    """The mean step: ``share`` of the steps cost ``a``, the rest ``b``."""
    return ForwardCost(*(share * x + (1 - share) * y for x, y in zip(astuple(a), astuple(b))))


__all__ = ["InferenceResult", "serve", "run_seconds", "concurrent_prefills", "tp_all_reduce_seconds", "tp_logits_gather_seconds",
           "kv_stream_seconds"]
