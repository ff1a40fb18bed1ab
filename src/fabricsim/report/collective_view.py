"""nccl-tests-style table of a collective size sweep."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table

from fabricsim.collectives.api import CollectiveReport
from fabricsim.units import format_bytes


def collective_tables(report: CollectiveReport) -> Group:
    title = (f"{report.op} · {report.algorithm} · {report.ranks:,} ranks on {report.nodes:,} nodes ({report.placement}) · "
             f"{report.load_balancing} on {report.transport} · {report.channels} channels")
    table = Table(title=title, title_justify="left")
    for col in ("size", "algorithm", "proto", "time (us)", "latency (us)", "algbw (GB/s)", "busbw (GB/s)",
                "ideal busbw", "delivered"):
        table.add_column(col, justify="right")
    for r in report.results:
        ideal_busbw = r.busbw_bytes_per_s * r.time_s / r.ideal_time_s if r.ideal_time_s > 0 else 0.0
        table.add_row(format_bytes(r.size_bytes), r.algorithm, r.protocol, f"{r.time_s * 1e6:,.1f}",
                      f"{r.latency_s * 1e6:,.1f}", f"{r.algbw_bytes_per_s / 1e9:,.2f}",
                      f"{r.busbw_bytes_per_s / 1e9:,.2f}", f"{ideal_busbw / 1e9:,.2f}", f"{r.delivered:.1%}")
    links = Table(title="Most loaded links (largest size, rate share at the start)", title_justify="left")
    links.add_column("phase")
    links.add_column("link")
    links.add_column("utilisation", justify="right")
    if report.results:
        for phase in report.results[-1].phases:
            for label, util in phase.busiest_arcs[:3]:
                links.add_row(phase.name, label, f"{util:.1%}")
    bound = [format_bytes(r.size_bytes) for r in report.results if r.copy_bound]
    parts = [table]
    host = [format_bytes(r.size_bytes) for r in report.results if r.host_bound]
    if host:
        parts.append(f"[dim]at {', '.join(host)} the host binds, not the GPUs: one thread issues the call on each of its "
                     f"{report.gpus_per_thread} GPUs in turn (nccl-tests -g {report.gpus_per_thread}; "
                     "fabricsim.collectives.timing.host_issue_s)")
    if bound:
        parts.append(f"[dim]at {', '.join(bound)} the ring's {report.channels} channels bind, each one thread block loading "
                     "and storing every chunk it forwards (NCCL's Simple ring kernels; fabricsim.collectives.ring_copy), "
                     "not the links: the link loads below are the links' own share")
    if not links.row_count:
        return Group(*parts, "[dim]analytic alpha-beta model: no per-link loads (it assumes load-balanced uplinks; "
                     "use --method flow to see ECMP collisions)")
    return Group(*parts, links)


def print_collective(report: CollectiveReport, console: Console | None = None) -> None:
    (console or Console()).print(collective_tables(report))
