"""Held-out error by family (fabricsim.validation.families): the grouping and the statistics, by hand."""

import pytest

from fabricsim.validation.cases import Case
from fabricsim.validation.families import family, family_rows
from fabricsim.validation.runner import CaseResult, summarize


def _result(case_id: str, layer: str, error: float, role: str = "held-out", tolerance: float = 0.25) -> CaseResult:
    case = Case(id=case_id, what="a measurement", published=100.0, unit="tokens/s", source="a published table",
                role=role, tolerance=tolerance, setup={"kind": "training", "metric": "tokens_per_s_per_gpu"},
                layer=layer)
    status = "pass" if abs(error) <= tolerance else "miss"
    return CaseResult(case, 100.0 * (1 + error), error, status)


def test_family_names_kind_on_architecture_and_collective_bands():
    assert family({"kind": "moe", "architecture": "blackwell"}, "training") == "moe on blackwell"
    assert family({"kind": "dense", "architecture": "hopper"}, "inference") == "dense on hopper"
    assert family({"op": "all_to_all", "bytes": 2**20}, "collectives") == "all_to_all >= 1 MiB"
    assert family({"op": "all_reduce", "bytes": 2**20 - 1}, "collectives") == "all_reduce < 1 MiB"


def test_family_rows_signed_median_spread_and_tolerance_share():
    results = [_result("a", "training", 0.10), _result("b", "training", 0.30), _result("c", "training", -0.02),
               _result("d", "training", 0.50, role="fitted"),  # fitted cases are not held-out evidence
               _result("e", "training", -0.04)]
    families = {"a": "moe on blackwell", "b": "moe on blackwell", "c": "moe on blackwell", "d": "moe on blackwell",
                "e": "dense on hopper"}
    rows = {row["family"]: row for row in family_rows(results, families)}
    moe = rows["moe on blackwell"]
    assert moe["cases"] == 3
    assert moe["median_error"] == pytest.approx(0.10)  # signed: -0.02, 0.10, 0.30
    assert moe["median_abs_error"] == pytest.approx(0.10)
    assert moe["p90_abs_error"] == pytest.approx(0.10 + 0.8 * (0.30 - 0.10))  # numpy's linear interpolation
    assert moe["within_tolerance"] == pytest.approx(2 / 3)  # 0.30 misses a 25% tolerance
    assert rows["dense on hopper"]["median_error"] == pytest.approx(-0.04)


def test_layer_summary_reports_the_bias_with_its_sign():
    results = [_result("a", "training", -0.10), _result("b", "training", -0.20), _result("c", "training", 0.05)]
    (row,) = summarize(results)
    assert row["median_error"] == pytest.approx(-0.10)
    assert row["median_abs_error"] == pytest.approx(0.10)


def test_real_cases_fall_into_named_families():
    from fabricsim.validation.families import case_families
    from fabricsim.validation.runner import select_cases

    cases = {c.id: c for c in select_cases(layer="training") + select_cases(layer="collectives")}
    chosen = [CaseResult(cases[i], 1.0, 0.0, "pass") for i in
              ("nccl-allreduce-ring-8xh100", "bridge2602-qwen3-30b-gb300-mxfp8", "narayanan21-zero3-530b-1120-a100")]
    assert case_families(chosen) == {"nccl-allreduce-ring-8xh100": "all_reduce >= 1 MiB",
                                     "bridge2602-qwen3-30b-gb300-mxfp8": "moe on blackwell",
                                     "narayanan21-zero3-530b-1120-a100": "dense on ampere"}
