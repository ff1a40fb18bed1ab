"""Requests of varying lengths: the length-weighted KV context of decode steps and the prompts' attention span."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fabricsim.catalog import default_catalog
from fabricsim.cli import app
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario
from fabricsim.workload import infer
from fabricsim.workload.forward import forward_cost
from fabricsim.workload.model import attention_flops_per_token_per_layer
from fabricsim.workload.request_lengths import RequestLengths


def _from_sample(prompts, outputs) -> RequestLengths:
    """The RequestLengths of a list of requests (population moments)."""
    i, o = np.asarray(prompts, float), np.asarray(outputs, float)
    correlation = float(np.corrcoef(i, o)[0, 1]) if i.std() > 0 and o.std() > 0 else 0.0
    return RequestLengths(i.mean(), o.mean(), i.std() / i.mean(), o.std() / o.mean(), correlation)


def _decode_steps_average(prompts, outputs) -> float:
    """Cached tokens per sequence averaged over every decode step of every request, counted step by step."""
    i, o = np.asarray(prompts, float), np.asarray(outputs, float)
    return float((o * (i + o / 2)).sum() / o.sum())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 40_000), st.integers(1, 40_000)), min_size=1, max_size=60))
def test_moments_give_the_step_by_step_average_of_any_set_of_requests(requests):
    prompts, outputs = zip(*requests)
    lengths = _from_sample(prompts, outputs)
    assert lengths.decode_context() == pytest.approx(_decode_steps_average(prompts, outputs), rel=1e-9)
    i = np.asarray(prompts, float)
    assert lengths.prompt_attention_span() == pytest.approx((i ** 2).sum() / i.sum(), rel=1e-9)


def test_equal_lengths_decode_over_the_prompt_and_half_the_output():
    assert RequestLengths(8192, 1024).decode_context() == 8192 + 512
    assert RequestLengths(8192, 1024).prompt_attention_span() == 8192
    assert RequestLengths(8192, 1024).fixed and not RequestLengths(8192, 1024, output_tokens_cv=0.1).fixed


def test_mlperf_deepseek_r1_set_reads_twice_the_kv_cache_its_means_suggest():
    """MLPerf's DeepSeek-R1 samples (4,388; mlperf-dashboard deepseek-r1.csv at 5a43d27): mean input 803.8, output
    4,043.4 tokens, cv 0.505 and 1.253, correlation -0.34; counted sample by sample the decode steps average 5,826
    cached tokens per sequence, against 2,826 from the means."""
    lengths = RequestLengths(803.8, 4043.4, 0.505, 1.253, -0.34)
    assert 803.8 + 4043.4 / 2 == pytest.approx(2825.5)
    assert lengths.decode_context() == pytest.approx(5826, rel=2e-3)


@pytest.fixture(scope="module")
def h100():
    scenario = scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 8}})
    return scenario, fabric_from_scenario(scenario)


def test_varying_outputs_raise_the_kv_reads_of_decode_and_nothing_else(h100):
    scenario, fabric = h100
    job = dict(model="llama3-70b", mode="static", tp=8, prefill_gpus=8, decode_gpus=8, batch=256, context=2048,
               output_tokens=2048, weight_bytes=1, kv_bytes=1)
    fixed = infer(scenario, fabric, **job)
    spread = infer(scenario, fabric, **job, output_tokens_cv=1.0)
    assert fixed.decode_context == 2048 + 1024
    assert spread.decode_context == 2048 + 2048  # (O/2)(1 + cv^2) with cv 1
    # KV bytes read per step scale with the cached tokens; weights, prefill and memory check do not move
    assert spread.decode_memory_s == pytest.approx(fixed.decode_memory_s * 4096 / 3072, rel=1e-9)
    assert spread.prefill_s == fixed.prefill_s
    assert spread.decode_memory_bytes == fixed.decode_memory_bytes
    assert spread.tpot_s > fixed.tpot_s and spread.tokens_per_s_per_gpu < fixed.tokens_per_s_per_gpu
    assert not fixed.lengths_vary and spread.lengths_vary


def test_varying_prompts_cost_prefill_attention_by_their_mean_square():
    catalog = default_catalog()
    model, gpu = catalog.get("models", "llama3-70b"), catalog.gpu("h100-sxm")
    profile = catalog.get("software", "serving-2025")
    tokens, context = 64 * 4096, 4096
    fixed = forward_cost(model, gpu, profile, tokens, context, 8, "fp8", 1, False)
    spread = forward_cost(model, gpu, profile, tokens, context, 8, "fp8", 1, False,
                          attention_span=RequestLengths(context, 1, context_cv=1.0).prompt_attention_span())
    per_token = attention_flops_per_token_per_layer(model, 2 * context) - attention_flops_per_token_per_layer(model, context)
    assert spread.flops - fixed.flops == pytest.approx(model.layers * tokens / 8 * per_token, rel=1e-9)
    assert spread.gemm_s == fixed.gemm_s and spread.attention_s > fixed.attention_s


def test_cli_takes_the_spreads_and_names_a_bad_one():
    runner = CliRunner()
    shown = runner.invoke(app, ["infer", "--no-evidence", "--model", "llama3-8b", "--mode", "static", "--tp", "1",
                                "--set", "cluster.gpus=8", "--batch", "64", "--context", "1000",
                                "--output-tokens", "1000", "--output-tokens-cv", "1"])
    assert shown.exit_code == 0, shown.output
    assert "KV cache a decode step reads" in shown.output and "2,000 tokens per sequence" in shown.output
    bad = runner.invoke(app, ["infer", "--no-evidence", "--output-tokens-cv", "-0.5"])
    assert bad.exit_code == 2 and "workload.infer.output_tokens_cv" in bad.output
