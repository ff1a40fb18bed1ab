"""User-facing errors: one clear paragraph naming the field, the value and what is valid.

Every layer raises :class:`FabricsimError` for bad input; the CLI prints its message
and exits with code 2, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError


class FabricsimError(ValueError):
    """Bad input, described for the person who wrote it."""


def read_yaml_file(path: str | Path):
    """Parse a YAML file; syntax errors name the file, line and column."""
    path = Path(path)
    if not path.exists():
        raise FabricsimError(f"file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise FabricsimError(f"YAML syntax error in {path}{where}: {problem}") from None


def format_validation_error(exc: ValidationError, prefix: str = "", where: str = "") -> str:
    """Turn pydantic's error list into sentences: 'field.path=value: problem'."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"] if p != "__root__")
        path = ".".join(p for p in (prefix, loc) if p)
        value = err.get("input")
        if err["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown field (a typo?)")
            continue
        msg = err["msg"].removeprefix("Value error, ")
        shown = f"={value!r}" if value is not None and not isinstance(value, dict) else ""
        lines.append(f"{path}{shown}: {msg}")
    head = f"invalid input in {where}: " if where else "invalid input: "
    return head + "; ".join(lines)
