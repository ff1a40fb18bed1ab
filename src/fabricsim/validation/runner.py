"""Evaluate validation cases through fabricsim's public Python API and score them.

Setup fields by ``kind`` (``metric`` names the output compared with the published figure; every
``scenario`` is the input of :func:`fabricsim.scenario.scenario_from_dict`):

* ``plan``: metric ``servers``, ``pods``, ``gpus_per_pod``, ``gpus_per_segment``, ``optical_modules``,
  ``optical_ends``, a cost
  share (``capex_per_gpu``, ``scale_out_capex_share``, ``network_capex_share``,
  ``switch_and_optics_capex_share``), the power share of the network with its scale-up fabric
  (``network_power_share``) or
  ``<tier>_switches|links|cables|modules|oversubscription`` (tier leaf, spine, core); ``materialise: false``
  counts by arithmetic only.
* every kind: ``requires`` (text) marks a published run that used something fabricsim does not
  model (a transport, a part); it is reported not-runnable with that text, never scored.
* ``collective``: ``op``, ``algorithm`` (default auto), ``protocol``, ``size`` ("8GiB"), ``ranks``,
  ``load_balancing``, ``placement``, ``seed``, ``min_channels``, ``in_place`` (nccl-tests' in-place columns;
  default out of place), ``gpus_per_thread`` (nccl-tests' ``-g``; default 1); metric ``busbw`` | ``algbw`` (bytes/s), ``time`` (s),
  ``delivered`` (ideal time / time) -> :func:`fabricsim.collectives.api.run_collective`.
* ``pattern``: a random permutation, one long-lived pair per GPU (``load_balancing``,
  ``flows_per_pair``); metric ``throughput``: mean delivered rate / link rate.
* ``reliability``: metric ``interruptions`` (expected count over ``reliability.days``), ``share`` (of all
  interruptions), ``per_week`` - each with optional ``classes`` (only those failure classes) -,
  ``mtbi_minutes``, ``mtbi_hours``, ``expected_goodput``, ``failures_per_1000_node_days`` (hardware and
  network, the job term excluded).
* ``training``: ``train`` (keyword arguments of :func:`fabricsim.workload.train`); metric ``mfu``,
  ``model_flops_per_s_per_gpu``, ``hardware_flops_per_s_per_gpu``, ``tokens_per_s``, ``step_time_s``.
* ``multisite`` / ``torus``: see :mod:`fabricsim.validation.fabric_cases`.
* ``gemm``: one grouped linear's kernels against a microbenchmark, see :mod:`fabricsim.validation.kernel_cases`.
* ``inference``: ``infer`` (keyword arguments of :func:`fabricsim.workload.infer`); metric
  ``ttft_s``, ``tpot_s``, ``tokens_per_s_per_gpu``, ``decode_tokens_per_s_per_gpu`` (output tokens
  per second per decode GPU).

A case whose layer API or catalog entry does not exist yet is reported ``not-runnable`` with the
reason (never counted as passing, never as a miss).
"""

from __future__ import annotations

import statistics

import numpy as np
from dataclasses import dataclass

from fabricsim.catalog.inherit import deep_merge as merge  # an override lays over a case as an entry over its parent
from fabricsim.errors import FabricsimError
from fabricsim.validation.cases import Case, load_cases


@dataclass
class CaseResult:
    case: Case
    model: float | None
    error: float | None  # signed relative error (model - published) / published
    status: str  # "pass" | "miss" | "not-runnable"
    reason: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def as_dict(self) -> dict:
        c = self.case
        return {"id": c.id, "layer": c.layer, "role": c.role, "what": c.what, "published": c.published,
                "model": self.model, "unit": c.unit, "error": self.error, "tolerance": c.tolerance, "bound": c.bound,
                "status": self.status, "reason": self.reason, "source": c.source}


class NotRunnable(Exception):
    """The case needs an API or catalog entry fabricsim does not have (yet)."""


