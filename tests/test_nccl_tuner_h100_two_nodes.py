"""NCCL's own cost model for a ring all-reduce on 2 nodes x 8 H100 (InfiniBand, one 400G NIC per GPU),
NCCL_ALGO=Ring and NCCL_MIN_CTAS=24 (the NVIDIA/nccl-tests#309 ring run), computed by hand from NCCL's
tuning.cc and checked against fabricsim's replica of it (nccl_model.latency_s / transfer_s / choose, as the
tuner predicts: latency + bytes / bandwidth, no launch overhead, no pipeline fill).

Ring graph (fabricsim's search): 8 rings at 45 GB/s, kept as found (compute capability 9.0, < 50 GB/s,
more than 4 rings: search.cc ncclTopoDupChannels), so the tuner's bus bandwidth is 8 x 45 = 360 GB/s
(tuning.cc: ``bw = nNodes <= 2 ? bwIntra : bwInter``; ``busBw = nChannels x bw``).  NCCL_MIN_CTAS raises
only comm->nChannels (connect.cc copyChannels), which ncclTopoGetAlgoTime reads in one place: the ring
Simple plateau test ``nBytes / (nChannels x nRanks) >= 64``.

v2.26.2 (and v2.23 to v2.30.7), microseconds and GB/s as tuning.cc writes them, 30 steps, 2 network steps:
  LL      6.6 + 28 x max(NVLink 0.6, netOverhead 1.0) + 2 x 2.7 = 40.0;      busBw min(llMaxBw 39.0, 360 x .5)
  LL128  14.0 + 28 x max(1.9, 1.0) + 2 x 4.0 = 75.2;                        busBw min(360 x .92, 8 x 36.7)
  Simple (8.4 + 28 x max(3.4, 1.0 x 3) + 2 x 14.0) x 1.4 (plateau) = 184.24; busBw 360
v2.18.5 to v2.22.3 charge 2 nNodes = 4 network steps: 43.4, 79.4, (8.4 + 26 x 3.4 + 4 x 14) x 1.4 = 213.92.
llMaxBw: multi-node communicators index llMaxBws by CPU vendor, 39.0 on Intel hosts (fabricsim's assumption)."""

from dataclasses import replace

import numpy as np
import pytest

from fabricsim.collectives.nccl_model import choose, latency_s, transfer_s, tuner_transfer_s
from fabricsim.collectives.timing import communicator, library
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario

MiB = 2**20
US = 1e-6
BUS = 30 / 16  # all-reduce bus bytes per byte on 16 ranks: 2 (n - 1) / n


def setup(lib: str, min_channels: int | None = 24):
    scenario = scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 16},
                                   "fabric": {"transport": "infiniband", "flows_per_connection": 2,
                                              "collective_library": lib}})
    design = fabric_from_scenario(scenario).design
    return library(design), communicator(design, np.arange(16), min_channels=min_channels)


def nccl_time_s(lib, comm, protocol, size):
    """NCCL's predicted time of the ring all-reduce (ncclTopoGetAlgoTime: latency + bytes / bandwidth)."""
    simple = tuner_transfer_s(comm, "all_reduce", "ring", size, 0.0)
    return (latency_s(lib, comm, "all_reduce", "ring", protocol, size)
            + transfer_s(lib, comm, "all_reduce", "ring", protocol, size, simple))


def pick(lib, comm, size):
    return choose(lib, comm, "all_reduce", {"ring": 0.0}, size).protocol


def test_ring_graph_and_channels_of_the_two_node_h100_run():
    _, comm = setup("nccl-2.26")
    assert (comm.nodes, comm.rings, comm.ring_speed_bytes_per_s, comm.graph_channels) == (2, 8, 45e9, 8)
    assert comm.channels == 24  # NCCL_MIN_CTAS=24 over connect.cc's 2 x 8
    assert "ll128" in comm.protocols


@pytest.mark.parametrize("lib, latency_us", [
    ("nccl-2.18", {"ll": 43.4, "ll128": 79.4, "simple": 152.8 * 1.4}),
    ("nccl-2.21", {"ll": 43.4, "ll128": 79.4, "simple": 152.8 * 1.4}),
    ("nccl-2.26", {"ll": 40.0, "ll128": 75.2, "simple": 131.6 * 1.4}),
    ("nccl", {"ll": 40.0, "ll128": 75.2, "simple": 131.6 * 1.4}),
])
def test_ring_latency_per_protocol_at_1_mib_is_ncclss(lib, latency_us):
    library_, comm = setup(lib)
    for protocol, expected in latency_us.items():
        assert latency_s(library_, comm, "all_reduce", "ring", protocol, MiB) == pytest.approx(expected * US), protocol


