"""Megatron-Core's merged 1F1B: expert all-to-alls beside the other micro-batch's compute (seconds).

With ``overlap_moe_expert_parallel_comm`` (Megatron-Bridge ``moe_a2a_overlap``, which also sets
``delay_wgrad_compute``) the schedule runs the forward of one micro-batch and the backward of the one before it
as one merged step, layer by layer (Megatron-Core ``pipeline_parallel/combined_1f1b.py`` and
``models/common/model_chunk_schedule_plan.py``: one CUDA stream for compute, one for the all-to-alls, with events
between them).  Per merged MoE layer four phases follow each other, each an all-to-all beside a compute part that
does not depend on it:

1. compute: forward attention block, router and permutation  |  comm: backward combine
2. compute: backward of the routed experts (their weight gradients, delayed, with them) |  comm: forward dispatch
3. compute: forward of the routed experts                   |  comm: backward dispatch
4. compute: backward attention block and weight gradients    |  comm: forward combine

A phase ends when both its streams are done (the next phase's compute needs this phase's all-to-all), so a merged
layer takes ``sum(max(compute_i, a2a_i))`` and exposes ``sum(max(0, a2a_i - compute_i))`` of its all-to-all: never
more than without overlap, never a step faster than its compute.  The first forward and the last backward of a
step have no partner and expose their all-to-alls whole (:func:`exposed_per_micro_batch`); extra warm-up forwards
of a pipelined schedule are taken to run in the bubble (not counted).

Not modelled: the host work the split schedule adds.  NVIDIA's DeepSeek-V3 GB200 guide (Megatron-LM
docs/discussions/deepseek-v3-gb200-optimization, 2025-11, 'Why didn't we use 1F1B AlltoAll overlap on the GB200?')
found it net negative there without full CUDA graphs: it 'divides the forward and backward into multiple stages for
scheduling, and there is some synchronization between different stages, which aggravates the CPU overhead'.  A flat
extra host time per merged MoE layer does not reproduce the published rows (tried 2026-12 at 1, 2 and 4 ms on the
fourteen eager overlapped cases: 1-2 ms brings some within 5% and sends others 30-50% slow), so no figure is charged.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MoePhases:
    """One MoE layer's compute for one micro-batch on one GPU, split as the merged schedule pairs it (seconds)."""

    attention_forward: float  # the layer's forward but its routed experts
    experts_forward: float
    attention_backward: float
    experts_backward: float


def merged_layer_exposed_s(phases: MoePhases, a2a_s: float) -> float:
    """Exposed all-to-all seconds of one merged MoE layer (forward of one micro-batch, backward of another) whose
    four all-to-alls take ``a2a_s`` each."""
    compute = (phases.attention_forward, phases.experts_backward, phases.experts_forward, phases.attention_backward)
    return sum(max(0.0, a2a_s - c) for c in compute)


def exposed_per_micro_batch(phases: MoePhases, a2a_s: float, moe_layers: float, units: int) -> float:
    """Exposed all-to-all seconds per micro-batch over a step of ``units`` micro-batches through ``moe_layers`` MoE
    layers: ``units - 1`` merged pairs and one unpaired forward and backward (four all-to-alls per layer exposed)."""
    paired = moe_layers * merged_layer_exposed_s(phases, a2a_s)
    unpaired = moe_layers * 4 * a2a_s
    return (paired * (units - 1) + unpaired) / units


__all__ = ["MoePhases", "merged_layer_exposed_s", "exposed_per_micro_batch"]
