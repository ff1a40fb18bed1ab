"""Which rank paces a pipelined training step: every stage's compute per micro-batch, and the ranks that may take
longest once their communication is counted (one of each distinct stage make-up).

The step is paced by the rank that needs longest: its compute per unit (a micro-batch, or under DualPipe a pair
of them) plus the communication it cannot hide.  Compute alone does not decide it -- an MoE stage with fewer FLOPs
than the output head's stage can still need longer once its all-to-alls are exposed -- so
:func:`rank_candidates` returns one rank of each distinct make-up and :func:`fabricsim.workload.training.simulate_step`
times the collectives of each.  Seconds.
"""

from __future__ import annotations

from fabricsim.workload.compute import Shape, StageCompute, stage_compute
from fabricsim.workload.dualpipe import pair_compute
from fabricsim.workload.memory import MemoryUse
from fabricsim.workload.pipeline import StageLayout


def stage_computes(model, gpu, shape: Shape, profile, layout: StageLayout, recompute: MemoryUse,
                   attention_override) -> list[StageCompute]:
    """Every stage's micro-batch compute, first to last (stages of equal make-up computed once)."""
    cache: dict = {}
    computes = []
    for i, (layers, moe) in enumerate(zip(layout.layers, layout.moe_layers)):
        key = (layers - moe, moe, i == layout.stages - 1)
        if key not in cache:
            cache[key] = stage_compute(model, gpu, shape, profile, key[0], moe, key[2], recompute.recompute,
                                       recompute.recompute_layers, attention_override, layout.mtp if key[2] else 0)
        computes.append(cache[key])
    return computes


def rank_candidates(model, gpu, shape: Shape, profile, layout: StageLayout, recompute: MemoryUse,
                    attention_override, rank_stages) -> list[tuple[tuple[int, ...], StageCompute]]:
    """The ranks that may pace the pipeline, as (their stages, their compute per unit), most compute first: one rank
    of each distinct make-up (decoder and MoE layers, first stage, last stage), since a rank with less compute can
    still need longer once the communication it cannot hide is counted (an MoE stage's all-to-alls against the
    output head's stage).  ``rank_stages``: the stages each rank runs -- one under 1F1B, stage r and pp-1-r under
    DualPipe, whose unit is then a pair of micro-batches, one through each."""
    computes = stage_computes(model, gpu, shape, profile, layout, recompute, attention_override)
    last = layout.stages - 1
    distinct: dict = {}
    for stages in rank_stages:
        key = tuple((layout.layers[i], layout.moe_layers[i], i == 0, i == last) for i in stages)
        if key not in distinct:
            compute = computes[stages[0]] if len(stages) == 1 else pair_compute(*(computes[i] for i in stages))
            distinct[key] = (stages, compute)
    return sorted(distinct.values(), key=lambda candidate: -candidate[1].total_s)


__all__ = ["stage_computes", "rank_candidates"]
