"""Where tables go: full-width output when piped, and a progress line on long commands.

On a terminal rich wraps tables to the window.  Piped or redirected output has no window:
rich would assume 80 columns and cut numbers, so it is rendered at its natural width instead
(``PIPED_WIDTH`` is only a ceiling).
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator

from rich.console import Console
from rich.table import Table

PIPED_WIDTH = 4000
"""Ceiling on the width of piped output, characters (tables use only the width their content needs)."""


def key_value_table(title: str) -> Table:
    """A two-column table of named figures ("what", "value") under a left-aligned title (rich markup)."""
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    return table


def fit_to_output(console: Console) -> Console:
    """Give a console that is not writing to a terminal the full width its tables need."""
    if not console.is_terminal:
        console.width = PIPED_WIDTH
    return console


@contextlib.contextmanager
def working(console: Console, what: str, enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A spinner with the current stage and the elapsed time on ``console`` while a command works.

    Yields ``stage(text)`` to report progress.  Shown only on a terminal (never in pipes or JSON),
    and removed when the work ends."""
    if not enabled or not console.is_terminal:
        yield lambda text: None
        return
    start = time.monotonic()
    with console.status(f"{what}...", spinner="dots") as status:

        def stage(text: str) -> None:
            status.update(f"{what}: {text} ({time.monotonic() - start:,.0f} s)")

        yield stage
