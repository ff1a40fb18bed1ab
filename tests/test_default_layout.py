"""The default scenario's layout (TP 8 x PP 16) is a default: a job it does not fit runs the search's best."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fabricsim.api import run
from fabricsim.cli import app
from fabricsim.commands import layout_is_users, train_step
from fabricsim.errors import FabricsimError
from fabricsim.explore.search import search_parallelism
from fabricsim.scenario import scenario_from_dict

runner = CliRunner()


def test_the_default_model_keeps_the_default_layout_where_it_fits():
    result, chosen, note = train_step(scenario_from_dict({"cluster": {"gpus": 4096}}), {})
    assert note is None and (result.parallelism.tp, result.parallelism.pp) == (8, 16)


def test_another_model_on_the_default_layout_runs_the_searched_one():
    result, _, note = train_step(scenario_from_dict({"cluster": {"gpus": 256}}), {"model": "qwen3-30b-a3b"})
    assert "sized for llama3-405b, not qwen3-30b-a3b" in note
    assert result.parallelism.ep > 1  # an MoE model gets expert parallelism, which the default layout lacks


def test_a_small_cluster_runs_the_searched_layout_and_says_so():
    scenario = scenario_from_dict({"cluster": {"gpus": 8}})
    result, chosen, note = train_step(scenario, {"model": "llama3-8b"})
    searched = scenario_from_dict({"cluster": {"gpus": 8}, "workload": {"train": {"model": "llama3-8b"}}})
    best = search_parallelism(searched, top=1, flow_top=0).ranked[0]
    par = result.parallelism
    assert (par.tp, par.pp, par.cp, par.dp) == (best.settings["tp"], best.settings["pp"], best.settings["cp"],
                                                best.settings["dp"])
    assert par.tp * par.pp * par.cp * par.dp == 8
    assert chosen["model"] == "llama3-8b" and note in result.notes and best.label in note


def test_a_layout_the_user_wrote_is_never_replaced():
    scenario = scenario_from_dict({"cluster": {"gpus": 8}, "workload": {"train": {"model": "llama3-8b", "tp": 8,
                                                                                   "pp": 16}}})
    assert layout_is_users(scenario, {})
    assert layout_is_users(scenario_from_dict({"cluster": {"gpus": 8}}), {"pp": 2})
    with pytest.raises(FabricsimError, match="one model replica needs tp x pp x cp = 8 x 16"):
        train_step(scenario, {})


def test_when_no_layout_fits_the_error_says_the_search_found_none():
    with pytest.raises(FabricsimError, match="parallelism search finds none: none of the .* fits HBM"):
        train_step(scenario_from_dict({"cluster": {"gpus": 16}}), {})


def test_the_main_job_trains_on_a_small_cluster_and_the_cli_too():
    result = run(scenario_from_dict({"cluster": {"gpus": 16}, "workload": {"train": {"model": "llama3-8b"}}}))
    assert result.training is not None and result.training.parallelism.dp * result.training.parallelism.tp == 16
    assert any("layout chosen by the parallelism search" in n for n in result.notes)
    out = runner.invoke(app, ["train", "--model", "llama3-8b", "--set", "cluster.gpus=16", "--what-if", "--no-evidence"])
    assert out.exit_code == 0, out.output
    assert "layout chosen by the parallelism search" in out.output and "load balancing" in out.output
