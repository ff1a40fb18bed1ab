"""Rich tables for a plan and for an optics comparison."""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

from fabricsim.plan import OpticsOption, Plan
from fabricsim.price_ranges import CostRange
from fabricsim.report.console import key_value_table
from fabricsim.units import format_bits_per_s, format_speed_short, format_usd, format_watts


def plan_tables(plan: Plan) -> Group:
    head = key_value_table(f"Plan: {escape(plan.scenario)}")
    head.add_row("GPUs", f"{plan.gpus:,} × {plan.gpu} in {plan.scale_up_domains:,} {plan.scale_up} domains, "
                 f"{plan.servers:,} servers, {plan.gpu_racks:,} GPU racks")
    head.add_row("NICs", f"{plan.nic_cards:,} × {plan.nic} ({plan.nic_ports:,} ports)")
    head.add_row("scale-out fabric",
                 f"{plan.tiers}-tier fat-tree × {plan.planes} plane(s) of {plan.switch}, "
                 f"{format_speed_short(plan.link_bits_per_s)} links, radix {plan.radix} "
                 f"(max {plan.max_gpus_at_these_tiers:,} GPUs at {plan.tiers} tiers)")
    head.add_row("switches", f"{plan.switches:,} in {plan.switch_racks:,} switch racks")
    head.add_row("bisection bandwidth", format_bits_per_s(plan.bisection_bits_per_s))
    head.add_row("worst-case path", f"{plan.switch_hops_worst} switch hops")
    head.add_row("optics", f"{plan.optical_modules:,} modules serving {plan.optical_ends:,} link ends; "
                 f"{sum(t.cables for t in plan.tier_lines):,} cables; {plan.fiber_m / 1000:,.0f} km of fibre")

    tiers = Table(title="Switch tiers (all planes)", title_justify="left")
    for col in ("tier", "switches", "ports used / avail.", "down:up", "links below", "cables", "media"):
        tiers.add_column(col, justify="right" if col not in ("tier", "switches", "media") else "left")
    for t in plan.tier_lines:
        ratio = f"{t.oversubscription:.3g}:1" if t.up_ports else "-"
        tiers.add_row(t.tier, f"{t.switches:,} {t.switch}", f"{t.ports_used:,} / {t.ports_available:,}", ratio,
                      f"{t.links:,} × {format_speed_short(t.link_bits_per_s)}", f"{t.cables:,}",
                      f"{t.media}, {t.link_length_m:g} m")

    media = Table(title="Optics and cables", title_justify="left")
    for col in ("tier", "part", "kind", "units", "links each", "modules", "power", "price"):
        media.add_column(col, justify="left" if col in ("tier", "part", "kind") else "right")
    for m in plan.media_lines:
        _media_row(media, m)

    if plan.scale_up_lines:
        optics_w = sum(m.power_w for m in plan.scale_up_lines)
        media.add_section()
        for m in plan.scale_up_lines:
            _media_row(media, m)
        head.add_row("scale-up fabric", f"{plan.scale_up_tiers} tier(s), {plan.scale_up_chips:,} switch chips; optics "
                     f"between racks {format_watts(optics_w)} ({format_watts(optics_w / max(1, plan.gpu_racks))} per "
                     f"GPU rack); +{plan.scale_up_added_latency_s * 1e9:,.0f} ns one way over one rack")

    money = power_capex_table("Power and capex", plan.power_w, plan.capex_usd)
    total_w, total_usd = sum(plan.power_w.values()), sum(plan.capex_usd.values())
    money.add_row("network (scale-out + scale-up)",
                  format_watts(plan.network_share(plan.power_w) * total_w), f"{plan.network_share(plan.power_w):.1%}",
                  format_usd(plan.network_share(plan.capex_usd) * total_usd), f"{plan.network_share(plan.capex_usd):.1%}")
    return Group(head, tiers, media, money)


def _media_row(table: Table, m) -> None:
    """One line of optics or cables (a MediaLine); fibre has no units per link and no modules."""
    each = "-" if m.kind == "fiber" else f"{m.links_per_unit}"
    modules = "-" if m.kind == "fiber" else f"{m.modules:,}"
    table.add_row(m.tier, m.name, m.kind, f"{m.units:,}", each, modules, format_watts(m.power_w),
                  format_usd(m.price_usd))


