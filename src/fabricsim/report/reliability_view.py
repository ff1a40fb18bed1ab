"""Rich tables for a reliability assessment and for the optics families judged by failures and cost."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from fabricsim.optics_choice import OpticsReliability
from fabricsim.units import format_usd, format_watts


def class_table(title: str, per_hour: dict[str, float], stops: dict[str, bool] | None) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("class")
    table.add_column("failures / day", justify="right")
    table.add_column("share", justify="right")
    table.add_column("effect")
    total = sum(per_hour.values()) or 1.0
    for name, rate in sorted(per_hour.items(), key=lambda kv: -kv[1]):
        effect = "stops the job" if (stops or {}).get(name, True) else "slows it until repaired"
        table.add_row(name, f"{rate * 24:,.2f}", f"{rate / total:.1%}", effect)
    return table


def optics_reliability_table(options: list[OpticsReliability]) -> Table:
    table = Table(title="Optics families on this fabric: failures, repair, goodput and cost per year",
                  title_justify="left")
    for col in ("optics", "modules", "optics fail / month", "repair", "links / failure", "interruptions / day",
                "goodput", "optics $/yr", "lost goodput $/yr", "total $/yr"):
        table.add_column(col, justify="left" if col == "optics" else "right")
    for o in options:
        if o.error:
            reason = o.error.split(";")[0].split(": ", 1)[-1]
            table.add_row(o.family, *["-"] * 8, f"[dim]{reason}")
            continue
        table.add_row(o.family, f"{o.modules:,}", f"{o.optics_failures_per_month:,.1f}", f"{o.mean_repair_hours:.1f} h",
                      f"{o.links_per_failure:.1f}", f"{o.interruptions_per_day:,.2f}", f"{o.expected_goodput:.2%}",
                      format_usd(o.optics_usd_per_year), format_usd(o.lost_goodput_usd_per_year),
                      format_usd(o.total_usd_per_year))
    return table


def print_optics_reliability(options: list[OpticsReliability], console: Console | None = None) -> None:
    (console or Console()).print(optics_reliability_table(options))


__all__ = ["class_table", "optics_reliability_table", "print_optics_reliability", "format_watts"]
