"""The ``fabricsim`` command line: thin wrappers over the Python API.

Bad input prints one clear paragraph and exits with code 2 (never a traceback).
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from fabricsim.errors import FabricsimError
from fabricsim.io import to_jsonable

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    help="fabricsim: plan and simulate the networks of AI clusters.",
    pretty_exceptions_enable=False,
)
catalog_app = typer.Typer(help="Browse the hardware and model catalog.", add_completion=False)
app.add_typer(catalog_app, name="catalog")

console = Console()
err_console = Console(stderr=True)

ScenarioArg = typer.Argument(None, help="scenario YAML file; omit for the built-in default scenario")
SetOpt = typer.Option([], "--set", help="override a scenario field: --set fabric.optics=cpo (repeatable)")
JsonOpt = typer.Option(False, "--json", help="print machine-readable JSON instead of tables")


def user_errors(func):
    """Turn FabricsimError into a one-paragraph message and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except FabricsimError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper


def _print_json(data) -> None:
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
) -> None:
    """Bill of materials: switches, ports, optics, cables, power and capex."""
    from fabricsim.plan import compare_optics as compare
    from fabricsim.plan import plan_scenario
    from fabricsim.report.plan_view import print_plan
    from fabricsim.scenario import load_scenario

    spec = load_scenario(scenario, set_)
    result = plan_scenario(spec, materialise=False if count_only else None)
    options = compare(spec) if compare_optics else []
    if json_out:
        _print_json({"plan": result.to_dict(), "optics_options": options})
    else:
        print_plan(result, options, console)


@app.command()
@user_errors
def run(
    scenario: Optional[Path] = ScenarioArg,
    set_: list[str] = SetOpt,
    json_out: bool = JsonOpt,
) -> None:
    """The main job on a scenario (the built-in default if none): plan of the fabric, with optics choices."""
    plan(scenario=scenario, set_=set_, json_out=json_out, compare_optics=True, count_only=False)


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
    if section and section not in catalog.sections:
        raise FabricsimError(f"unknown catalog section {section!r}; valid sections: {', '.join(sorted(catalog.sections))}")
    if json_out:
        _print_json({s: {n: e.model_dump() for n, e in catalog.sections[s].items()} for s in sections})
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
    skip = {"name", "source", "sources", "assumptions"}
    for field, value in entry.model_dump().items():
        if field in skip:
            continue
        table.add_row(field, repr(value) if not isinstance(value, str) else value, entry.source_of(field))
    console.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
