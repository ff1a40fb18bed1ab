"""The interactive explorer and JSON API: ``fabricsim serve``.

    from fabricsim.web import create_app, serve
    serve(host="127.0.0.1", port=8000)      # the page at /, the API at /api/..., its docs at /docs

The API is built on the same public functions and JSON documents as the CLI
(:mod:`fabricsim.report.documents`); simulations run in a worker pool with a result cache
(:mod:`fabricsim.web.jobs`), each request's cost bounded first (:mod:`fabricsim.web.limits`).
"""

from __future__ import annotations


def create_app(*args, **kwargs):
    """The FastAPI application (see :func:`fabricsim.web.app.create_app`)."""
    from fabricsim.web.app import create_app as _create

    return _create(*args, **kwargs)


def serve(*args, **kwargs) -> None:
    """Run the server until interrupted (see :func:`fabricsim.web.server.serve`)."""
    from fabricsim.web.server import serve as _serve

    _serve(*args, **kwargs)


__all__ = ["create_app", "serve"]
