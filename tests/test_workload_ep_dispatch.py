"""DeepEP's intranode kernels move tokens at a rate their SMs set, HybridEP's at its Torch API's measured rate
(fabricsim.workload.ep_dispatch)."""

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.scenario import scenario_from_dict
from fabricsim.workload import train
from fabricsim.workload.ep_dispatch import DEEPEP_SMS, sm_rate_bytes_per_s

CATALOG = default_catalog()


def test_sm_rate_by_hand():
    """H100, 20 SMs (tilescale PR 40: 328.97 GB/s dispatch, 287.14 GB/s combine): equal bytes each way take
    S/328.97e9 + S/287.14e9 seconds, i.e. 306.6 GB/s on average; ten SMs move half as much."""
    h100 = CATALOG.gpu("h100-sxm")
    assert DEEPEP_SMS == 20
    assert sm_rate_bytes_per_s(h100) == pytest.approx(2 / (1 / 328.97e9 + 1 / 287.14e9), rel=1e-3)
    assert sm_rate_bytes_per_s(h100, 10) == pytest.approx(sm_rate_bytes_per_s(h100) / 2)
    b200 = CATALOG.gpu("b200")  # 16 SMs reproduce the B200 measurement they come from: 348 / 302 GB/s
    assert sm_rate_bytes_per_s(b200, 16) == pytest.approx(2 / (1 / 348e9 + 1 / 302e9), rel=1e-6)
    assert sm_rate_bytes_per_s(CATALOG.gpu("a100-sxm")) is None  # not measured: no cap


def _ep_call(gpus, dispatcher, gpu="h100-sxm"):
    scenario = scenario_from_dict({"cluster": {"gpu": gpu, "gpus": gpus}})
    result = train(scenario, model="qwen3-30b-a3b", tp=1, pp=2, dp=gpus // 2, ep=8, expert_tp=1, global_batch=gpus,
                   micro_batch=1, seq=4096, precision="bf16", software="megatron-core-2025", gradient_reduce_bytes=2,
                   moe_dispatcher=dispatcher, communication="analytic")
    return next(c for c in result.calls if c.kind == "ep")


def test_deepep_inside_a_server_takes_its_sm_bound_time_hybridep_does_not():
    """Qwen3-30B, PP2 x EP8 on two 8-GPU H100 servers (each expert group inside one): DeepEP on 20 SMs moves each rank's rows at ~307 GB/s, below
    what NVLink carries, so its all-to-all takes rows x hidden x 2 / 307 GB/s; HybridEP (no H100 NVLink measurement
    in the catalog) runs at the link's rate and is faster."""
    rate = sm_rate_bytes_per_s(CATALOG.gpu("h100-sxm"))
    deepep = _ep_call(16, "deepep")
    assert deepep.time_s == pytest.approx(deepep.size_bytes / rate, rel=1e-9)
    hybridep = _ep_call(16, "hybridep")
    assert hybridep.time_s < deepep.time_s
    assert hybridep.time_s < hybridep.size_bytes / rate


def test_no_cap_across_servers_or_for_other_dispatchers():
    """DeepEP's internode kernels are bound by the NICs, and HybridEP is measured on no H100 NVLink: cap_ep_calls
    leaves them alone."""
    from copy import deepcopy

    from fabricsim.workload.ep_dispatch import cap_ep_calls

    call = _ep_call(16, "hybridep")
    gpu = CATALOG.gpu("h100-sxm")
    for dispatcher, intranode in (("deepep", False), ("hybridep", True), ("alltoall", True)):
        calls = [deepcopy(call)]
        cap_ep_calls(calls, gpu, dispatcher, intranode)
        assert calls[0].time_s == call.time_s
    calls = [deepcopy(call)]
    cap_ep_calls(calls, gpu, "deepep", True)
    assert calls[0].time_s == pytest.approx(call.size_bytes / sm_rate_bytes_per_s(gpu))


def test_hybridep_torch_api_rate_by_hand():
    """HybridEP's Torch API on GB200 (DeepEP hybrid-ep README): 8 ranks on 16 SMs 550.10 / 538.44 GB/s dispatch /
    combine (harmonic mean 544.2); 32 SMs at 8 ranks 545.71 / 568.94; a 64-rank NVL72 group takes the 36-rank row (the
    most measured), 20 SMs the 16-SM column, 4 ranks the fewest measured (8); H100 has no NVLink measurement."""
    from fabricsim.workload.ep_dispatch import hybridep_rate_bytes_per_s as rate

    gb200 = CATALOG.gpu("gb200")
    mean = lambda d, c: 2 / (1 / d + 1 / c)  # noqa: E731
    assert rate(gb200, 16, 8) == pytest.approx(mean(550.10e9, 538.44e9), rel=1e-9)
    assert rate(gb200, 32, 8) == pytest.approx(mean(545.71e9, 568.94e9), rel=1e-9)
    assert rate(gb200, 32, 64) == pytest.approx(mean(479.02e9, 447.89e9), rel=1e-9)
    assert rate(gb200, 20, 8) == rate(gb200, 16, 8) and rate(gb200, 16, 4) == rate(gb200, 16, 8)
    assert rate(CATALOG.gpu("b200"), 32, 8) == pytest.approx(mean(535.94e9, 530.86e9), rel=1e-9)
    assert rate(CATALOG.gpu("h100-sxm"), 16, 8) is None


