"""Disaggregated inference: KV-cache bytes, TTFT and TPOT composition, MoE all-to-all, bad input."""

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario
from fabricsim.workload import infer
from fabricsim.workload.forward import forward_cost
from fabricsim.workload.model import kv_cache_bytes_per_token, parameter_counts


@pytest.fixture(scope="module")
def nvl72():
    scenario = scenario_from_dict({"cluster": {"gpu": "gb200", "gpus": 144, "scale_up": "gb200-nvl72",
                                               "gpus_per_server": 4}})
    return scenario, fabric_from_scenario(scenario)


def test_kv_cache_bytes_gqa_and_mla_by_hand():
    models = default_catalog().sections["models"]
    assert kv_cache_bytes_per_token(models["llama3-70b"], 2) == 2 * 80 * 8 * 128 * 2  # 327,680 B
    assert kv_cache_bytes_per_token(models["deepseek-v3"], 2) == 61 * (512 + 64) * 2  # 70,272 B: MLA latent


def test_ttft_is_prefill_plus_kv_hand_over_and_tpot_sums_its_parts(nvl72):
    scenario, fabric = nvl72
    r = infer(scenario, fabric, model="deepseek-v3", prefill_gpus=32, decode_gpus=40, ep=40, batch=256, context=8192)
    assert r.kv_bytes_per_request == pytest.approx(70272 * 8192)
    assert r.ttft_s == pytest.approx(r.prefill_s + r.kv_transfer_s)
    assert r.tpot_s == pytest.approx(r.decode_compute_s + r.decode_tp_s + r.decode_a2a_s)
    assert r.decode_a2a_s > 0  # 58 MoE layers x dispatch + combine over the EP group
    assert r.prefill_a2a_s > 0 and r.prefill_s > r.prefill_a2a_s
    assert r.tokens_per_s_per_gpu == pytest.approx(256 / r.tpot_s / (40 + r.prefill_instances_per_decode * 32))


def test_mla_decodes_in_the_absorbed_latent_space():
    """DeepSeek-V3 decode attention: 2 x context x 128 heads x (576 + 512) FLOPs per token and layer, 3.4x the
    head-space count (192 + 128) that training uses."""
    catalog = default_catalog()
    model, gpu = catalog.get("models", "deepseek-v3"), catalog.gpu("h800-sxm")
    profile = catalog.get("software", "serving-2025")
    dense = forward_cost(model, gpu, profile, 1, 4096, 1, "fp8", 2, True, 1, 1)
    assert (576 + 512) / (192 + 128) == pytest.approx(3.4)
    attention = 2 * 4096 * 128 * (576 + 512) * model.layers
    gemm_flops = dense.flops - attention
    assert 0 < gemm_flops < 2 * 40e9  # weights a token multiplies (37B active, absorbed MLA GEMMs) ~ 2 x params
    # the latent cache (576 elements per token and layer, BF16) is read once per sequence
    assert dense.kv_bytes == pytest.approx(4096 * 61 * 576 * 2)


def test_decode_streams_weights_at_small_batch_and_two_batch_overlap_streams_them_twice(nvl72):
    scenario, fabric = nvl72
    gpu = fabric.design.gpu
    small = infer(scenario, fabric, model="llama3-70b", prefill_gpus=8, decode_gpus=8, tp=8, batch=1, context=4096)
    large = infer(scenario, fabric, model="llama3-70b", prefill_gpus=8, decode_gpus=8, tp=8, batch=64, context=4096)
    weights = parameter_counts(default_catalog().get("models", "llama3-70b")).total / 8  # FP8, one byte each
    gaps = 80 * 20 * default_catalog().get("software", "serving-2025").kernel_overhead_s  # ~20 kernels per layer
    assert weights / gpu.hbm_stream_bytes_per_s < small.decode_compute_s < 1.2 * weights / gpu.hbm_stream_bytes_per_s + gaps
    assert large.decode_tokens_per_s > 10 * small.decode_tokens_per_s
    one = infer(scenario, fabric, model="deepseek-v3", prefill_gpus=32, decode_gpus=64, batch=4096, context=4096)
    two = infer(scenario, fabric, model="deepseek-v3", prefill_gpus=32, decode_gpus=64, batch=4096, context=4096,
                two_batch_overlap=True)
    assert two.decode_compute_s > one.decode_compute_s  # half batches: the weights stream twice
    assert two.decode_a2a_s < one.decode_a2a_s  # the all-to-alls hide behind the other half's compute


