"""Tables for ``fabricsim train``: headline figures, step-time breakdown, collectives, memory."""

from __future__ import annotations

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from fabricsim.report.console import key_value_table
from fabricsim.units import format_bytes


def training_summary(result) -> Table:
    par = result.parallelism
    table = key_value_table(f"Training step: {result.model} on {result.gpus:,} GPUs")
    recompute = result.recompute + (f" ({result.memory.recompute_layers} layers per stage)"
                                    if result.memory.recompute_layers else "")
    table.add_row("parallelism", f"TP {par.tp} x CP {par.cp} x PP {par.pp} x DP {par.dp}"
                  + (f", EP {par.ep}" + (f" (expert TP {par.etp})" if par.etp > 1 else "") if par.ep > 1 else "")
                  + (f", {par.virtual_stages} virtual stages" if par.virtual_stages > 1 else "")
                  + (", DualPipe" if result.schedule == "dualpipe" else "")
                  + f", ZeRO-{par.zero}"
                  + (f" (hybrid: shards over {par.dp_shard} DP ranks, {par.dp // par.dp_shard} replicas)" if par.hybrid else "")
                  + f", recompute {recompute}")
    if result.layout is not None and result.layout.stages > 1:
        layers = result.layout.layers
        table.add_row("pipeline stages", f"{layers[0]} layers first, {layers[-1]} last, "
                      f"{min(layers[1:-1], default=layers[0])}-{max(layers[1:-1], default=layers[0])} between")
    if result.software:
        table.add_row("software", result.software)
    table.add_row("batch", f"{result.tokens_per_step:,} tokens per step, {result.micro_batches} micro-batches "
                  f"per pipeline")
    table.add_row("step time", f"{result.step_time_s:,.2f} s")
    table.add_row("throughput", f"{result.tokens_per_s:,.0f} tokens/s")
    table.add_row("model TFLOP/s per GPU", f"{result.model_flops_per_s_per_gpu / 1e12:,.0f}")
    table.add_row("MFU", f"{result.mfu:.1%} of {result.peak_flops_per_gpu / 1e12:,.0f} TFLOP/s dense BF16")
    table.add_row("communication", f"{result.communication} ({result.load_balancing})")
    return table


def _unit(result) -> str:
    """What the per-micro-batch tables count: one micro-batch, or under DualPipe one pair of them."""
    return "one pair of micro-batches" if result.schedule == "dualpipe" else "one micro-batch"


def _where(result) -> str:
    return "rank (its two DualPipe stages)" if result.schedule == "dualpipe" else "stage"


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
        calls = call.per_micro_batch * result.pipeline_units + call.per_step
        table.add_row(f"{call.kind.upper()} {call.what}, {t.algorithm}", f"{t.groups:,} x {t.ranks}",
                      format_bytes(call.size_bytes), f"{calls:,.0f}", f"{t.time_s * 1e3:,.2f}",
                      f"{t.busbw_bytes_per_s / 1e9:,.1f}", f"{t.delivered:.0%}")
    return table


def compute_table(result) -> Table:
    """One micro-batch on the busiest stage, by kind of work (seconds and share)."""
    stage = result.stage
    table = Table(title=f"{_unit(result).capitalize()} on the busiest {_where(result)}", title_justify="left")
    table.add_column("work")
    table.add_column("ms", justify="right")
    table.add_column("share", justify="right")
    attention = "attention"
    if stage.attention_s > 0 and stage.attention_flops > 0:
        rate = stage.attention_flops / stage.attention_s / result.peak_flops_per_gpu
        attention = f"attention ({rate:.0%} of dense BF16 peak)"
    rows = [("GEMMs", stage.gemm_s), (attention, stage.attention_s),
            ("memory-bound kernels (norms, activations, casts)", stage.memory_s),
            ("kernel launch gaps", stage.launch_s), ("waiting for the host (CPU-bound)", stage.host_bound_s),
            ("recomputation (extra forward)", stage.recompute_s)]
    total = stage.total_s
    for name, seconds in rows:
        if seconds > 0:
            table.add_row(name, f"{seconds * 1e3:,.2f}", f"{seconds / total:.1%}")
    table.add_row("[bold]forward + backward", f"[bold]{total * 1e3:,.2f}", "100%")
    return table


def gemm_table(result) -> Table:
    """Every GEMM of the busiest stage: shape, time per micro-batch and the share of peak it reaches."""
    table = Table(title=f"GEMMs of {_unit(result)} on the busiest {_where(result)} (forward GEMM shape; backward runs two more)",
                  title_justify="left")
    for col in ("GEMM", "M x N x K", "ms (fwd+bwd)", "of peak"):
        table.add_column(col, justify="left" if col == "GEMM" else "right")
    for gemm, seconds, share in sorted(result.stage.gemms, key=lambda row: -row[1]):
        batch = f" x {gemm.batch:g}" if gemm.batch > 1 else ""
        table.add_row(gemm.name, f"{gemm.m:,.0f} x {gemm.n:,.0f} x {gemm.k:,.0f}{batch}", f"{seconds * 1e3:,.2f}",
                      f"{share:.0%}")
    return table


def exposure_table(result) -> Table:
    """Communication per micro-batch by kind: exposed (the step waits) and hidden behind compute."""
    table = Table(title=f"Communication per {_unit(result).removeprefix('one ')}: exposed vs hidden", title_justify="left")
    for col in ("kind", "exposed ms", "hidden ms"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    exposure = result.exposure
    for kind, seconds in exposure.per_micro.items():
        hidden = exposure.hidden_per_micro.get(kind, 0.0)
        if seconds > 0 or hidden > 0:
            table.add_row(kind.upper(), f"{seconds * 1e3:,.2f}", f"{hidden * 1e3:,.2f}")
    if exposure.dp_per_step:
        table.add_row("DP (once per step)", f"{exposure.dp_per_step * 1e3:,.2f}", "")
    if exposure.slowdown_per_micro:
        table.add_row("compute lost to comm kernels' SMs", f"{exposure.slowdown_per_micro * 1e3:,.2f}", "")
    return table


def memory_table(result) -> Table:
    where = f"pipeline stage {result.memory.stage}" if result.parallelism.pp > 1 else "one GPU"
    table = Table(title=f"Memory per GPU, busiest ({where})", title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("bytes", justify="right")
    for part, value in result.memory.as_dict().items():
        if value:
            table.add_row(part, format_bytes(value))
    return table


def training_tables(result, what_ifs=None) -> Group:
    parts = [training_summary(result), breakdown_table(result)]
    if result.stage is not None:
        parts += [compute_table(result), gemm_table(result)]
    if result.exposure is not None:
        parts.append(exposure_table(result))
    parts += [calls_table(result), memory_table(result)]
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
