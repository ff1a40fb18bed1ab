"""The parallelism search as a table: the best layouts, and what makes the winner win."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table


def search_tables(result) -> Group:
    table = Table(title=f"Best parallel layouts of {result.model} on {result.gpus:,} GPUs "
                  f"({result.fitted:,} of {result.tried:,} layouts fit HBM)", title_justify="left")
    for col in ("rank", "layout", "step (s)", "tokens/s", "MFU", "timed"):
        table.add_column(col, justify="left" if col == "layout" else "right")
    for k, c in enumerate(result.ranked, 1):
        table.add_row(str(k), c.label, f"{c.step_time_s:.3f}", f"{c.tokens_per_s:,.0f}", f"{c.mfu:.1%}", c.communication)
    lines = [f"why {result.ranked[0].label} wins:"] + [f"  {r}" for r in result.reasons] if result.reasons else []
    if result.baseline is None:
        lines.append("the scenario's own layout is not among the layouts that fit")
    return Group(table, *lines)