def test_static_batch_throughput_is_batch_tokens_over_prefill_and_decode():
    scenario = scenario_from_dict({"cluster": {"gpus": 8}})
    r = infer(scenario, model="llama2-7b", mode="static", tp=1, prefill_gpus=1, decode_gpus=1, batch=64, context=128,
              output_tokens=128, software="trtllm-2023", kv_bytes=1)
    assert r.tokens_per_s_per_gpu == pytest.approx(64 * 128 / (r.prefill_s + 128 * r.tpot_s))
    # GQA decode kernels of that era stream each KV head once per query head: 8x the KV traffic for Llama 2 70B
    a = infer(scenario, model="llama2-70b", mode="static", tp=2, prefill_gpus=2, decode_gpus=2, batch=64, context=2048,
              output_tokens=2048, software="trtllm-2023", kv_bytes=1)
    b = infer(scenario, model="llama2-70b", mode="static", tp=2, prefill_gpus=2, decode_gpus=2, batch=64, context=2048,
              output_tokens=2048, software="serving-2025", kv_bytes=1)
    assert a.decode_memory_s == pytest.approx(8 * b.decode_memory_s, rel=1e-9)


def test_a_finite_benchmark_runs_in_waves_and_the_last_one_is_short():
    """1,000 requests of one length, 384 at a time: two full waves and one of 232 (trtllm-bench, stdev 0)."""
    scenario = scenario_from_dict({"cluster": {"gpus": 8}})
    job = dict(model="llama3-8b", mode="static", tp=1, prefill_gpus=1, decode_gpus=1, context=128, output_tokens=128,
               kv_bytes=1)
    full, tail = infer(scenario, **job, batch=384), infer(scenario, **job, batch=1000 % 384)
    run = infer(scenario, **job, batch=384, requests=1000)
    assert run.run_s == pytest.approx(2 * full.batch_s + tail.batch_s, rel=1e-12)
    assert run.tokens_per_s_per_gpu == pytest.approx(1000 * 128 / run.run_s, rel=1e-12)
    # the short wave streams the same weights for fewer sequences: the run is slower than the steady state, faster
    # than three full waves' time
    assert 1000 / 1152 * full.tokens_per_s_per_gpu < run.tokens_per_s_per_gpu < full.tokens_per_s_per_gpu
    whole = infer(scenario, **job, batch=250, requests=1000)  # four full waves: the steady state
    assert whole.tokens_per_s_per_gpu == pytest.approx(infer(scenario, **job, batch=250).tokens_per_s_per_gpu)
    # a pipelined instance runs the same waves through the queue of fabricsim.workload.finite_run: 2 full waves of 64
    # and one of 32 (a size the run times exactly), every prompt prefilled at the full batch's rate
    piped = {**job, "tp": 2, "pp": 2, "prefill_gpus": 4, "decode_gpus": 4}
    full, tail = infer(scenario, **piped, batch=64), infer(scenario, **piped, batch=32)
    run = infer(scenario, **piped, batch=64, requests=160)
    assert run.run_s == pytest.approx(160 / 64 * full.prefill_s + 128 * (2 * full.tpot_s + tail.tpot_s), rel=1e-9)


