"""Load the built-in catalog and user catalog files that extend or override it.

A catalog file is YAML with one top-level key per section (``gpus``, ``switches``,
``nics``, ``media``, ``scale_up``, ``models``...), each mapping entry names to
their fields::

    switches:
      my-switch:
        asic: ...
        source: "vendor datasheet, 2026"

A user file may add new entries or override built-in ones (an override replaces the
whole entry, so it must be complete; it is marked ``overridden`` in listings).  An entry of a
section that allows it may instead extend an entry defined before it and list only what differs
(``extends: <name>``, :mod:`fabricsim.catalog.inherit`).
"""

from __future__ import annotations

import difflib
import functools
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable

from pydantic import ValidationError

from fabricsim.catalog.inherit import resolve
from fabricsim.catalog.kinds import KINDS
from fabricsim.catalog.schema import Entry
from fabricsim.errors import FabricsimError, echo, format_validation_error, shorten
from fabricsim.io import parse_yaml, read_yaml_file, shown_path


@dataclass(frozen=True)
class Catalog:
    """All catalog entries by section and name; ``origin`` tells which file each came from."""

    sections: dict[str, dict[str, Entry]]
    origin: dict[tuple[str, str], str] = field(default_factory=dict)

    def get(self, section: str, name: str) -> Entry:
        """One entry; an unknown name raises an error that suggests the closest names."""
        if section not in self.sections:
            raise FabricsimError(
                f"unknown catalog section {section!r}; valid sections: {', '.join(sorted(self.sections))}"
            )
        entries = self.sections[section]
        if name not in entries:
            raise FabricsimError(unknown_name_message(section, name, entries))
        return entries[name]

    def names(self, section: str) -> list[str]:
        return sorted(self.sections.get(section, {}))

    def gpu(self, name: str):
        return self.get("gpus", name)

    def switch(self, name: str):
        return self.get("switches", name)

    def nic(self, name: str):
        return self.get("nics", name)

    def medium(self, name: str):
        return self.get("media", name)

    def scale_up(self, name: str):
        return self.get("scale_up", name)


def unknown_name_message(section: str, name: str, valid: Iterable[str]) -> str:
    valid = sorted(valid)
    close = difflib.get_close_matches(str(name)[:100], valid, n=3, cutoff=0.4)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    listed = ", ".join(valid[:40]) + (f" and {len(valid) - 40} more" if len(valid) > 40 else "")
    return (
        f"unknown {section} name {echo(name)}.{hint} Valid names: {listed}. "
        f"(`fabricsim catalog list {section}` shows them with their figures.)"
    )


MAX_CATALOG_FILES = 32


@functools.lru_cache(maxsize=1)
def _builtin_sections() -> tuple[tuple[str, dict], ...]:
    """The built-in data files, parsed once per process (with libyaml's C parser where present: these
    files ship with fabricsim, so the bounded parser user files go through is not needed)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = resources.files("fabricsim.catalog").joinpath("data")
    out = []
    for item in sorted(data.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".yaml"):
            label = f"built-in {item.name}"
            out.append((label, _check_sections(label, yaml.load(item.read_text(encoding="utf-8"), Loader=loader))))
    return tuple(out)


def _check_sections(label: str, raw) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise FabricsimError(f"catalog file {label}: expected a mapping of sections, got {type(raw).__name__}")
    for section in raw:
        if section not in KINDS:
            raise FabricsimError(
                f"catalog file {label}: unknown section {echo(section)}; valid sections: {', '.join(sorted(KINDS))}"
            )
    return raw


def _parse_sections(label: str, text: str, path: Path | None = None) -> dict:
    raw = read_yaml_file(path, "catalog file") if path is not None else parse_yaml(text, label)
    return _check_sections(label, raw)


def _entry(schema, section: str, name, fields, label: str) -> Entry:
    """One entry validated with its kind's schema; every problem names file, section, entry and field."""
    where = f"catalog file {label}"
    if not isinstance(name, (str, int, float)) or isinstance(name, bool):
        raise FabricsimError(f"{where}: section {section!r} has an entry named {echo(name)}; names are text")
    name = shorten(str(name), 100)
    if fields is None:
        fields = {}
    if not isinstance(fields, dict):
        raise FabricsimError(
            f"{where}: {section}.{name}={echo(fields)}: an entry is a mapping of fields "
            f"(source:, and the figures of a {schema.__name__}: {', '.join(_required(schema))})")
    if "name" in fields and str(fields["name"]) != name:
        raise FabricsimError(f"{where}: {section}.{name}.name={echo(fields['name'])}: the name is the entry's key")
    try:
        return schema.model_validate({**fields, "name": name})
    except ValidationError as exc:
        raise FabricsimError(format_validation_error(exc, prefix=f"{section}.{name}", where=where)) from None
    except RecursionError:
        raise FabricsimError(f"{where}: {section}.{name} is nested too deeply") from None


