"""Load the built-in catalog and user catalog files that extend or override it.

A catalog file is YAML with one top-level key per section (``gpus``, ``switches``,
``nics``, ``media``, ``scale_up``, ``models``...), each mapping entry names to
their fields::

    switches:
      my-switch:
        asic: ...
        source: "vendor datasheet, 2026"

A user file may add new entries or override built-in ones (an override replaces the
whole entry, so it must be complete; it is marked ``overridden`` in listings).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable

import yaml
from pydantic import ValidationError

from fabricsim.catalog.schema import KINDS, Entry
from fabricsim.errors import FabricsimError, format_validation_error, read_yaml_file


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
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.4)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return (
        f"unknown {section} name {name!r}.{hint} Valid names: {', '.join(valid)}. "
        f"(`fabricsim catalog list {section}` shows them with their figures.)"
    )


def _builtin_files() -> list[tuple[str, str]]:
    data = resources.files("fabricsim.catalog").joinpath("data")
    out = []
    for item in sorted(data.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".yaml"):
            out.append((f"built-in {item.name}", item.read_text(encoding="utf-8")))
    return out


def _parse_sections(label: str, text: str, path: Path | None = None) -> dict:
    if path is not None:
        raw = read_yaml_file(path)
    else:
        raw = yaml.safe_load(text)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise FabricsimError(f"catalog file {label}: expected a mapping of sections, got {type(raw).__name__}")
    for section in raw:
        if section not in KINDS:
            raise FabricsimError(
                f"catalog file {label}: unknown section {section!r}; valid sections: {', '.join(sorted(KINDS))}"
            )
    return raw


def load_catalog(extra_files: Iterable[str | Path] = ()) -> Catalog:
    """Built-in catalog, then each user file in order (later files override earlier ones)."""
    sources: list[tuple[str, str, Path | None]] = [(label, text, None) for label, text in _builtin_files()]
    for path in extra_files:
        path = Path(path)
        sources.append((str(path), "", path))
    sections: dict[str, dict[str, Entry]] = {name: {} for name in KINDS}
    origin: dict[tuple[str, str], str] = {}
    for label, text, path in sources:
        raw = _parse_sections(label, text, path)
        for section, entries in raw.items():
            schema = KINDS[section]
            if not isinstance(entries, dict):
                raise FabricsimError(f"catalog file {label}: section {section!r} must map names to entries")
            for name, fields in entries.items():
                try:
                    entry = schema.model_validate({"name": str(name), **(fields or {})})
                except ValidationError as exc:
                    raise FabricsimError(
                        format_validation_error(exc, prefix=f"{section}.{name}", where=f"catalog file {label}")
                    ) from None
                sections[section][str(name)] = entry
                origin[(section, str(name))] = label
    return Catalog(sections=sections, origin=origin)


_DEFAULT: Catalog | None = None


def default_catalog() -> Catalog:
    """The built-in catalog, loaded once per process."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_catalog()
    return _DEFAULT
