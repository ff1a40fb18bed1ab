"""Run the web application with uvicorn (one server process; simulations in its worker pools)."""

from __future__ import annotations

import os
import sys

from fabricsim.errors import FabricsimError
from fabricsim.web.limits import Limits


def default_workers() -> int:
    """Long-lane worker processes: every core but one (the server and the quick lane share it)."""
    return max(1, (os.cpu_count() or 2) - 1)


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int | None = None,
          limits: Limits | None = None, log_level: str = "warning") -> None:
    """Serve the explorer at ``http://host:port/`` and the API under ``/api`` until Ctrl-C."""
    import uvicorn

    from fabricsim.web.app import create_app

    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise FabricsimError(f"--workers {workers}: at least 1 worker process is needed")
    if not 1 <= port <= 65535:
        raise FabricsimError(f"--port {port}: a TCP port is 1..65535")
    config = uvicorn.Config(create_app(limits, workers), host=host, port=port, log_level=log_level,
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    shown = f"[{host}]" if ":" in host else host
    sys.stderr.write(f"fabricsim explorer on http://{shown}:{port}/  (API docs: /docs; Ctrl-C stops)\n")
    sys.stderr.flush()
    try:
        server.run()
    except (OSError, SystemExit):  # uvicorn exits when it cannot bind (address in use, not this machine's)
        raise FabricsimError(f"--host {host} --port {port}: cannot listen there (in use, or not an address of "
                             "this machine)") from None
