"""One-screen summary of ``fabricsim run``."""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

from fabricsim.api import RunResult
from fabricsim.report.console import key_value_table
from fabricsim.report.plan_view import optics_table, plan_tables
from fabricsim.units import format_bytes, format_usd, format_watts


def run_tables(result: RunResult) -> Group:
    parts = [plan_tables(result.plan)]
    tco = result.tco
    cost = key_value_table("Cost of ownership")
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
    if result.training is not None:
        parts.append(training_run_table(result))
    rel = result.reliability
    if rel is not None:
        table = key_value_table(f"Reliability of a {rel.days:g}-day run")
        table.add_row("interruption every", f"{rel.mtbi_s / 60:,.1f} min ({86400 / rel.mtbi_s:,.1f} per day)")
        top = sorted(rel.interruptions_per_hour_by_class.items(), key=lambda kv: -kv[1])[:4]
        table.add_row("largest causes", ", ".join(f"{k} {v * 24:.1f}/day" for k, v in top))
        table.add_row("checkpoint", f"{rel.policy.size_bytes / 1e12:,.2f} TB every "
                      f"{rel.policy.interval_for(rel.mtbi_s) / 60:,.1f} min ({rel.policy.blocking_s:,.1f} s pause)")
        if rel.monte_carlo is not None:
            g = rel.monte_carlo.summary()["goodput"]
            lost = rel.monte_carlo.summary()["lost_gpu_hours"]["p50"]
            table.add_row("goodput (effective training time)",
                          f"{g['p50']:.1%} median, {g['p5']:.1%}-{g['p95']:.1%} (p5-p95 of {rel.monte_carlo.runs:,} runs)")
            table.add_row("GPU-hours lost", f"{lost:,.0f} median")
        parts.append(table)
    parts.append(optics_table(result.optics, result.optics_failures))
    for note in result.notes:
        parts.append(f"[dim]note: {escape(note)}")
    return Group(*parts)


def training_run_table(result: RunResult) -> Table:
    step = result.training
    software = f", software {step.software}" if step.software else ""
    table = key_value_table(f"Training step: {step.model}, TP {step.parallelism.tp} x CP {step.parallelism.cp} x "
                            f"PP {step.parallelism.pp} x DP {step.parallelism.dp}{software} (`fabricsim train` for details)")
    table.add_row("step time", f"{step.step_time_s:,.2f} s, {step.tokens_per_s:,.0f} tokens/s, "
                  f"{step.model_flops_per_s_per_gpu / 1e12:,.0f} TFLOP/s per GPU, MFU {step.mfu:.1%}")
    top = sorted(((v, k) for k, v in step.breakdown_s.items() if v > 0), reverse=True)[:4]
    table.add_row("where it goes", ", ".join(f"{k} {v / step.step_time_s:.0%}" for v, k in top))
    if result.step_time_by_load_balancing:
        table.add_row("step by load balancing", ", ".join(
            f"{k} {v:,.2f} s" for k, v in result.step_time_by_load_balancing.items()))
    tax = result.bandwidth_tax
    if tax is not None:
        table.add_row("bandwidth tax (ECMP vs spraying)", f"{tax.wasted_share:.1%} of GPU time = "
                      f"{format_usd(tax.usd_per_year)} per year")
    if result.usd_per_million_tokens is not None:
        after = ""
        if result.reliability is not None and result.reliability.expected_goodput > 0:
            after = f", ${result.usd_per_million_tokens / result.reliability.expected_goodput:,.2f} after " \
                    f"{result.reliability.expected_goodput:.1%} goodput"
        table.add_row("cost per million tokens trained", f"${result.usd_per_million_tokens:,.2f} at full speed{after}")
        ranges = result.cost_range
        if ranges is not None and ranges.usd_per_million_tokens:
            low, _, high = ranges.usd_per_million_tokens
            drivers = ", ".join(d.label for d in ranges.tornado[:5])
            table.add_row("  with price ranges", f"${low:,.2f} - ${high:,.2f} after goodput; capex "
                          f"{format_usd(ranges.capex_usd[0])} - {format_usd(ranges.capex_usd[2])}, network "
                          f"{ranges.scale_out_capex_share[0]:.0%}-{ranges.scale_out_capex_share[2]:.0%} of it; "
                          f"top drivers: {drivers}")
    return table


def print_run(result: RunResult, console: Console | None = None) -> None:
    (console or Console()).print(run_tables(result))
