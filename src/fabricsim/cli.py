"""The ``fabricsim`` command line: thin wrappers over the Python API.

Bad input prints one clear paragraph and exits with code 2 (never a traceback); Ctrl-C stops
cleanly with exit code 130 (output files are written atomically, so none is left half-written).
Long commands show a progress line on a terminal; piped output is rendered at full width.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from fabricsim.errors import FabricsimError
from fabricsim.report.console import fit_to_output, working

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    help="fabricsim: plan and simulate the networks of AI clusters.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: flags read as flags (rich panels print `--json <bool>`)
)
catalog_app = typer.Typer(help="Browse the hardware and model catalog.", add_completion=False, rich_markup_mode=None)
app.add_typer(catalog_app, name="catalog")

console = Console()
err_console = Console(stderr=True)

ScenarioArg = typer.Argument(None, help="scenario YAML file; omit for the built-in default scenario")
SetOpt = typer.Option([], "--set", metavar="PATH=VALUE", help="override a scenario field: --set fabric.optics=cpo (repeatable)")
JsonOpt = typer.Option(False, "--json", help="print machine-readable JSON instead of tables")

MAX_SIZES = 1024
"""Most message sizes one ``collective`` sweep parses (1 B to 1 PiB in x2 steps is 51; a comma list is cut
off here, and a server may allow fewer)."""

MAX_SEED = 2**63 - 1


def user_errors(func):
    """Turn FabricsimError into a one-paragraph message and exit code 2; Ctrl-C into exit code 130."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        fit_to_output(console)
        try:
            return func(*args, **kwargs)
        except FabricsimError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            err_console.print("interrupted", highlight=False)
            raise typer.Exit(code=130) from None
        except BrokenPipeError:  # `fabricsim ... | head`: the reader left; say nothing more
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(code=0) from None

    return wrapper


def _print_json(data) -> None:
    from fabricsim.io import to_jsonable  # numpy, yaml and pydantic load only when a command needs them

    sys.stdout.write(json.dumps(to_jsonable(data), indent=2) + "\n")


