"""The default scenario's serving deployment (DeepSeek-V3 on 32 prefill + 64 decode GPUs) is a default: a job it
does not fit is served by the fastest shape the deployment search finds, and the run says so."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fabricsim.cli import app
from fabricsim.commands import infer_deployment
from fabricsim.errors import FabricsimError
from fabricsim.explore.serving_search import deployment_candidates
from fabricsim.scenario import scenario_from_dict
from fabricsim.workload import infer

runner = CliRunner()


def test_candidate_shapes_by_hand():
    """8 GPUs in one 8-GPU domain: static TP 1, 2, 4, 8 (no pipeline: one domain); 16 GPUs add TP8 x PP2; an MoE
    model adds disaggregated g + g pairs for g = 1, 2, 4 with attention TP 1 or the pair's width."""
    dense8 = deployment_candidates(False, 8, 8, 32)
    assert [(s["tp"], s["pp"]) for s in dense8] == [(1, 1), (2, 1), (4, 1), (8, 1)]
    assert [(s["tp"], s["pp"]) for s in deployment_candidates(False, 16, 8, 32)][-1] == (8, 2)
    moe8 = [s for s in deployment_candidates(True, 8, 8, 48) if s["mode"] == "disaggregated"]
    assert [(s["prefill_gpus"], s["decode_gpus"], s["tp"]) for s in moe8] == [
        (1, 1, 1), (2, 2, 1), (2, 2, 2), (4, 4, 1), (4, 4, 4)]
    assert [s["pp"] for s in deployment_candidates(False, 64, 8, 4) if s["tp"] == 8] == [1, 2, 4]  # pp <= layers


def test_the_default_model_keeps_the_default_deployment_where_it_fits():
    scenario = scenario_from_dict({"cluster": {"gpus": 1024}})
    result, chosen, note = infer_deployment(scenario, {})
    assert note is None and chosen == {}
    assert (result.prefill_gpus, result.decode_gpus) == (32, 64)


def test_a_small_cluster_serves_the_fastest_shape_that_fits_and_says_so():
    scenario = scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 8}})
    result, chosen, note = infer_deployment(scenario, {"model": "llama3-8b"})
    assert "sized for deepseek-v3, not llama3-8b" in note and "static batch on TP" in note
    assert chosen["mode"] == "static" and result.decode_gpus == chosen["tp"] * chosen["pp"] <= 8
    for tp in (1, 2, 4, 8):  # no other static group of the same batch serves more tokens/s per GPU
        try:
            other = infer(scenario, model="llama3-8b", mode="static", tp=tp, pp=1)
        except FabricsimError:
            continue
        assert other.tokens_per_s_per_gpu <= result.tokens_per_s_per_gpu * (1 + 1e-12)


def test_a_default_batch_too_large_for_every_shape_is_halved_until_one_holds_it():
    """Llama 3 70B on 8 H100: 256 sequences of 9,216 tokens need 105 GB per GPU on TP8; 128 fit."""
    scenario = scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 8}})
    with pytest.raises(FabricsimError, match="batch <= "):
        infer(scenario, model="llama3-70b", mode="static", tp=8)
    result, chosen, note = infer_deployment(scenario, {"model": "llama3-70b"})
    assert result.batch == chosen["batch"] == 128 and "batch 128 (the default halved until it fits)" in note


def test_the_users_deployment_and_batch_stand_as_written():
    scenario = scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 8}})
    with pytest.raises(FabricsimError, match="more than the cluster's 8 GPUs"):
        infer_deployment(scenario, {"model": "llama3-8b", "prefill_gpus": 32})
    with pytest.raises(FabricsimError, match="no deployment serves this job.*256 at"):
        infer_deployment(scenario, {"model": "llama3-70b", "batch": 256})  # the user's batch is not shrunk


def test_a_model_no_shape_can_hold_is_refused_with_the_reason():
    scenario = scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 8}})
    with pytest.raises(FabricsimError, match="no deployment serves this job.*deepseek-v3.*h100-sxm has 80 GB"):
        infer_deployment(scenario, {})


def test_cli_prints_the_note_and_json_carries_it():
    args = ["infer", "--model", "llama3-8b", "--set", "cluster.gpu=h100-sxm", "--set", "cluster.gpus=8", "--no-evidence"]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "note: deployment chosen by fabricsim" in out.output
    doc = json.loads(runner.invoke(app, args + ["--json"]).output)
    assert doc["note"].startswith("deployment chosen by fabricsim") and doc["mode"] == "static"
