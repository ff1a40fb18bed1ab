"""Disaggregated LLM serving on the fabric: prefill instances hand KV caches to decode instances.

* Prefill (one request at a time per attention-TP group): forward FLOPs of the prompt at the GPU's
  achievable matmul rate, plus the MoE dispatch/combine all-to-all of every MoE layer among the
  instance's GPUs (timed on the fabric).  Time-to-first-token = prefill + KV-cache hand-over.
* KV hand-over: the prompt's KV cache (GQA: 2 x layers x KV heads x head dim per token; MLA: the
  compressed latent) moves from every prefill GPU to a decode GPU, all groups at once.
* Decode step (time per output token): a roofline per GPU, max(compute, HBM traffic) -- weights
  of its share of attention and experts plus the KV cache of its sequences -- plus tensor-parallel
  all-reduces and the MoE all-to-alls of every layer, which a decode step cannot hide (DeepSeek-V3
  report section 3.4.2 overlaps two micro-batches; that is not modelled, so this is an upper bound).
* Throughput: the decode instance's output tokens/s, with as many prefill instances as it takes to
  keep it fed, per GPU of the whole deployment.
Seconds, bytes, FLOP/s throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fabricsim.collectives.concurrent import time_groups, time_transfers
from fabricsim.errors import FabricsimError
from fabricsim.workload.model import forward_flops_per_token, kv_cache_bytes_per_token, parameter_counts

DISPATCH_BYTES = 1
"""Bytes per hidden element dispatched to experts (FP8; DeepSeek-V3 report section 3.3.2) -- combine is BF16."""
COMBINE_BYTES = 2


@dataclass
class InferenceResult:
    model: str
    prefill_gpus: int
    decode_gpus: int
    batch: int
    context: int
    prefill_s: float  # compute + MoE all-to-all
    prefill_a2a_s: float
    kv_transfer_s: float
    kv_bytes_per_request: float
    decode_compute_s: float
    decode_memory_s: float
    decode_tp_s: float
    decode_a2a_s: float
    tpot_s: float
    prefill_instances_per_decode: float
    decode_memory_bytes: float

    @property
    def ttft_s(self) -> float:
        return self.prefill_s + self.kv_transfer_s

    @property
    def decode_tokens_per_s(self) -> float:
        return self.batch / self.tpot_s

    @property
    def tokens_per_s_per_gpu(self) -> float:
        gpus = self.decode_gpus + self.prefill_instances_per_decode * self.prefill_gpus
        return self.decode_tokens_per_s / gpus

    def as_dict(self) -> dict:
        out = dict(vars(self))
        out.update(ttft_s=self.ttft_s, decode_tokens_per_s=self.decode_tokens_per_s,
                   tokens_per_s_per_gpu=self.tokens_per_s_per_gpu)
        return out


def _check(spec, model, design) -> int:
    ep = spec.ep or spec.decode_gpus
    if spec.prefill_gpus + spec.decode_gpus > design.gpus:
        raise FabricsimError(f"workload.infer: prefill_gpus + decode_gpus = {spec.prefill_gpus + spec.decode_gpus:,} "
                             f"is more than the cluster's {design.gpus:,} GPUs")
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


def _a2a(fabric, gpus: np.ndarray, ep: int, tokens_per_gpu: float, model, policy) -> float:
    """Dispatch + combine all-to-all of one MoE layer among ``gpus`` in EP groups of ``ep`` (seconds)."""
    if ep <= 1 or tokens_per_gpu <= 0:
        return 0.0
    groups = gpus[: gpus.size // ep * ep].reshape(-1, ep)
    total = 0.0
    for element_bytes in (DISPATCH_BYTES, COMBINE_BYTES):
        size = max(1, int(tokens_per_gpu * model.experts_per_token * model.hidden_size * element_bytes))
        total += time_groups(fabric, "all_to_all", "auto", groups, size, policy).time_s
    return total


def serve(scenario, spec, model, fabric=None) -> InferenceResult:
    from fabricsim.topology.build import build_fabric
    from fabricsim.topology.design import design_fabric

    design = fabric.design if fabric is not None else design_fabric(scenario)
    ep = _check(spec, model, design)
    if fabric is None:
        fabric = build_fabric(design)
    policy = spec.load_balancing or design.load_balancing
    gpu = design.gpu
    peak = (gpu.fp8_dense_flops if spec.weight_bytes == 1 else gpu.bf16_dense_flops) * gpu.matmul_efficiency
    counts = parameter_counts(model)
    moe_layers = model.moe_layers if model.routed_experts else 0
    prefill = np.arange(spec.prefill_gpus)
    decode = spec.prefill_gpus + np.arange(spec.decode_gpus)

    # prefill: one request per attention-TP group; the prompt's tokens attend to an average half-context
    prompt_flops = forward_flops_per_token(model, spec.context / 2) * spec.context
    prefill_ep = spec.prefill_gpus if model.routed_experts else 1
    prefill_a2a = moe_layers * _a2a(fabric, prefill, prefill_ep, spec.context / spec.tp, model, policy)
    prefill_s = prompt_flops / (spec.tp * peak) + prefill_a2a

    # KV hand-over: every prefill GPU sends its part of a request's cache to a decode GPU, all at once
    kv_request = kv_cache_bytes_per_token(model, spec.kv_bytes) * spec.context
    share = kv_request / spec.tp
    receivers = decode[np.arange(spec.prefill_gpus) % spec.decode_gpus]
    kv_s = time_transfers(fabric, prefill, receivers, max(1.0, share), policy).time_s

    # decode step: roofline per GPU + exposed TP and MoE communication
    dp_groups = spec.decode_gpus // spec.tp
    seqs_per_group = spec.batch / dp_groups
    tokens_per_gpu = spec.batch / spec.decode_gpus
    expert_params = counts.routed_experts_total
    dense_params = counts.total - expert_params
    weights = spec.weight_bytes * (dense_params / spec.tp + expert_params / ep)
    kv_per_token = kv_cache_bytes_per_token(model, spec.kv_bytes)
    kv_split = spec.tp if model.attention != "mla" else 1  # MLA's latent is not split over heads
    kv_read = seqs_per_group * (spec.context + spec.output_tokens / 2) * kv_per_token / kv_split
    memory_s = (weights + kv_read) / gpu.hbm_bytes_per_s
    compute_s = forward_flops_per_token(model, spec.context + spec.output_tokens / 2) * spec.batch / (
        spec.decode_gpus * peak)
    tp_s = 0.0
    if spec.tp > 1:
        group = decode.reshape(-1, spec.tp)
        size = max(1, int(seqs_per_group * model.hidden_size * 2))
        tp_s = 2 * model.layers * time_groups(fabric, "all_reduce", "auto", group, size, policy).time_s
    a2a_s = moe_layers * _a2a(fabric, decode, ep, tokens_per_gpu, model, policy)
    tpot = max(compute_s, memory_s) + tp_s + a2a_s
    resident = weights + seqs_per_group * (spec.context + spec.output_tokens) * kv_per_token / kv_split
    if resident > gpu.hbm_bytes:
        fit = int(spec.batch * max(0.0, gpu.hbm_bytes - weights) / max(1.0, resident - weights))
        raise FabricsimError(
            f"workload.infer: decode needs {resident / 1e9:,.0f} GB per GPU ({weights / 1e9:,.0f} GB weights + "
            f"KV cache of {seqs_per_group:g} sequences x {spec.context + spec.output_tokens:,} tokens) but "
            f"{gpu.name} has {gpu.hbm_bytes / 1e9:,.0f} GB; batch <= {fit} would fit, or more decode GPUs")
    decode_requests_per_s = spec.batch / tpot / spec.output_tokens
    prefill_requests_per_s = (spec.prefill_gpus / spec.tp) / (prefill_s + kv_s)
    return InferenceResult(model.name, spec.prefill_gpus, spec.decode_gpus, spec.batch, spec.context, prefill_s,
                           prefill_a2a, kv_s,
                           kv_request, compute_s, memory_s, tp_s, a2a_s, tpot,
                           decode_requests_per_s / prefill_requests_per_s, resident)
