"""Where a family of training or serving misses sits: the missing time of each case set against the parts of fabricsim's
step (training) or run (static serving: prefills, decode kernels, KV-cache reads, communication).

A training case's published throughput says how long its step took; fabricsim's step is the sum of parts it can
name (GEMMs by kind, attention, memory-bound kernels, launch gaps, exposed communication by kind).  The missing time
per unit of the pipeline (a micro-batch on the busiest stage) is ``published step / units - model step / units``.
When a family of rows misses for one reason the missing time tends to keep a constant ratio to the part that
mechanism lives in, across GPUs, precisions and layouts, and not to the others: the part whose ratio spreads least
(median absolute deviation over the median, robust to a few rows that miss for a second reason) is the first
candidate.  A ratio is evidence, not a mechanism: it tells
where to look (gpt-oss's rows: the missing time equals the expert GEMMs' to within 10%).  Seconds throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fabricsim.errors import FabricsimError
from fabricsim.validation import runner
from fabricsim.validation.cases import Case

INVERSE_METRICS = ("tokens_per_s_per_gpu", "tokens_per_s", "hardware_flops_per_s_per_gpu", "model_flops_per_s_per_gpu",
                   "mfu")
"""Training metrics inversely proportional to the step time (the tokens and FLOPs of a step are fixed)."""


@dataclass(frozen=True)
class MissAttribution:
    """One training case: its error, its missing seconds per pipeline unit, and fabricsim's parts per unit."""

    case_id: str
    error: float  # model / published - 1
    missing_s: float  # published step / units - model step / units
    parts_s: dict  # part name -> seconds per unit


def step_parts(result) -> dict[str, float]:
    """Seconds per pipeline unit of the parts of a training result's step (a TrainingResult)."""
    stage = result.stage
    by_kind = {"expert GEMMs": 0.0, "dense GEMMs": 0.0, "output head": 0.0}
    for gemm, seconds, _ in stage.gemms:
        kind = ("expert GEMMs" if gemm.name.startswith("experts") else
                "output head" if gemm.name == "output head" else "dense GEMMs")
        by_kind[kind] += seconds
    parts = {**by_kind, "attention": stage.attention_s, "memory-bound": stage.memory_s,
             "launch gaps": stage.launch_s, "recompute": stage.recompute_s}
    units = result.pipeline_units
    for name, seconds in result.breakdown_s.items():
        if name.startswith("exposed") or name in ("pipeline bubble", "comm kernels' SMs"):
            parts[name] = seconds / units
    return {name: seconds for name, seconds in parts.items() if seconds > 0}


def attribute(cases: list[Case]) -> list[MissAttribution]:
    """Re-run each training case whose metric scales with 1 / step and split its miss (other cases are skipped)."""
    rows = []
    ctx = runner.Context()
    for case in cases:
        if case.layer != "training" or case.setup.kind != "training" or case.setup.metric not in INVERSE_METRICS:
            continue
        result = runner.workload_result(case.setup, ctx, "train", "train")
        model = float(getattr(result, case.setup.metric))
        units = result.pipeline_units
        published_step = result.step_time_s * model / case.published
        rows.append(MissAttribution(case.id, model / case.published - 1,
                                    (published_step - result.step_time_s) / units, step_parts(result)))
    if not rows:
        raise FabricsimError("fabricsim validate --attribute: no training case with a throughput, FLOP/s or MFU metric "
                             "among the selected ones; select training cases with --layer training or --match")
    return rows


def serving_parts(result) -> dict[str, float]:
    """Seconds of the parts of a static serving run (an InferenceResult): the prefills and the decode steps' GEMMs and
    other kernels, KV-cache reads, tensor-parallel and expert communication, over the whole run (every wave)."""
    waves = (result.run_s if result.requests else result.batch_s) / result.batch_s
    steps = waves * result.output_tokens
    parts = {"prefill": waves * result.prefill_s,
             "decode GEMMs and other kernels": steps * (result.decode_compute_s - result.decode_memory_s),
             "decode KV-cache reads": steps * result.decode_memory_s,
             "decode TP comm": steps * result.decode_tp_s, "decode all-to-all": steps * result.decode_a2a_s}
    return {name: seconds for name, seconds in parts.items() if seconds > 0}


def attribute_serving(cases: list[Case]) -> list[MissAttribution]:
    """Re-run each static serving case with a throughput metric and split its miss over the run's parts: the missing
    seconds are the published run's length less the model's (other cases are skipped)."""
    rows = []
    ctx = runner.Context()
    for case in cases:
        if case.layer != "inference" or case.setup.kind != "inference" or case.setup.metric != "tokens_per_s_per_gpu":
            continue
        result = runner.workload_result(case.setup, ctx, "infer", "infer")
        if result.mode != "static":
            continue
        model = float(result.tokens_per_s_per_gpu)
        run_s = result.run_s if result.requests else result.batch_s
        rows.append(MissAttribution(case.id, model / case.published - 1, run_s * (model / case.published - 1),
                                    serving_parts(result)))
    if not rows:
        raise FabricsimError("fabricsim validate --attribute: no training case with a throughput, FLOP/s or MFU metric "
                             "and no static serving case with a tokens/s per GPU metric among the selected ones; select "
                             "them with --layer training, --layer inference or --match")
    return rows


def ratio_spread(rows: list[MissAttribution]) -> list[tuple[str, float, float, float]]:
    """Per part every row has: (part, median of missing / part, robust spread, spread), least robust spread
    first.  The robust spread is the median absolute deviation of the ratios over their median, so that a few rows
    missing for a second reason (an all-to-all across the network, a published outlier) do not hide the part the
    rest agree on; the spread is the plain coefficient of variation, which those few rows move -- and which tells
    two parts apart when the robust spread ties them (rows of another precision that only one part follows)."""
    names = set.intersection(*(set(row.parts_s) for row in rows)) if len(rows) > 1 else set()
    out = []
    for name in sorted(names):
        ratios = np.array([row.missing_s / row.parts_s[name] for row in rows])
        median, mean = float(np.median(ratios)), float(np.mean(ratios))
        robust = float(np.median(np.abs(ratios - median)) / abs(median)) if median else float("inf")
        plain = float(np.std(ratios) / abs(mean)) if mean else float("inf")
        out.append((name, median, robust, plain))
    return sorted(out, key=lambda item: (item[2], item[3]))


__all__ = ["MissAttribution", "attribute", "attribute_serving", "ratio_spread", "serving_parts", "step_parts",
           "INVERSE_METRICS"]
