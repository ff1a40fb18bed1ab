"""Rich tables for a multi-site plan: one site's fabric, the DCI's bill of materials, totals."""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

from fabricsim.plan_sites import SitesPlan
from fabricsim.report.console import key_value_table
from fabricsim.report.plan_view import plan_tables, power_capex_table
from fabricsim.units import format_bits_per_s, format_usd, format_watts


def sites_tables(plan: SitesPlan) -> Group:
    head = key_value_table(f"Plan: {escape(plan.scenario)}")
    head.add_row("sites", f"{plan.sites} x {plan.gpus_per_site:,} GPUs = {plan.gpus:,} GPUs, {plan.distance_km:g} km "
                 f"between neighbours")
    head.add_row("DCI capacity", f"{format_bits_per_s(plan.dci_capacity_bits_per_s)} per direction = "
                 f"{plan.wavelengths} wavelengths on {plan.fiber_pairs} fibre pair(s), {plan.amplifier_sites} in-line "
                 f"amplifier site(s) per route")
    head.add_row("latency across", f"{plan.one_way_latency_s * 1e6:,.0f} us one way (fibre ~5 us/km + coherent DSP)")
    head.add_row("fibre cuts", f"{plan.fiber_cuts_per_year:.3g} per year; {plan.dci_hours_down_per_year:.2g} h/yr "
                 f"without cross-site traffic; {plan.active_failures_per_year:.2g} active-part failures per year")
    head.add_row("DCI per year", f"{format_usd(plan.dci_usd_per_year)} (capex {format_usd(plan.dci_capex_usd)} over "
                 f"{plan.years:g} years + energy + upkeep {format_usd(plan.dci_upkeep_usd_per_year)}/yr)")

    dci = Table(title="DCI bill of materials (all sites)", title_justify="left")
    for col in ("part", "kind", "units", "power", "capex", "upkeep/yr"):
        dci.add_column(col, justify="left" if col in ("part", "kind") else "right")
    for line in plan.dci_lines:
        dci.add_row(line.part, line.kind, f"{line.units:,.0f} {line.unit}", format_watts(line.power_w),
                    format_usd(line.price_usd), format_usd(line.annual_usd) if line.annual_usd else "-")
    dci.add_row("[bold]DCI total", "", "", f"[bold]{format_watts(plan.dci_power_w)}",
                f"[bold]{format_usd(plan.dci_capex_usd)}", format_usd(plan.dci_upkeep_usd_per_year))

    totals = power_capex_table("All sites: power and capex", plan.power_w, plan.capex_usd, digits=2)
    site = plan_tables(plan.site)
    site.renderables[0].title = f"One site of {plan.sites} (each the same)"
    return Group(head, dci, totals, site)


def print_sites_plan(plan: SitesPlan, console: Console | None = None) -> None:
    (console or Console()).print(sites_tables(plan))
    for note in plan.notes:
        (console or Console()).print(f"[dim]note: {escape(note)}")