class Context:
    """Scenarios, plans and fabrics built once per distinct scenario of a run."""

    def __init__(self, scenario_override: dict | None = None):
        self.override = scenario_override or {}
        self.cache: dict = {}

    def _get(self, kind: str, setup, build):
        key = (kind, repr(sorted(setup.scenario.items())))
        if key not in self.cache:
            self.cache[key] = build()
        return self.cache[key]

    def scenario(self, setup):
        from fabricsim.scenario import scenario_from_dict

        return self._get("scenario", setup, lambda: scenario_from_dict(merge(setup.scenario, self.override),
                                                                        where="validation setup.scenario"))

    def plan(self, setup, materialise: bool = True):
        from fabricsim.plan import plan_scenario

        return self._get(f"plan-{materialise}", setup,
                         lambda: plan_scenario(self.scenario(setup), materialise=materialise))

    def fabric(self, setup):
        from fabricsim.topology.build import fabric_from_scenario

        return self._get("fabric", setup, lambda: fabric_from_scenario(self.scenario(setup)))


PLAN_METRICS = ("servers", "pods", "gpus_per_pod", "gpus_per_segment", "optical_modules", "optical_ends")
TIER_METRICS = ("switches", "links", "cables", "modules", "oversubscription")
COST_METRICS = {
    "capex_per_gpu": lambda p: sum(p.capex_usd.values()) / p.gpus,
    "scale_out_capex_share": lambda p: p.network_share(p.capex_usd, include_scale_up=False),
    "network_capex_share": lambda p: p.network_share(p.capex_usd),
    "network_power_share": lambda p: p.network_share(p.power_w),
    "switch_and_optics_capex_share": lambda p: (p.capex_usd["switches"] + p.capex_usd["optics_and_cables"])
    / sum(p.capex_usd.values()),
}


def _plan(setup, ctx: Context) -> float:
    plan = ctx.plan(setup, materialise=setup.model_extra.get("materialise", True))
    if setup.metric in PLAN_METRICS:
        return float(getattr(plan, setup.metric))
    if setup.metric in COST_METRICS:
        return float(COST_METRICS[setup.metric](plan))
    tier, _, what = setup.metric.partition("_")
    if what not in TIER_METRICS or tier not in ("leaf", "spine", "core"):
        raise FabricsimError(f"plan metric {setup.metric!r}: use {', '.join(PLAN_METRICS + tuple(COST_METRICS))} or "
                             f"<leaf|spine|core>_<{'|'.join(TIER_METRICS)}>")
    line = {t.tier: t for t in plan.tier_lines}.get(tier)
    return float(getattr(line, what)) if line else 0.0


def _collective(setup, ctx: Context) -> float:
    from fabricsim.collectives.api import run_collective
    from fabricsim.units import parse_bytes

    extra = setup.model_extra
    size = parse_bytes(extra.get("size", "1GiB"), "setup.size")
    result = run_collective(ctx.fabric(setup), extra.get("op", "all_reduce"), extra.get("algorithm", "auto"), [size],
                            ranks=extra.get("ranks"), load_balancing=extra.get("load_balancing"),
                            placement=extra.get("placement", "contiguous"), seed=extra.get("seed", 0),
                            protocol=extra.get("protocol"), min_channels=extra.get("min_channels"),
                            in_place=bool(extra.get("in_place", False)),
                            gpus_per_thread=extra.get("gpus_per_thread", 1)).results[0]
    metrics = {"busbw": result.busbw_bytes_per_s, "algbw": result.algbw_bytes_per_s, "time": result.time_s,
               "delivered": result.delivered}
    if setup.metric not in metrics:
        raise FabricsimError(f"collective metric {setup.metric!r}: use one of {', '.join(metrics)}")
    return float(metrics[setup.metric])


def _pattern(setup, ctx: Context) -> float:
    from fabricsim.netsim.patterns import permutation_throughput

    extra = setup.model_extra
    return permutation_throughput(ctx.fabric(setup), extra.get("load_balancing", "ecmp"),
                                  extra.get("flows_per_pair", 1), extra.get("seed", 0))


