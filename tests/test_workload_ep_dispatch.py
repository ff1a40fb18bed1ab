"""DeepEP's intranode kernels move tokens at a rate their SMs set (fabricsim.workload.ep_dispatch)."""

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
    what NVLink carries, so its all-to-all takes rows x hidden x 2 / 307 GB/s; HybridEP runs at the link's
    rate and is faster."""
    rate = sm_rate_bytes_per_s(CATALOG.gpu("h100-sxm"))
    deepep = _ep_call(16, "deepep")
    assert deepep.time_s == pytest.approx(deepep.size_bytes / rate, rel=1e-9)
    hybridep = _ep_call(16, "hybridep")
    assert hybridep.time_s < deepep.time_s
    assert hybridep.time_s < hybridep.size_bytes / rate


def test_no_cap_across_servers_or_for_other_dispatchers():
    """DeepEP's internode kernels are bound by the NICs, HybridEP's by the link: cap_ep_calls leaves them alone."""
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
