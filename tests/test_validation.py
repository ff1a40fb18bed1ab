"""`fabricsim validate`: case files, scoring, a deliberately wrong model failing, not-runnable
cases, CLI exit codes and the JSON shape."""

import json

import pytest
from typer.testing import CliRunner

import fabricsim.workload
from fabricsim.cli import app
from fabricsim.errors import FabricsimError
from fabricsim.validation import as_json, exit_code, load_cases, run_validation, summarize
from fabricsim.validation import view
from fabricsim.validation.runner import merge, score

runner = CliRunner()
MULTI_NODE = "nccl-allreduce-2x8xh100-ndr"  # 2 x 8 H100 over NDR: bound by the NICs
HALF_NIC = {"cluster": {"scale_out_per_gpu": "200G"}}  # a wrong model: every GPU's NIC at half its 400G


def test_case_files_load_with_sources_units_and_tolerances():
    cases = load_cases()
    assert len(cases) >= 30
    assert len({c.id for c in cases}) == len(cases)
    assert {"collectives", "plan", "reliability", "training", "inference"} <= {c.layer for c in cases}
    for c in cases:
        assert len(c.source) >= 10 and c.unit and c.tolerance >= 0 and c.setup.metric
    assert any(c.role == "fitted" for c in cases) and sum(c.role == "held-out" for c in cases) > 20


def test_reference_architecture_counts_reproduce_exactly():
    """Reference-architecture switch, cable and module counts (validation/cases/plan.yaml): every count exact."""
    results = run_validation(layer="plan")
    assert len(results) >= 10
    assert all(r.passed for r in results)
    assert all(r.error == 0 for r in results if r.case.unit == "count")


def test_scoring_two_sided_and_lower_bounds():
    case = next(c for c in load_cases("collectives") if c.tolerance == 0.15)
    assert score(case, case.published * 1.14).passed
    miss = score(case, case.published * 1.16)
    assert miss.status == "miss" and "16.0% above published" in miss.reason
    goodput = next(c for c in load_cases("reliability") if c.bound == "lower")
    assert score(goodput, 0.95).passed and not score(goodput, 0.85).passed


def test_merge_is_nested_and_leaves_the_case_alone():
    base = {"cluster": {"gpu": "h100-sxm", "gpus": 16}, "fabric": {"planes": 1}}
    merged = merge(base, HALF_NIC)
    assert merged["cluster"] == {"gpu": "h100-sxm", "gpus": 16, "scale_out_per_gpu": "200G"}
    assert "scale_out_per_gpu" not in base["cluster"]


def test_a_wrong_nic_speed_fails_the_multi_node_case_and_the_run():
    right = run_validation(case_id=MULTI_NODE)
    wrong = run_validation(case_id=MULTI_NODE, scenario_override=HALF_NIC)
    assert right[0].passed and exit_code(right) == 0
    assert wrong[0].status == "miss" and wrong[0].error < -0.4
    assert exit_code(wrong) == 1


def test_census_classes_add_up_to_the_total():
    results = {r.case.id: r for r in run_validation(layer="reliability")}
    parts = ["llama3-interruptions-gpu", "llama3-interruptions-network", "llama3-interruptions-host",
             "llama3-interruptions-nic", "llama3-software-interruptions"]
    assert sum(results[p].model for p in parts) == pytest.approx(results["llama3-interruptions-54-days"].model)


def test_missing_workload_api_is_not_runnable_never_passing(monkeypatch):
    monkeypatch.delattr(fabricsim.workload, "train")
    case = load_cases("training")[0]
    result = run_validation(case_id=case.id)[0]
    assert result.status == "not-runnable" and not result.passed and result.model is None
    assert "fabricsim.workload.train is not available" in result.reason
    assert exit_code([result]) == 0
    row = summarize([result])[0]
    assert row["not_runnable"] == 1 and row["passed"] == 0 and row["median_abs_error"] is None
    assert row["p90_abs_error"] is None


def test_summary_p90_by_hand():
    """Ten held-out errors 1%..10%: the 90th percentile interpolates between the 9th and 10th (9.1%)."""
    from types import SimpleNamespace

    case = load_cases("plan")[0]
    results = [SimpleNamespace(case=case.model_copy(update={"role": "held-out"}), error=e / 100, status="pass")
               for e in range(1, 11)]
    row = summarize(results)[0]
    assert row["p90_abs_error"] == pytest.approx(0.091) and row["median_abs_error"] == pytest.approx(0.055)


def test_unknown_layer_and_case_are_named():
    with pytest.raises(FabricsimError, match="valid layers are collectives, economics, inference, kernels, plan, reliability, .*training"):
        run_validation(layer="optics")
    with pytest.raises(FabricsimError, match="no such case; valid ids: .*superpod-b200-2su-leaf-switches"):
        run_validation(case_id="no-such-case")


