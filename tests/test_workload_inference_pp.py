"""Pipeline-parallel static serving: layer split, memory per GPU, cycle composition, hop bytes, bad pp."""

import numpy as np
import pytest

from fabricsim.catalog import default_catalog
from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario
from fabricsim.workload import catalog_entry, infer
from fabricsim.workload.forward import forward_cost
from fabricsim.workload.inference import tp_all_reduce_seconds, tp_logits_gather_seconds
from fabricsim.workload.serving_pipeline import cycle_seconds, hop_seconds, stage_layer_counts, stage_parameters, stages

SPEC = dict(model="llama3-405b", mode="static", tp=4, pp=2, prefill_gpus=8, decode_gpus=8, batch=277, context=9429,
            output_tokens=646, weight_bytes=1, kv_bytes=1, software="serving-2025")


@pytest.fixture(scope="module")
def h200():
    scenario = scenario_from_dict({"cluster": {"gpu": "h200-sxm", "gpus": 8}})
    return scenario, fabric_from_scenario(scenario)


def test_layers_split_like_vllm_get_pp_indices():
    assert stage_layer_counts(126, 2) == [63, 63]
    assert stage_layer_counts(61, 4) == [15, 15, 16, 15]  # remainder 1: the stage before the last
    assert stage_layer_counts(10, 4) == [2, 3, 3, 2]  # remainder 2: the two stages before the last
    assert stage_layer_counts(80, 1) == [80]
    assert sum(stage_layer_counts(61, 8)) == 61 and stage_layer_counts(61, 8)[-1] == 7


def test_deepseek_dense_layers_land_on_the_first_stage():
    model = default_catalog().sections["models"]["deepseek-v3"]  # 3 dense layers, then 58 MoE
    parts = stages(model, 4)
    assert [p.model.layers for p in parts] == stage_layer_counts(61, 4)
    assert [p.model.layers - p.model.moe_layers for p in parts] == [3, 0, 0, 0]


def test_memory_per_gpu_by_hand(h200):
    """Llama 3.1 405B, TP4 x PP2, FP8 weights and KV: stage 1 holds 63 layers + the output head + final norm over 4
    GPUs, and the KV cache of 63 layers x 8 KV heads x 128 x 2 (K, V) x 1 byte over 4 GPUs for all 277 sequences."""
    scenario, fabric = h200
    r = infer(scenario, fabric, **SPEC)
    model = default_catalog().sections["models"]["llama3-405b"]
    h, f, v = 16384, 53248, 128256
    layer = 2 * h * 128 * 128 + 2 * h * 8 * 128 + 3 * h * f + 2 * h  # q, o + k, v + SwiGLU + two RMSNorm gains
    first = 63 * layer + v * h
    last = 63 * layer + v * h + h
    weights = max(first, last) / 4
    kv = 277 * (9429 + 646) * 63 * 2 * 8 * 128 / 4
    assert r.decode_memory_bytes == pytest.approx(weights + kv, rel=1e-12)
    assert stage_parameters(stages(model, 2)[1], model)[0] == pytest.approx(last)
    # the same bytes as TP8 (weights and KV heads split 8 ways either way), up to the head held by one stage
    tp8 = infer(scenario, fabric, **{**SPEC, "tp": 8, "pp": 1})
    assert r.decode_memory_bytes == pytest.approx(tp8.decode_memory_bytes, rel=0.01)


def test_decode_cycle_is_pp_micro_batches_of_the_slowest_stage_plus_hops(h200):
    scenario, fabric = h200
    r = infer(scenario, fabric, **SPEC)
    model = default_catalog().sections["models"]["llama3-405b"]
    gpu = catalog_entry(scenario, "gpus", "h200-sxm", "cluster.gpu")
    profile = catalog_entry(scenario, "software", "serving-2025", "workload.infer.software")
    micro, context = 277 / 2, 9429 + 646 / 2
    stage_s = []
    for i, stage in enumerate(stages(model, 2)):
        cost = forward_cost(stage.model, gpu, profile, micro, context, 4, "fp8", 1, True, 1, micro, head=stage.last)
        gpus = i * 4 + np.arange(4)
        gather = tp_logits_gather_seconds(fabric, gpus, 4, micro, stage.model, "ecmp") if stage.last else 0.0
        stage_s.append(cost.total_s + tp_all_reduce_seconds(fabric, gpus, 4, micro, stage.model, "ecmp") + gather)
    hops = hop_seconds(fabric, 4, 2, micro, 16384, "ecmp")
    assert r.decode_p2p_s == pytest.approx(hops)
    # the last stage runs the same 63 layers + the output head, which outweighs the 0.04 ms of sends: stage-bound
    assert stage_s[1] - stage_s[0] > hops
    assert r.tpot_s == pytest.approx(2 * stage_s[1])
    assert r.tpot_s == pytest.approx(max(stage_s[0] + stage_s[1] + hops, 2 * max(stage_s)))
    assert r.decode_stage_s == pytest.approx(stage_s[1])
    assert r.tokens_per_s_per_gpu == pytest.approx(277 * 646 / (r.prefill_s + 646 * r.tpot_s) / 8)


def test_cycle_is_the_longer_of_one_trip_and_the_busiest_stage():
    assert cycle_seconds([1.0, 1.0], 0.1) == pytest.approx(2.1)
    assert cycle_seconds([3.0, 1.0], 0.1) == pytest.approx(6.0)  # stage-bound: the hops hide
    assert cycle_seconds([2.0], 0.0) == pytest.approx(2.0)


def test_hop_bytes_are_hidden_state_then_token_ids(h200, monkeypatch):
    scenario, fabric = h200
    sent = []
    import fabricsim.workload.serving_pipeline as sp

    def spy(fabric, src, dst, size, policy):
        sent.append((list(src), list(dst), size))
        return type("T", (), {"time_s": 1e-6})()

    monkeypatch.setattr(sp, "time_transfers", spy)
    assert sp.hop_seconds(fabric, 4, 2, 138.5, 16384, "ecmp") == pytest.approx(2e-6)
    assert sent[0] == ([0, 1, 2, 3], [4, 5, 6, 7], 138.5 * 16384 * 2)  # BF16 hidden state, every TP rank
    assert sent[1] == ([4, 5, 6, 7], [0, 1, 2, 3], 138.5 * 4)  # int32 token ids back to the first stage


def test_bad_pp_is_named(h200):
    scenario, fabric = h200
    with pytest.raises(FabricsimError, match=r"tp x pp = 4 x 3 = 12 GPUs"):
        infer(scenario, fabric, **{**SPEC, "pp": 3})
    with pytest.raises(FabricsimError, match="workload.infer.pp=2: pipeline parallelism is modelled in mode: static"):
        infer(scenario, fabric, **{**SPEC, "mode": "disaggregated"})
    with pytest.raises(FabricsimError, match="workload.infer.pp=2: software profile"):
        infer(scenario, fabric, **{**SPEC, "software": "trtllm-2025"})
    with pytest.raises(FabricsimError, match="heaviest of pp=2 stages"):
        infer(scenario, fabric, **{**SPEC, "batch": 2000})
    tiny = scenario_from_dict({"cluster": {"gpu": "h200-sxm", "gpus": 256}})
    with pytest.raises(FabricsimError, match="at most 126 pipeline stages"):
        infer(tiny, **{**SPEC, "tp": 1, "pp": 128})
