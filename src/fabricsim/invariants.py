"""Invariants every answer must satisfy, whatever the input: checked over generated scenarios.

Each ``check_*`` function takes a result of the public API and returns the list of violations
(empty: the answer is possible).  The rules are physical or arithmetic, not calibrations:

* every number is finite (no NaN or infinity anywhere in a result), except an interval between
  events that never happen (``mtbi_s`` when no failure class stops the job);
* a switch tier uses no more ports than it has, and a tier that carries links has switches;
* times are positive (zero only for what moves nothing: a one-rank collective, an absent part of a
  step), counts, watts and dollars are non-negative;
* shares, efficiencies and probabilities lie in [0, 1] (``delivered`` may exceed 1 by a rounding hair).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterator

import numpy as np
from pydantic import BaseModel

TOLERANCE = 1e-9
INFINITE_ALLOWED = ("mtbi_s",)
"""Fields that may be infinite: the mean time between interruptions of a job nothing interrupts."""


def numbers(value, path: str = "", depth: int = 0) -> Iterator[tuple[str, float]]:
    """(path, number) for every float or int reachable in a result (dataclasses, models, dicts, lists,
    numpy arrays), properties of dataclasses included where they are plain numbers."""
    if depth > 12 or isinstance(value, (str, bytes, bool)) or value is None:
        return
    if isinstance(value, (int, float, np.integer, np.floating)):
        yield path, float(value)
    elif isinstance(value, np.ndarray):
        if value.dtype.kind in "fiu" and value.size:
            flat = value.astype(float).ravel()
            bad = np.nonzero(~np.isfinite(flat))[0]
            yield (f"{path}[{int(bad[0])}]", float(flat[bad[0]])) if bad.size else (path, float(flat[0]))
    elif isinstance(value, BaseModel):
        yield from numbers(value.model_dump(), path, depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from numbers(getattr(value, field.name), f"{path}.{field.name}", depth + 1)
        for name, attr in vars(type(value)).items():
            if isinstance(attr, property):
                try:
                    got = getattr(value, name)
                except ZeroDivisionError:
                    yield f"{path}.{name}", math.nan
                    continue
                if isinstance(got, (int, float, np.floating)) and not isinstance(got, bool):
                    yield f"{path}.{name}", float(got)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from numbers(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from numbers(item, f"{path}[{i}]", depth + 1)


def check_finite(result, path: str = "result") -> list[str]:
    """Every number in ``result`` is finite (see ``INFINITE_ALLOWED``)."""
    out = []
    for where, number in numbers(result, path):
        if math.isnan(number) or (math.isinf(number) and not where.endswith(INFINITE_ALLOWED)):
            out.append(f"{where} = {number}")
    return out


def _share(name: str, value: float, out: list[str], upper: float = 1.0) -> None:
    if not -TOLERANCE <= value <= upper + TOLERANCE:
        out.append(f"{name} = {value!r} is outside [0, {upper:g}]")


def _positive(name: str, value: float, out: list[str], allow_zero: bool = False) -> None:
    if not (value >= 0 if allow_zero else value > 0):
        out.append(f"{name} = {value!r} is not {'non-negative' if allow_zero else 'positive'}")


def check_plan(plan) -> list[str]:
    out = check_finite(plan, "plan")
    for t in plan.tier_lines:
        if t.ports_used > t.ports_available:
            out.append(f"plan tier {t.tier}: {t.ports_used:,} ports used > {t.ports_available:,} available")
        if t.links > 0 and t.switches <= 0:
            out.append(f"plan tier {t.tier}: {t.links:,} links but no switches")
        for name in ("switches", "ports_used", "links"):
            _positive(f"plan tier {t.tier}.{name}", getattr(t, name), out, allow_zero=True)
    for m in plan.media_lines:
        _positive(f"plan media {m.name}.units", m.units, out, allow_zero=True)
    for table in ("power_w", "capex_usd"):
        for key, value in getattr(plan, table).items():
            _positive(f"plan.{table}.{key}", value, out, allow_zero=True)
    _positive("plan IT power", sum(plan.power_w.values()), out)
    for name in ("gpus", "servers", "scale_up_domains", "nic_cards", "tiers", "planes", "radix"):
        _positive(f"plan.{name}", getattr(plan, name), out)
    if plan.max_gpus_at_these_tiers < plan.gpus:
        out.append(f"plan: {plan.gpus:,} GPUs above the {plan.max_gpus_at_these_tiers:,} its tiers can reach")
    _share("plan network share of power", plan.network_share(plan.power_w), out)
    _share("plan network share of capex", plan.network_share(plan.capex_usd), out)
    return out


def check_tco(tco) -> list[str]:
    out = check_finite(tco, "tco")
    for name in ("capex_usd", "usd_per_gpu_hour", "amortisation_usd_per_year", "energy_usd_per_year"):
        _positive(f"tco.{name}", getattr(tco, name), out, allow_zero=True)
    _positive("tco.it_power_w", tco.it_power_w, out)
    _share("tco.network_capex_share", tco.network_capex_share, out)
    _share("tco.network_power_share", tco.network_power_share, out)
    return out


def check_collective_result(r, ranks: int, where: str) -> list[str]:
    out = []
    _positive(f"{where}.time_s", r.time_s, out, allow_zero=ranks <= 1)
    if hasattr(r, "ideal_time_s"):
        _positive(f"{where}.ideal_time_s", r.ideal_time_s, out, allow_zero=ranks <= 1)
    _positive(f"{where}.busbw_bytes_per_s", r.busbw_bytes_per_s, out, allow_zero=True)
    _share(f"{where}.delivered", r.delivered, out, upper=1.0 + 1e-6)
    return out


def check_collectives(report) -> list[str]:
    out = check_finite(report.results, "collective")
    for i, r in enumerate(report.results):
        out += check_collective_result(r, report.ranks, f"collective size {r.size_bytes}")
    return out


def check_training(step) -> list[str]:
    out = check_finite(step, "training")
    _positive("training.step_time_s", step.step_time_s, out)
    _positive("training.tokens_per_s", step.tokens_per_s, out)
    _share("training.mfu", step.mfu, out)
    for part, seconds in step.breakdown_s.items():
        _positive(f"training.breakdown_s.{part}", seconds, out, allow_zero=True)
    for call in step.calls:
        out += [f"training {call.kind} {call.what}: {v}" for v in
                check_collective_result(call.timing, call.timing.ranks, "timing")]
    return out


def check_inference(serve) -> list[str]:
    out = check_finite(serve, "inference")
    for name in ("ttft_s", "tpot_s", "prefill_s", "tokens_per_s_per_gpu", "decode_tokens_per_s"):
        _positive(f"inference.{name}", getattr(serve, name), out)
    for name in ("prefill_a2a_s", "kv_transfer_s", "decode_tp_s", "decode_a2a_s"):
        _positive(f"inference.{name}", getattr(serve, name), out, allow_zero=True)
    return out


def check_reliability(rel) -> list[str]:
    out = check_finite(rel, "reliability")
    _positive("reliability.mtbi_s", rel.mtbi_s, out)
    _share("reliability.expected_goodput", rel.expected_goodput, out)
    for cls, per_hour in rel.interruptions_per_hour_by_class.items():
        _positive(f"reliability rate {cls}", per_hour, out, allow_zero=True)
    mc = rel.monte_carlo
    if mc is not None:
        if mc.runs < 1:
            out.append("reliability: no Monte Carlo run")
        if mc.goodput.size and not (np.all(mc.goodput >= -TOLERANCE) and np.all(mc.goodput <= 1 + TOLERANCE)):
            out.append(f"reliability Monte Carlo goodput outside [0, 1]: {mc.goodput.min()}..{mc.goodput.max()}")
        if np.any(mc.interruptions < 0):
            out.append("reliability: negative interruption count")
    return out


def check_run(result) -> list[str]:
    """Every invariant of ``fabricsim.run``'s answer."""
    out = check_plan(result.plan) + check_tco(result.tco)
    for c in result.collectives:
        out += check_collective_result(c, c.ranks, f"run collective {c.label} {c.load_balancing}")
    out += check_finite(result.collectives, "run.collectives")
    if result.training is not None:
        out += check_training(result.training)
    if result.reliability is not None:
        out += check_reliability(result.reliability)
    for option in result.optics:
        if not option.error:
            out += check_finite(option, f"optics {option.family}")
            _share(f"optics {option.family}.network_power_share", option.network_power_share, out)
    out += check_finite(result.optics_failures, "run.optics_failures")
    out += check_finite(getattr(result, "cost_range", None), "run.cost_range")
    out += check_finite(result.scaling, "run.scaling")
    out += check_finite(result.step_time_by_load_balancing, "run.step_time_by_load_balancing")
    if result.bandwidth_tax is not None:
        out += check_finite(result.bandwidth_tax, "run.bandwidth_tax")
        _share("run.bandwidth_tax.wasted_share", result.bandwidth_tax.wasted_share, out)
    if result.usd_per_million_tokens is not None:
        _positive("run.usd_per_million_tokens", result.usd_per_million_tokens, out, allow_zero=True)
        out += check_finite([result.usd_per_million_tokens], "run.usd_per_million_tokens")
    return out