@pytest.mark.parametrize("protocol, busbw", [("ll", 39.0e9), ("ll128", 8 * 36.7e9), ("simple", 360e9)])
def test_ring_bus_bandwidth_per_protocol_is_ncclss(protocol, busbw):
    lib, comm = setup("nccl-2.26")
    size = 64 * MiB
    transfer = nccl_time_s(lib, comm, protocol, size) - latency_s(lib, comm, "all_reduce", "ring", protocol, size)
    assert size * BUS / transfer == pytest.approx(busbw, rel=1e-9)


@pytest.mark.parametrize("lib, size, times_us", [
    # v2.26.2: 40.0 + 1 MiB / (39.0 x 16/30 GB/s) = 90.4; 75.2 + 1 MiB / 156.6 = 81.9; 184.24 + 1 MiB / 192 = 189.7
    ("nccl-2.26", 1 * MiB, {"ll": 90.41, "ll128": 81.90, "simple": 189.70}),
    ("nccl-2.26", 2 * MiB, {"ll": 140.82, "ll128": 88.59, "simple": 195.16}),
    ("nccl-2.18", 1 * MiB, {"ll": 93.81, "ll128": 86.10, "simple": 219.38}),
])
def test_ncclss_own_prediction_picks_ring_ll128_at_1_and_2_mib(lib, size, times_us):
    library_, comm = setup(lib)
    for protocol, expected in times_us.items():
        assert nccl_time_s(library_, comm, protocol, size) == pytest.approx(expected * US, abs=0.01 * US), protocol
    assert pick(library_, comm, size) == "ll128"


def test_min_ctas_does_not_move_the_tuners_prediction_from_1_mib_up():
    """NCCL_MIN_CTAS enters ncclTopoGetAlgoTime only through the plateau test, already met at 1 MiB with 16
    channels (1 MiB / (16 x 16) = 4096 B >= 64): the predicted times are those of the default channels."""
    lib, with_min = setup("nccl-2.26", 24)
    _, default = setup("nccl-2.26", None)
    assert default.channels == 16
    for size in (MiB, 16 * MiB):
        for protocol in ("ll", "ll128", "simple"):
            assert nccl_time_s(lib, with_min, protocol, size) == pytest.approx(nccl_time_s(lib, default, protocol, size))


def test_ll128_to_simple_switch_of_ncclss_model_is_near_93_mb():
    """75.2 + S x 1.875 / 293.6 GB/s = 184.24 + S x 1.875 / 360 GB/s  ->  S = 109.04 us / (1.875 (1/293.6 - 1/360))
    = 92.6 MB: NCCL's model keeps LL128 from 1 MiB to 88 MiB on this ring."""
    lib, comm = setup("nccl-2.26")
    lo, hi = 64 * MiB, 128 * MiB
    while hi - lo > 1024:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if pick(lib, comm, mid) == "ll128" else (lo, mid)
    assert lo == pytest.approx(109.04e3 / (1.875 * (1 / 293.6 - 1 / 360)), rel=1e-3)


def test_without_ll128_ncclss_model_picks_ll_not_simple_up_to_3_4_mb():
    """Where tuning.cc leaves LL128 off (the ring graph's GPU-NIC path beyond PXN, i.e. PHB or SYS), the pick at
    1 and 2 MiB is LL, not Simple: 40.0 + S x 1.875 / 39.0 = 184.24 + S x 1.875 / 360 -> S = 3.36 MB.  Simple
    at 1 MiB needs LL excluded too (NCCL_PROTO, or a tuner plugin)."""
    lib, comm = setup("nccl-2.26")
    no_ll128 = replace(comm, protocols=("ll", "simple"))
    assert pick(lib, no_ll128, 1 * MiB) == "ll"
    assert pick(lib, no_ll128, 2 * MiB) == "ll"
    assert pick(lib, no_ll128, 4 * MiB) == "simple"
    lo, hi = 2 * MiB, 4 * MiB
    while hi - lo > 256:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if pick(lib, no_ll128, mid) == "ll" else (lo, mid)
    assert lo == pytest.approx(144.24e3 / (1.875 * (1 / 39.0 - 1 / 360)), rel=1e-3)
    only_simple = replace(comm, protocols=("simple",))
    assert pick(lib, only_simple, 1 * MiB) == "simple"