def test_attention_dp_ranks_that_prefill_on_their_own_stall_one_another():
    """8 attention-DP ranks of 128 sequences of 2,048 output tokens: each starts a prompt with p = 1/16 per
    iteration; 8p = 0.5 prompts fall in 1 - (15/16)^8 = 0.403 stalled iterations, 1.24 per stalled iteration."""
    from fabricsim.workload.inference import concurrent_prefills

    assert concurrent_prefills(8, 1024, 2048, "aligned") == 8
    assert concurrent_prefills(8, 1024, 2048, "independent") == pytest.approx(0.5 / (1 - (15 / 16) ** 8), rel=1e-12)
    assert concurrent_prefills(8, 8, 10**6, "independent") == pytest.approx(1.0, rel=1e-4)  # rare prompts: one at a time
    assert concurrent_prefills(8, 10**6, 1, "independent") == 8  # every rank prefills every iteration
    scenario = scenario_from_dict({"cluster": {"gpu": "h200-sxm", "gpus": 16}})
    job = dict(model="deepseek-v3", tp=1, ep=8, prefill_gpus=8, decode_gpus=8, batch=1024, prefill_batch=1, context=1024,
               output_tokens=2048, kv_bytes=2)
    aligned, independent = (infer(scenario, **job, attention_dp_contexts=c) for c in ("aligned", "independent"))
    assert independent.tpot_s == aligned.tpot_s  # the decode step is the same; the prompts cost more GPU time
    assert independent.prefill_instances_per_decode == pytest.approx(
        aligned.prefill_instances_per_decode * 8 / concurrent_prefills(8, 1024, 2048, "independent"), rel=1e-12)
    with pytest.raises(FabricsimError, match="attention_dp_contexts=independent: ranks that prefill on their own"):
        infer(scenario, **{**job, "tp": 8}, attention_dp_contexts="independent")


def test_bad_inference_input_is_named(nvl72):
    scenario, fabric = nvl72
    with pytest.raises(FabricsimError, match="ep=7 must divide decode_gpus=40"):
        infer(scenario, fabric, model="deepseek-v3", prefill_gpus=32, decode_gpus=40, ep=7)
    with pytest.raises(FabricsimError, match="more than the cluster's 144 GPUs"):
        infer(scenario, fabric, model="deepseek-v3", prefill_gpus=100, decode_gpus=100)
    with pytest.raises(FabricsimError, match=r"batch <= \d+ would fit"):
        infer(scenario, fabric, model="llama3-70b", prefill_gpus=8, decode_gpus=8, tp=8, batch=4096, context=131072)
    with pytest.raises(FabricsimError, match="is dense"):
        infer(scenario, fabric, model="llama3-70b", prefill_gpus=8, decode_gpus=8, tp=8, ep=8)
    # weights alone beyond a GPU's HBM: no batch size helps, and the message says so (not "batch <= 0")
    with pytest.raises(FabricsimError, match="the weights alone exceed it, so no batch fits") as raised:
        infer(scenario, fabric, model="llama3-405b", mode="static", tp=1, batch=1)
    assert "batch <=" not in str(raised.value)
    with pytest.raises(FabricsimError, match="one sequence's KV cache does not fit beside the weights"):
        infer(scenario, fabric, model="llama3-70b", mode="static", tp=1, batch=1, context=500_000)


def test_context_phase_pays_the_engines_per_layer_cost_and_decode_does_not():
    """TensorRT-LLM 0.5's context phase (no CUDA graphs): every layer of a prompt pass adds the profile's
    context_layer_s of idle GPU time; a decode step does not."""
    catalog = default_catalog()
    model, gpu = catalog.get("models", "llama2-7b"), catalog.get("gpus", "h100-sxm")
    trt, base = catalog.get("software", "trtllm-2023"), catalog.get("software", "serving-2025")
    assert trt.context_layer_s > 0 and base.context_layer_s == 0
    plain = trt.model_copy(update={"context_layer_s": 0.0})
    prompt = forward_cost(model, gpu, trt, 128, 128, 1, "fp8", 1, False)
    assert prompt.launch_s - forward_cost(model, gpu, plain, 128, 128, 1, "fp8", 1, False).launch_s \
        == pytest.approx(32 * trt.context_layer_s)
    decode = forward_cost(model, gpu, trt, 8, 128, 1, "fp8", 1, True)
    assert decode.launch_s == pytest.approx(forward_cost(model, gpu, plain, 8, 128, 1, "fp8", 1, True).launch_s)