def share(part: float, whole: float, digits: int = 1) -> str:
    """``part / whole`` as a percentage, or '-' when the whole is zero (a free or powerless category)."""
    return f"{part / whole:.{digits}%}" if whole > 0 else "-"


def power_capex_table(title: str, power_w: dict[str, float], capex_usd: dict[str, float],
                      labels: dict[str, str] | None = None, digits: int = 1) -> Table:
    """Power (W) and capex (USD) by bill-of-materials category with each one's share, and the IT total."""
    labels = labels or {}
    table = Table(title=title, title_justify="left")
    for col in ("category", "power", "share", "capex", "share"):
        table.add_column(col, justify="left" if col == "category" else "right")
    total_w, total_usd = sum(power_w.values()), sum(capex_usd.values())
    for key in power_w:
        table.add_row(labels.get(key, key.replace("_", " ")), format_watts(power_w[key]),
                      share(power_w[key], total_w, digits), format_usd(capex_usd[key]),
                      share(capex_usd[key], total_usd, digits))
    table.add_row("[bold]total IT", f"[bold]{format_watts(total_w)}", "", f"[bold]{format_usd(total_usd)}", "")
    return table


def optics_table(options: list[OpticsOption], failures_per_month: dict[str, float] | None = None) -> Table:
    table = Table(title="Optics choices for the same fabric", title_justify="left")
    columns = ["optics", "modules", "optics power", "optics capex", "conn. points"]
    columns += ["failures/month"] if failures_per_month else []
    columns += ["network power", "share", "media"]
    for col in columns:
        table.add_column(col, justify="left" if col in ("optics", "media") else "right")
    for o in options:
        if o.error:
            reason = o.error.split(";")[0].split(": ", 1)[-1]
            table.add_row(o.family, *["-"] * (len(columns) - 2), f"[dim]{escape(reason)}")
            continue
        failures = [f"{failures_per_month[o.family]:,.1f}"] if failures_per_month else []
        table.add_row(o.family, f"{o.optical_modules:,}", format_watts(o.optics_power_w), format_usd(o.optics_capex_usd),
                      f"{o.connection_points:,.0f}", *failures, format_watts(o.network_power_w),
                      f"{o.network_power_share:.1%}", o.media)
    return table


def cost_range_table(ranges: CostRange) -> Table:
    """Capex, network shares and (when a throughput is known) $ per million tokens as low / middle / high,
    then the five prices that move the answer most (a tornado, widest first)."""
    table = Table(title="Cost from sourced price ranges (low / middle / high; `fabricsim catalog show` for each "
                  "price's source)", title_justify="left")
    for col in ("", "low", "middle", "high"):
        table.add_column(col, justify="left" if not col else "right")
    table.add_row("capex", *(format_usd(v) for v in ranges.capex_usd))
    table.add_row("network share (scale-out: switches, optics, NICs)", *(f"{v:.1%}" for v in ranges.scale_out_capex_share))
    table.add_row("network share with the scale-up fabric", *(f"{v:.1%}" for v in ranges.network_capex_share))
    if ranges.usd_per_million_tokens:
        table.add_row("$ per million tokens trained", *(f"${v:,.2f}" for v in ranges.usd_per_million_tokens))
    tokens = ranges.usd_per_million_tokens is not None
    tornado = Table(title="Top price drivers (each alone from low to high)", title_justify="left")
    for col in ("price", "capex swing", "network share", "$/M tokens" if tokens else None, "range basis"):
        if col:
            tornado.add_column(col, justify="left" if col in ("price", "range basis") else "right")
    for d in ranges.tornado:
        row = [d.label, f"{format_usd(d.capex_low_usd)} - {format_usd(d.capex_high_usd)}",
               f"{d.network_share_low:.1%} - {d.network_share_high:.1%}"]
        if tokens:
            row.append(f"${d.usd_per_million_tokens_low:,.2f} - ${d.usd_per_million_tokens_high:,.2f}")
        tornado.add_row(*row, d.basis)
    return Group(table, tornado)


def print_plan(plan: Plan, options: list[OpticsOption] | None = None, console: Console | None = None,
               ranges: CostRange | None = None) -> None:
    console = console or Console()
    console.print(plan_tables(plan))
    if ranges is not None:
        console.print(cost_range_table(ranges))
    if options:
        console.print(optics_table(options))
