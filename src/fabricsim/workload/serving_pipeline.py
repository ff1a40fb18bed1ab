"""Pipeline parallelism of a serving instance: layers over ``pp`` stages, micro-batches in flight.

* **Layer split** (vLLM ``vllm/distributed/utils.py:get_pp_indices``, SGLang the same rule): every
  stage gets ``layers // pp`` layers; the remainder goes one each to the stages before the last (the
  last stage also runs the final norm and the output head).  A model whose first layers are dense and
  the rest MoE (DeepSeek-V3) keeps that order: the dense layers land on the first stage(s).
* **Micro-batches**: the engine keeps ``pp`` micro-batches in flight, one per stage (TensorRT-LLM
  ``cpp/tensorrt_llm/batch_manager/trtGptModelInflightBatching.cpp``: ``mNumMicroBatches =
  worldConfig.getPipelineParallelism()``; its PyTorch executor ``py_executor.py``:
  ``num_micro_batches = dist.pp_size``; vLLM ``max_concurrent_batches = pipeline_parallel_size``;
  SGLang ``pp_max_micro_batch_size = max_running_requests // pp_size``).  A batch of ``B`` sequences
  runs as ``pp`` micro-batches of ``B / pp``.
* **Steady state** (a closed cycle of ``pp`` micro-batches through ``pp`` stages and the hops between
  them): every micro-batch advances one token per cycle, and the cycle is the longer of
  (a) one micro-batch's trip: the sum of the stages' times plus every hop, and
  (b) the busiest stage's work: ``pp`` micro-batches x its time for one.
  With balanced stages (a) = ``pp x t_stage + hops`` -- the hops add, nothing hides them.
  Time per output token as a user sees it = the cycle (a token passes all stages).
* **Hops**: each TP rank of stage ``s`` sends the micro-batch's hidden state (BF16, tokens x hidden x 2
  bytes) to the same TP rank of stage ``s + 1`` (ASSUMPTION: full copies per rank, as TensorRT-LLM's
  pipeline send does; vLLM can send a 1/tp slice and all-gather); the last stage returns the sampled
  token ids (4 bytes each) to the first.  Timed on the fabric as concurrent send/recv.
Seconds, bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fabricsim.collectives.concurrent import time_transfers
from fabricsim.errors import FabricsimError
from fabricsim.workload.forward import forward_cost
from fabricsim.workload.inference import (InferenceResult, kv_stream_seconds, tp_all_reduce_seconds,
                                          tp_logits_gather_seconds)
from fabricsim.workload.model import kv_cache_bytes, parameter_counts
from fabricsim.workload.request_lengths import RequestLengths
from fabricsim.workload.serving_memory import check_resident, weights_and_kv_per_gpu
from fabricsim.workload.weight_format import expert_precision

ACTIVATION_BYTES = 2
"""Bytes per hidden-state element sent between stages (BF16)."""
TOKEN_ID_BYTES = 4
"""Bytes per sampled token id returned from the last stage to the first (int32)."""


def stage_layer_counts(layers: int, pp: int) -> list[int]:
    """Layers per stage, first to last: ``layers // pp`` each, the remainder one each to the stages before the
    last, from the second-to-last backwards (vLLM get_pp_indices); pp = 1 gives [layers]."""
    counts = [layers // pp] * pp
    for i in range(layers % pp):
        counts[-2 - i] += 1
    return counts


@dataclass(frozen=True)
class Stage:
    model: object  # the catalog model restricted to this stage's layers (layers, dense_layers, sliding_window_layers)
    first: bool
    last: bool
    layers: int


def stages(model, pp: int) -> list[Stage]:
    """The ``pp`` stages of ``model``: each a copy of the model with its own layer counts (dense layers first)."""
    counts = stage_layer_counts(model.layers, pp)
    dense = model.layers - model.moe_layers
    out, start = [], 0
    for index, count in enumerate(counts):
        end = start + count
        stage_dense = max(0, min(end, dense) - start)
        windowed = round(model.sliding_window_layers * count / model.layers)  # interleaved windows: pro rata
        update = dict(layers=count, sliding_window_layers=windowed)
        if model.routed_experts:
            update["dense_layers"] = stage_dense  # moe_layers is the catalog's layers - dense_layers
        stage_model = model.model_copy(update=update)
        out.append(Stage(stage_model, index == 0, index == pp - 1, count))
        start = end
    return out


def stage_parameters(stage: Stage, model) -> tuple[float, float]:
    """(parameters a stage holds, of which routed experts): its layers, the input embedding on the first stage,
    the output head and final norm on the last (a tied head is a copy of the embedding there)."""
    counts = parameter_counts(stage.model)
    layers = counts.total - counts.input_embedding - counts.output_embedding - model.hidden_size
    total = layers
    if stage.first:
        total += counts.input_embedding
    if stage.last:
        total += (counts.output_embedding or model.vocab_size * model.hidden_size) + model.hidden_size
    return total, counts.routed_experts_total


def hop_seconds(fabric, tp: int, pp: int, tokens: float, hidden: int, policy) -> float:
    """All the hops of one micro-batch's trip (seconds): ``pp - 1`` hidden-state sends plus the token-id return."""
    total = 0.0
    for s in range(pp):
        src = s * tp + np.arange(tp)
        dst = ((s + 1) % pp) * tp + np.arange(tp)
        size = tokens * (hidden * ACTIVATION_BYTES if s < pp - 1 else TOKEN_ID_BYTES)
        total += time_transfers(fabric, src, dst, max(1.0, size), policy).time_s
    return total


