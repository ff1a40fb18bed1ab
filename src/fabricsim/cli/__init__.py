"""The ``fabricsim`` command line: thin wrappers over the Python API, one module per command group.

``common`` holds the app and what every command shares; importing the group modules registers their
commands, in the order ``--help`` lists them.
"""

from fabricsim.cli.common import app

# isort: off
from fabricsim.cli import fabric  # noqa: E402,F401  plan, run, collective, reliability
from fabricsim.cli import workload  # noqa: E402,F401  train, infer
from fabricsim.cli import explore  # noqa: E402,F401  sweep, sweep-report
from fabricsim.cli import tools  # noqa: E402,F401  validate, serve
from fabricsim.cli import catalog  # noqa: E402,F401  catalog list, catalog show
# isort: on

__all__ = ["app", "main"]


def main() -> None:
    app()
