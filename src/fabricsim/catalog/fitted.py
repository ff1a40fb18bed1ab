"""The catalog's fitted constants: every figure set from a published measurement rather than read off a
datasheet, with the validation cases it was fitted on (``fitted_on``).

fabricsim keeps the fit set small and names it; everything else in ``fabricsim validate`` is held out.
This module collects the fitted figures across the catalog so a user can see them in one place
(``fabricsim catalog fitted``): one row per constant, the entries that carry it (an entry that inherits a
fitted figure unchanged from its parent shares the parent's row), its value and its fit cases.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FittedConstant:
    """One fitted figure: ``section``/``entries``.``field`` = ``value``, fitted on ``cases``; ``source`` is
    the catalog's text for it (how it was fitted)."""

    section: str
    field: str
    value: object
    cases: tuple[str, ...]
    entries: tuple[str, ...]
    source: str


def fitted_constants(catalog) -> list[FittedConstant]:
    """Every fitted figure of ``catalog``, grouped across entries that carry the same value from the same
    cases; sorted by section, field and first entry."""
    groups: dict[tuple, list[str]] = {}
    sources: dict[tuple, str] = {}
    for section, entries in sorted(catalog.sections.items()):
        for name, entry in sorted(entries.items()):
            for field, cases in sorted(entry.fitted_on.items()):
                value = getattr(entry, field, None)
                key = (section, field, repr(value), tuple(cases))
                groups.setdefault(key, []).append(name)
                sources.setdefault(key, entry.source_of(field))
    rows = []
    for key, names in groups.items():
        section, field, _, cases = key
        value = getattr(catalog.sections[section][names[0]], field, None)
        rows.append(FittedConstant(section, field, value, cases, tuple(names), sources[key]))
    return sorted(rows, key=lambda r: (r.section, r.field, r.entries))


__all__ = ["FittedConstant", "fitted_constants"]