@app.command()
@user_errors
def plan(
    scenario: Optional[Path] = ScenarioArg,
    set_: list[str] = SetOpt,
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

    spec = load_scenario(scenario, set_)
    from fabricsim.fabric_kinds import plan_other

    if html_out is not None:
        from fabricsim.io import check_writable

        check_writable(html_out, "--html")
    with working(err_console, "plan") as stage:
        if plan_other(spec, json_out, console, _print_json, html_out):  # several sites, or a torus
            if html_out is not None:
                from fabricsim.io import shown_path

                err_console.print(f"report written to {escape(shown_path(html_out))}", highlight=False)
            return
        if html_out is not None:
            raise FabricsimError("plan --html draws multi-site and torus plans; for a fat-tree use fabricsim run --html")
        stage("bill of materials")
        result = plan_scenario(spec, materialise=False if count_only else None)
        stage("optics comparison")
        options = compare(spec) if compare_optics else []
        ranges = cost_range(result, spec)
    if json_out:
        _print_json(plan_document(result, options, ranges))
    else:
        print_plan(result, options, console, ranges)
        from fabricsim.fabric_kinds import print_spine_free

        print_spine_free(spec, result, console)  # 3 tiers: the same blocks joined through OCS


@app.command()
@user_errors
def run(
    scenario: Optional[Path] = ScenarioArg,
    set_: list[str] = SetOpt,
    json_out: bool = JsonOpt,
    html_out: Optional[Path] = typer.Option(None, "--html", help="also write a self-contained HTML report here"),
) -> None:
    """The main job on a scenario (the built-in default if none): plan, cost, collectives, optics choices."""
    from fabricsim.api import run as run_scenario
    from fabricsim.report.documents import run_document
    from fabricsim.report.run_view import print_run

    if html_out is not None:
        from fabricsim.io import check_writable

        check_writable(html_out, "--html")
    with working(err_console, "run") as stage:
        result = run_scenario(scenario, set_, stage=stage)
    if json_out:
        _print_json(run_document(result))
    else:
        print_run(result, console)
    if html_out is not None:
        from fabricsim.io import shown_path
        from fabricsim.report.html import write_html

        write_html(result, html_out)
        err_console.print(f"report written to {escape(shown_path(html_out))}", highlight=False)


def _size_sweep(spec: str) -> list[int]:
    """'1MiB:8GiB' -> powers of two from 1 MiB to 8 GiB (nccl-tests -b/-e -f 2); '1GiB' -> one size;
    '1MiB,64MiB' -> a list."""
    from fabricsim.units import parse_bytes

    from fabricsim.errors import echo

    if ":" in spec:
        lo, hi = (parse_bytes(p, "--sizes") for p in spec.split(":", 1))
        if hi < lo:
            raise FabricsimError(f"--sizes {echo(spec)}: the end ({hi:,} B) is below the start ({lo:,} B)")
        sizes, size = [], lo
        while size <= hi and len(sizes) <= MAX_SIZES:
            sizes.append(size)
            size *= 2
    else:
        sizes = [parse_bytes(p, "--sizes") for p in spec.split(",")[: MAX_SIZES + 1]]
    if len(sizes) > MAX_SIZES:
        raise FabricsimError(f"--sizes {echo(spec)}: at most {MAX_SIZES} sizes per sweep")
    return sizes


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
    cross_rail: bool = typer.Option(False, "--cross-rail", help="rings leave each node from their last GPU (no PXN): hops change rail"),
    seed: int = typer.Option(0, "--seed", min=0, max=MAX_SEED, help="seed of ECMP hashing and random placement"),
    fail_links: int = typer.Option(0, "--fail-links", min=0, help="take this many random links down first"),
    fail_tier: int = typer.Option(2, "--fail-tier", min=1, max=3,
                                  help="tier of the failed links: 1 NIC-leaf, 2 leaf-spine, 3 spine-core"),
    method: str = typer.Option("auto", "--method", help="flow (simulate every flow), analytic (alpha-beta, any "
                               "scale) or auto (flow within the flow-level bounds, else analytic with a note)"),
    json_out: bool = JsonOpt,
) -> None:
    """Time a collective on the scenario's fabric: nccl-tests-style busbw, delivered vs ideal, busiest links."""
    from fabricsim.api import collective_sweep
    from fabricsim.report.collective_view import print_collective
    from fabricsim.report.documents import collective_document
    from fabricsim.scenario import load_scenario

    from fabricsim.fabric_kinds import collective_other

    sweep = _size_sweep(sizes)
    spec = load_scenario(scenario, set_)
    notes: list[str] = []
    with working(err_console, f"{op} sweep") as stage:
        if collective_other(spec, op, algo or "auto", sweep, ranks, _other_method(spec, method), json_out,
                            console, _print_json, lb):  # a torus, or several sites
            return
        report, lost = collective_sweep(spec, op, algo or "auto", sweep, ranks, lb, placement, channels, seed,
                                        fail_links, fail_tier, method, proto, cross_rail, stage=stage, notes=notes)
    if json_out:
        _print_json({**collective_document(report, lost), **({"notes": notes} if notes else {})})
        return
    print_collective(report, console)
    if lost:
        console.print("lost capacity: " + ", ".join(f"{k} {v:.2%}" for k, v in lost.items()))
    for note in notes:
        console.print(f"[dim]note: {escape(note)}", highlight=False)


def _other_method(spec, method: str) -> str:
    """Method for a torus or multi-site collective: auto is flow up to the flow-level bound of fat-trees
    (``api.MATERIALISE_LIMIT`` GPUs), analytic above; explicit flow above it is refused."""
    from fabricsim.api import MATERIALISE_LIMIT

    if spec.cluster.gpus <= MATERIALISE_LIMIT:
        return "flow" if method == "auto" else method
    if method == "flow":
        raise FabricsimError(f"--method flow: {spec.cluster.gpus:,} GPUs; flow-level collectives build every link up "
                             f"to {MATERIALISE_LIMIT:,} GPUs; use --method analytic")
    return "analytic" if method == "auto" else method


