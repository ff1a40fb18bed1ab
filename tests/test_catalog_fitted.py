"""``fabricsim catalog fitted``: the fitted constants in one place, grouped across entries that share them."""

import json

from typer.testing import CliRunner

from fabricsim.catalog import default_catalog
from fabricsim.catalog.fitted import fitted_constants
from fabricsim.cli import app
from fabricsim.validation.cases import load_cases


def test_every_fitted_figure_is_listed_once_with_its_cases():
    catalog = default_catalog()
    rows = fitted_constants(catalog)
    listed = {(row.section, entry, row.field) for row in rows for entry in row.entries}
    expected = {(section, name, field) for section, entries in catalog.sections.items()
                for name, entry in entries.items() for field in entry.fitted_on}
    assert listed == expected
    fitted_ids = {c.id for c in load_cases() if c.role == "fitted"}
    assert all(set(row.cases) <= fitted_ids for row in rows)
    host = next(r for r in rows if r.field == "moe_layer_host_s")
    assert host.entries == ("megatron-core-2025",) and host.value == 1.67e-3
    assert host.cases == ("bridge2602-qwen3-30b-b200-mxfp8",)


def test_entries_that_inherit_a_fitted_figure_share_its_row():
    hopper = next(r for r in fitted_constants(default_catalog())
                  if r.field == "sustained_compute_ratio" and "h100-sxm" in r.entries)
    assert {"h100-sxm", "h200-sxm"} <= set(hopper.entries)
    assert hopper.cases == ("nemo2407-llama2-70b-64-h100-fp8",)


def test_cli_lists_them_as_json():
    result = CliRunner().invoke(app, ["catalog", "fitted", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert any(r["field"] == "iteration_layer_s" and r["cases"] == ["trtllm015-llama31-70b-h100-fp8-tp1-2048-2048"]
               for r in rows)