def test_hybridep_inside_an_nvlink_domain_takes_its_torch_api_time():
    """Qwen3-30B EP8 on 16 B200: each HybridEP all-to-all moves its rows at no more than the measured Torch API rate
    (the fabric's NVLink time alone is shorter)."""
    from fabricsim.workload.ep_dispatch import hybridep_rate_bytes_per_s

    call = _ep_call(16, "hybridep", gpu="b200")
    assert call.time_s == pytest.approx(call.size_bytes / hybridep_rate_bytes_per_s(CATALOG.gpu("b200"), 16, 8))
    assert call.size_bytes / call.time_s < 0.8 * 900e9  # well below NVLink 5's 900 GB/s a direction


def test_dispatcher_sms_defaults_and_override():
    """Megatron-Core defaults: DeepEP 20, HybridEP 16 SMs; NCCL's all-to-all leaves it to the profile (None)."""
    from fabricsim.workload.ep_dispatch import HYBRIDEP_SMS, dispatcher_sms

    assert (dispatcher_sms("deepep"), dispatcher_sms("hybridep"), dispatcher_sms("alltoall")) == (20, HYBRIDEP_SMS, None)
    assert HYBRIDEP_SMS == 16 and dispatcher_sms("hybridep", 32) == 32 and dispatcher_sms("alltoall", 8) == 8


def _overlapped(sms):
    """Qwen3-30B on 8 B200, EP8 HybridEP with the merged-1F1B all-to-all overlap, 4 micro-batches (B200's HybridEP
    rate is measured at 16 SMs only, so the all-to-all's time does not move with the SMs given to it)."""
    scenario = scenario_from_dict({"cluster": {"gpu": "b200", "gpus": 8}})
    return train(scenario, model="qwen3-30b-a3b", tp=1, pp=1, dp=8, ep=8, expert_tp=1, global_batch=32, micro_batch=1,
                 seq=4096, precision="fp8", fp8_recipe="mxfp8", software="megatron-core-2025", moe_dispatcher="hybridep",
                 moe_a2a_overlap=True, recompute="none", communication="analytic", ep_dispatcher_sms=sms)


def test_hidden_all_to_all_slows_compute_by_the_dispatchers_sms():
    """While an all-to-all hides under compute its kernels hold their SMs: the SM cost of the hidden EP time scales
    with the dispatcher's SMs (16 -> 32 adds 16 / sm_count of the hidden EP time; the rest of the comm keeps the
    profile's comm_sms), nothing else moves."""
    base, wide = _overlapped(16), _overlapped(32)
    sm_count = CATALOG.gpu("b200").sm_count
    hidden_ep = base.exposure.hidden_per_micro["ep"]
    assert hidden_ep > 0 and wide.exposure.hidden_per_micro == base.exposure.hidden_per_micro
    extra = wide.exposure.slowdown_per_micro - base.exposure.slowdown_per_micro
    assert extra == pytest.approx((32 - 16) / sm_count * hidden_ep, rel=1e-9)
    assert base.exposure.slowdown_per_micro >= 16 / sm_count * hidden_ep  # DP hidden under backward adds its share
    assert wide.breakdown_s["compute"] == base.breakdown_s["compute"]
    assert wide.breakdown_s.get("exposed EP comm", 0.0) == base.breakdown_s.get("exposed EP comm", 0.0)


def test_dispatcher_sms_must_leave_sms_to_the_compute():
    from fabricsim.errors import FabricsimError

    with pytest.raises(FabricsimError, match="ep_dispatcher_sms=148: b200 has 148 SMs"):
        scenario = scenario_from_dict({"cluster": {"gpu": "b200", "gpus": 8}})
        train(scenario, model="qwen3-30b-a3b", tp=1, pp=1, dp=8, ep=8, expert_tp=1, global_batch=8, micro_batch=1,
              seq=4096, moe_dispatcher="hybridep", communication="analytic", ep_dispatcher_sms=148)


