"""Rich tables for a torus pod: its bill of materials, the OCS share, slices and cube failures, and the
same chips on a fat-tree."""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

from fabricsim.plan_torus import FatTreeComparison, TorusPlan
from fabricsim.report.console import key_value_table
from fabricsim.report.plan_view import power_capex_table
from fabricsim.units import format_bits_per_s, format_usd, format_watts


def torus_tables(plan: TorusPlan) -> Group:
    shape = "x".join(map(str, plan.dims)) + (" twisted" if plan.twisted else "")
    head = key_value_table(f"Plan: {escape(plan.scenario)}")
    head.add_row("chips", f"{plan.chips:,} x {plan.gpu} in a {shape} torus of {plan.cubes} cubes "
                 f"({'x'.join(map(str, plan.block))} {plan.cube}), {plan.hosts:,} hosts, {plan.racks} racks")
    head.add_row("links", f"{plan.electrical_links:,} electrical inside cubes, {plan.optical_links:,} optical across "
                 f"faces, {format_bits_per_s(plan.link_bits_per_s)} per direction each")
    ocs = (f"{plan.ocs_count} x {plan.ocs} ({plan.ocs_ports_used:,} of {plan.ocs_ports_available:,} ports), "
           f"reconfigured in {plan.ocs_reconfiguration_s * 1e3:g} ms") if plan.ocs else "none (faces cabled statically)"
    head.add_row("OCS", ocs)
    head.add_row("optics", f"{plan.transceivers:,} x {plan.transceiver} ({plan.transceivers / plan.chips:.2g} per chip), "
                 f"{plan.fiber_m / 1e3:,.0f} km of fibre")
    head.add_row("bisection", f"{format_bits_per_s(plan.bisection_bits_per_s)} per direction; diameter "
                 f"{plan.diameter_hops} hops")
    head.add_row("OCS + optics share", f"{plan.ocs_capex_share:.1%} of capex, {plan.ocs_power_share:.1%} of power "
                 f"(TPU v4 paper: <5% and <3%)")
    labels = {"switches": "OCS", "optics_and_cables": "optics and fibre", "scale_up_fabric": "in-cube copper ICI",
              "nics": "host DCN NICs", "gpus": "chips", "servers": "hosts"}
    money = power_capex_table("Power and capex", plan.power_w, plan.capex_usd, labels)
    return Group(head, money)


def _value(value: float, unit: str) -> str:
    return {"usd": format_usd, "w": format_watts, "bits/s": format_bits_per_s}.get(
        unit, lambda v: f"{v:.1%}" if unit == "share" else f"{v * 1e3:,.2f} ms")(value)


def comparison_table(comparison: FatTreeComparison) -> Table:
    table = Table(title=f"The same chips on a fat-tree: {comparison.fat_tree_summary}", title_justify="left")
    for col in ("", "torus + OCS", "fat-tree", "fat-tree / torus"):
        table.add_column(col, justify="left" if not col else "right")
    for row in comparison.rows:
        ratio = row["fat_tree"] / row["torus"] if row["torus"] else float("inf")
        table.add_row(row["metric"], _value(row["torus"], row["unit"]), _value(row["fat_tree"], row["unit"]),
                      f"{ratio:,.2f}x")
    return table


def failure_table(costs) -> Table:
    table = Table(title="A failed cube, with and without OCS", title_justify="left")
    for col in ("host availability", "largest job after 1 cube fails (OCS / static)", "slice",
                "schedulable with OCS", "static"):
        table.add_column(col, justify="right")
    for c in costs:
        table.add_row(f"{c.host_availability:.3%}", f"{c.largest_job_cubes_with_ocs} / {c.largest_job_cubes_static} "
                      f"of {c.cubes} cubes", "x".join(map(str, c.slice_shape)) + " cubes",
                      f"{c.schedulable_with_ocs:.1%}", f"{c.schedulable_static:.1%}")
    return table


def print_torus_plan(plan: TorusPlan, comparison: FatTreeComparison | None, console: Console | None = None,
                     failures=()) -> None:
    console = console or Console()
    console.print(torus_tables(plan))
    if failures:
        console.print(failure_table(failures))
    if comparison is not None:
        if comparison.error:
            console.print(f"[dim]fat-tree comparison skipped: {escape(str(comparison.error))}")
        else:
            console.print(comparison_table(comparison))
    for note in plan.notes:
        console.print(f"[dim]note: {escape(note)}")


def spine_free_table(c) -> Table:
    """The fat-tree beside the same aggregation blocks joined directly through OCS (no core tier)."""
    table = Table(title=f"Spine-free alternative (Jupiter style): {c.blocks} aggregation blocks joined through "
                  f"{c.ocs_count:,} x {c.ocs} instead of {c.core_switches_removed:,} core switches", title_justify="left")
    for col in ("", "Clos (core tier)", "direct connect (OCS)", "saving"):
        table.add_column(col, justify="left" if not col else "right")
    table.add_row("switches + optics capex", format_usd(c.clos_capex_usd), format_usd(c.direct_capex_usd),
                  f"{c.capex_saving:.1%}")
    table.add_row("switches + optics power", format_watts(c.clos_power_w), format_watts(c.direct_power_w),
                  f"{c.power_saving:.1%}")
    table.add_row("one block pair's share of uplinks", "100%",
                  f"{c.pair_share_direct:.1%} direct, ~{c.pair_share_with_transit:.0%} with transit", "")
    return table