def test_decode_reads_only_the_experts_its_tokens_reach():
    """DeepSeek-V3 decode, 4 sequences over EP 8: each expert is reached with probability 1 - (1 - 8/256)^4,
    so 32 x 0.1193 = 3.82 of a GPU's 32 experts are read; the routed rows (4 x 8 / 8 = 4 per GPU) are all
    computed, spread over those experts.  A prompt of 8,192 tokens reaches every expert."""
    from fabricsim.workload.layers import moe_layer_gemms
    from fabricsim.workload.moe import active_experts

    model = default_catalog().sections["models"]["deepseek-v3"]
    active = active_experts(model, 4, 32)
    assert active == pytest.approx(32 * (1 - (1 - 8 / 256) ** 4), rel=1e-12)
    assert active == pytest.approx(3.8164, abs=1e-4)
    assert active_experts(model, 8192, 32) == pytest.approx(32, rel=1e-9)
    per_expert = 0.5 * 8 * 8 / 256  # 0.5 tokens dispatched per GPU, EP 8
    experts = [g for g in moe_layer_gemms(model, 0.5, 1, 8, 1, per_expert, active) if g.name.startswith("experts")]
    assert all(g.batch == pytest.approx(active) for g in experts)
    assert all(g.m * g.batch == pytest.approx(per_expert * 32) for g in experts)  # every routed row computed
    gpu = default_catalog().gpu("h200-sxm")
    profile = default_catalog().get("software", "serving-2025")
    step = forward_cost(model, gpu, profile, 0.5, 2048, 1, "fp8", 1, True, 8, 0.5)
    all_read = forward_cost(model, gpu, profile, 0.5, 2048, 1, "fp8", 1, True, 8, 2048)  # every expert reached
    assert step.gemm_s < 0.5 * all_read.gemm_s  # the expert weights dominate a decode step's GEMM time


def test_experts_inside_the_attention_group_need_no_all_to_all(nvl72):
    """Tensor-parallel attention holds every token on every GPU of its group: with EP within the group the
    experts' outputs are summed by the layer's all-reduce (TensorRT-LLM, SGLang, vLLM without DP attention)."""
    from fabricsim.workload.inference import _a2a
    import numpy as np

    scenario, fabric = nvl72
    model = default_catalog().sections["models"]["deepseek-v3"]
    gpus = np.arange(8)
    assert _a2a(fabric, gpus, 8, 4.0, 8.0, model, "spray", tp=8) == 0.0
    assert _a2a(fabric, gpus, 8, 4.0, 8.0, model, "spray", tp=1) > 0.0
    tp8 = infer(scenario, fabric, model="deepseek-v3", prefill_gpus=8, decode_gpus=8, tp=8, ep=8, batch=64,
                context=1024)
    assert tp8.decode_a2a_s == 0.0 and tp8.prefill_a2a_s == 0.0 and tp8.decode_tp_s > 0
    # 64 sequences over EP 8 reach 32 x (1 - (31/32)^64) = 27.8 of each GPU's 32 experts
    assert tp8.local_experts == 32
    assert tp8.decode_active_experts == pytest.approx(32 * (1 - (1 - 8 / 256) ** 64), rel=1e-9)


