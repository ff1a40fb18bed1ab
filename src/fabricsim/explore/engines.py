"""Running a sweep's points: in local worker processes, or as Ray tasks on a local or remote cluster.

Both engines call the same function on the same batches, so a sweep gives identical rows on either.
Points travel in batches (``batch_size``) to keep per-task overhead small; every finished batch is
written as one Parquet part before the next is collected (:mod:`fabricsim.explore.store`).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from fabricsim.errors import FabricsimError
from fabricsim.explore.measure import measure_point
from fabricsim.explore.points import Point

ENGINES = ("local", "ray")


def _column_value(value):
    """Axis values as Parquet-friendly scalars (lists and mappings as JSON text)."""
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def run_batch(batch: list[tuple[int, str, dict, dict]], measure: list[str], options: dict) -> list[dict]:
    """Rows of a batch of (index, key, axes, scenario) points."""
    rows = []
    for index, key, axes, scenario in batch:
        row = {"index": index, "key": key}
        row.update({f"in.{path}": _column_value(value) for path, value in axes.items()})
        row.update(measure_point(scenario, measure, options))
        rows.append(row)
    return rows


def _batches(points: list[Point], size: int):
    for lo in range(0, len(points), size):
        yield [(p.index, p.key, p.axes, p.scenario) for p in points[lo: lo + size]]


def run_local(points, measure, options, on_batch, workers: int | None = None, batch_size: int = 64) -> None:
    """Run in ``workers`` processes (default: every core); ``on_batch(rows)`` gets each finished batch."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(points) <= batch_size:
        for batch in _batches(points, batch_size):
            on_batch(run_batch(batch, measure, options))
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending = set()
        batches = _batches(points, batch_size)
        for batch in batches:  # keep 2 batches per worker in flight: bounded memory, steady writes
            pending.add(pool.submit(run_batch, batch, measure, options))
            if len(pending) >= 2 * workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    on_batch(future.result())
        for future in pending:
            on_batch(future.result())


def run_ray(points, measure, options, on_batch, address: str | None = None, batch_size: int = 64) -> dict:
    """Run as Ray tasks on the cluster at ``address`` (or RAY_ADDRESS, or a new local instance).
    Returns timing facts (tasks, cluster CPUs) for the report."""
    try:
        import ray
    except ImportError:
        raise FabricsimError("--engine ray needs Ray: pip install \"fabricsim[ray]\"") from None
    started_here = not ray.is_initialized()
    if started_here:
        kwargs = {"address": address} if address else {}
        if not address and not os.environ.get("RAY_ADDRESS"):
            kwargs.update(num_cpus=os.cpu_count() or 1, include_dashboard=False)
        ray.init(logging_level="ERROR", log_to_driver=False, **kwargs)
    try:
        task = ray.remote(run_batch)
        refs = [task.remote(batch, measure, options) for batch in _batches(points, batch_size)]
        tasks = len(refs)
        while refs:
            done, refs = ray.wait(refs, num_returns=1)
            for ref in done:
                on_batch(ray.get(ref))
        return {"tasks": tasks, "cluster_cpus": ray.cluster_resources().get("CPU", 0)}
    finally:
        if started_here:
            ray.shutdown()
