"""The training and inference validation layers: enough cases from enough independent sources, a small
fit set, and held-out error within the targets of issue #12 (median |error| <= 10%)."""

import statistics

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.validation.cases import load_cases
from fabricsim.validation.runner import run_validation

SOURCES = ("Narayanan et al. 2021", "Korthikanti et al. 2022", "Grattafiori et al. 2024", "NVIDIA NeMo Framework",
           "Megatron-Bridge", "DeepSeek-AI 2024", "TensorRT-LLM", "DeepSeek, 'Day 6", "SGLang team", "TorchTitan team",
           "Trainy team")


def _source(case) -> str:
    return next((s for s in SOURCES if s in case.source), case.source[:30])


@pytest.fixture(scope="module")
def training():
    return run_validation(layer="training")


def test_training_cases_span_sources_gpus_precisions_and_architectures():
    cases = load_cases("training")
    assert len(cases) >= 40
    assert len({_source(c) for c in cases}) >= 5
    gpus = {c.setup.scenario.get("cluster", {}).get("gpu", "h100-sxm") for c in cases}
    assert {"a100-sxm", "h100-sxm", "h800-sxm", "b200", "gb200", "gb300"} <= gpus
    train = [c.setup.model_extra["train"] for c in cases]
    assert {t.get("precision", "bf16") for t in train} == {"bf16", "fp8", "fp4"}
    assert any(t.get("ep", 1) > 1 for t in train) and any(t.get("zero") == 3 for t in train)
    fitted = [c for c in cases if c.role == "fitted"]
    assert len(fitted) <= 8  # one per named constant (two for GB300's, fitted on a pair); at most an eighth of the cases
    assert len(fitted) <= len(cases) // 8


def test_every_fitted_training_case_sets_a_named_catalog_constant():
    named = {case for section in default_catalog().sections.values() for entry in section.values()
             for ids in entry.fitted_on.values() for case in ids}
    for case in load_cases("training"):
        if case.role == "fitted":
            assert case.id in named, case.id


def test_held_out_training_median_error_within_ten_percent(training):
    errors = [abs(r.error) for r in training if r.case.role == "held-out" and r.error is not None]
    assert len(errors) >= 40
    assert statistics.median(errors) <= 0.10
    llama3 = {r.case.id: r.error for r in training if r.case.id.startswith("llama3-405b-") and "cp16" not in r.case.id}
    assert llama3 and all(abs(e) <= 0.10 for e in llama3.values())


def test_inference_cases_and_held_out_median():
    cases = load_cases("inference")
    assert len(cases) >= 8 and len({_source(c) for c in cases}) >= 3
    results = run_validation(layer="inference")
    errors = [abs(r.error) for r in results if r.error is not None]
    assert statistics.median(errors) <= 0.10