@app.command()
@user_errors
def reliability(
    scenario: Optional[Path] = ScenarioArg,
    set_: list[str] = SetOpt,
    days: Optional[float] = typer.Option(None, "--days", help="run length (default: reliability.days)"),
    runs: Optional[int] = typer.Option(None, "--runs", min=1, help="Monte Carlo runs (default: reliability.runs)"),
    compare_optics: bool = typer.Option(True, "--compare-optics/--no-compare-optics",
                                        help="also judge DSP/LPO/LRO/CPO/XPO optics by failures, repair, goodput, cost"),
    json_out: bool = JsonOpt,
) -> None:
    """Failure rates from the bill of materials, interruption interval, checkpointing and goodput."""
    from rich.progress import Progress

    from fabricsim.optics_choice import compare_optics_reliability
    from fabricsim.plan import plan_scenario
    from fabricsim.reliability.from_plan import assess
    from fabricsim.report.documents import reliability_document
    from fabricsim.report.reliability_view import class_table, print_optics_reliability
    from fabricsim.scenario import load_scenario

    overrides = list(set_) + ([f"reliability.days={days}"] if days is not None else []) + (
        [f"reliability.runs={runs}"] if runs is not None else [])
    spec = load_scenario(scenario, overrides)
    plan_result = plan_scenario(spec, materialise=False)
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("Monte Carlo", total=spec.reliability.runs)
        result = assess(plan_result, spec, progress=lambda done, total: bar.update(task, completed=done, total=total))
    with working(err_console, "optics by reliability"):
        options = compare_optics_reliability(spec) if compare_optics else []
    summary = result.monte_carlo.summary()
    capped = result.monte_carlo.capped
    if json_out:
        _print_json({**reliability_document(result, options), "monte_carlo_runs": result.monte_carlo.runs,
                     "notes": [capped] * bool(capped)})
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


@catalog_app.command("list")
@user_errors
def catalog_list(
    section: Optional[str] = typer.Argument(None, help="gpus, scale_up, switches, nics, media, models, failures"),
    json_out: bool = JsonOpt,
) -> None:
    """List catalog entries (all sections, or one)."""
    from fabricsim.catalog import default_catalog

    catalog = default_catalog()
    sections = [section] if section else sorted(catalog.sections)
    from fabricsim.report.documents import catalog_document

    entries = catalog_document(catalog, sections)  # an unknown section is named here
    if json_out:
        _print_json(entries)
        return
    for name in sections:
        entries = catalog.sections[name]
        table = Table(title=f"{name} ({len(entries)})", title_justify="left")
        table.add_column("name", style="bold")
        table.add_column("description")
        table.add_column("source")
        for key in sorted(entries):
            entry = entries[key]
            table.add_row(key, entry.description, entry.source)
        console.print(table)


@catalog_app.command("show")
@user_errors
def catalog_show(
    section: str = typer.Argument(..., help="catalog section, e.g. switches"),
    name: str = typer.Argument(..., help="entry name, e.g. tomahawk6"),
    json_out: bool = JsonOpt,
) -> None:
    """Every figure of one entry with its source."""
    from fabricsim.catalog import default_catalog

    entry = default_catalog().get(section, name)
    if json_out:
        _print_json(entry.model_dump())
        return
    table = Table(title=f"{section}/{name}", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_column("source")
    skip = {"name", "source", "sources", "assumptions", "fitted_on"}
    for field, value in entry.model_dump().items():
        if field in skip:
            continue
        table.add_row(field, repr(value) if not isinstance(value, str) else value, entry.source_of(field))
    console.print(table)


@app.command()
@user_errors
def validate(
    layer: Optional[str] = typer.Option(None, "--layer", help="one layer: plan, collectives, reliability, training, ..."),
    case: Optional[str] = typer.Option(None, "--case", help="run one case by id"),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="each case's source, setup, prediction and error"),
    json_out: bool = JsonOpt,
) -> None:
    """Published figures vs fabricsim, per case and per layer; exit 1 if any case misses its tolerance.

    Cases: nccl-tests busbw, reference-architecture counts, the Llama 3 failure census, training tables."""
    from fabricsim.validation.view import validate_command

    with working(err_console, "validation cases"):
        code = validate_command(layer, case, verbose, json_out, console)
    raise typer.Exit(code=code)


@app.command()
@user_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (0.0.0.0: every interface)"),
    port: int = typer.Option(8000, "--port", help="TCP port"),
    workers: Optional[int] = typer.Option(None, "--workers", help="simulation worker processes (default: cores - 1)"),
    max_flow_gpus: Optional[int] = typer.Option(None, "--max-flow-gpus",
                                                help="most GPUs one request simulates flow by flow (default: 65,536)"),
) -> None:
    """The interactive explorer (a web page) and the JSON API (/docs) on http://HOST:PORT/."""
    from fabricsim.web import serve as serve_web
    from fabricsim.web.limits import Limits

    serve_web(host, port, workers, Limits() if max_flow_gpus is None else Limits(flow_gpus=max_flow_gpus))


from fabricsim import cli_explore  # noqa: E402,F401  (registers sweep and sweep-report)
from fabricsim import cli_workload  # noqa: E402,F401  (registers train and infer)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
