"""The published measurements shown beside a run (fabricsim.validation.evidence)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from fabricsim.cli import app
from fabricsim.scenario import scenario_from_dict
from fabricsim.validation.evidence import (
    MIN_SCORE,
    collective_evidence,
    model_family,
    nearest_cases,
    nearness,
    shared_facts,
    training_evidence,
)
from fabricsim.validation.runner import run_validation
from fabricsim.workload import train

runner = CliRunner()
GPT_OSS = dict(model="gpt-oss-120b", tp=1, pp=1, dp=64, ep=64, global_batch=1280, seq=4096, micro_batch=4)


@pytest.mark.parametrize("name, family", [("qwen3-30b-a3b", "qwen3"), ("mixtral-8x22b", "mixtral"),
                                          ("megatron-gpt-1.7b", "megatron-gpt"), ("gpt-oss-120b", "gpt-oss"),
                                          ("llama3-405b", "llama3"), ("deepseek-v3", "deepseek"), ("kimi-k2", "kimi")])
def test_a_model_family_is_its_name_without_size_tokens(name, family):
    assert model_family(name) == family


def test_shared_facts_count_the_family_only_when_the_model_differs():
    run = {"model": "qwen3-30b-a3b", "family": "qwen3", "kind": "moe", "gpu": "gb200", "architecture": "blackwell",
           "precision": "fp8", "gpus": 8}
    same = dict(run)
    sibling = {**run, "model": "qwen3-235b-a22b", "gpu": "b200", "gpus": 256}
    assert shared_facts(run, same) == ("model", "gpu", "precision", "scale")
    assert shared_facts(run, sibling) == ("precision", "family", "architecture")
    assert nearness(shared_facts(run, same)) == 4 + 3 + 1 + 1
    assert nearness(shared_facts(run, sibling)) == 1 + 2 + 1 < MIN_SCORE  # too far to count


def test_the_cases_of_the_same_model_and_gpu_come_first_and_match_validate():
    scenario = scenario_from_dict({"cluster": {"gpu": "gb200", "gpus": 64}})
    evidence = training_evidence(scenario, GPT_OSS, train(scenario, **GPT_OSS))
    assert len(evidence) == 5
    assert all("model" in e.shared for e in evidence[:4])
    assert [e.shared[:2] for e in evidence[:3]] == [("model", "gpu")] * 3
    first = evidence[0]
    (validated,) = run_validation(case_id=first.case_id)
    assert first.model == pytest.approx(validated.model) and first.status == validated.status


def test_a_run_nothing_published_is_near_gets_no_evidence_and_the_cli_says_so():
    catalog = scenario_from_dict({}).catalog()
    run = {"model": "minimax-m2.5", "family": "minimax", "kind": "moe", "gpu": "rubin", "architecture": "rubin",
           "precision": "fp8", "software": "megatron-core-2025", "gpus": 1_000_000}
    assert nearest_cases(run, "training", catalog) == []
    near = {**run, "gpu": "gb300", "architecture": "blackwell", "gpus": 64}  # the same GPU as a published MoE row
    assert nearest_cases(near, "training", catalog)
    result = runner.invoke(app, ["train", "--set", "cluster.gpu=rubin", "--set", "cluster.gpus=64", "--model",
                                 "minimax-m2.5", "--tp", "1", "--pp", "1", "--ep", "64", "--gbs", "512", "--seq", "4096"])
    assert result.exit_code == 0, result.output
    assert "no published measurement" in result.output


def test_a_collective_is_shown_beside_the_same_operation_on_the_same_gpu():
    scenario = scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 16}})
    evidence = collective_evidence(scenario, "all_reduce", 16, 2**30)
    assert evidence and all({"gpu", "op"} <= set(e.shared) for e in evidence)
    assert all(e.status != "not-runnable" for e in evidence)  # cases needing what fabricsim lacks are skipped


def test_the_cli_prints_the_table_or_skips_it_and_the_json_carries_it():
    args = ["train", "--set", "cluster.gpu=gb200", "--set", "cluster.gpus=64", "--model", "gpt-oss-120b",
            "--tp", "1", "--pp", "1", "--dp", "64", "--ep", "64", "--gbs", "1280", "--seq", "4096", "--micro-batch", "4"]
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0, shown.output
    assert "Published measurements nearest this run" in shown.output
    assert "bridge2602-gptoss-120b-gb200-bf16" in shown.output
    hidden = runner.invoke(app, args + ["--no-evidence"])
    assert "Published measurements" not in hidden.output
    doc = json.loads(runner.invoke(app, args + ["--json"]).output)["evidence"]
    assert len(doc["cases"]) == doc["count"] == 5 and doc["passed"] <= 5
    errors = sorted(abs(c["error"]) for c in doc["cases"])
    assert doc["median_abs_error"] == pytest.approx(errors[len(errors) // 2])


def test_the_html_report_carries_the_evidence_of_its_training_step():
    from fabricsim.api import run
    from fabricsim.report.html import build_html
    from fabricsim.validation.evidence import document, run_evidence

    result = run(scenario_from_dict({"cluster": {"gpus": 1024}}))
    evidence = run_evidence(result)
    page = build_html(result, document(evidence)["evidence"])
    assert "Published measurements nearest this job" in page and evidence[0].case_id in page
    assert "Published measurements" not in build_html(result)


def test_a_plan_is_shown_beside_the_reference_design_of_its_gpu_and_switch():
    from fabricsim.validation.evidence import plan_evidence

    evidence = plan_evidence(scenario_from_dict({"cluster": {"gpu": "b200", "gpus": 1024},
                                                 "fabric": {"switch": "quantum-2"}}))
    assert evidence and all(e.case_id.startswith("superpod-b200") for e in evidence)
    assert all({"gpu", "switch", "scale"} <= set(e.shared) for e in evidence)
    assert all(e.error == 0 for e in evidence)  # DGX SuperPOD B200 counts, reproduced exactly
    torus = scenario_from_dict({"cluster": {"gpu": "tpu-v4", "gpus": 4096}, "fabric": {"topology": "torus"}})
    assert plan_evidence(torus) is None  # torus cases are another layer's


def test_a_reliability_run_is_shown_beside_the_failure_census_of_its_gpu_and_scale():
    from fabricsim.validation.evidence import reliability_evidence

    evidence = reliability_evidence(scenario_from_dict({"cluster": {"gpus": 16384}}))
    assert evidence and all(e.shared == ("gpu", "scale") for e in evidence)
    assert any(e.case_id.startswith("llama3-") for e in evidence)  # Llama 3's 16k-H100 census
    assert reliability_evidence(scenario_from_dict({"cluster": {"gpu": "rubin", "gpus": 64}})) == []
