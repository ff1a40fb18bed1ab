"""DualPipe: DeepSeek-V3's bidirectional pipeline schedule.

DeepSeek-AI 2024, *DeepSeek-V3 Technical Report* (arXiv:2412.19437), section 3.2.1 and Table 2, and
the reference implementation (github.com/deepseek-ai/DualPipe, ``dualpipe/dualpipe.py``):

* Rank ``r`` of ``pp`` holds two model chunks: stage ``r`` for micro-batches fed from the first rank
  and stage ``pp - 1 - r`` for those fed from the last (two copies of the parameters).  Half the
  micro-batches flow each way, so rank ``r`` runs ``m / 2`` micro-batches through each of its two
  stages: the busiest *pair* of stages paces the pipeline, not the busiest stage (the light first
  stage, with the embedding, shares a rank with the heavy last one, with the head and MTP).
* Bubble ``(pp/2 - 1)(F&B + B - 3W)`` chunks, against 1F1B's ``(pp - 1)(F + B)``: ``F&B`` is a forward
  and a backward chunk run together (their communication overlapped), ``B`` a full backward, ``W``
  its weight-gradient half (zero-bubble split).
* Forward and backward chunks are paired so that the all-to-all and pipeline communication of one
  hides under the other's compute: "both all-to-all and PP communication can be fully hidden".
* Peak activations ``pp + 1`` chunks (:func:`fabricsim.workload.memory.memory_use`); the reference
  implementation requires an even ``pp`` and an even number of micro-batches, at least ``2 pp``.

Here the unit of work per rank is a *pair* of micro-batches, one through each of its stages, so
per-layer call counts stay whole; all times are seconds.
"""

from __future__ import annotations

from dataclasses import fields

from fabricsim.errors import FabricsimError
from fabricsim.workload.compute import StageCompute


def check_dualpipe(pp: int, micro_batches: int, virtual_stages: int | None) -> None:
    """Refuse a job the DualPipe schedule cannot run (the reference implementation's assertions)."""
    if pp < 2 or pp % 2:
        raise FabricsimError(f"workload.train.pipeline_schedule=dualpipe needs an even pp of at least 2 (each rank holds "
                             f"stage r and stage pp-1-r); pp={pp}")
    if micro_batches % 2 or micro_batches < 2 * pp:
        raise FabricsimError(f"workload.train.pipeline_schedule=dualpipe needs an even number of micro-batches per "
                             f"replica, at least 2 x pp = {2 * pp}; global_batch / (dp x micro_batch) = {micro_batches}")
    if virtual_stages not in (None, 1):
        raise FabricsimError(f"workload.train.virtual_stages={virtual_stages}: DualPipe places two chunks per rank "
                             "itself (stage r and pp-1-r); leave virtual_stages unset with pipeline_schedule=dualpipe")


def paired_ranks(pp: int) -> list[tuple[int, int]]:
    """(stage, partner stage) of each distinct rank: rank r and rank pp-1-r hold the same two stages."""
    return [(r, pp - 1 - r) for r in range(pp // 2)]


def pair_compute(a: StageCompute, b: StageCompute) -> StageCompute:
    """One micro-batch through stage ``a`` and one through stage ``b``: what a DualPipe rank does per
    pair of micro-batches (seconds and FLOPs add; per-GEMM rows merge by name)."""
    summed = {f.name: getattr(a, f.name) + getattr(b, f.name) for f in fields(StageCompute)
              if f.name not in ("gemms", "moe_phases")}  # DualPipe hides the all-to-alls its own way
    rows: dict[str, list] = {}
    for gemm, seconds, share in list(a.gemms) + list(b.gemms):
        entry = rows.setdefault(gemm.name, [gemm, 0.0, 0.0])
        entry[1] += seconds
        entry[2] += seconds * share  # seconds x share of peak = FLOPs / peak
    return StageCompute(**summed, gemms=[(g, s, work / s if s else 0.0) for g, s, work in rows.values()])


def weight_gradient_s(pair: StageCompute) -> float:
    """``W``: the weight-gradient GEMMs of a pair, one third of its GEMM time (each linear layer runs a
    forward, an input-gradient and a weight-gradient GEMM of equal FLOPs)."""
    return pair.gemm_s / 3


def bubble_s(pair: StageCompute, exposed_per_pair: float, pp: int) -> float:
    """DualPipe's bubble, ``(pp/2 - 1)(F&B + B - 3W)`` with chunk times half a pair's (seconds).

    ``exposed_per_pair``: communication and SM slowdown a pair waits for, which an overlapped F&B
    chunk carries too."""
    chunk_f_and_b = (pair.total_s + exposed_per_pair) / 2
    chunk_backward = pair.backward_s / 2
    chunk_weight = weight_gradient_s(pair) / 2
    return (pp / 2 - 1) * max(0.0, chunk_f_and_b + chunk_backward - 3 * chunk_weight)


__all__ = ["check_dualpipe", "paired_ranks", "pair_compute", "weight_gradient_s", "bubble_s"]
