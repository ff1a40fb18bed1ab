"""Run a sweep file end to end: expand its points, skip the ones already stored, run the rest on an
engine, store every batch as it finishes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fabricsim.errors import FabricsimError
from fabricsim.explore import engines, store
from fabricsim.explore.points import expand
from fabricsim.explore.spec import load_sweep
from fabricsim.io import write_atomic


@dataclass
class SweepRun:
    name: str
    out: Path
    points: int
    skipped: int  # already stored by an earlier run
    ran: int
    failed: int
    seconds: float
    engine: str
    facts: dict = field(default_factory=dict)

    @property
    def points_per_s(self) -> float:
        return self.ran / self.seconds if self.seconds > 0 else 0.0


def default_out(path: str | Path) -> Path:
    return Path(f"{Path(path).stem}-results")


def run_sweep(path: str | Path, out: str | Path | None = None, engine: str = "local", workers: int | None = None,
              address: str | None = None, batch_size: int = 64, progress=None) -> SweepRun:
    """Run (or resume) the sweep in ``path``; ``progress(done, total)`` is called after every batch."""
    if engine not in engines.ENGINES:
        raise FabricsimError(f"--engine {engine!r}: valid engines are {', '.join(engines.ENGINES)}")
    if workers is not None and workers < 1:
        raise FabricsimError(f"--workers {workers}: need at least 1")
    sweep, base = load_sweep(path)
    points = expand(sweep, base)
    out = store.prepare(Path(out) if out else default_out(path))
    write_atomic(out / store.SWEEP_FILE, yaml.safe_dump(
        {**sweep.model_dump(), "base": base}, sort_keys=False))
    done = store.done_keys(out)
    todo = [p for p in points if p.key not in done]
    counts = {"ran": 0, "failed": 0}

    def on_batch(rows: list[dict]) -> None:
        store.write_part(out, rows)
        counts["ran"] += len(rows)
        counts["failed"] += sum(r["status"] != "ok" for r in rows)
        if progress:
            progress(len(points) - len(todo) + counts["ran"], len(points))

    started = time.perf_counter()
    facts = {}
    if todo:
        measure, options = list(sweep.measure), sweep.options.model_dump()
        if engine == "ray":
            facts = engines.run_ray(todo, measure, options, on_batch, address, batch_size)
        else:
            engines.run_local(todo, measure, options, on_batch, workers, batch_size)
    return SweepRun(sweep.name, out, len(points), len(points) - len(todo), counts["ran"], counts["failed"],
                    time.perf_counter() - started, engine, facts)
