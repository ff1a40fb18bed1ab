"""``fabricsim plan``, ``run``, ``collective`` and ``reliability``: the fabric and its layers."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from fabricsim.cli.common import (
    MAX_SEED,
    MAX_SIZES,
    EvidenceOpt,
    JsonOpt,
    ScenarioArg,
    SetOpt,
    _print_json,
    app,
    console,
    err_console,
    nearest,
    print_evidence,
    user_errors,
)
from fabricsim.errors import FabricsimError
from fabricsim.report.console import working
from fabricsim.units import parse_size_sweep


@app.command()
@user_errors
def plan(
    scenario: Optional[Path] = ScenarioArg,
    set_: list[str] = SetOpt,
    evidence: bool = EvidenceOpt,
    json_out: bool = JsonOpt,
    compare_optics: bool = typer.Option(True, "--compare-optics/--no-compare-optics",
                                        help="also plan the fabric with each optics family"),
    count_only: bool = typer.Option(False, "--count-only", help="do not materialise link arrays"),
    html_out: Optional[Path] = typer.Option(None, "--html", help="write an HTML page of a multi-site or torus plan "
                                            "(fat-trees: fabricsim run --html)"),
) -> None:
    """Bill of materials: switches, ports, optics, cables, power and capex."""
    from fabricsim.plan import compare_optics as compare
    from fabricsim.plan import plan_scenario
    from fabricsim.price_ranges import cost_range
    from fabricsim.report.documents import plan_document
    from fabricsim.report.plan_view import print_plan
    from fabricsim.scenario import load_scenario
    from fabricsim.validation.evidence import document, plan_evidence

    spec = load_scenario(scenario, set_)
    from fabricsim.fabric_kinds import other_plan_document, plan_other, print_other_plan, write_other_plan_html

    if html_out is not None:
        from fabricsim.io import check_writable

        check_writable(html_out, "--html")
    with working(err_console, "plan") as stage:
        other = plan_other(spec)  # several sites, or a torus
        if other is not None:
            if json_out:
                _print_json(other_plan_document(other))
            else:
                print_other_plan(other, console)
            if html_out is not None:
                from fabricsim.io import shown_path

                write_other_plan_html(spec, other, html_out)
                err_console.print(f"report written to {escape(shown_path(html_out))}", highlight=False)
            return
        if html_out is not None:
            raise FabricsimError("plan --html draws multi-site and torus plans; for a fat-tree use fabricsim run --html")
        stage("bill of materials")
        result = plan_scenario(spec, materialise=False if count_only else None)
        stage("optics comparison")
        options = compare(spec) if compare_optics else []
        ranges = cost_range(result, spec)
        found = nearest(evidence, stage, plan_evidence, spec)
    if json_out:
        _print_json({**plan_document(result, options, ranges), **document(found)})
    else:
        print_plan(result, options, console, ranges)
        from fabricsim.fabric_kinds import print_spine_free

        print_spine_free(spec, result, console)  # 3 tiers: the same blocks joined through OCS
        print_evidence(found)


@app.command()
@user_errors
def run(
    scenario: Optional[Path] = ScenarioArg,
    set_: list[str] = SetOpt,
    evidence: bool = EvidenceOpt,
    json_out: bool = JsonOpt,
    html_out: Optional[Path] = typer.Option(None, "--html", help="also write a self-contained HTML report here"),
) -> None:
    """The main job on a scenario (the built-in default if none): plan, cost, collectives, optics choices."""
    from fabricsim.api import run as run_scenario
    from fabricsim.report.documents import run_document
    from fabricsim.report.run_view import print_run
    from fabricsim.validation.evidence import document, run_evidence

    if html_out is not None:
        from fabricsim.io import check_writable

        check_writable(html_out, "--html")
    with working(err_console, "run") as stage:
        result = run_scenario(scenario, set_, stage=stage)
        found = nearest(evidence, stage, run_evidence, result)
    if json_out:
        _print_json({**run_document(result), **document(found)})
    else:
        print_run(result, console)
        print_evidence(found)
    if html_out is not None:
        from fabricsim.io import shown_path
        from fabricsim.report.html import write_html

        write_html(result, html_out, document(found).get("evidence"))
        err_console.print(f"report written to {escape(shown_path(html_out))}", highlight=False)


@app.command()
@user_errors
def collective(
    scenario: Optional[Path] = ScenarioArg,
    set_: list[str] = SetOpt,
    op: str = typer.Option("all_reduce", "--op", help="all_reduce, reduce_scatter, all_gather, broadcast, all_to_all, send_recv"),
    algo: Optional[str] = typer.Option(None, "--algo", help="auto (the library's tuner), ring, tree, nvls, nvls_tree, in_network (SHARP), pat, hierarchical; all_to_all: direct, hierarchical"),
    proto: Optional[str] = typer.Option(None, "--proto", help="force a protocol: ll, ll128, simple (default: the tuner's choice per size)"),
    lb: Optional[str] = typer.Option(None, "--lb", help="ecmp, spray, adaptive (per packet), flowlet (per flow), ideal (default: the transport's)"),
    sizes: str = typer.Option("1MiB:1GiB", "--sizes", help="size sweep start:end (x2 steps), or a comma list"),
    ranks: Optional[int] = typer.Option(None, "--ranks", min=1, help="ranks (default: every GPU)"),
    placement: str = typer.Option("contiguous", "--placement", help="contiguous, random, one-per-node"),
    channels: Optional[int] = typer.Option(None, "--channels", min=1, max=64,
                                           help="rings (default: the library's ring search: one per NIC it can use)"),
    min_channels: Optional[int] = typer.Option(None, "--min-channels", min=1, max=64,
                                               help="channels the kernels run on, at least (NCCL_MIN_NCHANNELS)"),
    cross_rail: bool = typer.Option(False, "--cross-rail", help="rings leave each node from their last GPU (no PXN): hops change rail"),
    in_place: bool = typer.Option(False, "--in-place", help="output buffer holds the input (nccl-tests' in-place "
                                  "columns; default out of place)"),
    gpus_per_thread: int = typer.Option(1, "--gpus-per-thread", min=1,
                                        help="GPUs one host thread drives (nccl-tests -g): it issues their calls in "
                                        "turn, a floor on small messages; default one process per GPU"),
    seed: int = typer.Option(0, "--seed", min=0, max=MAX_SEED, help="seed of ECMP hashing and random placement"),
    fail_links: int = typer.Option(0, "--fail-links", min=0, help="take this many random links down first"),
    fail_tier: int = typer.Option(2, "--fail-tier", min=1, max=3,
                                  help="tier of the failed links: 1 NIC-leaf, 2 leaf-spine, 3 spine-core"),
    method: str = typer.Option("auto", "--method", help="flow (simulate every flow), analytic (alpha-beta, any "
                               "scale) or auto (flow within the flow-level bounds, else analytic with a note)"),
    evidence: bool = EvidenceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Time a collective on the scenario's fabric: nccl-tests-style busbw, delivered vs ideal, busiest links."""
    from fabricsim.api import collective_sweep
    from fabricsim.fabric_kinds import collective_other, print_other_collective
    from fabricsim.report.collective_view import print_collective
    from fabricsim.report.documents import collective_document
    from fabricsim.scenario import load_scenario
    from fabricsim.validation.evidence import collective_evidence, document

    sweep = parse_size_sweep(sizes, MAX_SIZES)
    spec = load_scenario(scenario, set_)
    notes: list[str] = []
    with working(err_console, f"{op} sweep") as stage:
        options = dict(proto=proto, channels=channels, min_channels=min_channels, cross_rail=cross_rail,
                       in_place=in_place, gpus_per_thread=gpus_per_thread)
        other = collective_other(spec, op, algo or "auto", sweep, ranks, method, lb, options,
                                 flag=lambda name: "--" + name.replace("_", "-"))  # a torus, or several sites
        if other is not None:
            if json_out:
                _print_json(collective_document(other))
            else:
                print_other_collective(other, console)
            return
        report, lost = collective_sweep(spec, op, algo or "auto", sweep, ranks, lb, placement, channels, seed,
                                        fail_links, fail_tier, method, proto, cross_rail, stage=stage, notes=notes,
                                        min_channels=min_channels, in_place=in_place,
                                        gpus_per_thread=gpus_per_thread)
        found = nearest(evidence, stage, collective_evidence, spec, op, report.ranks, max(sweep), algo or "auto")
    if json_out:
        _print_json({**collective_document(report, lost), **({"notes": notes} if notes else {}),
                     **document(found)})
        return
    print_collective(report, console)
    if lost:
        console.print("lost capacity: " + ", ".join(f"{k} {v:.2%}" for k, v in lost.items()))
    for note in notes:
        console.print(f"[dim]note: {escape(note)}", highlight=False)
    print_evidence(found)


