"""Each endpoint's cost, bounded from its validated scenario and options before any simulation starts.

The checks only design the fabric and count it (milliseconds at any size); they raise
:class:`~fabricsim.web.limits.LimitError` (or FabricsimError for bad input) and return what the
worker needs, including notes when an ``auto`` choice was made analytic to stay within a limit.
A plan needs no bound: it is arithmetic, and the link arrays it materialises below 1M GPUs (as the
CLI does) take at most ~0.3 s and ~300 MB.
"""

from __future__ import annotations

from fabricsim.scenario import Scenario
from fabricsim.web.limits import Limits


def _gpus(scenario: Scenario) -> int:
    from fabricsim.topology.design import design_fabric

    return design_fabric(scenario).gpus


def interruptions_per_run(scenario: Scenario) -> float:
    """Expected interruptions (failures and planned stops) in one Monte Carlo run of the scenario."""
    from fabricsim.plan import plan_scenario
    from fabricsim.reliability.from_plan import assess

    spec = scenario.reliability
    result = assess(plan_scenario(scenario, materialise=False), scenario, monte_carlo=False)
    return spec.days * 86400.0 / result.mtbi_s + spec.planned_per_day * spec.days


def monte_carlo(scenario: Scenario, data: dict, limits: Limits) -> tuple[dict, list[str]]:
    """Runs the user asked for over the limit are refused; the default number of runs is lowered to fit
    (returns the scenario dict to simulate and a note saying so)."""
    runs = scenario.reliability.runs
    per_run = interruptions_per_run(scenario)
    if "runs" in scenario.reliability.model_fields_set or runs * per_run <= limits.monte_carlo_events:
        limits.check_monte_carlo(runs, per_run)
        return data, []
    fitted = max(1, int(limits.monte_carlo_events // per_run))
    limits.check_monte_carlo(fitted, per_run)
    data = {**data, "reliability": {**data.get("reliability", {}), "runs": fitted}}
    return data, [f"Monte Carlo of {fitted:,} runs instead of the default {runs:,}: {per_run:,.0f} expected "
                  f"interruptions per run would be over this server's limit of {limits.monte_carlo_events:,.0f} "
                  "run-interruptions (limit monte_carlo_events)"]


def reliability(scenario: Scenario, data: dict, limits: Limits) -> tuple[dict, list[str]]:
    return monte_carlo(scenario, data, limits)


def run(scenario: Scenario, data: dict, limits: Limits) -> tuple[dict, list[str]]:
    """``run`` simulates flows up to ``limits.flow_gpus`` and times the rest analytically; a training step the
    user asked to simulate flow by flow above it is refused."""
    if scenario.workload.train.communication == "flow":
        limits.check_flow_gpus(_gpus(scenario), "workload.train.communication=flow")
    return monte_carlo(scenario, data, limits)


def train(scenario: Scenario, limits: Limits, overrides: dict) -> tuple[dict, list[str]]:
    """Explicit ``communication: flow`` above the limit is refused; ``auto`` above it is timed analytically."""
    gpus = _gpus(scenario)
    method = overrides.get("communication") or scenario.workload.train.communication
    if method == "flow":
        limits.check_flow_gpus(gpus, "communication=flow")
    if method == "auto" and gpus > limits.flow_gpus:
        note = (f"communication timed analytically: {gpus:,} GPUs is over this server's flow-level limit of "
                f"{limits.flow_gpus:,} GPUs (analytic timing assumes load-balanced uplinks; load balancing "
                "policies then differ only in their transport's efficiency)")
        return {**overrides, "communication": "analytic"}, [note]
    return overrides, []


def infer(scenario: Scenario, limits: Limits, overrides: dict) -> None:
    """Serving always builds the fabric and simulates its KV transfers and all-to-alls flow by flow."""
    limits.check_flow_gpus(_gpus(scenario), "infer (flows simulated on the cluster's fabric)")
    spec = scenario.workload.infer
    for name in ("prefill_gpus", "decode_gpus"):
        limits.check_pairwise(overrides.get(name) or getattr(spec, name), name)


def collective(scenario: Scenario, limits: Limits, sizes: str, method: str, fail_links: int, op: str,
               ranks: int | None) -> list[int]:
    """The sweep's sizes (the CLI's --sizes parser), bounded in length; flow-level sweeps bounded in GPUs
    and, for all-to-all, in flows."""
    from fabricsim.units import parse_size_sweep  # the CLI's --sizes grammar, one parser for both

    sweep = parse_size_sweep(sizes)
    limits.check_sweep(sweep)
    if method != "analytic" or fail_links:
        gpus = _gpus(scenario)
        limits.check_flow_gpus(gpus, f"collective --method {method}" + (" with --fail-links" if fail_links else ""))
        if op == "all_to_all":
            limits.check_pairwise(ranks or gpus, "ranks")
    return sweep
