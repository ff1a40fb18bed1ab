"""NCCL's own cost model for one 8-GPU A100 NVSwitch node, computed by hand from NCCL's code and checked
against fabricsim's replica of it (nccl_model.latency_s / transfer_s, as the tuner predicts, no pipeline
fill: NCCL's ncclTopoGetAlgoTime is latency + bytes / bandwidth, tuning.cc v2.18.5 to v2.30.7).

Ring graph: search.cc speedArrayIntra tries 40 GB/s first; 240 GB/s of NVLink3 (12 x SM80_NVLINK_BW 20)
holds 6 rings; ncclTopoDupChannels doubles them (bwIntra >= 25, sm80) to 12 channels at 20 GB/s, so the
tuner's bus bandwidth is 12 x 20 = 240 GB/s; connect.cc runs 24 execution channels."""

import numpy as np
import pytest

from fabricsim.collectives.nccl_model import latency_s, transfer_s, tuner_transfer_s
from fabricsim.collectives.timing import communicator, library
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario

MiB = 2**20
BUS = 14 / 8  # all-reduce bus bytes per byte on 8 ranks: 2 (n - 1) / n


@pytest.fixture(scope="module")
def a100():
    fab = fabric_from_scenario(scenario_from_dict({"cluster": {"gpu": "a100-sxm", "gpus": 8}}))
    return library(fab.design), communicator(fab.design, np.arange(8))


def nccl_time_s(lib, comm, protocol, size):
    """NCCL's predicted time of a ring all-reduce (no launch overhead, no fill)."""
    simple = tuner_transfer_s(comm, "all_reduce", "ring", size, 0.0)
    return (latency_s(lib, comm, "all_reduce", "ring", protocol, size)
            + transfer_s(lib, comm, "all_reduce", "ring", protocol, size, simple))


def nccl_pick(lib, comm, size):
    return min(("ll", "ll128", "simple"), key=lambda p: nccl_time_s(lib, comm, p, size))


def test_a100_ring_graph_is_12_channels_at_20_gbs_and_24_execution_channels(a100):
    _, comm = a100
    assert (comm.rings, comm.ring_speed_bytes_per_s, comm.graph_channels, comm.channels) == (6, 40e9, 12, 24)
    assert comm.graph_channels * comm.ring_speed_bytes_per_s / 2 == 240e9  # 12 x 20 GB/s after DupChannels


@pytest.mark.parametrize("protocol, latency_us, busbw", [
    # tuning.cc (v2.30.7 values; v2.18.5 the same for these): base + 14 steps x NVLink hwLat
    ("ll", 6.6 + 14 * 0.6, 87.7e9),  # busBw min(llMaxBw Ampere N1 87.7, 240 x .5)  (v2.18.5: 240 / 4 = 60)
    ("ll128", 14.0 + 14 * 1.9, 220.8e9),  # min(240 x .92, 12 x perChMaxRingLL128Bw Ampere 20 = 240)
    ("simple", 8.4 + 14 * 3.4, 240e9),
])
def test_a100_ring_latency_and_bus_bandwidth_per_protocol_are_ncclss(a100, protocol, latency_us, busbw):
    lib, comm = a100
    size = 64 * MiB
    lat = latency_s(lib, comm, "all_reduce", "ring", protocol, size)
    assert lat == pytest.approx(latency_us * 1e-6, rel=1e-9)
    transfer = nccl_time_s(lib, comm, protocol, size) - lat
    assert size * BUS / transfer == pytest.approx(busbw, rel=1e-9)


@pytest.mark.parametrize("size, protocol", [
    (1 * MiB, "ll"),
    (2 * MiB, "ll"),  # LL 15.0 + 41.8 = 56.8 us < LL128 40.6 + 16.6 = 57.2 us
    (4 * MiB, "ll128"),
    (16 * MiB, "ll128"),  # 40.6 + 133.0 = 173.6 us < Simple 56.0 + 122.3 = 178.3 us
    (32 * MiB, "simple"),
    (128 * MiB, "simple"),
])
def test_ncclss_own_model_picks_ll128_only_up_to_about_24_mb_on_8_a100(a100, size, protocol):
    lib, comm = a100
    assert nccl_pick(lib, comm, size) == protocol


def test_ll128_to_simple_crossover_of_ncclss_model_on_8_a100(a100):
    """40.6 + S x 1.75 / 220.8 GB/s = 56.0 + S x 1.75 / 240 GB/s  ->  S = 15.4 us / (1.75 (1/220.8 - 1/240))
    = 24.29 MB (23.2 MiB); LL -> LL128: 25.6 us / (1.75 (1/87.7 - 1/220.8)) = 2.13 MB."""
    lib, comm = a100
    lo, hi = 16 * MiB, 32 * MiB
    while hi - lo > 1024:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if nccl_pick(lib, comm, mid) == "ll128" else (lo, mid)
    assert lo == pytest.approx(15.4e3 / (1.75 * (1 / 220.8 - 1 / 240)), rel=1e-3)
    lo, hi = 1 * MiB, 4 * MiB
    while hi - lo > 1024:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if nccl_pick(lib, comm, mid) == "ll" else (lo, mid)
    assert lo == pytest.approx(25.6e3 / (1.75 * (1 / 87.7 - 1 / 220.8)), rel=1e-3)


def test_no_channel_reduction_from_1_mib_on_8_ranks(a100):
    """enqueue.cc (topoGetAlgoInfo): channels drop while nBytes < nc x nThreads x threadThreshold; the ring LL
    threshold is multiplied by the rank count (tuning.cc).  With 24 channels on 8 ranks every protocol's
    bound is below 1 MiB, so NCCL runs all 24 channels from 1 MiB up (fabricsim has no reduction)."""
    lib, comm = a100
    threshold = dict(lib.thread_threshold_bytes)
    threshold["ll"] *= comm.ranks
    bounds = {p: comm.channels * lib.max_threads[p] * threshold[p] for p in ("ll", "ll128", "simple")}
    assert bounds == {"ll": 24 * 512 * 64, "ll128": 24 * 640 * 8, "simple": 24 * 512 * 64}
    assert max(bounds.values()) < MiB