def test_hybridep_sends_each_rows_fp32_probabilities_for_its_domains_experts():
    """HybridEP: experts per rank x ranks per NVLink domain FP32 values per dispatched row (hybrid_ep_backend.cuh)."""
    from fabricsim.workload.ep_dispatch import prob_bytes_per_row

    assert prob_bytes_per_row("hybridep", 128, 8, 72) == 4 * 16 * 8  # Qwen3-30B, EP8 inside an NVL72 rack: 512 B
    assert prob_bytes_per_row("hybridep", 256, 64, 8) == 4 * 4 * 8  # DeepSeek-V3, EP64 over 8-GPU domains: 128 B
    assert prob_bytes_per_row("alltoall", 128, 8, 72) == 0.0
    assert prob_bytes_per_row("deepep", 128, 8, 8) == 0.0
    assert prob_bytes_per_row("hybridep", 128, 1, 72) == 0.0


def test_the_probabilities_ride_on_half_of_the_all_to_alls():
    """plan_calls sizes the EP call at the mean of the four all-to-alls: rows x (2 h + extra / 2)."""
    import numpy as np
    from types import SimpleNamespace

    from fabricsim.workload.comms import plan_calls
    from fabricsim.workload.parallelism import Parallelism

    model = SimpleNamespace(hidden_size=2048, experts_per_token=8, kv_heads=4, head_dim=128, layers=48)
    par = Parallelism(tp=1, pp=1, cp=1, dp=8, ep=8)
    groups = SimpleNamespace(ep=np.arange(8).reshape(1, 8), dp_cp=np.arange(8).reshape(1, 8),
                             edp=np.arange(8).reshape(8, 1), tp=np.arange(8).reshape(8, 1))
    plain, extra = (next(c for c in plan_calls(model, par, groups, 4096, 1, "none", 48, 48, 0.0, 0.0, 2,
                                               ep_copies=8.0, ep_row_extra_bytes=e) if c.kind == "ep")
                    for e in (0.0, 512.0))
    assert plain.size_bytes == 4096 * 8 * 2048 * 2
    assert extra.size_bytes == 4096 * 8 * (2048 * 2 + 256)


def test_deepep_across_nvl72_trays_runs_at_the_measured_multi_node_nvlink_rate():
    """NVIDIA's GB200 notes: DeepEP at EP32 across NVL72 trays, 24 SMs: ~400 GB/s dispatch, ~190 GB/s combine
    (harmonic mean 257.6 GB/s); a group inside one tray keeps the 8-rank intranode rate; a GPU without a
    multi-node-NVLink measurement (H100) gets no cap across servers."""
    from copy import deepcopy

    from fabricsim.workload.ep_dispatch import cap_ep_calls
    from fabricsim.workload.moe import forwarding_domain

    gb200 = CATALOG.gpu("gb200")
    assert sm_rate_bytes_per_s(gb200, 24, mnnvl=True) == pytest.approx(2 / (1 / 400e9 + 1 / 190e9), rel=1e-3)
    assert sm_rate_bytes_per_s(gb200, 24) > sm_rate_bytes_per_s(gb200, 24, mnnvl=True)
    call = _ep_call(16, "hybridep")
    capped = [deepcopy(call)]
    assert cap_ep_calls(capped, gb200, "deepep", False, 24, mnnvl=True) is not None
    assert capped[0].time_s == pytest.approx(call.size_bytes / sm_rate_bytes_per_s(gb200, 24, mnnvl=True))
    uncapped = [deepcopy(call)]
    assert cap_ep_calls(uncapped, CATALOG.gpu("h100-sxm"), "deepep", False, 24, mnnvl=True) is None
    assert uncapped[0].time_s == call.time_s
    # DeepEP's NVLink kernels reach the whole NVL72 domain only where that path is measured
    assert forwarding_domain("deepep", 72, 4, deepep_mnnvl=True) == 72
    assert forwarding_domain("deepep", 72, 4) == 4 and forwarding_domain("hybridep", 72, 4) == 72


def test_hybridep_beats_deepep_across_nvl72_trays_as_nvidia_measured():
    """The notes' roadmap: switching DeepSeek-V3's EP32 dispatch from DeepEP to HybridEP on GB200 NVL72 gained 13.7%
    (829.93 -> 943.56 TFLOPS); the model must order them the same way."""
    scenario = scenario_from_dict({"cluster": {"gpu": "gb200", "gpus": 288}})
    job = dict(model="deepseek-v3", tp=1, pp=8, virtual_stages=4, ep=32, dp=32, global_batch=2048, micro_batch=1,
               seq=4096, precision="fp8", fp8_recipe="mxfp8", software="megatron-core-2025", zero=1,
               recompute="selective", recompute_modules=["mlp", "moe_act"], first_stage_layers=7, last_stage_layers=6,
               mtp=0, gpus=256, cuda_graph_scope=["attn", "moe_router", "moe_preprocess"])
    deepep = train(scenario, **job, moe_dispatcher="deepep", ep_dispatcher_sms=24)
    hybridep = train(scenario, **job, moe_dispatcher="hybridep")
    assert hybridep.tokens_per_s_per_gpu > 1.05 * deepep.tokens_per_s_per_gpu
