"""Disaggregated inference: KV-cache bytes, TTFT and TPOT composition, MoE all-to-all, bad input."""

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario
from fabricsim.workload import infer
from fabricsim.workload.model import forward_flops_per_token, kv_cache_bytes_per_token


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
    assert r.tpot_s == pytest.approx(max(r.decode_compute_s, r.decode_memory_s) + r.decode_tp_s + r.decode_a2a_s)
    assert r.decode_a2a_s > 0  # 58 MoE layers x dispatch + combine over the EP group
    # prefill compute: the prompt's forward FLOPs on one attention group (tp=1) at FP8 x matmul efficiency
    gpu = fabric.design.gpu
    model = default_catalog().get("models", "deepseek-v3")
    compute = forward_flops_per_token(model, 4096) * 8192 / (gpu.fp8_dense_flops * gpu.matmul_efficiency)
    assert r.prefill_s == pytest.approx(compute + r.prefill_a2a_s, rel=1e-9)
    assert r.prefill_a2a_s > 0
    assert r.tokens_per_s_per_gpu == pytest.approx(256 / r.tpot_s / (40 + r.prefill_instances_per_decode * 32))


def test_decode_is_memory_bound_at_small_batch_and_compute_grows_with_batch(nvl72):
    scenario, fabric = nvl72
    small = infer(scenario, fabric, model="llama3-70b", prefill_gpus=8, decode_gpus=8, tp=8, batch=1, context=4096)
    large = infer(scenario, fabric, model="llama3-70b", prefill_gpus=8, decode_gpus=8, tp=8, batch=64, context=4096)
    assert small.decode_memory_s > small.decode_compute_s
    assert large.decode_compute_s == pytest.approx(64 * small.decode_compute_s, rel=1e-9)
    assert large.decode_tokens_per_s > 10 * small.decode_tokens_per_s


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
