"""Bridge from a plan's bill of materials to reliability: unit counts, blast radius, job operations.

* Unit counts come from the plan as bought: optical modules (a twin-port module is one unit),
  co-packaged engine ports, cable assemblies, switches, NICs, hosts, GPUs - plus the job itself.
* Blast radius decides whether a failure stops the job: on one plane every network failure does;
  with two or more planes (or dual-homed NICs) a switch, a switch-side module or a cable takes one
  plane's link down and the job runs on the others, slower, until the repair - but a NIC-side module
  that carries every plane of its GPU still stops it.
* Job operations turn an interruption into downtime: detection, relaunch, communicator initialisation
  that grows with the GPU count, checkpoint reload at the storage bandwidth, re-warm, a spare host.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabricsim.plan import Plan
from fabricsim.reliability.checkpoint import CheckpointPolicy, checkpoint_bytes
from fabricsim.reliability.goodput import expected_goodput
from fabricsim.reliability.montecarlo import RunResults, simulate_run
from fabricsim.reliability.rates import (
    NETWORK_CLASSES,
    ComponentCounts,
    check_class_names,
    failure_rates,
    mean_time_between_interruptions,
)
from fabricsim.scenario import ReliabilitySpec, Scenario

OPTICAL_KINDS = ("dsp", "lpo", "lro", "xpo")
CABLE_KINDS = ("dac", "aec", "aoc")


def counts_from_plan(plan: Plan, scenario: Scenario) -> ComponentCounts:
    """Component units of the planned cluster, as bought."""
    catalog = scenario.catalog()
    groups: dict[str, dict[str, int]] = {"nic": {}, "switch": {}, "cpo": {}, "cable": {}}
    for line in plan.media_lines:
        if line.kind == "cpo":
            key = "cpo"
        elif line.kind in OPTICAL_KINDS:
            key = "nic" if line.end == "nic" else "switch"
        elif line.kind in CABLE_KINDS:
            key = "cable"
        else:
            continue
        groups[key][line.name] = groups[key].get(line.name, 0) + line.units
    scale_up = catalog.scale_up(plan.scale_up)
    return ComponentCounts(
        gpus=plan.gpus,
        hosts=plan.servers,
        nics=plan.nic_cards,
        switches=plan.switches,
        scale_up_switch_chips=plan.scale_up_domains * scale_up.switch_chips,
        nic_optics=groups["nic"],
        switch_optics=groups["switch"],
        cpo_optics=groups["cpo"],
        cables=groups["cable"],
    )


def network_stops(plan: Plan, spec: ReliabilitySpec) -> dict[str, bool]:
    """Which network classes stop the job on this fabric (see module docstring)."""
    if spec.network_failures_stop_job is not None:
        return {c: spec.network_failures_stop_job for c in NETWORK_CLASSES}
    redundant = plan.gpu_planes >= 2
    links_per_gpu = plan.tier_lines[0].links / plan.gpus if plan.gpus else 1
    shared = any(m.end == "nic" and m.links_per_unit >= links_per_gpu for m in plan.media_lines)
    out = {c: not redundant for c in NETWORK_CLASSES}
    out["nic_optics"] = (not redundant) or shared
    return out


def job_restart_s(spec: ReliabilitySpec, gpus: int) -> float:
    """Detection + relaunch + communicator initialisation for a job of ``gpus`` GPUs, seconds."""
    if spec.job_restart_s is not None:
        return spec.job_restart_s
    return spec.detection_s + spec.relaunch_s + spec.init_s_per_1k_gpus * gpus / 1000.0


def policy_from_spec(spec: ReliabilitySpec, parameters: float | None = None, gpus: int = 16_384) -> CheckpointPolicy:
    return CheckpointPolicy(
        size_bytes=checkpoint_bytes(parameters or spec.parameters),
        write_bytes_per_s=spec.storage_write_bytes_per_s,
        blocking_fraction=spec.blocking_fraction,
        interval_s=spec.checkpoint_interval_s,
        job_restart_s=job_restart_s(spec, gpus),
        rewarm_s=spec.rewarm_s,
        spare_hosts=spec.spare_hosts,
        spare_swap_s=spec.spare_swap_s,
    )


def repair_waits(plan: Plan, scenario: Scenario) -> dict[str, bool]:
    """Classes whose failures always wait for the repair: a co-packaged leaf takes every host on it
    down for the switch swap; with fewer hot spares than those hosts, the job waits for the switch."""
    spares = scenario.reliability.spare_hosts
    if spares is None or not any(m.kind == "cpo" for m in plan.media_lines) or not plan.tier_lines:
        return {}
    leaf = plan.tier_lines[0]
    per_gpu = max(1, round(leaf.links / plan.gpus)) if plan.gpus else 1
    servers_per_leaf = leaf.down_ports if scenario.fabric.rail_optimized else max(
        1, leaf.down_ports // (per_gpu * max(1, plan.gpus // max(1, plan.servers))))
    return {"cpo_engine": servers_per_leaf > spares}


@dataclass
class ReliabilityResult:
    counts: ComponentCounts
    policy: CheckpointPolicy
    days: float
    interruptions_per_hour_by_class: dict[str, float]
    mtbi_s: float
    expected_goodput: float
    monte_carlo: RunResults | None
    stops_job: dict[str, bool] | None = None


def assess(plan: Plan, scenario: Scenario, parameters: float | None = None, monte_carlo: bool = True,
           progress=None, degraded_step_factor: dict[str, float] | None = None) -> ReliabilityResult:
    """Failure rates, interval, expected goodput and (optionally) the Monte Carlo of the scenario's run."""
    spec = scenario.reliability
    check_class_names(spec.rates, "reliability.rates")
    counts = counts_from_plan(plan, scenario)
    policy = policy_from_spec(spec, parameters, plan.gpus)
    rates = spec.rates or None
    stops = network_stops(plan, spec)
    waits = repair_waits(plan, scenario)
    catalog = scenario.catalog()
    by_class = failure_rates(counts, rates, catalog)
    mtbi = mean_time_between_interruptions(counts, rates, stops, catalog)
    expected = expected_goodput(counts, policy, spec.days, rates=rates, stops_job=stops,
                                degraded_step_factor=degraded_step_factor, planned_per_day=spec.planned_per_day,
                                catalog=catalog, repair_wait=waits)
    results = None
    if monte_carlo:
        results = simulate_run(counts, policy, spec.days, runs=spec.runs, rng=spec.seed, rates=rates,
                               stops_job=stops, degraded_step_factor=degraded_step_factor,
                               planned_per_day=spec.planned_per_day, progress=progress, catalog=catalog,
                               repair_wait=waits)
    return ReliabilityResult(counts, policy, spec.days, by_class, mtbi, expected, results, stops)
