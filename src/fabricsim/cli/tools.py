"""``fabricsim validate`` and ``fabricsim serve``."""

from __future__ import annotations

from typing import Optional

import typer

from fabricsim.cli.common import (
    JsonOpt,
    app,
    console,
    err_console,
    user_errors,
)
from fabricsim.report.console import working


@app.command()
@user_errors
def validate(
    layer: Optional[str] = typer.Option(None, "--layer", help="one layer: plan, collectives, reliability, training, ..."),
    case: Optional[str] = typer.Option(None, "--case", help="run one case by id"),
    match: Optional[str] = typer.Option(None, "--match", help="run the cases whose ids match a shell pattern, e.g. "
                                        "'mlperf51-*' or '*-gb300-*'"),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="each case's source, setup, prediction and error"),
    attribute: bool = typer.Option(False, "--attribute", help="training cases: each one's missing time per "
                                   "micro-batch against the parts of fabricsim's step (static serving cases, when no "
                                   "training case is selected: the run's prefills, decode kernels, KV reads and "
                                   "communication), and which part the misses keep a steady ratio to (where to look "
                                   "for the missing mechanism)"),
    json_out: bool = JsonOpt,
) -> None:
    """Published figures vs fabricsim, per case and per layer; exit 1 if any case misses its tolerance.

    Cases: nccl-tests busbw, reference-architecture counts, the Llama 3 failure census, training tables."""
    from fabricsim.validation.view import attribution_command, validate_command

    with working(err_console, "validation cases"):
        if attribute:
            code = attribution_command(layer, case, match, json_out, console)
        else:
            code = validate_command(layer, case, verbose, json_out, console, match)
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
