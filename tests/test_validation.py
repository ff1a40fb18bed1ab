"""`fabricsim validate`: case files, scoring, a deliberately wrong model failing, CLI exit codes."""

import json

import pytest
from typer.testing import CliRunner

from fabricsim.cli import app
from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario
from fabricsim.validation import load_cases, run_validation, summarize
from fabricsim.validation.runner import score

runner = CliRunner()


def test_case_files_load_with_sources_units_and_tolerances():
    cases = load_cases()
    assert len(cases) >= 30
    assert len({c.id for c in cases}) == len(cases)
    assert {c.layer for c in cases} == {"collectives", "plan", "reliability", "training"}
    for c in cases:
        assert c.source and c.unit and c.tolerance >= 0
    assert any(c.role == "fitted" for c in cases) and sum(c.role == "held-out" for c in cases) > 20


def test_reference_architecture_counts_reproduce_exactly():
    """DGX SuperPOD B200 switch and cable counts (figures live in validation/cases/plan.yaml)."""
    results = run_validation(layer="plan")
    assert len(results) >= 10
    assert all(r.passed and r.error == 0 for r in results)


def test_scoring_two_sided_and_lower_bounds():
    case = load_cases("collectives")[0]
    assert score(case, case.published * 1.04).passed
    assert not score(case, case.published * 1.06).passed
    goodput = next(c for c in load_cases("reliability") if c.bound == "lower")
    assert score(goodput, 0.95).passed and not score(goodput, 0.85).passed


def _halved_nic(setup):
    """A wrong model: every GPU's scale-out bandwidth halved."""
    data = dict(setup.scenario)
    data["cluster"] = {**data.get("cluster", {}), "scale_out_per_gpu": "200G"}
    return fabric_from_scenario(scenario_from_dict(data))


def test_a_wrong_fabric_model_fails_the_multi_node_case():
    right = run_validation(case_id="nccl-allreduce-2x8xh100-ndr")[0]
    wrong = run_validation(case_id="nccl-allreduce-2x8xh100-ndr", fabric_override=_halved_nic)[0]
    assert right.passed
    assert not wrong.passed and wrong.error < -0.4


def test_held_out_errors_stay_small_where_the_model_claims_fidelity():
    """Median |error| of held-out cases <= 10% for the network layers (plan, collectives)."""
    rows = {(r["layer"], r["role"]): r for r in summarize(run_validation(layer="collectives")
                                                          + run_validation(layer="plan"))}
    assert rows[("collectives", "held-out")]["median_abs_error"] <= 0.10
    assert rows[("plan", "held-out")]["median_abs_error"] == 0.0


def test_unknown_layer_and_case_are_named():
    with pytest.raises(FabricsimError, match="valid layers are collectives, plan, reliability, training"):
        run_validation(layer="optics")
    with pytest.raises(FabricsimError, match="no such case"):
        run_validation(case_id="no-such-case")


def test_cli_exit_codes_and_json():
    ok = runner.invoke(app, ["validate", "--layer", "plan", "--json"])
    assert ok.exit_code == 0
    data = json.loads(ok.stdout)
    assert data["cases"][0]["layer"] == "plan" and "summary" in data
    assert runner.invoke(app, ["validate", "--layer", "optics"]).exit_code == 2
    miss = runner.invoke(app, ["validate", "--case", "nccl-allreduce-8xa100"])
    assert miss.exit_code == 1 and "MISS" in miss.stdout