def cycle_seconds(stage_s: list[float], hops_s: float) -> float:
    """Steady-state cycle of ``pp`` micro-batches: max(one trip = sum of stages + hops, pp x the slowest stage)."""
    return max(sum(stage_s) + hops_s, len(stage_s) * max(stage_s))


def _resident(spec, model, parts: list[Stage], ep: int, gpu) -> float:
    """Bytes per GPU of the heaviest stage: its weights over tp (routed experts over ep) and the KV cache of its
    layers for every sequence in flight (all pp micro-batches); too many is an error."""
    heaviest = max((weights_and_kv_per_gpu(spec, stage.model, *stage_parameters(stage, model), ep, spec.batch)
                    for stage in parts), key=sum)
    return check_resident(spec, gpu, *heaviest, spec.batch, f"the heaviest of pp={spec.pp} stages")


def static_pipelined(spec, model, gpu, profile, fabric, policy, precision, ep: int = 1):
    """One TP x PP instance of ``tp * pp`` GPUs (stage ``s`` on GPUs ``s*tp ... s*tp + tp-1``): the batch runs as
    ``pp`` micro-batches of ``batch / pp`` sequences.  Prefill and every decode step take one steady-state cycle
    (:func:`cycle_seconds`) of the stages' times for one micro-batch (forward pass of the stage's layers, the output
    head on the last, TP all-reduces of its layers) and the hops.  The one-off fill and drain of the pipeline at
    the start and end of a run are not counted (in-flight batching keeps the stages busy in between)."""
    if profile.decode_graph_batch_sizes:
        raise FabricsimError(f"workload.infer.pp={spec.pp}: software profile {spec.software!r} pads decode steps to "
                             f"CUDA-graph sizes, which is modelled for pp: 1 only; use a profile without "
                             f"decode_graph_batch_sizes (e.g. serving-2025) or pp: 1")
    pp, tp = spec.pp, spec.tp
    parts = stages(model, pp)
    micro = spec.batch / pp
    prompt_tokens = micro * spec.context
    lengths = RequestLengths.of(spec)
    context = lengths.decode_context()
    prefill_s, decode_s, steps = [], [], []
    for index, stage in enumerate(parts):
        gpus = index * tp + np.arange(tp)
        p = forward_cost(stage.model, gpu, profile, prompt_tokens, spec.context, tp, precision, spec.kv_bytes, False,
                         ep, prompt_tokens / ep, head=stage.last, expert_precision=expert_precision(spec),
                         attention_span=lengths.prompt_attention_span())
        prefill_s.append(p.total_s + tp_all_reduce_seconds(fabric, gpus, tp, prompt_tokens, stage.model, policy)
                         + (tp_logits_gather_seconds(fabric, gpus, tp, micro, stage.model, policy) if stage.last else 0.0))
        d = forward_cost(stage.model, gpu, profile, micro, context, tp, precision, spec.kv_bytes, True,
                         ep, micro / ep, head=stage.last, expert_precision=expert_precision(spec))
        steps.append(d)
        decode_s.append(d.total_s + tp_all_reduce_seconds(fabric, gpus, tp, micro, stage.model, policy)
                        + (tp_logits_gather_seconds(fabric, gpus, tp, micro, stage.model, policy) if stage.last else 0.0))
    prefill_hops = hop_seconds(fabric, tp, pp, prompt_tokens, model.hidden_size, policy)
    decode_hops = hop_seconds(fabric, tp, pp, micro, model.hidden_size, policy)
    prefill = cycle_seconds(prefill_s, prefill_hops)
    tpot = cycle_seconds(decode_s, decode_hops)
    slowest = int(np.argmax(decode_s))
    step = steps[slowest]
    compute_s = pp * step.total_s  # the slowest stage's forward passes over one cycle
    tp_s = pp * (decode_s[slowest] - step.total_s)
    resident = _resident(spec, model, parts, ep, gpu)
    return InferenceResult(model.name, 0, tp * pp, spec.batch, spec.context, prefill, 0.0, 0.0,
                           kv_cache_bytes(model, spec.context, spec.kv_bytes), compute_s,
                           pp * kv_stream_seconds(step, gpu),
                           tp_s, 0.0, tpot, 0.0, resident, "static", spec.output_tokens, spec.batch * spec.context,
                           tp * pp, decode_active_experts=step.active_experts, local_experts=step.local_experts,
                           decode_rows=spec.batch, pp=pp, decode_p2p_s=decode_hops, decode_stage_s=decode_s[slowest],
                           decode_context=context, lengths_vary=not lengths.fixed)


__all__ = ["static_pipelined", "ACTIVATION_BYTES", "TOKEN_ID_BYTES", "Stage", "stage_layer_counts", "stages", "stage_parameters",
           "hop_seconds", "cycle_seconds"]
