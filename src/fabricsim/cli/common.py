"""What every ``fabricsim`` command shares: the Typer app, consoles, common options, error handling.

Bad input prints one clear paragraph and exits with code 2 (never a traceback); Ctrl-C stops
cleanly with exit code 130 (output files are written atomically, so none is left half-written).
Long commands show a progress line on a terminal; piped output is rendered at full width.
"""

from __future__ import annotations

import functools
import json
import os
import sys

import typer
from rich.console import Console
from rich.markup import escape

from fabricsim.errors import FabricsimError
from fabricsim.report.console import fit_to_output

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
EvidenceOpt = typer.Option(True, "--evidence/--no-evidence",
                           help="also re-run the published measurements nearest this run (fabricsim validate's cases) "
                                "and show fabricsim's error on them")

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


def nearest(wanted: bool, stage, find, *args):
    """The published measurements ``find(*args)`` picks (fabricsim.validation.evidence), or None when ``--no-evidence``;
    ``stage`` names the work in progress."""
    if not wanted:
        return None
    stage("published measurements nearest this run")
    return find(*args)


def print_evidence(evidence) -> None:
    """The nearest published measurements under a command's tables (nothing when they were not asked for)."""
    if evidence is not None:
        from fabricsim.validation.view import evidence_table

        console.print(evidence_table(evidence))


def _print_json(data) -> None:
    from fabricsim.io import (
        to_jsonable,  # numpy, yaml and pydantic load only when a command needs them
    )

    sys.stdout.write(json.dumps(to_jsonable(data), indent=2) + "\n")
