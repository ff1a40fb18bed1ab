"""Files at the edges: bounded YAML input, JSON-safe conversion and safe output writes.

Input: :func:`read_yaml_file` / :func:`parse_yaml` read at most ``MAX_YAML_BYTES``, refuse
nesting deeper than ``MAX_YAML_DEPTH`` and documents whose aliases expand past
``MAX_YAML_NODES`` nodes ("billion laughs"), and turn every failure (missing file, directory,
device, not UTF-8, syntax, a bad ``!!tag``) into one :class:`FabricsimError` sentence.

Output: :func:`write_text` replaces a regular file atomically (a crash leaves the old file or
none, never half of one) with the permissions the user's umask gives a new file, and writes
special files (``/dev/stdout``, a pipe) in place.
"""

from __future__ import annotations

import dataclasses
import math
import os
import stat
import tempfile
from pathlib import Path

import yaml

from fabricsim.errors import FabricsimError, shorten

MAX_YAML_BYTES = 4 * 2**20
"""Largest scenario or catalog file read (the whole built-in catalog is under 100 kB)."""

MAX_YAML_DEPTH = 64
"""Deepest nesting of mappings and lists (a scenario needs 4, a catalog entry 5)."""

MAX_YAML_NODES = 200_000
"""Most nodes a document may hold once every alias is expanded (each use of an alias counts)."""


class _YamlLimit(yaml.YAMLError):
    def __init__(self, problem: str, mark=None):
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with a nesting bound and an alias-expansion bound."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _YamlLimit(f"nested deeper than {MAX_YAML_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            _check_expanded_size(node)
        return node


def _check_expanded_size(root) -> None:
    """Count the nodes of the document with every alias expanded (shared nodes counted per use)."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        kids = _children(node)
        if children_done:
            on_path.discard(key)
            size[key] = min(MAX_YAML_NODES + 1, 1 + sum(size[id(k)] for k in kids))
            if size[key] > MAX_YAML_NODES:
                raise _YamlLimit(f"aliases expand the document past {MAX_YAML_NODES:,} values", node.start_mark)
            continue
        if key in size:
            continue
        if key in on_path:
            raise _YamlLimit("an alias refers to a value that contains it (a recursive document)", node.start_mark)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in size)


def _children(node) -> list:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def parse_yaml(text: str, where: str):
    """Parse YAML text within the bounds above; errors name ``where``, the line and the column."""
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise FabricsimError(f"YAML error in {where}{at}: {shorten(problem, 200)}") from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # e.g. `!!float abc`
        raise FabricsimError(f"YAML error in {where}: a tagged value cannot be read ({shorten(str(exc))})") from None


def read_text_bounded(path: str | Path, what: str = "file", limit: int = MAX_YAML_BYTES) -> str:
    """The UTF-8 text of ``path``, at most ``limit`` bytes; every failure is one FabricsimError sentence."""
    shown = shown_path(path)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise FabricsimError(f"{what} {shown} is a directory; give the path of a YAML file")
        if stat.S_ISSOCK(info.st_mode):
            raise FabricsimError(f"{what} {shown} is a socket, not a file")
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except FabricsimError:
        raise
    except FileNotFoundError:
        raise FabricsimError(f"{what} not found: {shown}") from None
    except PermissionError:
        raise FabricsimError(f"cannot read {what} {shown}: permission denied") from None
    except (OSError, ValueError) as exc:  # name too long, a loop of links, an embedded NUL...
        reason = os.strerror(exc.errno) if getattr(exc, "errno", None) else str(exc)
        raise FabricsimError(f"cannot read {what} {shown}: {shorten(reason)}") from None
    if len(data) > limit:
        raise FabricsimError(f"{what} {shown} is larger than {limit // 2**20} MiB; a YAML input is a few kB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FabricsimError(
            f"{what} {shown} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start:,}); "
            f"save it as UTF-8") from None


def read_yaml_file(path: str | Path, what: str = "file"):
    """Read and parse a YAML file within the bounds above."""
    return parse_yaml(read_text_bounded(path, what), shown_path(path))


def shown_path(path: str | Path) -> str:
    """A path as a message shows it: control characters escaped, long ones cut in the middle."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))
    return shorten(text, 160)


def to_jsonable(value):
    """Dataclasses, pydantic models, numpy scalars/arrays -> plain JSON types (inf/nan -> None)."""
    import numpy as np  # here, not at import: the catalog loader imports this module on every start
    from pydantic import BaseModel

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump())
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def check_writable(path: str | Path, what: str = "--html") -> Path:
    """Check, before any work, that ``path`` can be written: a file name (not empty, not a directory)
    whose folder exists or can be made, and in which a file can be created (probed, then removed).
    Special files such as /dev/stdout only need to be writable.  Returns the path."""
    if str(path).strip() in ("", "."):
        raise FabricsimError(f"{what}: empty file name; give a path such as report.html")
    path = Path(path)
    shown = shown_path(path)
    try:
        if path.is_dir():
            raise FabricsimError(f"{what} {shown} is a directory; give a file name such as "
                                 f"{shown_path(path / 'report.html')}")
        if _in_place(path) is not None:
            if path.exists() and not os.access(path, os.W_OK):
                raise FabricsimError(f"{what} {shown}: permission denied")
            if path.exists():
                return path
        if path.exists() and not os.access(path, os.W_OK):
            raise FabricsimError(f"{what} {shown}: the file exists and is read-only")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=".probe", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise FabricsimError(f"{what} {shown}: cannot write there ({reason})") from None
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _in_place(path: Path) -> str | None:
    """How to write ``path`` without replacing it: 'a' for a stream (/dev/stdout, /proc/self/fd/1, a pipe,
    a terminal: never truncated), 'w' through a symbolic link to a file; None for a plain file (atomic)."""
    if str(path).startswith(("/dev/", "/proc/")):
        return "a"
    try:
        if path.exists() and not stat.S_ISREG(path.stat().st_mode):
            return "a"
        if path.is_symlink():
            return "w"
    except OSError:
        return None
    return None


def write_text(path: str | Path, text: str, what: str = "output") -> None:
    """Write ``text`` to ``path``.

    A plain file (or a new one) is written to a temporary file in the same folder and renamed over
    it (atomic: a crash leaves the old file or none, never half of one), with the mode an existing
    file had or, for a new one, the mode the user's umask gives.  A symbolic link, ``/dev/stdout``,
    a pipe or a terminal is written in place, so the link is never replaced by a regular file."""
    path = Path(path)
    mode_in_place = _in_place(path)
    try:
        if mode_in_place is not None:
            with open(path, mode_in_place, encoding="utf-8") as handle:
                handle.write(text)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~_umask()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise FabricsimError(f"cannot write {what} {shown_path(path)}: "
                             f"{os.strerror(exc.errno) if exc.errno else exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise FabricsimError(f"cannot write {what} {shown_path(path)}: "
                                 f"{os.strerror(exc.errno) if exc.errno else exc}") from None
        raise


def write_atomic(path: str | Path, text: str) -> None:
    """Compatibility name of :func:`write_text`."""
    write_text(path, text)


__all__ = ["MAX_YAML_BYTES", "MAX_YAML_DEPTH", "MAX_YAML_NODES", "parse_yaml", "read_yaml_file",
           "read_text_bounded", "to_jsonable", "check_writable", "write_text", "write_atomic"]
