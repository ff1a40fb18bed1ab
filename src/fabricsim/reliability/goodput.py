"""Goodput (effective training time ratio): analytic expectation and the Llama-3-like reference.

:func:`expected_goodput` is the first-order renewal estimate of what :func:`simulate_run`
measures, used to cross-check the Monte Carlo and for fast sweeps:

    G = tau/(tau+delta_b) * (1/L - f W_lost) / (1/L + B) - degradation,   B = (e^{L D} - 1)/L

a renewal cycle of an up period (mean 1/L, L = job-stopping + planned interruption rate) and a
down period: W_lost is the mean work lost per failure ((tau+delta_b)/2 plus the asynchronous-tail
correction), f the share of interruptions that lose work (unplanned), D the mean downtime
(restart + spare swap or repair), B the down period stretched by failures during restarts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fabricsim.catalog import default_catalog
from fabricsim.reliability.checkpoint import CheckpointPolicy, checkpoint_bytes
from fabricsim.reliability.montecarlo import RunResults, _class_settings, _spares_exhausted, simulate_run
from fabricsim.reliability.rates import (
    CLASSES,
    LLAMA3_COUNTS,
    LLAMA3_DAYS,
    LLAMA3_PLANNED_INTERRUPTIONS,
    ComponentCounts,
    failure_rates,
    rate_entries,
)


def expected_goodput(
    counts: ComponentCounts,
    policy: CheckpointPolicy,
    days: float,
    rates=None,
    stops_job=None,
    degraded_step_factor=None,
    planned_per_day: float = 0.0,
    catalog=None,
    repair_wait=None,
) -> float:
    """First-order expected effective training time ratio (see module docstring)."""
    catalog = catalog or default_catalog()
    entries, stops, factors, waits = _class_settings(stops_job, degraded_step_factor, catalog, repair_wait)
    per_hour = failure_rates(counts, rates, catalog)
    wall = days * 86400.0
    lam_stop = sum(per_hour[c] for c in CLASSES if stops[c]) / 3600.0
    mtbi = 1.0 / lam_stop if lam_stop > 0 else math.inf
    tau = min(policy.interval_for(mtbi), wall)
    cycle = tau + policy.blocking_s
    # mean lost work: half a cycle, plus a whole interval when the failure hits the async tail
    tail = min(policy.background_s, cycle)
    lost = cycle / 2.0 + tau * tail / cycle
    p_ex = _spares_exhausted(policy, per_hour, entries, stops)
    lam_planned = planned_per_day / 86400.0
    lam_all = lam_stop + lam_planned
    down_total = lam_planned * policy.restart_s  # per second of wall time, summed over event kinds
    for c in CLASSES:
        if stops[c]:
            repair = entries[c].repair_hours * 3600.0
            wait = (repair if waits[c] else (1 - p_ex) * policy.spare_swap_s + p_ex * repair) if entries[c].uses_spare else 0.0
            down_total += per_hour[c] / 3600.0 * (policy.restart_s + wait)
    degr = sum(
        per_hour[c] / 3600.0 * min(entries[c].repair_hours * 3600.0, wall) * (1.0 - 1.0 / factors[c])
        for c in CLASSES
        if not stops[c]
    )
    if lam_all <= 0:
        return max(0.0, tau / cycle - degr)
    # renewal cycle: an up period (mean 1/L), then a down period; events during a down period
    # extend it (busy period of an M/D/infinity queue: (e^{L D} - 1)/L for mean downtime D)
    mean_down = down_total / lam_all
    if lam_all * mean_down > 700.0:  # the busy period outlasts any run (e^700 ~ 1e304): nothing gets done
        return 0.0
    busy = math.expm1(lam_all * mean_down) / lam_all
    lost_per_cycle = lost * lam_stop / lam_all
    up = 1.0 / lam_all
    return max(0.0, tau / cycle * (up - lost_per_cycle) / (up + busy) - degr)


@dataclass(frozen=True)
class Llama3Reference:
    """The Llama-3-like reference setup and its computed outcome."""

    counts: ComponentCounts
    policy: CheckpointPolicy
    days: float
    planned_per_day: float
    results: RunResults
    expected_goodput: float
    assumptions: dict[str, str]


LLAMA3_PARAMETERS = 405e9
LLAMA3_STORAGE_WRITE_BYTES_PER_S = 2e12
"""Llama 3 paper 3.3.1: Tectonic storage fabric, 2 TB/s sustained, 7 TB/s peak."""


def llama3_policy(job_restart_s: float = 300.0, rewarm_s: float = 60.0, spare_swap_s: float = 120.0) -> CheckpointPolicy:
    """Checkpoint/restart policy of the Llama-3-like reference (figures and their sources in ``notes``)."""
    return CheckpointPolicy(
        size_bytes=checkpoint_bytes(LLAMA3_PARAMETERS),
        write_bytes_per_s=LLAMA3_STORAGE_WRITE_BYTES_PER_S,
        blocking_fraction=1.0,
        interval_s=None,
        job_restart_s=job_restart_s,
        rewarm_s=rewarm_s,
        spare_hosts=None,
        spare_swap_s=spare_swap_s,
        notes={
            "size_bytes": "405e9 params x 14 B (BF16 weights + FP32 master + Adam m, v) = 5.67 TB; "
            "Llama 3 paper: 1 MB to 4 GB per GPU (5.67 TB / 16,384 = 346 MB)",
            "write_bytes_per_s": "Llama 3 paper 3.3.1: storage sustains 2 TB/s (7 TB/s peak)",
            "blocking_fraction": "ASSUMPTION: fully blocking (conservative; Meta aimed to minimise GPU pause)",
            "interval_s": "Daly's optimum for the computed MTBI",
            "job_restart_s": "ASSUMPTION: 5 min from failure to relaunched job (detection + scheduling + init); "
            "Meta reports reducing job startup time but publishes no figure",
            "rewarm_s": "ASSUMPTION: 1 min until full-speed steps",
            "spare_hosts": "unlimited: the job used 16K of a 24K-GPU cluster (Llama 3 paper 3.3.1)",
            "spare_swap_s": "ASSUMPTION: 2 min to exclude the failed host and take a spare (automation handled "
            "all but 3 interruptions, Llama 3 paper 3.3.4)",
        },
    )


def llama3_reference(runs: int = 1000, seed: int = 0, progress=None, **policy_kwargs) -> Llama3Reference:
    """Monte Carlo of the Llama-3-like run: 16,384 GPUs, 54 days, census rates, 47 planned stops."""
    policy = llama3_policy(**policy_kwargs)
    planned = LLAMA3_PLANNED_INTERRUPTIONS / LLAMA3_DAYS
    results = simulate_run(LLAMA3_COUNTS, policy, LLAMA3_DAYS, runs=runs, rng=seed, planned_per_day=planned, progress=progress)
    analytic = expected_goodput(LLAMA3_COUNTS, policy, LLAMA3_DAYS, planned_per_day=planned)
    return Llama3Reference(
        counts=LLAMA3_COUNTS,
        policy=policy,
        days=LLAMA3_DAYS,
        planned_per_day=planned,
        results=results,
        expected_goodput=analytic,
        assumptions=dict(policy.notes),
    )


def class_table(counts: ComponentCounts, rates=None, catalog=None) -> list[dict]:
    """Rows (class, unit, units, per-unit rate, FIT, per hour, share, stops_job, source) for reports."""
    entries = rate_entries(catalog)
    per_hour = failure_rates(counts, rates, catalog)
    total = sum(per_hour.values()) or 1.0
    rows = []
    catalog = catalog or default_catalog()
    for c in CLASSES:
        e = entries[c]
        units = counts.units(e, catalog)
        rows.append(
            {
                "class": c,
                "unit": e.unit,
                "units": units,
                "rate_per_unit_hour": per_hour[c] / units if units else e.rate_per_unit_hour,
                "fit": e.fit,
                "per_hour": per_hour[c],
                "share": per_hour[c] / total,
                "stops_job": e.stops_job,
                "source": e.source_of("census_count"),
            }
        )
    return rows
