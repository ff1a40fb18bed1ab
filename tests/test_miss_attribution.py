"""fabricsim validate --attribute: a training case's missing time per micro-batch, fabricsim's parts of the step, and
the part a family of misses keeps a steady ratio to."""

import json

import pytest
from typer.testing import CliRunner

from fabricsim.cli import app
from fabricsim.errors import FabricsimError
from fabricsim.validation.attribution import MissAttribution, attribute, ratio_spread
from fabricsim.validation.runner import select_cases

CASE = "bridge260201-gptoss-120b-h100-bf16"


def test_missing_time_follows_the_published_figure():
    """Published = the model's own figure: nothing missing; published = half of it: the step takes twice as long,
    so one more model step per unit is missing."""
    case = select_cases(case_id=CASE)[0]
    model = attribute([case])[0]
    own = model.error  # against the real published figure
    published_model_value = case.published * (1 + own)
    same = attribute([case.model_copy(update={"published": published_model_value})])[0]
    assert same.error == pytest.approx(0, abs=1e-12) and same.missing_s == pytest.approx(0, abs=1e-12)
    half = attribute([case.model_copy(update={"published": published_model_value / 2})])[0]
    step_per_unit = half.missing_s  # the model's step per unit, missing once more
    assert half.error == pytest.approx(1.0)
    assert model.missing_s == pytest.approx(step_per_unit * own, rel=1e-9)
    # the parts are the busiest stage's per micro-batch: the expert GEMMs of gpt-oss on H100 EP8 are ~38 ms
    assert model.parts_s["expert GEMMs"] == pytest.approx(0.038, rel=0.05)


def test_the_steadiest_ratio_comes_first():
    rows = [MissAttribution(f"r{i}", 0.1, 2.0 * a, {"a": a, "b": b})
            for i, (a, b) in enumerate([(1.0, 5.0), (2.0, 1.0), (3.0, 9.0), (4.0, 2.0)])]
    (first, median, robust, plain), second = ratio_spread(rows)[0], ratio_spread(rows)[1]
    assert (first, median, robust, plain) == ("a", 2.0, 0.0, 0.0)
    assert second[0] == "b" and second[2] > 0


def test_command_line_and_a_clear_error():
    result = CliRunner().invoke(app, ["validate", "--case", CASE, "--attribute", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["cases"][0]["id"] == CASE and data["cases"][0]["missing_s"] > 0
    assert {"expert GEMMs", "attention", "memory-bound"} <= set(data["cases"][0]["parts_s"])
    with pytest.raises(FabricsimError, match="no training case"):
        attribute(select_cases(layer="plan"))
    shown = CliRunner().invoke(app, ["validate", "--layer", "plan", "--attribute"])
    assert shown.exit_code != 0 and "no training case" in shown.output


def test_a_serving_run_splits_into_parts_that_add_up_to_its_length():
    """A static serving case (TensorRT-LLM 0.15, 70B at TP8, 1,500 requests in waves): the parts -- prefills, decode
    kernels, KV-cache reads, TP all-reduces -- add up to the model's run, and the missing seconds are the run times the
    error (throughput is requests x tokens over the run)."""
    from fabricsim.validation.attribution import attribute_serving
    from fabricsim.validation.runner import Context, workload_result

    case = select_cases(case_id="trtllm015-llama31-70b-h100-fp8-tp8-2048-2048")[0]
    row = attribute_serving([case])[0]
    result = workload_result(case.setup, Context(), "infer", "infer")
    assert sum(row.parts_s.values()) == pytest.approx(result.run_s, rel=1e-9)
    assert row.missing_s == pytest.approx(result.run_s * row.error, rel=1e-12)
    assert set(row.parts_s) == {"prefill", "decode GEMMs and other kernels", "decode KV-cache reads", "decode TP comm"}
    with pytest.raises(FabricsimError, match="no static serving case with a tokens/s per GPU metric"):
        attribute_serving(select_cases(case_id=CASE))


def test_cli_attributes_serving_cases_when_no_training_case_is_selected():
    out = CliRunner().invoke(app, ["validate", "--match", "trtllm015-llama31-70b-h100-fp8-tp8-2*", "--attribute", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert {c["id"] for c in data["cases"]} == {"trtllm015-llama31-70b-h100-fp8-tp8-2048-128",
                                                 "trtllm015-llama31-70b-h100-fp8-tp8-2048-2048",
                                                 "trtllm015-llama31-70b-h100-fp8-tp8-20000-2000"}
    assert {r["part"] for r in data["ratios"]} >= {"prefill", "decode TP comm"}
