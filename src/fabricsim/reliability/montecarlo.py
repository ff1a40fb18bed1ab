"""Monte Carlo of a training run: Poisson failures by class, checkpoints, restarts, goodput.

Vectorised across runs: each batch of runs draws its failure times at once and the timeline is
advanced event by event (the k-th event of every run in one numpy step), so the cost is
(events per run) x (a few array operations over the batch), independent of the step length.

Timeline of one run of wall time W:

* the job computes in cycles of ``tau`` seconds of useful work followed by a blocking
  checkpoint pause ``delta_b``; an asynchronous checkpoint becomes durable ``delta_bg`` later;
* a job-stopping failure loses the work since the last durable checkpoint, then the job is down
  for the restart time (``policy.restart_s``) plus, if the failed unit's host must be replaced,
  the spare swap time - or the class's repair time when the spare pool is exhausted;
  a failure during a restart restarts the restart;
* a planned interruption (maintenance) checkpoints first, so it loses no work, only downtime;
* a failure of a class that does not stop the job slows steps by ``degraded_step_factor`` for
  ``repair_hours`` (the useful work lost is duration x (1 - 1/factor); overlaps are additive).

Goodput (effective training time ratio) = useful compute time / wall time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from fabricsim.catalog import default_catalog
from fabricsim.errors import FabricsimError
from fabricsim.reliability.checkpoint import CheckpointPolicy, spare_exhaustion_probability
from fabricsim.reliability.rates import (
    CLASSES,
    ComponentCounts,
    check_class_names,
    failure_rates,
    rate_entries,
)

PLANNED = "planned"

MAX_BATCH_CELLS = 25_000_000
"""Work bound: (runs in one batch) x (events per run) held in memory at once (~35 bytes each, ~0.9 GB)."""

MAX_EVENT_STEPS = 300_000
"""Work bound: event steps (batches x events per run, each a few array operations, ~50 us) of one
Monte Carlo, ~15 s.  More runs than fit are capped (``RunResults.capped``); a run with more events
than this is refused."""


@dataclass(frozen=True)
class RunResults:
    """Per-run outcomes of a Monte Carlo (arrays of length ``runs``); times in seconds."""

    wall_s: float
    gpus: int
    interval_s: float
    goodput: np.ndarray
    interruptions: np.ndarray
    planned_interruptions: np.ndarray
    lost_work_s: np.ndarray
    checkpoint_s: np.ndarray
    downtime_s: np.ndarray
    degraded_loss_s: np.ndarray
    interruptions_by_class: dict[str, np.ndarray] = field(default_factory=dict)
    capped: str = ""  # why fewer runs than requested were simulated (empty: all of them)

    @property
    def runs(self) -> int:
        return int(self.goodput.size)

    @property
    def lost_gpu_hours(self) -> np.ndarray:
        """GPU-hours that produced no useful training, per run."""
        return (1.0 - self.goodput) * self.wall_s / 3600.0 * self.gpus

    def summary(self, percentiles=(5, 50, 95)) -> dict[str, dict[str, float]]:
        """Mean, standard deviation and percentiles of the main outputs."""
        out = {}
        for name, values in (
            ("goodput", self.goodput),
            ("interruptions", self.interruptions),
            ("lost_gpu_hours", self.lost_gpu_hours),
            ("lost_work_hours", self.lost_work_s / 3600.0),
            ("downtime_hours", self.downtime_s / 3600.0),
            ("checkpoint_hours", self.checkpoint_s / 3600.0),
        ):
            values = np.asarray(values, dtype=float)
            row = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if values.size > 1 else 0.0}
            for p, v in zip(percentiles, np.percentile(values, percentiles)):
                row[f"p{p:g}"] = float(v)
            out[name] = row
        return out


def _class_settings(stops_job, degraded_step_factor, catalog, repair_wait=None):
    """Per component class: catalog rate entry, whether it stops the job, its step-time factor when it does
    not, and whether its events wait for the repair (overrides checked by class name)."""
    check_class_names(stops_job, "stops_job overrides")
    check_class_names(degraded_step_factor, "degraded_step_factor overrides")
    check_class_names(repair_wait, "repair_wait")
    entries = rate_entries(catalog)
    stops = {c: bool((stops_job or {}).get(c, entries[c].stops_job)) for c in CLASSES}
    factors = {}
    for c in CLASSES:
        f = (degraded_step_factor or {}).get(c, entries[c].degraded_step_factor)
        if not isinstance(f, (int, float)) or not math.isfinite(f) or f < 1.0:
            raise FabricsimError(
                f"degraded_step_factor[{c!r}]={f!r}: a step-time multiplier must be a finite number >= 1 "
                f"(1 = no slow-down)."
            )
        factors[c] = float(f)
    waits = {c: bool((repair_wait or {}).get(c, False)) for c in CLASSES}
    return entries, stops, factors, waits


def _spares_exhausted(policy: CheckpointPolicy, per_hour, entries, stops) -> float:
    """Probability that a failed host finds no hot spare: job-stopping classes that swap a host, each repaired
    in its catalog repair time."""
    users = [c for c in CLASSES if stops[c] and entries[c].uses_spare]
    rate = sum(per_hour[c] for c in users)
    repair_h = sum(per_hour[c] * entries[c].repair_hours for c in users) / rate if rate else 0.0
    return spare_exhaustion_probability(policy.spare_hosts, rate, repair_h)


def simulate_run(
    counts: ComponentCounts,
    policy: CheckpointPolicy,
    days: float,
    runs: int = 1000,
    rng: np.random.Generator | int | None = None,
    rates: Mapping[str, float] | None = None,
    stops_job: Mapping[str, bool] | None = None,
    degraded_step_factor: Mapping[str, float] | None = None,
    planned_per_day: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 500,
    catalog=None,
    repair_wait: Mapping[str, bool] | None = None,
) -> RunResults:
    """Simulate ``runs`` independent runs of a ``days``-long synchronous training job.

    ``rng`` is a ``np.random.Generator`` or a seed; ``progress(done, total)`` is called after
    each batch of runs.  ``rates`` / ``stops_job`` / ``degraded_step_factor`` override the
    catalog per component class; ``repair_wait`` names classes whose events always wait for the repair
    (no spare can stand in, e.g. a co-packaged switch whose hosts outnumber the spares).
    """
    catalog = catalog or default_catalog()
    if not isinstance(days, (int, float)) or not math.isfinite(days) or days <= 0:
        raise FabricsimError(f"days={days!r}: the run length must be a finite number of days > 0.")
    if not isinstance(runs, int) or runs < 1:
        raise FabricsimError(f"runs={runs!r}: expected a whole number of Monte Carlo runs >= 1.")
    if not isinstance(planned_per_day, (int, float)) or not math.isfinite(planned_per_day) or planned_per_day < 0:
        raise FabricsimError(f"planned_per_day={planned_per_day!r}: expected a finite number >= 0.")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    wall = float(days) * 86400.0

    entries, stops, factors, waits = _class_settings(stops_job, degraded_step_factor, catalog, repair_wait)
    per_hour = failure_rates(counts, rates, catalog)
    stop_classes = [c for c in CLASSES if stops[c] and per_hour[c] > 0]
    lam_stop = sum(per_hour[c] for c in stop_classes)  # per hour
    mtbi_s = 3600.0 / lam_stop if lam_stop > 0 else math.inf
    if policy.interval_s is not None and policy.interval_s > wall:
        raise FabricsimError(
            f"checkpoint interval_s={policy.interval_s:.6g} is longer than the run ({wall:.6g} s = {days} "
            f"days): no checkpoint would ever be taken. Use an interval shorter than the run, or None "
            f"for Daly's optimum."
        )
    tau = min(policy.interval_for(mtbi_s), wall)  # an automatic interval is capped at the run length
    delta_b = policy.blocking_s
    delta_bg = policy.background_s
    cycle = tau + delta_b

    # event classes: job-stopping classes, then planned maintenance
    names = stop_classes + ([PLANNED] if planned_per_day > 0 else [])
    lam = np.array([per_hour[c] for c in stop_classes] + ([planned_per_day / 24.0] if planned_per_day > 0 else []))
    lam_total_s = lam.sum() / 3600.0
    probs = lam / lam.sum() if lam.size else lam
    # downtime per event class: restart, plus spare swap or repair wait when a host is replaced
    p_exhausted = _spares_exhausted(policy, per_hour, entries, stops)
    swap = np.array([policy.spare_swap_s if (c != PLANNED and entries[c].uses_spare) else 0.0 for c in names])
    repair = np.array([entries[c].repair_hours * 3600.0 if (c != PLANNED and entries[c].uses_spare) else 0.0 for c in names])
    swap = np.where([c != PLANNED and waits[c] for c in names], repair, swap)
    planned_mask = np.array([c == PLANNED for c in names])
    restart = policy.restart_s

    degrade = [c for c in CLASSES if not stops[c] and per_hour[c] > 0]
    runs, batch, capped = _bounded(runs, batch, lam_total_s * wall, days)

    outs: dict[str, list[np.ndarray]] = {k: [] for k in ("useful", "ckpt", "lost", "intr", "planned", "degr")}
    by_class: dict[str, list[np.ndarray]] = {c: [] for c in CLASSES}
    done = 0
    while done < runs:
        b = min(batch, runs - done)
        n_events = gen.poisson(lam_total_s * wall, size=b) if lam.size else np.zeros(b, dtype=np.int64)
        n_max = int(n_events.max()) if b else 0
        times = np.sort(gen.uniform(0.0, wall, size=(b, n_max)), axis=1)
        times[np.arange(n_max)[None, :] >= n_events[:, None]] = np.inf
        kinds = gen.choice(len(names), size=(b, n_max), p=probs) if n_max else np.zeros((b, 0), dtype=np.int64)
        exhausted = gen.random((b, n_max)) < p_exhausted
        downtime = restart + np.where(exhausted, repair[kinds], swap[kinds])

        t_up = np.zeros(b)
        useful = np.zeros(b)
        ckpt = np.zeros(b)
        lost = np.zeros(b)
        for j in range(n_max):
            t = times[:, j]
            valid = np.isfinite(t)
            down_now = valid & (t < t_up)
            up = valid & ~down_now
            elapsed = np.where(up, t - t_up, 0.0)
            k = np.floor(elapsed / cycle)
            p = elapsed - k * cycle
            is_planned = planned_mask[kinds[:, j]]
            # unplanned: work since the last durable checkpoint is lost
            not_durable = (k >= 1) & (p < delta_bg)
            k_commit = np.where(not_durable, k - 1, k)
            lost_here = np.where(not_durable, p + tau, p)
            # planned: checkpoint first, nothing lost
            u_add = np.where(is_planned, k * tau + np.minimum(p, tau), k_commit * tau)
            c_add = np.where(is_planned, k * delta_b + np.maximum(p - tau, 0.0), k * delta_b)
            l_add = np.where(is_planned, 0.0, lost_here)
            useful += np.where(up, u_add, 0.0)
            ckpt += np.where(up, c_add, 0.0)
            lost += np.where(up, l_add, 0.0)
            t_up = np.where(valid, np.maximum(t_up, t + downtime[:, j]), t_up)
        elapsed = np.maximum(wall - t_up, 0.0)
        k = np.floor(elapsed / cycle)
        p = elapsed - k * cycle
        useful += k * tau + np.minimum(p, tau)
        ckpt += k * delta_b + np.maximum(p - tau, 0.0)

        degr = np.zeros(b)
        for c in degrade:
            n = gen.poisson(per_hour[c] / 3600.0 * wall, size=b)
            duration = min(entries[c].repair_hours * 3600.0, wall)
            degr += n * duration * (1.0 - 1.0 / factors[c])
            by_class[c].append(n)
        degr = np.minimum(degr, useful)
        useful -= degr

        valid_events = np.isfinite(times)
        for i, c in enumerate(names):
            if c != PLANNED:
                by_class[c].append(((kinds == i) & valid_events).sum(axis=1))
        planned_i = names.index(PLANNED) if PLANNED in names else -1
        planned_n = ((kinds == planned_i) & valid_events).sum(axis=1)
        outs["useful"].append(useful)
        outs["ckpt"].append(ckpt)
        outs["lost"].append(lost)
        outs["intr"].append(n_events - planned_n)
        outs["planned"].append(planned_n)
        outs["degr"].append(degr)
        done += b
        if progress is not None:
            progress(done, runs)

    cat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in outs.items()}
    classes = {c: (np.concatenate(v) if v else np.zeros(runs, dtype=np.int64)) for c, v in by_class.items()}
    downtime_s = wall - cat["useful"] - cat["degr"] - cat["ckpt"] - cat["lost"]
    return RunResults(
        wall_s=wall,
        gpus=counts.gpus,
        interval_s=tau,
        goodput=cat["useful"] / wall,
        interruptions=cat["intr"].astype(np.int64),
        planned_interruptions=cat["planned"].astype(np.int64),
        lost_work_s=cat["lost"],
        checkpoint_s=cat["ckpt"],
        downtime_s=np.maximum(downtime_s, 0.0),
        degraded_loss_s=cat["degr"],
        interruptions_by_class=classes,
        capped=capped,
    )


def _bounded(runs: int, batch: int, expected_events: float, days: float) -> tuple[int, int, str]:
    """Runs, batch size and a note, within MAX_BATCH_CELLS and MAX_EVENT_STEPS (decided before any work)."""
    per_run = int(expected_events + 6.0 * math.sqrt(expected_events) + 10)  # a Poisson draw's upper tail
    if per_run > MAX_EVENT_STEPS:
        raise FabricsimError(
            f"reliability.days={days:g}: this cluster expects ~{expected_events:,.0f} interruptions per run, more "
            f"than the Monte Carlo's bound of {MAX_EVENT_STEPS:,} events per run; shorten reliability.days "
            f"(the analytic goodput needs no simulation)")
    batch = max(1, min(batch, runs, MAX_BATCH_CELLS // per_run))
    allowed = max(1, MAX_EVENT_STEPS // per_run) * batch
    if runs <= allowed:
        return runs, batch, ""
    return allowed, batch, (f"Monte Carlo capped at {allowed:,} of {runs:,} runs: ~{expected_events:,.0f} "
                            f"interruptions per run x runs is bounded at {MAX_EVENT_STEPS:,} event steps")
