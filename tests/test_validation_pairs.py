"""Runs that differ only in the GPU (fabricsim.validation.pairs): which cases pair, the ratio arithmetic by hand,
and the pair that fits GB300's sustained-compute ratio still fitting it."""

import json

import pytest
from typer.testing import CliRunner

from fabricsim.cli import app
from fabricsim.validation.cases import Case
from fabricsim.validation.pairs import comparison_key, find_pairs, pair_summary, publication
from fabricsim.validation.runner import CaseResult, as_json, run_validation

TRAIN = {"model": "llama3-8b", "tp": 1, "pp": 1, "global_batch": 128, "seq": 8192, "precision": "fp8"}


def _result(case_id: str, gpu: str, published: float, model: float, source: str = "Table 1, 25.11 container",
            train: dict | None = None, cluster: dict | None = None, layer: str = "training") -> CaseResult:
    setup = {"kind": "training", "metric": "tokens_per_s_per_gpu", "scenario": {"cluster": {"gpu": gpu, **(cluster or {})}},
             "train": dict(train or TRAIN)}
    case = Case(id=case_id, what="a measurement", published=published, unit="tokens/s", source=source,
                role="held-out", tolerance=0.25, setup=setup, layer=layer)
    return CaseResult(case, model, model / published - 1.0, "pass")


def test_two_gpus_of_one_setup_pair_and_their_ratio_is_checked():
    fast = _result("fast", "gb300", published=120.0, model=150.0, cluster={"gpus": 8, "scale_up": "gb300-nvl72"})
    slow = _result("slow", "b300", published=100.0, model=110.0, cluster={"gpus": 8, "gpus_per_server": 8})
    (pair,) = find_pairs([slow, fast])
    assert pair.kind == "gpu" and pair.gpus == ("gb300", "b300")  # the higher published figure first
    assert pair.published_ratio == pytest.approx(1.2)
    assert pair.model_ratio == pytest.approx(150 / 110)
    assert pair.ratio_error == pytest.approx((150 / 110) / 1.2 - 1)  # +13.6%: fabricsim widens the gap
    assert pair.as_dict()["first"] == "fast"


def test_a_different_layout_or_layer_does_not_pair():
    base = _result("a", "gb200", 100.0, 100.0)
    other_layout = _result("b", "b200", 90.0, 90.0, train={**TRAIN, "tp": 2})
    other_job_size = _result("c", "b200", 90.0, 90.0, train={**TRAIN, "gpus": 16})
    other_layer = _result("d", "b200", 90.0, 90.0, layer="inference")
    assert find_pairs([base, other_layout, other_job_size, other_layer]) == []
    assert comparison_key(base) != comparison_key(other_layout)


def test_the_job_size_not_the_cluster_size_is_compared():
    rack = _result("rack", "gb300", 120.0, 120.0, cluster={"gpus": 72}, train={**TRAIN, "gpus": 8})
    node = _result("node", "b300", 100.0, 100.0, cluster={"gpus": 8})
    assert comparison_key(rack) == comparison_key(node)
    assert len(find_pairs([rack, node])) == 1


def test_one_table_pairs_its_own_rows_not_the_same_gpus_across_releases():
    rows = [_result("r1-gb300", "gb300", 120.0, 130.0, source="summary, 26.02 container, DGX-GB300 row"),
            _result("r1-b300", "b300", 100.0, 100.0, source="summary, 26.02 container, DGX-B300 row"),
            _result("r2-gb300", "gb300", 121.0, 130.0, source="summary, 26.04 container, DGX-GB300 row"),
            _result("r2-b300", "b300", 99.0, 100.0, source="summary, 26.04 container, DGX-B300 row")]
    pairs = find_pairs(rows)
    gpu = {(p.first.case.id, p.second.case.id) for p in pairs if p.kind == "gpu"}
    assert gpu == {("r1-gb300", "r1-b300"), ("r2-gb300", "r2-b300")}
    repeats = [p for p in pairs if p.kind == "repeat"]
    assert len(repeats) == 2 and all(p.model_ratio == pytest.approx(1.0) for p in repeats)
    stats = pair_summary(pairs)
    assert stats["gpu_pairs"] == 2 and stats["repeat_pairs"] == 2
    # repeats: 121/120 and 100/99, the published spread between two runs of one setup
    assert stats["median_repeat_spread"] == pytest.approx(((121 / 120 - 1) + (100 / 99 - 1)) / 2)
    assert stats["median_abs_ratio_error"] == pytest.approx(((1.3 / 1.2 - 1) + (1.3 / (121 / 99)) - 1) / 2)


def test_publication_drops_gpu_and_system_names():
    assert publication("Table, 26.02.01, DeepSeekV3 DGX-B300 MXFP8 row") == publication(
        "Table, 26.02.01, DeepSeekV3 DGX-B200 MXFP8 row")
    assert publication("GB300 and H100 rows") == publication("GB200 and A100 rows")
    assert publication("26.02 container") != publication("26.04 container")


def test_cases_that_did_not_run_are_not_paired():
    ran = _result("ran", "gb300", 120.0, 120.0)
    skipped = CaseResult(_result("skipped", "b300", 100.0, 100.0).case, None, None, "not-runnable", "needs x")
    assert find_pairs([ran, skipped]) == []


def test_gb300_ratio_is_fitted_on_its_pair_and_validate_reports_pairs():
    """The pair that sets GB300's sustained-compute ratio (catalog gpus gb300, fitted_on) keeps its published
    ratio within 0.5%; a drift means the constant needs re-bisecting."""
    results = run_validation(layer="training", match="bridge2511-llama3-8b-g*")
    out = as_json(results)
    fit = next(p for p in out["pairs"] if {p["first"], p["second"]} == {"bridge2511-llama3-8b-gb300-fp8",
                                                                     "bridge2511-llama3-8b-gb200-fp8"})
    assert abs(fit["ratio_error"]) < 0.005
    assert out["pair_summary"]["gpu_pairs"] == 1  # gb300/gb200 only: the two GPU pairs with B200 need --match b200
    text = CliRunner().invoke(app, ["validate", "--layer", "training", "--match", "bridge2511-llama3-8b-*"]).stdout
    assert "Same run on two GPUs" in text and "gb300/gb200" in text
    json.dumps(out)  # the pairs serialise
