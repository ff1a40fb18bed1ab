"""Evaluate validation cases through fabricsim's public Python API and score them.

Setup fields by ``kind`` (``metric`` names the output compared with the published figure):

* ``plan``: metric ``servers`` or ``<tier>_switches`` / ``<tier>_links`` (tier leaf, spine, core).
* ``collective``: ``op``, ``algorithm`` (default auto), ``size`` ("8GiB"), ``ranks``,
  ``load_balancing``, ``placement``; metric ``busbw`` | ``algbw`` (bytes/s), ``time`` (s),
  ``delivered`` (ideal time / time).
* ``pattern``: a random permutation, one long-lived pair per GPU (``load_balancing``,
  ``flows_per_pair``); metric ``throughput``: mean delivered rate / link rate.
* ``reliability``: metric ``interruptions`` (expected count over ``reliability.days``),
  ``interruptions_<class>``, ``mtbi_minutes``, ``expected_goodput``.
* ``training``: ``train`` (keyword arguments of :func:`fabricsim.workload.train`); metric ``mfu``,
  ``model_flops_per_s_per_gpu``, ``hardware_flops_per_s_per_gpu``, ``tokens_per_s``, ``step_time_s``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from fabricsim.errors import FabricsimError
from fabricsim.validation.cases import Case, load_cases


@dataclass
class CaseResult:
    case: Case
    model: float | None
    error: float | None  # signed relative error (model - published) / published
    passed: bool
    reason: str = ""


def _scenario(setup, overrides=None):
    from fabricsim.scenario import scenario_from_dict

    return scenario_from_dict({**setup.scenario, **(overrides or {})}, where="validation setup")


def _plan(setup, cache) -> float:
    from fabricsim.plan import plan_scenario

    plan = plan_scenario(_scenario(setup))
    if setup.metric == "servers":
        return float(plan.servers)
    tier, _, what = setup.metric.partition("_")
    lines = {t.tier: t for t in plan.tier_lines}
    if what not in ("switches", "links"):
        raise FabricsimError(f"plan metric {setup.metric!r}: use servers or <leaf|spine|core>_<switches|links>")
    line = lines.get(tier)
    return float(getattr(line, what)) if line else 0.0


def _collective(setup, cache, fabric_override=None) -> float:
    from fabricsim.collectives.api import run_collective
    from fabricsim.topology.build import fabric_from_scenario
    from fabricsim.units import parse_bytes

    extra = setup.model_extra
    key = repr(sorted(setup.scenario.items()))
    fabric = fabric_override(setup) if fabric_override else cache.get(key)
    if fabric is None:
        fabric = cache[key] = fabric_from_scenario(_scenario(setup))
    result = run_collective(fabric, extra.get("op", "all_reduce"), extra.get("algorithm", "auto"),
                            [parse_bytes(extra.get("size", "1GiB"), "setup.size")], ranks=extra.get("ranks"),
                            load_balancing=extra.get("load_balancing"),
                            placement=extra.get("placement", "rail-aware"), seed=extra.get("seed", 0)).results[0]
    metrics = {"busbw": result.busbw_bytes_per_s, "algbw": result.algbw_bytes_per_s, "time": result.time_s,
               "delivered": result.delivered}
    return float(metrics[setup.metric])


def _pattern(setup, cache) -> float:
    from fabricsim.netsim.patterns import permutation_throughput
    from fabricsim.topology.build import fabric_from_scenario

    key = repr(sorted(setup.scenario.items()))
    fabric = cache.get(key) or cache.setdefault(key, fabric_from_scenario(_scenario(setup)))
    extra = setup.model_extra
    return permutation_throughput(fabric, extra.get("load_balancing", "ecmp"), extra.get("flows_per_pair", 1),
                                  extra.get("seed", 0))


def _reliability(setup, cache) -> float:
    from fabricsim.plan import plan_scenario
    from fabricsim.reliability.from_plan import assess

    scenario = _scenario(setup)
    result = assess(plan_scenario(scenario, materialise=False), scenario, monte_carlo=False)
    hours = scenario.reliability.days * 24
    if setup.metric == "interruptions":
        return hours * 3600 / result.mtbi_s
    if setup.metric.startswith("interruptions_"):
        return hours * result.interruptions_per_hour_by_class[setup.metric.removeprefix("interruptions_")]
    return {"mtbi_minutes": result.mtbi_s / 60, "expected_goodput": result.expected_goodput}[setup.metric]


def _training(setup, cache) -> float:
    from fabricsim.workload import train

    result = train(_scenario(setup), **setup.model_extra.get("train", {}))
    return float(getattr(result, setup.metric))


EVALUATORS = {"plan": _plan, "collective": _collective, "pattern": _pattern, "reliability": _reliability,
              "training": _training}


def score(case: Case, model: float) -> CaseResult:
    error = (model - case.published) / case.published if case.published else model
    if case.bound == "lower":
        passed = model >= case.published * (1 - case.tolerance)
    else:
        passed = abs(error) <= case.tolerance + 1e-12
    return CaseResult(case, model, error, passed, "" if passed else (case.note or "outside tolerance"))


def run_validation(layer: str | None = None, case_id: str | None = None, fabric_override=None) -> list[CaseResult]:
    """Evaluate the cases (all, one layer's, or one) and score each against its tolerance.

    ``fabric_override``: a function setup -> Fabric, used for collective cases (tests use it to
    check that a deliberately wrong fabric fails)."""
    cases = load_cases(layer)
    if case_id is not None:
        cases = [c for c in cases if c.id == case_id]
        if not cases:
            valid = ", ".join(c.id for c in load_cases(layer))
            raise FabricsimError(f"--case {case_id!r}: no such case; valid ids: {valid}")
    cache: dict = {}
    out = []
    for case in cases:
        kind = case.setup.kind
        if kind == "collective":
            model = _collective(case.setup, cache, fabric_override)
        else:
            model = EVALUATORS[kind](case.setup, cache)
        out.append(score(case, model))
    return out


def summarize(results: list[CaseResult]) -> list[dict]:
    """Per layer and role: cases, passed, mean / median / max |relative error|."""
    rows = []
    for layer in sorted({r.case.layer for r in results}):
        for role in ("fitted", "held-out"):
            errors = [abs(r.error) for r in results if r.case.layer == layer and r.case.role == role]
            if not errors:
                continue
            passed = sum(r.passed for r in results if r.case.layer == layer and r.case.role == role)
            rows.append({"layer": layer, "role": role, "cases": len(errors), "passed": passed,
                         "mean_abs_error": statistics.fmean(errors), "median_abs_error": statistics.median(errors),
                         "max_abs_error": max(errors)})
    return rows
