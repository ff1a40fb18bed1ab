"""One forward pass of a serving instance on one GPU, kernel by kernel (seconds, bytes, FLOPs).

Prefill runs the prompt's tokens through every layer: GEMMs with many rows (compute-bound),
causal flash attention over the prompt.  Decode runs one token per sequence: every GEMM has as
many rows as sequences on the GPU, so it streams its weights from HBM (the GEMM roofline of
:mod:`fabricsim.workload.gemm` makes that memory-bound), and attention streams each sequence's
KV cache: time = max(FLOPs at the attention kernel's rate, KV bytes at HBM bandwidth).  An MoE
layer's expert kernels read only the experts some token of the step reaches
(:func:`fabricsim.workload.moe.active_experts`): a decode step of a few sequences touches a
fraction of them.

Multi-head latent attention (DeepSeek-V2/V3) decodes in the *absorbed* latent space (DeepSeek-V2
report section 2.1.2; FlashMLA): the key up-projection folds into the query and the value
up-projection into the output, so every head attends over the 512 + 64-wide compressed cache --
per token and layer ``2 x context x heads x (576 + 512)`` FLOPs, not the head-space
``2 x context x heads x (192 + 128)`` of training and prefill -- plus two small per-head GEMMs.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabricsim.workload.compute import Shape, attention_efficiency
from fabricsim.workload.elementwise import layer_elementwise_bytes
from fabricsim.workload.kernels import MOE_EXTRA_KERNELS
from fabricsim.workload.gemm import gemm_seconds, rates_for
from fabricsim.workload.layers import Gemm, dense_layer_gemms, head_gemms, moe_layer_gemms
from fabricsim.workload.model import attention_flops_per_token_per_layer, decode_keys_per_query, kv_cache_bytes_per_token
from fabricsim.workload.moe import active_experts


@dataclass(frozen=True)
class ForwardCost:
    """One forward pass on one GPU (seconds), and what it moved and computed."""

    gemm_s: float
    attention_s: float
    memory_s: float  # elementwise kernels (norms, activations, permutation), HBM-bound
    launch_s: float  # GPU idle between kernels
    flops: float
    kv_bytes: float  # KV cache read (decode)
    active_experts: float = 0.0  # local experts an MoE layer's tokens reach (their weights are read); 0 if dense
    local_experts: float = 0.0

    @property
    def total_s(self) -> float:
        return self.gemm_s + self.attention_s + self.memory_s + self.launch_s


def _decode_mla_gemms(model, tokens: float, tp: int) -> list[Gemm]:
    """MLA decode with absorbed up-projections: the KV up-projection GEMM is replaced by per-head
    query absorption (nope 128 -> latent 512) and output un-absorption (latent 512 -> value 128)."""
    heads = model.attention_heads / tp
    return [Gemm("MLA query absorb", tokens, model.kv_lora_rank, model.qk_nope_head_dim, heads),
            Gemm("MLA output absorb", tokens, model.head_dim, model.kv_lora_rank, heads)]


def _layer_gemms(model, tokens: float, tp: int, ep: int, per_expert: float, moe: bool, decode: bool,
                 active: float | None = None) -> list[Gemm]:
    gemms = moe_layer_gemms(model, tokens, tp, ep, 1, per_expert, active) if moe else dense_layer_gemms(model, tokens, tp)
    if decode and model.attention == "mla":
        gemms = [g for g in gemms if g.name != "KV up"] + _decode_mla_gemms(model, tokens, tp)
    return gemms


def _attention(model, gpu, profile, tokens: float, context: float, tp: int, kv_bytes: int, decode: bool,
               sequences: float, fp8: bool = False) -> tuple[float, float, float]:
    """(seconds, FLOPs, KV bytes read) of attention in one layer; ``fp8``: an FP8 run (weights and activations)."""
    fp8_prompt = (not decode and fp8 and kv_bytes == 1 and profile.fp8_context_attention
                  and f"{profile.attention}-fp8" in gpu.attention_efficiency)
    efficiency = attention_efficiency(gpu, profile, None, fp8=fp8_prompt, seq=context, model=model)  # decode walks it too
    rate = gpu.bf16_dense_flops * efficiency
    if not decode:
        flops = attention_flops_per_token_per_layer(model, context) * tokens / tp  # causal prompt of length context
        return flops / rate, flops, 0.0
    heads = model.attention_heads / tp
    if model.attention == "mla":
        width = (model.kv_lora_rank + model.qk_rope_head_dim) + model.kv_lora_rank
        kv_split = 1  # the latent cache is shared by all heads: not split over TP
    else:
        width = 2 * model.head_dim
        kv_split = tp
        if profile.decode_kv_per_query_head:  # each query head streams its group's KV head again
            kv_split = tp * model.kv_heads / model.attention_heads
    keys = decode_keys_per_query(model, context)  # a sliding-window layer reads only its window
    flops = 2.0 * keys * heads * width * tokens
    kv = sequences * keys * kv_cache_bytes_per_token(model, kv_bytes) / model.layers / kv_split
    return max(flops / rate, kv / gpu.hbm_stream_bytes_per_s), flops, kv


def forward_cost(model, gpu, profile, tokens: float, context: float, tp: int, precision: str, kv_bytes: int,
                 decode: bool, ep: int = 1, moe_tokens: float | None = None, rows: float | None = None,
                 head: bool = True, expert_precision: str | None = None,
                 attention_span: float | None = None) -> ForwardCost:
    """A forward pass of ``tokens`` tokens on one GPU of a TP group of ``tp``.

    Prefill: ``tokens`` prompt tokens attending causally over prompts of ``context`` tokens.
    Decode: ``tokens`` sequences, one new token each, attending to ``context`` cached tokens.
    ``moe_tokens``: tokens this GPU dispatches to the experts (default ``tokens``); each of its
    ``experts / ep`` experts receives ``moe_tokens x k x ep / experts`` of them (balanced).
    ``rows`` (decode): rows the GEMMs, elementwise kernels and output head compute when the batch is padded
    to a captured CUDA-graph size (default ``tokens``); the padding requests hold no KV cache, so attention
    still reads the ``tokens`` real sequences (:mod:`fabricsim.workload.trtllm_bench`).
    ``head``: whether this GPU runs the output head (False on all but the last pipeline stage).
    ``expert_precision``: the routed experts' GEMMs (None: ``precision``), e.g. 'fp4' for an NVFP4 checkpoint of an
    MoE whose experts alone are 4-bit (:func:`fabricsim.workload.gemm.rates_for`).
    ``attention_span`` (prefill): the prompt length whose causal attention the batch's prompt tokens pay, when prompts
    differ in length (:meth:`fabricsim.workload.request_lengths.RequestLengths.prompt_attention_span`; default
    ``context``).
    Every pass pays the profile's ``iteration_layer_s`` per layer (a TensorRT engine enqueued without CUDA graphs
    by an executor without an overlap scheduler); a prompt pass of an FP8 run with an FP8 KV cache runs its
    attention at the FP8 rate when the profile's ``fp8_context_attention`` says so."""
    rates = rates_for(gpu, precision, profile.kernel_efficiency)
    expert_rates = rates if expert_precision in (None, precision) else rates_for(gpu, expert_precision,
                                                                                   profile.kernel_efficiency)
    sequences = tokens if decode else 0.0
    if decode and rows is not None:
        tokens = max(tokens, rows)
    gemm = attention = memory = flops = kv_read = kernels = 0.0
    reached = 0.0
    kinds = [(False, model.layers - model.moe_layers), (True, model.moe_layers)] if model.routed_experts \
        else [(False, model.layers)]
    for moe, count in kinds:
        if not count:
            continue
        dispatched = tokens if moe_tokens is None else moe_tokens
        per_expert = dispatched * model.experts_per_token * ep / model.routed_experts if moe else 0.0
        # the ep GPUs each dispatch ``dispatched`` tokens: only the experts some of them reach are read
        active = active_experts(model, dispatched * ep, model.routed_experts / ep) if moe else None
        reached = active if moe else reached
        gemms = _layer_gemms(model, tokens, tp, ep, per_expert, moe, decode, active)
        g = sum(float(gemm_seconds(x.m, x.n, x.k, expert_rates if x.grouped else rates, x.batch)) for x in gemms)
        span = context if decode or attention_span is None else attention_span
        a, f, kv = _attention(model, gpu, profile, sequences if decode else tokens, span, tp, kv_bytes, decode,
                              sequences, precision in ("fp8", "fp4"))
        # no sequence parallelism in serving: every TP rank norms and adds the residual of the whole hidden state
        # after the all-reduce (vLLM and TensorRT-LLM apply RMSNorm to the all-reduced hidden state; Korthikanti et
        # al. 2022, section 4.2.2: without sequence parallelism the layer norms are replicated across the TP group)
        shape = Shape(tokens, int(context), 1, tp, False, precision, ep, 1, per_expert,
                      per_expert * model.routed_experts / ep if moe else 0.0)
        elementwise, _, _, _ = layer_elementwise_bytes(model, shape, profile, moe)
        n = len(gemms) + 7 + (MOE_EXTRA_KERNELS if moe else 0)
        gemm, attention, memory = gemm + count * g, attention + count * a, memory + count * elementwise / gpu.hbm_stream_bytes_per_s
        flops += count * (sum(x.flops for x in gemms) + f)
        kv_read += count * kv
        kernels += count * n
    head_tokens = tokens if decode else tokens / max(context, 1)  # logits of the last position only
    head_rates = rates if profile.fp8_output_head else rates_for(gpu, "bf16", profile.kernel_efficiency)
    for x in head_gemms(model, head_tokens, tp) if head else []:
        gemm += float(gemm_seconds(x.m, x.n, x.k, head_rates, x.batch))
        flops += x.flops
    launch = kernels * profile.kernel_overhead_s + model.layers * profile.iteration_layer_s
    if not decode:  # a prompt pass also pays the engine's per-layer context-phase cost
        launch += model.layers * profile.context_layer_s
    local = model.routed_experts / ep if model.routed_experts else 0.0
    return ForwardCost(gemm, attention, memory, launch, flops, kv_read, reached, local)


__all__ = ["ForwardCost", "forward_cost"]