def _reliability(setup, ctx: Context) -> float:
    from fabricsim.reliability.from_plan import assess

    scenario = ctx.scenario(setup)
    result = ctx._get("reliability", setup,
                      lambda: assess(ctx.plan(setup, materialise=False), scenario, monte_carlo=False))
    hours = scenario.reliability.days * 24
    by_class = result.interruptions_per_hour_by_class
    stops = result.stops_job or {}
    stopping = {c: r for c, r in by_class.items() if stops.get(c, True)}
    classes = setup.model_extra.get("classes")
    if classes is not None:
        unknown = sorted(set(classes) - set(by_class))
        if unknown:
            raise FabricsimError(f"reliability classes {unknown}: valid classes are {', '.join(by_class)}")
    chosen = sum(stopping.get(c, 0.0) for c in classes) if classes is not None else sum(stopping.values())
    hardware = sum(r for c, r in stopping.items() if c != "job")
    plan = ctx.plan(setup, materialise=False)
    metrics = {
        "interruptions": lambda: hours * chosen,
        "share": lambda: chosen / sum(stopping.values()),
        "per_week": lambda: 168.0 * chosen,
        "mtbi_minutes": lambda: result.mtbi_s / 60,
        "mtbi_hours": lambda: result.mtbi_s / 3600,
        "expected_goodput": lambda: result.expected_goodput,
        "failures_per_1000_node_days": lambda: 24_000.0 * hardware / plan.servers,
    }
    if setup.metric not in metrics:
        raise FabricsimError(f"reliability metric {setup.metric!r}: use {', '.join(metrics)}")
    return float(metrics[setup.metric]())


def workload_result(setup, ctx: Context, function: str, section: str):
    """The result of ``fabricsim.workload.<function>`` (train, infer) on a case's setup (its ``section`` keys)."""
    import fabricsim.workload as workload

    call = getattr(workload, function, None)
    if call is None:
        raise NotRunnable(f"fabricsim.workload.{function} is not available")
    scenario = ctx.scenario(setup)
    args = dict(setup.model_extra.get(section, {}))
    model = args.get("model")
    models = scenario.catalog().sections.get("models", {})
    if model is not None and model not in models:
        raise NotRunnable(f"model {model!r} is not in the catalog (fabricsim catalog list models)")
    return call(scenario, **args)


def _training(setup, ctx: Context) -> float:
    result = workload_result(setup, ctx, "train", "train")
    return float(getattr(result, setup.metric))


def _inference(setup, ctx: Context) -> float:
    result = workload_result(setup, ctx, "infer", "infer")
    if setup.metric == "decode_tokens_per_s_per_gpu":
        return result.decode_tokens_per_s / result.decode_gpus
    return float(getattr(result, setup.metric))


def _fabric_kind(setup, ctx: Context) -> float:
    from fabricsim.validation.fabric_cases import evaluate

    return evaluate(setup, ctx.scenario(setup))


def _gemm(setup, ctx: Context) -> float:
    from fabricsim.validation.kernel_cases import gemm_flops_per_s

    if setup.metric != "flops_per_s":
        raise FabricsimError(f"gemm metric {setup.metric!r}: use flops_per_s")
    return gemm_flops_per_s(setup, ctx.scenario(setup))


EVALUATORS = {"plan": _plan, "collective": _collective, "pattern": _pattern, "reliability": _reliability,
              "training": _training, "inference": _inference, "multisite": _fabric_kind, "torus": _fabric_kind,
              "scale_up": _fabric_kind, "gemm": _gemm}


def score(case: Case, model: float) -> CaseResult:
    error = (model - case.published) / case.published if case.published else model
    if case.bound == "lower":
        passed = model >= case.published * (1 - case.tolerance)
    elif case.bound == "upper":
        passed = model <= case.published * (1 + case.tolerance)
    else:
        passed = abs(error) <= case.tolerance + 1e-12
    if passed:
        return CaseResult(case, model, error, "pass")
    side = "below" if error < 0 else "above"
    limit = {"lower": f"at least {1 - case.tolerance:.0%} of it", "upper": f"at most {1 + case.tolerance:.0%} of it"}.get(
        case.bound, f"tolerance ±{case.tolerance:.0%}")
    reason = f"{abs(error):.1%} {side} published ({limit})" + (f"; {case.note}" if case.note else "")
    return CaseResult(case, model, error, "miss", reason)


