"""``fabricsim catalog list`` and ``catalog show``: every figure with its source."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from fabricsim.cli.common import (
    JsonOpt,
    _print_json,
    catalog_app,
    console,
    user_errors,
)


@catalog_app.command("list")
@user_errors
def catalog_list(
    section: Optional[str] = typer.Argument(None, help="gpus, scale_up, switches, nics, media, models, failures"),
    json_out: bool = JsonOpt,
) -> None:
    """List catalog entries (all sections, or one)."""
    from fabricsim.catalog import default_catalog

    catalog = default_catalog()
    sections = [section] if section else sorted(catalog.sections)
    from fabricsim.report.documents import catalog_document

    entries = catalog_document(catalog, sections)  # an unknown section is named here
    if json_out:
        _print_json(entries)
        return
    for name in sections:
        entries = catalog.sections[name]
        table = Table(title=f"{name} ({len(entries)})", title_justify="left")
        table.add_column("name", style="bold")
        table.add_column("description")
        table.add_column("source")
        for key in sorted(entries):
            entry = entries[key]
            table.add_row(key, entry.description, entry.source)
        console.print(table)


@catalog_app.command("show")
@user_errors
def catalog_show(
    section: str = typer.Argument(..., help="catalog section, e.g. switches"),
    name: str = typer.Argument(..., help="entry name, e.g. tomahawk6"),
    json_out: bool = JsonOpt,
) -> None:
    """Every figure of one entry with its source."""
    from fabricsim.catalog import default_catalog

    entry = default_catalog().get(section, name)
    if json_out:
        _print_json(entry.model_dump())
        return
    table = Table(title=f"{section}/{name}", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_column("source")
    skip = {"name", "source", "sources", "assumptions", "fitted_on"}
    for field, value in entry.model_dump().items():
        if field in skip:
            continue
        table.add_row(field, repr(value) if not isinstance(value, str) else value, entry.source_of(field))
    console.print(table)


def _short(value) -> str:
    """A fitted value as a table shows it: numbers to four significant figures, mappings entry by entry."""
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_short(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.4g}"
    return repr(value)


@catalog_app.command("fitted")
@user_errors
def catalog_fitted(
    check: bool = typer.Option(False, "--check", help="also re-run each constant's fit cases now and show the error"),
    json_out: bool = JsonOpt,
) -> None:
    """Every fitted constant (a figure set from a published measurement), with the cases it was fitted on."""
    from dataclasses import asdict

    from fabricsim.catalog import default_catalog
    from fabricsim.catalog.fitted import fitted_constants

    rows = fitted_constants(default_catalog())
    errors: dict[str, float | None] = {}
    if check:
        from fabricsim.validation.runner import run_validation

        for case_id in sorted({c for row in rows for c in row.cases}):
            (result,) = run_validation(case_id=case_id)
            errors[case_id] = result.error
    if json_out:
        _print_json([{**asdict(row), **({"errors": {c: errors[c] for c in row.cases}} if check else {})}
                     for row in rows])
        return
    table = Table(title=f"Fitted constants ({len(rows)}): every other validation case is held out",
                  title_justify="left", caption="how each was fitted: fabricsim catalog show <section> <entry>",
                  caption_justify="left")
    for col in ("section", "entries", "field", "value", "fitted on"):
        table.add_column(col, style="bold" if col == "field" else None)
    for row in rows:
        cases = [c + (f" ({errors[c]:+.1%})" if errors.get(c) is not None else "") for c in row.cases]
        table.add_row(row.section, ", ".join(row.entries), row.field, _short(row.value), "\n".join(cases))
    console.print(table)
