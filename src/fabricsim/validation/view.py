"""Rich tables of a validation run: every case, then per-layer error statistics, then the misses."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table

from fabricsim.validation.runner import CaseResult, summarize


def _number(value: float, unit: str) -> str:
    if unit == "bytes/s":
        return f"{value / 1e9:,.1f} GB/s"
    if unit == "FLOP/s":
        return f"{value / 1e12:,.0f} TFLOP/s"
    if unit in ("fraction",):
        return f"{value:.1%}"
    return f"{value:,.4g}" + ("" if unit == "count" else f" {unit}")


def validation_tables(results: list[CaseResult], verbose: bool = False) -> Group:
    table = Table(title="Validation: published figures vs fabricsim", title_justify="left")
    for col in ("case", "published", "fabricsim", "error", "tolerance", "role", ""):
        table.add_column(col, justify="left" if col in ("case", "role", "") else "right")
    for r in results:
        c = r.case
        mark = "[green]ok" if r.passed else "[red]MISS"
        tol = f"±{c.tolerance:.0%}" if c.bound == "two-sided" else f">= -{c.tolerance:.0%}"
        table.add_row(f"{c.layer}/{c.id}", _number(c.published, c.unit), _number(r.model, c.unit),
                      f"{r.error:+.1%}", tol, c.role, mark)
    stats = Table(title="Per layer: |relative error|", title_justify="left")
    for col in ("layer", "role", "cases", "passed", "mean", "median", "max"):
        stats.add_column(col, justify="left" if col in ("layer", "role") else "right")
    for row in summarize(results):
        stats.add_row(row["layer"], row["role"], str(row["cases"]), str(row["passed"]),
                      f"{row['mean_abs_error']:.1%}", f"{row['median_abs_error']:.1%}", f"{row['max_abs_error']:.1%}")
    parts = [table, stats]
    misses = [r for r in results if not r.passed]
    for r in misses:
        parts.append(f"[red]miss[/] {r.case.id}: {r.reason}")
    if verbose:
        for r in results:
            parts.append(f"[bold]{r.case.id}[/]: {r.case.what}\n  source: {r.case.source}\n  setup: "
                         f"{r.case.setup.model_dump()}" + (f"\n  note: {r.case.note}" if r.case.note else ""))
    return Group(*parts)