def select_cases(layer: str | None = None, case_id: str | None = None, match: str | None = None) -> list[Case]:
    """The cases of a layer (or all), one by id, or those whose ids match a shell-style pattern (``mlperf51-*``)."""
    from fnmatch import fnmatchcase

    cases = load_cases(layer)
    if case_id is not None:
        chosen = [c for c in cases if c.id == case_id]
        if not chosen:
            raise FabricsimError(f"--case {case_id!r}: no such case; valid ids: {', '.join(c.id for c in cases)}")
        return chosen
    if match is not None:
        chosen = [c for c in cases if fnmatchcase(c.id, match)]
        if not chosen:
            prefixes = sorted({c.id.split("-")[0] for c in cases})
            raise FabricsimError(f"--match {match!r}: no case id matches (a shell pattern such as 'mlperf51-*' or "
                                 f"'*-gb300-*'); ids start with {', '.join(prefixes)}")
        return chosen
    return cases


def run_validation(layer: str | None = None, case_id: str | None = None,
                   scenario_override: dict | None = None, progress=None, match: str | None = None) -> list[CaseResult]:
    """Evaluate the cases (all, one layer's, or one) and score each against its tolerance.

    ``scenario_override``: merged into every case's scenario (tests use it to check that a
    deliberately wrong hardware figure makes cases fail).  ``progress``: called with each case."""
    ctx = Context(scenario_override)
    out = []
    for case in select_cases(layer, case_id, match):
        if progress:
            progress(case)
        requires = case.setup.model_extra.get("requires")
        if requires:  # the published run used something fabricsim does not model
            out.append(CaseResult(case, None, None, "not-runnable", f"not runnable: needs {requires}"))
            continue
        try:
            model = EVALUATORS[case.setup.kind](case.setup, ctx)
        except NotRunnable as exc:
            out.append(CaseResult(case, None, None, "not-runnable", f"not runnable: {exc}"))
            continue
        except FabricsimError as exc:
            raise FabricsimError(f"validation case {case.id!r} ({case.layer}.yaml): {exc}") from None
        out.append(score(case, model))
    return out


def exit_code(results: list[CaseResult]) -> int:
    """1 if any case lands outside its tolerance, else 0 (not-runnable cases do not fail the run)."""
    return int(any(r.status == "miss" for r in results))


def summarize(results: list[CaseResult]) -> list[dict]:
    """Per layer and role: cases, passed, missed, not runnable, mean / median / 90th-percentile (linear
    interpolation between order statistics) / max |relative error|, and the median signed error (the bias:
    positive when fabricsim's figures sit above the published ones)."""
    rows = []
    for layer in sorted({r.case.layer for r in results}):
        for role in ("fitted", "held-out"):
            group = [r for r in results if r.case.layer == layer and r.case.role == role]
            if not group:
                continue
            signed = [r.error for r in group if r.error is not None]
            errors = [abs(e) for e in signed]
            rows.append({"layer": layer, "role": role, "cases": len(group),
                         "passed": sum(r.status == "pass" for r in group),
                         "missed": sum(r.status == "miss" for r in group),
                         "not_runnable": sum(r.status == "not-runnable" for r in group),
                         "mean_abs_error": statistics.fmean(errors) if errors else None,
                         "median_abs_error": statistics.median(errors) if errors else None,
                         "p90_abs_error": float(np.percentile(errors, 90)) if errors else None,
                         "max_abs_error": max(errors) if errors else None,
                         "median_error": statistics.median(signed) if signed else None})
    return rows


def as_json(results: list[CaseResult]) -> dict:
    """The machine-readable form of a run: every case, the per-layer summary, the held-out error by family
    (:mod:`fabricsim.validation.families`), the pairs of runs that differ only in the GPU with fabricsim's error
    on their ratio (:mod:`fabricsim.validation.pairs`), the exit code."""
    from fabricsim.validation.families import family_rows
    from fabricsim.validation.pairs import find_pairs, pair_summary

    pairs = find_pairs(results)
    return {"cases": [r.as_dict() for r in results], "summary": summarize(results), "families": family_rows(results),
            "pairs": [p.as_dict() for p in pairs], "pair_summary": pair_summary(pairs),
            "counts": {s: sum(r.status == s for r in results) for s in ("pass", "miss", "not-runnable")},
            "exit_code": exit_code(results)}
