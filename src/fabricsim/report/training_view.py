"""Tables for ``fabricsim train``: headline figures, step-time breakdown, collectives, memory."""

from __future__ import annotations

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from fabricsim.units import format_bytes


def training_summary(result) -> Table:
    par = result.parallelism
    table = Table(title=f"Training step: {result.model} on {result.gpus:,} GPUs", title_justify="left",
                  show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("parallelism", f"TP {par.tp} x CP {par.cp} x PP {par.pp} x DP {par.dp}"
                  + (f", EP {par.ep}" if par.ep > 1 else "")
                  + (f", {par.virtual_stages} virtual stages" if par.virtual_stages > 1 else "")
                  + f", ZeRO-{par.zero}, recompute {result.recompute}")
    table.add_row("batch", f"{result.tokens_per_step:,} tokens per step, {result.micro_batches} micro-batches "
                  f"per pipeline")
    table.add_row("step time", f"{result.step_time_s:,.2f} s")
    table.add_row("throughput", f"{result.tokens_per_s:,.0f} tokens/s")
    table.add_row("model TFLOP/s per GPU", f"{result.model_flops_per_s_per_gpu / 1e12:,.0f}")
    table.add_row("MFU", f"{result.mfu:.1%} of {result.peak_flops_per_gpu / 1e12:,.0f} TFLOP/s dense BF16")
    table.add_row("communication", f"{result.communication} ({result.load_balancing})")
    return table


def breakdown_table(result) -> Table:
    table = Table(title="Where the step time goes", title_justify="left")
    table.add_column("part")
    table.add_column("seconds", justify="right")
    table.add_column("share", justify="right")
    for part, seconds in result.breakdown_s.items():
        if seconds > 0 or part == "compute":
            table.add_row(part, f"{seconds:,.3f}", f"{seconds / result.step_time_s:.1%}")
    table.add_row("[bold]step", f"[bold]{result.step_time_s:,.3f}", "100%")
    return table


def calls_table(result) -> Table:
    table = Table(title="Collectives of one step (timed on the fabric, all groups at once)", title_justify="left")
    for col in ("collective", "groups x ranks", "size", "calls", "ms each", "busbw GB/s", "delivered"):
        table.add_column(col, justify="left" if col == "collective" else "right")
    for call in result.calls:
        t = call.timing
        calls = call.per_micro_batch * result.micro_batches + call.per_step
        table.add_row(f"{call.kind.upper()} {call.what}, {t.algorithm}", f"{t.groups:,} x {t.ranks}",
                      format_bytes(call.size_bytes), f"{calls:,.0f}", f"{t.time_s * 1e3:,.2f}",
                      f"{t.busbw_bytes_per_s / 1e9:,.1f}", f"{t.delivered:.0%}")
    return table


def memory_table(result) -> Table:
    table = Table(title="Memory per GPU, first pipeline stage", title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("bytes", justify="right")
    for part, value in result.memory.as_dict().items():
        if value:
            table.add_row(part, format_bytes(value))
    return table


def training_tables(result, what_ifs=None) -> Group:
    parts = [training_summary(result), breakdown_table(result), calls_table(result), memory_table(result)]
    if what_ifs:
        parts.append(what_if_table(result, what_ifs))
    parts += [f"[dim]note: {escape(note)}" for note in result.notes]
    return Group(*parts)


def what_if_table(base, what_ifs) -> Table:
    table = Table(title="Fabric what-ifs (only the fabric changes)", title_justify="left")
    for col in ("change", "step (s)", "vs base", "MFU", "what moved"):
        table.add_column(col, justify="left" if col in ("change", "what moved") else "right")
    for row in what_ifs:
        if row.get("error"):
            table.add_row(row["change"], "-", "-", "-", escape(row["error"]))
            continue
        table.add_row(row["change"], f"{row['step_time_s']:,.2f}", f"{row['step_time_s'] / base.step_time_s - 1:+.1%}",
                      f"{row['mfu']:.1%}", row["explanation"])
    return table
