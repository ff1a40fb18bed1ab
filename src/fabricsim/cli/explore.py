"""``fabricsim sweep`` and ``fabricsim sweep-report``: thin wrappers over :mod:`fabricsim.explore`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fabricsim.cli.common import (
    JsonOpt,
    _print_json,
    app,
    console,
    err_console,
    user_errors,
)


@app.command()
@user_errors
def sweep(
    sweep_file: Path = typer.Argument(..., help="sweep file (YAML): base scenario, grid / zip / samples, measure"),
    out: Optional[Path] = typer.Option(None, "--out", help="results folder (Parquet parts); default <file>-results"),
    engine: str = typer.Option("local", "--engine", help="local (worker processes) or ray"),
    workers: Optional[int] = typer.Option(None, "--workers", help="local worker processes (default: every core)"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: RAY_ADDRESS or a local instance)"),
    batch: int = typer.Option(64, "--batch", min=1, max=100_000, help="points per task / per Parquet part"),
    json_out: bool = JsonOpt,
) -> None:
    """Run every point of a sweep; rerun into the same --out to resume (finished points are skipped)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeRemainingColumn,
    )

    from fabricsim.explore import run_sweep

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True) as bar:
        task = bar.add_task("sweep points", total=None)
        result = run_sweep(sweep_file, out, engine, workers, address, batch,
                           progress=lambda done, total: bar.update(task, completed=done, total=total))
    if json_out:
        _print_json({**vars(result), "out": str(result.out), "points_per_s": result.points_per_s})
        return
    console.print(f"{result.name}: {result.points:,} points, {result.skipped:,} already done, {result.ran:,} run "
                  f"({result.failed:,} failed) in {result.seconds:.1f} s on {result.engine} "
                  f"({result.points_per_s:,.1f} points/s)")
    console.print(f"results: {result.out} (Parquet; `fabricsim sweep-report {result.out} --html report.html`)")


@app.command("sweep-report")
@user_errors
def sweep_report_command(
    results: Path = typer.Argument(..., help="a sweep's results folder"),
    html_out: Path = typer.Option(Path("sweep-report.html"), "--html", help="where to write the report"),
    front: list[str] = typer.Option([], "--front", help="objectives of a Pareto front as x,y (repeatable), "
                                    "e.g. capex_per_gpu_usd,step_time_s"),
) -> None:
    """Pareto fronts, trends along every axis and the Pareto-optimal points, as one HTML page."""
    from fabricsim.errors import FabricsimError
    from fabricsim.explore.report import OBJECTIVES, sweep_report

    fronts = []
    for item in front:
        parts = [p.strip() for p in item.split(",")]
        if len(parts) != 2 or not all(parts):
            raise FabricsimError(f"--front {item!r}: give two output columns as x,y, e.g. capex_per_gpu_usd,mfu "
                                 f"(known objectives: {', '.join(OBJECTIVES)})")
        fronts.append((parts[0], parts[1]))
    drawn = sweep_report(results, html_out, fronts or None)
    console.print(f"{drawn['points']:,} points ({drawn['failed']:,} failed): {drawn['figures']} figures, fronts "
                  + ", ".join(f"{x} vs {y} ({n} optimal)" for x, y, n in drawn["fronts"]) + f" -> {html_out}")
