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
