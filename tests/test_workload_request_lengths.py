"""Requests of varying lengths: the length-weighted KV context of decode steps, the prompts' attention span, and a
finite run's queue and drain."""

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
from fabricsim.workload import finite_run
from fabricsim.workload.finite_run import occupancy, output_lengths, simulate
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


# --- a finite run: the queue of requests and the drain at its end (fabricsim.workload.finite_run) ---------------


def _linear_step(batch: int) -> float:
    """A decode step that streams its weights (1 ms) and adds 10 us per sequence: linear, so the run's grid
    interpolation is exact."""
    return 1e-3 + 1e-5 * batch


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 500), min_size=1, max_size=300), st.integers(1, 64))
def test_every_token_is_decoded_once_and_the_batch_never_overflows(lengths, batch):
    active, steps, ends = occupancy(np.asarray(lengths), batch)
    assert np.sum(active * steps) == pytest.approx(sum(lengths))
    assert active.max() <= min(batch, len(lengths)) and active.min() >= 1
    assert np.all(np.diff(active) <= 0)  # full while requests wait, then fewer at each finish
    assert ends[-1] == np.sum(steps) >= max(lengths)


def test_equal_lengths_run_in_waves_the_last_one_short():
    batch, length = 8, 100
    active, steps, ends = occupancy(np.full(2 * batch + 3, float(length)), batch)
    assert list(zip(active, steps, ends)) == [(8, 100, 100), (8, 100, 200), (3, 100, 300)]
    run = simulate(2 * batch + 3, batch, length, 0.0, _linear_step)
    assert run.tokens == (2 * batch + 3) * length
    assert run.seconds == pytest.approx(200 * _linear_step(8) + 100 * _linear_step(3))
    # 19 requests: 8 done at the first wave's end, 8 at the second's, 3 at the third's
    assert run.half_done_s == pytest.approx(200 * _linear_step(8))
    assert run.nine_tenths_done_s == pytest.approx(run.seconds)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3000), st.integers(1, 512), st.sampled_from([0.0, 0.4, 1.25, 3.0]))
def test_a_finite_run_is_never_faster_than_its_full_batch(requests, batch, cv):
    run = simulate(requests, batch, 300, cv, _linear_step)
    full = min(batch, requests)
    assert run.seconds >= run.tokens / full * _linear_step(full) * (1 - 1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3000), st.integers(1, 512), st.sampled_from([0.0, 0.4, 1.25, 3.0]))
def test_half_the_requests_are_done_before_nine_tenths_and_both_before_the_end(requests, batch, cv):
    run = simulate(requests, batch, 300, cv, _linear_step)
    assert 0 < run.half_done_s <= run.nine_tenths_done_s <= run.seconds * (1 + 1e-12)


def test_gamma_lengths_keep_the_runs_mean_and_spread():
    lengths = output_lengths(50_000, 3828, 1.253)
    assert lengths.mean() == pytest.approx(3828, rel=5e-3)
    assert lengths.std() / lengths.mean() == pytest.approx(1.253, rel=2e-2)
    assert np.all(output_lengths(10, 128, 0.0) == 128)


def test_requests_beyond_the_simulated_ones_run_at_the_full_batch():
    cap = finite_run.MAX_SIMULATED_REQUESTS
    base = simulate(cap, 256, 500, 1.0, _linear_step)
    more = simulate(cap + 10_000, 256, 500, 1.0, _linear_step)
    assert more.seconds - base.seconds == pytest.approx(10_000 * 500 / 256 * _linear_step(256))
    assert more.tokens == pytest.approx(output_lengths(cap, 500, 1.0).sum() + 10_000 * 500)
    assert more.nine_tenths_done_s == 0  # not simulated: not reported


def test_the_drain_of_heavy_tailed_outputs_costs_a_short_run_most():
    """MLPerf's DeepSeek-R1 layout (1,032 in flight, outputs of mean 3,828 and cv 1.25): 26,328 requests keep
    ~90% of the full batch's rate, one pass of the 4,388 samples ~60% (decode steps of 15 ms + 48 us per sequence,
    fabricsim's steps of that deployment: 14.7 ms at 8 sequences, 65.2 ms at 1,032)."""
    def step(batch: int) -> float:
        return 15e-3 + 48e-6 * batch

    rates = {}
    for requests in (4388, 26328):
        run = simulate(requests, 1032, 3828, 1.253, step)
        rates[requests] = run.tokens / run.seconds / (1032 / step(1032))
    assert 0.5 < rates[4388] < 0.75 and 0.85 < rates[26328] < 0.97


def test_a_disaggregated_run_serves_fewer_tokens_per_second_than_its_steady_state(h100):
    scenario, fabric = h100
    job = dict(model="llama3-8b", tp=1, prefill_gpus=2, decode_gpus=2, batch=64, context=512, output_tokens=512,
               output_tokens_cv=1.0)
    steady = infer(scenario, fabric, **job)
    run = infer(scenario, fabric, **job, requests=640)
    assert run.requests == 640 and 0 < run.run_steady_s < run.run_s
    assert run.run_steady_s == pytest.approx(640 * 512 * steady.tpot_s / 64)
    assert run.tokens_per_s_per_gpu == pytest.approx(steady.tokens_per_s_per_gpu * run.run_steady_s / run.run_s)


def test_a_static_run_of_varying_lengths_prefills_in_series(h100):
    scenario, fabric = h100
    job = dict(model="llama3-8b", mode="static", tp=1, batch=64, context=512, output_tokens=512, output_tokens_cv=1.0)
    steady = infer(scenario, fabric, **job)
    run = infer(scenario, fabric, **job, requests=640)
    assert run.run_steady_s == pytest.approx(10 * steady.batch_s)
    assert run.run_s > run.run_steady_s


def test_a_pipelined_instance_runs_a_finite_run_too(h100):
    scenario, fabric = h100
    job = dict(model="llama3-8b", mode="static", tp=2, pp=2, batch=64, context=512, output_tokens=512,
               output_tokens_cv=1.0)
    steady, run = infer(scenario, fabric, **job), infer(scenario, fabric, **job, requests=640)
    assert run.run_steady_s == pytest.approx(10 * steady.batch_s)
    assert run.run_steady_s < run.run_s and 0 < run.run_half_done_s < run.run_nine_tenths_done_s < run.run_s
