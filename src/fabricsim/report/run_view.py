"""One-screen summary of ``fabricsim run``."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table

from fabricsim.api import RunResult
from fabricsim.report.plan_view import optics_table, plan_tables
from fabricsim.units import format_bytes, format_usd, format_watts


def run_tables(result: RunResult) -> Group:
    parts = [plan_tables(result.plan)]
    tco = result.tco
    cost = Table(title="Cost of ownership", title_justify="left", show_header=False)
    cost.add_column("what", style="bold")
    cost.add_column("value")
    cost.add_row("capex", f"{format_usd(tco.capex_usd)} (network {tco.network_capex_share:.1%})")
    cost.add_row("facility power", f"{format_watts(tco.facility_power_w)} (network {tco.network_power_share:.1%} of IT)")
    cost.add_row("per year", f"{format_usd(tco.amortisation_usd_per_year)} amortisation + "
                 f"{format_usd(tco.energy_usd_per_year)} energy over {tco.years:g} years")
    cost.add_row("per GPU-hour", f"${tco.usd_per_gpu_hour:.2f}")
    parts.append(cost)
    if result.collectives:
        table = Table(title="Collectives on this fabric (all GPUs, flow-level)", title_justify="left")
        for col in ("collective", "algorithm", "load balancing", "size", "time (ms)", "busbw (GB/s)", "delivered"):
            table.add_column(col, justify="right" if col in ("time (ms)", "busbw (GB/s)", "delivered") else "left")
        for c in result.collectives:
            table.add_row(c.label, c.algorithm, c.load_balancing, format_bytes(c.size_bytes), f"{c.time_s * 1e3:,.2f}",
                          f"{c.busbw_bytes_per_s / 1e9:,.1f}", f"{c.delivered:.1%}")
        parts.append(table)
    parts.append(optics_table(result.optics))
    for note in result.notes:
        parts.append(f"[dim]note: {note}")
    return Group(*parts)


def print_run(result: RunResult, console: Console | None = None) -> None:
    (console or Console()).print(run_tables(result))