@app.command()
@user_errors
def reliability(
    scenario: Optional[Path] = ScenarioArg,
    set_: list[str] = SetOpt,
    days: Optional[float] = typer.Option(None, "--days", help="run length (default: reliability.days)"),
    runs: Optional[int] = typer.Option(None, "--runs", min=1, help="Monte Carlo runs (default: reliability.runs)"),
    compare_optics: bool = typer.Option(True, "--compare-optics/--no-compare-optics",
                                        help="also judge DSP/LPO/LRO/CPO/XPO optics by failures, repair, goodput, cost"),
    evidence: bool = EvidenceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Failure rates from the bill of materials, interruption interval, checkpointing and goodput."""
    from rich.progress import Progress

    from fabricsim.commands import reliability_overrides
    from fabricsim.optics_choice import compare_optics_reliability
    from fabricsim.plan import plan_scenario
    from fabricsim.reliability.from_plan import assess
    from fabricsim.report.documents import reliability_document
    from fabricsim.report.reliability_view import class_table, print_optics_reliability
    from fabricsim.scenario import load_scenario
    from fabricsim.validation.evidence import document, reliability_evidence

    spec = load_scenario(scenario, list(set_) + reliability_overrides(days, runs))
    plan_result = plan_scenario(spec, materialise=False)
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("Monte Carlo", total=spec.reliability.runs)
        result = assess(plan_result, spec, progress=lambda done, total: bar.update(task, completed=done, total=total))
    with working(err_console, "optics by reliability") as stage:
        options = compare_optics_reliability(spec) if compare_optics else []
        found = nearest(evidence, stage, reliability_evidence, spec)
    summary = result.monte_carlo.summary()
    capped = result.monte_carlo.capped
    if json_out:
        _print_json({**reliability_document(result, options), **document(found)})
        return
    console.print(class_table(f"{escape(spec.name)}: {spec.reliability.days:g} days, {plan_result.gpus:,} GPUs",
                              result.interruptions_per_hour_by_class, result.stops_job))
    g, n = summary["goodput"], summary["interruptions"]
    console.print(f"interruption every [bold]{result.mtbi_s / 60:,.1f} min[/]; restart {result.policy.restart_s / 60:,.1f} "
                  f"min; checkpoint {result.policy.size_bytes / 1e12:,.2f} TB every "
                  f"{result.policy.interval_for(result.mtbi_s) / 60:,.1f} min")
    console.print(f"goodput [bold]{g['p50']:.1%}[/] median ({g['p5']:.1%}-{g['p95']:.1%}); analytic "
                  f"{result.expected_goodput:.1%}; interruptions per run {n['mean']:,.0f} "
                  f"({n['p5']:,.0f}-{n['p95']:,.0f}); GPU-hours lost {summary['lost_gpu_hours']['p50']:,.0f}")
    if capped:
        console.print(f"[dim]note: {escape(capped)}", highlight=False)
    if options:
        print_optics_reliability(options, console)
    print_evidence(found)