def _required(schema) -> list[str]:
    return [n for n, f in schema.model_fields.items() if f.is_required() and n not in ("name", "source")]


def load_catalog(extra_files: Iterable[str | Path] = ()) -> Catalog:
    """Built-in catalog, then each user file in order (later files override earlier ones).

    User files are validated with the same schemas and messages as the built-in ones."""
    extra_files = list(extra_files)
    if len(extra_files) > MAX_CATALOG_FILES:
        raise FabricsimError(f"catalog_files lists {len(extra_files)} files; at most {MAX_CATALOG_FILES}")
    sources: list[tuple[str, dict]] = list(_builtin_sections())
    for path in extra_files:
        if not isinstance(path, (str, Path)):
            raise FabricsimError(f"catalog_files entry {echo(path)}: expected a file path")
        label = shown_path(path)
        sources.append((label, _parse_sections(label, "", Path(path))))
    sections: dict[str, dict[str, Entry]] = {name: {} for name in KINDS}
    origin: dict[tuple[str, str], str] = {}
    resolved: dict[str, dict[str, dict]] = {name: {} for name in KINDS}  # complete fields, for ``extends``
    for label, raw in sources:
        for section, entries in raw.items():
            schema = KINDS[section]
            if entries is None:
                continue
            if not isinstance(entries, dict):
                raise FabricsimError(f"catalog file {label}: section {section!r} must map names to entries, "
                                     f"got {echo(entries)}")
            for name, fields in entries.items():
                if isinstance(fields, dict) and "extends" in fields:
                    fields = resolve(section, str(name), fields, resolved[section], f"catalog file {label}")
                entry = _entry(schema, section, name, fields, label)
                if isinstance(fields, dict):
                    resolved[section][entry.name] = fields
                sections[section][entry.name] = entry
                origin[(section, entry.name)] = label
    return Catalog(sections=sections, origin=origin)


def _identity(path: str | Path) -> tuple:
    """What makes a cached read of ``path`` stale: its resolved name, size and modification time."""
    try:
        info = os.stat(path)
        return (os.path.realpath(path), info.st_size, info.st_mtime_ns, info.st_ino)
    except (OSError, ValueError):
        return (str(path), None, None, None)  # load_catalog reports the problem


_CACHE: dict[tuple, Catalog] = {}
_CACHE_SIZE = 16


def cached_catalog(extra_files: Iterable[str | Path]) -> Catalog:
    """:func:`load_catalog`, read once per process for the same unchanged files (a scenario asks for its
    catalog many times per command)."""
    extra_files = list(extra_files)
    if len(extra_files) > MAX_CATALOG_FILES:
        return load_catalog(extra_files)  # raises with the limit
    key = tuple(_identity(p) for p in extra_files)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = load_catalog(extra_files)
    return _CACHE[key]


_DEFAULT: Catalog | None = None


def default_catalog() -> Catalog:
    """The built-in catalog, loaded once per process."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_catalog()
    return _DEFAULT