def test_a_static_moe_batch_spreads_its_experts_over_the_tp_group():
    """DeepSeek-V3 FP8 on 8 H200 (TP 8): with EP 8 each GPU holds 1/8 of the experts (fits in 141 GB), reads
    the experts 64 sequences reach (27.8 of 32) and dispatches nothing; EP beyond the group is refused."""
    scenario = scenario_from_dict({"cluster": {"gpu": "h200-sxm", "gpus": 8}})
    fabric = fabric_from_scenario(scenario)
    r = infer(scenario, fabric, model="deepseek-v3", mode="static", tp=8, ep=8, batch=64, context=1024,
              output_tokens=1024, weight_bytes=1, kv_bytes=1)
    counts = parameter_counts(default_catalog().sections["models"]["deepseek-v3"])
    assert r.decode_memory_bytes > (counts.total - counts.routed_experts_total) / 8 + counts.routed_experts_total / 8
    assert r.decode_memory_bytes < 141e9
    assert r.local_experts == 32 and r.decode_active_experts == pytest.approx(32 * (1 - (1 - 8 / 256) ** 64))
    assert r.decode_a2a_s == 0.0
    with pytest.raises(FabricsimError, match="workload.infer.ep=16: a static batch runs on one tensor-parallel group"):
        infer(scenario, fabric, model="deepseek-v3", mode="static", tp=8, ep=16, batch=64)


def test_tp_decode_gathers_the_output_heads_logits():
    """TensorRT-LLM's column-parallel lm_head (gather_output=True) all-gathers every sequence's vocab logits."""
    import numpy as np

    from fabricsim.collectives.concurrent import time_groups
    from fabricsim.workload.inference import tp_all_reduce_seconds, tp_logits_gather_seconds

    scenario = scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 8}})
    fabric = fabric_from_scenario(scenario)
    model = default_catalog().sections["models"]["llama3-70b"]
    gpus = np.arange(8)
    gather = tp_logits_gather_seconds(fabric, gpus, 8, 806, model, "ecmp")
    # 806 sequences x 128,256 vocab x 2 B = 206,748,672 B gathered
    assert gather == pytest.approx(time_groups(fabric, "all_gather", "auto", gpus.reshape(1, 8), 206_748_672).time_s)
    # no faster than each GPU receiving 7/8 of it over NVLink4's 450 GB/s per direction: 0.402 ms
    assert gather > 206_748_672 * 7 / 8 / 450e9
    assert tp_logits_gather_seconds(fabric, gpus, 1, 806, model, "ecmp") == 0.0
    r = infer(scenario, fabric, model="llama3-70b", mode="static", tp=8, prefill_gpus=8, decode_gpus=8, batch=806,
              context=2048, output_tokens=2048, weight_bytes=1, kv_bytes=1, software="trtllm-2024")
    # 80 layers x 2 all-reduces of 806 x 8,192 x 2 B, plus the gather
    assert r.decode_tp_s == pytest.approx(tp_all_reduce_seconds(fabric, gpus, 8, 806, model, "ecmp") + gather)


def test_serving_norms_and_residual_adds_are_replicated_on_every_tp_rank():
    """Serving runs tensor parallelism without sequence parallelism: each rank norms and adds the residual of the whole
    hidden state, so a decode step's memory-bound seconds are a replicated part plus a part that shrinks as 1 / tp
    (the activation of the rank's own FFN columns); the replicated part -- two norms and two residual adds per
    layer -- is about half of a TP1 step's for Llama 3 70B."""
    from fabricsim.workload.forward import forward_cost

    catalog = default_catalog()
    model, gpu = catalog.get("models", "llama3-70b"), catalog.get("gpus", "h100-sxm")
    profile = catalog.get("software", "trtllm-2024")
    memory = {tp: forward_cost(model, gpu, profile, 806, 3072, tp, "fp8", 1, True).memory_s for tp in (1, 2, 4, 8)}
    sharded = 2 * (memory[1] - memory[2])  # m(tp) = replicated + sharded / tp
    replicated = memory[1] - sharded
    assert memory[4] == pytest.approx(replicated + sharded / 4, rel=1e-9)
    assert memory[8] == pytest.approx(replicated + sharded / 8, rel=1e-9)
    assert 0.35 < replicated / memory[1] < 0.6