def test_cli_exit_codes_and_json(monkeypatch):
    ok = runner.invoke(app, ["validate", "--layer", "plan", "--json"])
    assert ok.exit_code == 0
    data = json.loads(ok.stdout)
    assert set(data) == {"cases", "summary", "families", "pairs", "pair_summary", "counts", "exit_code"}
    assert data["families"] == []  # plan cases are not split into families
    first = data["cases"][0]
    assert {"id", "layer", "role", "published", "model", "unit", "error", "tolerance", "status", "reason",
            "source"} <= set(first)
    assert first["layer"] == "plan" and first["status"] == "pass" and data["exit_code"] == 0
    assert data["summary"][0]["layer"] == "plan" and data["summary"][0]["max_abs_error"] < 0.03
    bad_layer = runner.invoke(app, ["validate", "--layer", "optics"])
    assert bad_layer.exit_code == 2 and "valid layers are" in bad_layer.output
    assert runner.invoke(app, ["validate", "--case", "no-such-case"]).exit_code == 2
    table = runner.invoke(app, ["validate", "--case", "superpod-b200-2su-leaf-switches", "-v"])
    assert table.exit_code == 0 and "source: NVIDIA DGX SuperPOD" in table.stdout
    matched = json.loads(runner.invoke(app, ["validate", "--match", "superpod-b200-*", "--json"]).stdout)
    assert matched["cases"] and all(c["id"].startswith("superpod-b200-") for c in matched["cases"])
    none = runner.invoke(app, ["validate", "--match", "no-such-*"])
    assert none.exit_code == 2 and "no case id matches" in none.output and "superpod" in none.output

    real = view.run_validation
    monkeypatch.setattr(view, "run_validation", lambda *a, **k: real(*a, scenario_override=HALF_NIC, **k))
    miss = runner.invoke(app, ["validate", "--case", MULTI_NODE])
    assert miss.exit_code == 1 and "MISS" in miss.stdout and "below published" in miss.stdout


def test_json_shape_of_a_miss():
    data = as_json(run_validation(case_id=MULTI_NODE, scenario_override=HALF_NIC))
    assert data["counts"] == {"pass": 0, "miss": 1, "not-runnable": 0} and data["exit_code"] == 1
    assert data["cases"][0]["status"] == "miss" and data["cases"][0]["error"] < -0.4


def test_cases_that_need_an_unmodelled_part_are_not_runnable_never_scored():
    results = run_validation(layer="collectives")
    skipped = [r for r in results if r.case.setup.model_extra.get("requires")]
    assert skipped and all(r.status == "not-runnable" and "needs" in r.reason for r in skipped)
    assert exit_code(skipped) == 0


def test_every_fitted_catalog_figure_names_fitted_cases():
    """A catalog figure marked ``fitted_on`` must name existing validation cases whose role is
    ``fitted`` (so held-out error stays held out)."""
    from fabricsim.catalog import default_catalog

    roles = {c.id: c.role for c in load_cases()}
    for section, entries in default_catalog().sections.items():
        for name, entry in entries.items():
            for field, ids in entry.fitted_on.items():
                assert ids, f"{section}/{name}.{field}: fitted_on lists no case"
                for case_id in ids:
                    assert roles.get(case_id) == "fitted", f"{section}/{name}.{field}: {case_id} is not a fitted case"


def test_notes_with_square_brackets_print_whole():
    """A case's note or reason is plain text: a recipe's 'cuda_graph_scope [moe_router, moe_preprocess]' must not
    be taken for console markup and dropped."""
    from rich.console import Console

    console = Console(record=True, width=400)
    view.validate_command(None, "bridge2602-qwen3-30b-gb200-mxfp8", True, False, console)
    assert "cuda_graph_scope [moe_router, moe_preprocess]" in console.export_text()


def test_a_malformed_cases_file_is_a_named_error_not_a_traceback(tmp_path, monkeypatch):
    """A note with an unquoted ': ' breaks the YAML: the error names the file and the line."""
    import fabricsim.validation.cases as cases_module

    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "broken.yaml").write_text("cases:\n- id: x\n  note: a: b: c\n")
    monkeypatch.setattr(cases_module.resources, "files", lambda package: tmp_path)
    with pytest.raises(FabricsimError, match=r"broken\.yaml is not valid YAML \(line 3"):
        cases_module.load_cases()


def test_durations_of_whole_runs_show_in_seconds_and_short_ones_in_milliseconds():
    from fabricsim.validation.cases import display

    assert display(0.016, "s", 0.016) == (pytest.approx(16.0), "ms")  # a first-token latency
    assert display(2000.29, "s", 1970.3) == (pytest.approx(2000.29), "s")  # a run's nine tenths done
    assert display(None, "s", 1970.3)[1] == "s" and display(None, "s")[1] == "ms"
