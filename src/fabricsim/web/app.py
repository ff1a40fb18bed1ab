"""The FastAPI application: the JSON API (``/api/...``, documented at ``/docs``) and the explorer page (``/``).

Every POST body is a scenario plus a CLI command's options (:mod:`fabricsim.web.requests`); the
answer is that command's ``--json`` document.  Bad input is HTTP 422 ``{"error": message}`` with the
message the CLI prints; a request over a cost limit is 422 with ``"limit"`` naming it; a full queue is 503.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

import yaml
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from fabricsim import __version__
from fabricsim.commands import reliability_overrides
from fabricsim.errors import FabricsimError, format_validation_error
from fabricsim.web import bounds, work
from fabricsim.web.jobs import Busy, Disconnected, Jobs, request_key
from fabricsim.web.limits import LimitError, Limits
from fabricsim.web.requests import (
    CollectiveBody,
    InferBody,
    PlanBody,
    ReliabilityBody,
    RunBody,
    TrainBody,
    YamlBody,
    validated,
)

STATIC = Path(__file__).parent / "static"


def plotly_js() -> Path:
    """plotly.js as shipped inside the installed plotly package (the page works offline)."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


class _Errors:
    """FastAPI's validation errors in the shape :func:`format_validation_error` reads."""

    def __init__(self, errors):
        self._errors = [{**e, "loc": tuple(p for p in e["loc"] if p != "body")} for e in errors]

    def errors(self):
        return self._errors


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` is refused with 413 (or the read is ended)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            response = JSONResponse({"error": f"request body of {int(length):,} bytes is over this server's limit "
                                     f"of {self.max_bytes:,} bytes (limit body_bytes)", "limit": "body_bytes"}, 413)
            return await response(scope, receive, send)
        received = 0

        async def limited():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return {"type": "http.disconnect"} if received > self.max_bytes else message

        return await self.app(scope, limited, send)


def create_app(limits: Limits | None = None, workers: int = 1) -> FastAPI:
    """The application; its worker pools start and stop with it (``workers``: long-lane processes)."""
    limits = limits or Limits()
    jobs = Jobs(workers=workers, queued_jobs=limits.queued_jobs)

    @asynccontextmanager
    async def lifespan(app):
        jobs.start()
        try:
            yield
        finally:
            jobs.stop()

    app = FastAPI(title="fabricsim", version=__version__, lifespan=lifespan,
                  description="Plan and simulate the networks of AI clusters. Bodies are scenarios (the YAML "
                  "schema as JSON, GET /api/schema) plus the CLI command's options; answers are the CLI's --json.")
    app.state.jobs, app.state.limits = jobs, limits
    app.add_middleware(BodyLimit, max_bytes=limits.body_bytes)

    @app.exception_handler(FabricsimError)
    async def _bad_input(request: Request, exc: FabricsimError):
        extra = {"limit": exc.limit} if isinstance(exc, LimitError) else {}
        return JSONResponse({"error": str(exc), **extra}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _bad_body(request: Request, exc: RequestValidationError):
        return JSONResponse({"error": format_validation_error(_Errors(exc.errors()), where="the request body")},
                            status_code=422)

    @app.exception_handler(Busy)
    async def _busy(request: Request, exc: Busy):
        return JSONResponse({"error": str(exc), "limit": "queued_jobs"}, status_code=503,
                            headers={"Retry-After": "5"})

    @app.exception_handler(Disconnected)
    async def _gone(request: Request, exc: Disconnected):
        return Response(status_code=499)

    async def answer(request: Request, endpoint: str, lane: str, fn, *args) -> JSONResponse:
        doc, how = await jobs.submit(request_key(endpoint, *args), lane, fn, *args,
                                     disconnected=request.is_disconnected)
        return JSONResponse(doc, headers={"X-Fabricsim-Cache": how})

    @app.post("/api/plan", tags=["simulate"])
    async def plan(body: PlanBody, request: Request):
        """`fabricsim plan --json`: bill of materials, power, capex, optics families side by side."""
        data, _ = validated(body)
        return await answer(request, "plan", "quick", work.plan, data, body.compare_optics, body.count_only,
                            body.evidence)

    @app.post("/api/run", tags=["simulate"])
    async def run(body: RunBody, request: Request):
        """`fabricsim run --json`: plan, cost, collectives, training step, bandwidth tax, reliability."""
        data, scenario = validated(body)
        data, notes = bounds.run(scenario, data, limits)
        return await answer(request, "run", "long", work.run, data, limits.flow_gpus, notes, body.evidence)

    @app.post("/api/collective", tags=["simulate"])
    async def collective(body: CollectiveBody, request: Request):
        """`fabricsim collective --json`: an nccl-tests-style sweep timed on the fabric."""
        data, scenario = validated(body)
        sizes = bounds.collective(scenario, limits, body.sizes, body.method, body.fail_links, body.op, body.ranks)
        return await answer(request, "collective", "long", work.collective, data, sizes, body.options())

    @app.post("/api/train", tags=["simulate"])
    async def train(body: TrainBody, request: Request):
        """`fabricsim train --json`: one training step, its breakdown, tokens/s and MFU."""
        data, scenario = validated(body)
        overrides, notes = bounds.train(scenario, limits, body.overrides())
        return await answer(request, "train", "long", work.train, data, overrides, body.what_if, notes,
                            body.evidence)

    @app.post("/api/infer", tags=["simulate"])
    async def infer(body: InferBody, request: Request):
        """`fabricsim infer --json`: disaggregated serving, TTFT, TPOT, tokens/s per GPU."""
        data, scenario = validated(body)
        bounds.infer(scenario, limits, body.overrides())
        return await answer(request, "infer", "long", work.infer, data, body.overrides(), body.evidence)

    @app.post("/api/reliability", tags=["simulate"])
    async def reliability(body: ReliabilityBody, request: Request):
        """`fabricsim reliability --json`: interruption interval, checkpointing, Monte Carlo goodput."""
        body = body.model_copy(update={"set": list(body.set) + reliability_overrides(body.days, body.runs)})
        data, scenario = validated(body)
        data, notes = bounds.reliability(scenario, data, limits)
        return await answer(request, "reliability", "long", work.reliability, data, body.compare_optics, notes,
                            body.evidence)

    @app.post("/api/yaml", tags=["scenario"])
    async def scenario_yaml(body: YamlBody):
        """The scenario as a YAML file that `fabricsim run` reads."""
        data, scenario = validated(body)
        text = f"# {scenario.name}\n# fabricsim run this-file.yaml\n" + yaml.safe_dump(data, sort_keys=False)
        return Response(text, media_type="application/x-yaml",
                        headers={"Content-Disposition": 'attachment; filename="fabricsim-scenario.yaml"'})

    from fabricsim.web.info import add_info_routes

    add_info_routes(app, limits)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    async def plotly():
        return FileResponse(plotly_js(), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
