"""Read-only routes: the catalog (as ``fabricsim catalog``), the scenario schema, the page's choices, health."""

from __future__ import annotations

from fastapi import FastAPI, Request

from fabricsim import __version__
from fabricsim.io import to_jsonable
from fabricsim.report.documents import catalog_document
from fabricsim.scenario import LOAD_BALANCING, OPTICS_FAMILIES, TRANSPORTS, Scenario
from fabricsim.web.limits import Limits


def _catalog():
    from fabricsim.catalog import default_catalog

    return default_catalog()


def options_document(limits: Limits) -> dict:
    """What the explorer's controls offer: catalog names with the figures the page needs, the scenario's
    defaults, the choices of its enumerated fields and this server's limits."""
    catalog = _catalog()
    sections = catalog.sections
    return to_jsonable({
        "version": __version__,
        "defaults": Scenario().model_dump(),
        "gpus": [{"name": n, "description": e.description, "default_scale_up": e.default_scale_up}
                 for n, e in sections["gpus"].items()],
        "scale_up": [{"name": n, "description": e.description, "gpus": e.gpus}
                     for n, e in sections["scale_up"].items()],
        "switches": [{"name": n, "description": e.description, "protocols": list(e.protocols)}
                     for n, e in sections["switches"].items()],
        "models": [{"name": n, "description": e.description} for n, e in sections["models"].items()],
        "optics": list(OPTICS_FAMILIES),
        "transports": list(TRANSPORTS),
        "load_balancing": list(LOAD_BALANCING),
        "limits": limits.as_dict(),
    })


def add_info_routes(app: FastAPI, limits: Limits) -> None:
    options = options_document(limits)
    scenario_schema = Scenario.model_json_schema()

    @app.get("/api/options", tags=["info"])
    async def choices():
        """The explorer's choices: catalog names, defaults, enumerations, limits."""
        return options

    @app.get("/api/schema", tags=["info"])
    async def schema():
        """JSON schema of a scenario (the YAML files' schema)."""
        return scenario_schema

    @app.get("/api/health", tags=["info"])
    async def health(request: Request):
        jobs = request.app.state.jobs
        return {"status": "ok", "version": __version__, "running_or_queued": jobs.pending,
                "cache_hits": jobs.hits, "cache_misses": jobs.misses}

    @app.get("/api/catalog", tags=["catalog"])
    async def catalog_all():
        """`fabricsim catalog list --json`: every section."""
        catalog = _catalog()
        return to_jsonable(catalog_document(catalog, sorted(catalog.sections)))

    @app.get("/api/catalog/{section}", tags=["catalog"])
    async def catalog_section(section: str):
        """`fabricsim catalog list SECTION --json`."""
        return to_jsonable(catalog_document(_catalog(), [section]))

    @app.get("/api/catalog/{section}/{name}", tags=["catalog"])
    async def catalog_entry(section: str, name: str):
        """`fabricsim catalog show SECTION NAME --json`: every figure with its source."""
        return to_jsonable(_catalog().get(section, name).model_dump())
