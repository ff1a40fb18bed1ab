"""User-facing errors: one clear paragraph naming the field, the value and what is valid.

Every layer raises :class:`FabricsimError` for bad input; the CLI prints its message
and exits with code 2, never a traceback.  Values echoed back are shortened (:func:`shorten`)
so a message stays a paragraph whatever the input held.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic is imported only where validation runs (keeps `fabricsim --help` fast)
    from pydantic import ValidationError

MAX_ECHO = 80
"""Longest piece of user input echoed in a message (characters)."""

MAX_ERRORS_LISTED = 6
"""Validation problems listed in one message; the rest are counted."""


class FabricsimError(ValueError):
    """Bad input, described for the person who wrote it."""


def shorten(text: str, limit: int = MAX_ECHO) -> str:
    """``text`` cut in the middle to at most ``limit`` characters (marked with '...')."""
    text = str(text)
    if len(text) <= limit:
        return text
    keep = max(limit - 3, 2)
    return text[: keep - keep // 3] + "..." + text[len(text) - keep // 3:]


def echo(value) -> str:
    """A short repr of a user value for a message."""
    try:
        shown = repr(value)
    except Exception:  # a value whose repr fails still gets a message
        shown = f"<{type(value).__name__}>"
    return shorten(shown)


def read_yaml_file(path: str | Path, what: str = "file"):
    """Parse a YAML file within fabricsim's bounds (see :mod:`fabricsim.io`)."""
    from fabricsim.io import read_yaml_file as read

    return read(path, what)


def format_validation_error(exc: ValidationError, prefix: str = "", where: str = "") -> str:
    """Turn pydantic's error list into sentences: 'field.path=value: problem'."""
    lines = []
    errors = sorted(exc.errors(), key=lambda e: e["type"] == "missing")  # wrong values first, then omissions
    for err in errors[:MAX_ERRORS_LISTED]:
        loc = ".".join(shorten(str(p), 40) for p in err["loc"] if p != "__root__")
        path = ".".join(p for p in (prefix, loc) if p)
        value = err.get("input")
        if err["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown field (a typo?)")
            continue
        msg = shorten(err["msg"].removeprefix("Value error, "), 400)
        if msg.startswith(f"{loc}=") or msg.startswith(f"{path}="):  # the message already names field and value
            lines.append(msg if msg.startswith(path) else f"{prefix}.{msg}")
            continue
        shown = f"={echo(value)}" if value is not None and not isinstance(value, dict) else ""
        lines.append(f"{path}{shown}: {msg}")
    if len(errors) > MAX_ERRORS_LISTED:
        lines.append(f"and {len(errors) - MAX_ERRORS_LISTED} more")
    head = f"invalid input in {shorten(where, 300)}: " if where else "invalid input: "
    return head + "; ".join(lines)
