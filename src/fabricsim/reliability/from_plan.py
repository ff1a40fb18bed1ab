"""Bridge from a plan's bill of materials to reliability: unit counts, policy, and the run's outcome.

Unit counts come from the plan, so a fabric with more optics fails more, and co-packaged
optics (fewer failure-prone connection points) show up as fewer interruptions.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabricsim.plan import Plan
from fabricsim.reliability.checkpoint import CheckpointPolicy, checkpoint_bytes
from fabricsim.reliability.goodput import expected_goodput
from fabricsim.reliability.montecarlo import RunResults, simulate_run
from fabricsim.reliability.rates import (
    ComponentCounts,
    check_class_names,
    failure_rates,
    mean_time_between_interruptions,
)
from fabricsim.scenario import ReliabilitySpec, Scenario

OPTICAL_KINDS = ("dsp", "lpo", "lro", "cpo", "xpo")
CABLE_KINDS = ("dac", "aec", "aoc")
NETWORK_CLASSES = ("switch", "transceiver", "cable", "nic")


def counts_from_plan(plan: Plan, scenario: Scenario) -> ComponentCounts:
    """Component units of the planned cluster."""
    catalog = scenario.catalog()
    optical: dict[str, tuple[int, int]] = {}
    cables: dict[str, tuple[int, int]] = {}
    for line in plan.media_lines:
        if line.kind in OPTICAL_KINDS:
            ends, cp = optical.get(line.name, (0, catalog.medium(line.name).connection_points))
            optical[line.name] = (ends + line.units, cp)
        elif line.kind in CABLE_KINDS:
            n, cp = cables.get(line.name, (0, catalog.medium(line.name).connection_points))
            cables[line.name] = (n + line.units, cp)
    scale_up = catalog.scale_up(plan.scale_up)
    return ComponentCounts(
        gpus=plan.gpus,
        hosts=plan.servers,
        nics=plan.nic_cards,
        switches=plan.switches,
        scale_up_switch_chips=plan.scale_up_domains * scale_up.switch_chips,
        optical_ends=optical,
        cables=cables,
    )


def policy_from_spec(spec: ReliabilitySpec, parameters: float | None = None) -> CheckpointPolicy:
    return CheckpointPolicy(
        size_bytes=checkpoint_bytes(parameters or spec.parameters),
        write_bytes_per_s=spec.storage_write_bytes_per_s,
        blocking_fraction=spec.blocking_fraction,
        interval_s=spec.checkpoint_interval_s,
        job_restart_s=spec.job_restart_s,
        rewarm_s=spec.rewarm_s,
        spare_hosts=spec.spare_hosts,
        spare_swap_s=spec.spare_swap_s,
    )


def _stops(spec: ReliabilitySpec) -> dict[str, bool] | None:
    return None if spec.network_failures_stop_job else {c: False for c in NETWORK_CLASSES}


@dataclass
class ReliabilityResult:
    counts: ComponentCounts
    policy: CheckpointPolicy
    days: float
    interruptions_per_hour_by_class: dict[str, float]
    mtbi_s: float
    expected_goodput: float
    monte_carlo: RunResults | None


def assess(plan: Plan, scenario: Scenario, parameters: float | None = None, monte_carlo: bool = True,
           progress=None, degraded_step_factor: dict[str, float] | None = None) -> ReliabilityResult:
    """Failure rates, interval, expected goodput and (optionally) the Monte Carlo of the scenario's run."""
    spec = scenario.reliability
    check_class_names(spec.rates, "reliability.rates")
    counts = counts_from_plan(plan, scenario)
    policy = policy_from_spec(spec, parameters)
    rates = spec.rates or None
    stops = _stops(spec)
    catalog = scenario.catalog()
    by_class = failure_rates(counts, rates, catalog)
    mtbi = mean_time_between_interruptions(counts, rates, stops, catalog)
    expected = expected_goodput(counts, policy, spec.days, rates=rates, stops_job=stops,
                                degraded_step_factor=degraded_step_factor, planned_per_day=spec.planned_per_day,
                                catalog=catalog)
    results = None
    if monte_carlo:
        results = simulate_run(counts, policy, spec.days, runs=spec.runs, rng=spec.seed, rates=rates,
                               stops_job=stops, degraded_step_factor=degraded_step_factor,
                               planned_per_day=spec.planned_per_day, progress=progress, catalog=catalog)
    return ReliabilityResult(counts, policy, spec.days, by_class, mtbi, expected, results)
