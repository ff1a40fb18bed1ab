"""NCCL's point-to-point kernel as it schedules all-to-all and send/recv (collectives/p2p_copy.py): hand counts of
its channels, parts and round bases (NVIDIA/nccl v2.30.7 src/graph/paths.cc, src/enqueue.cc, src/include/channel.h),
the bytes each CTA loads and stores (src/device/sendrecv.h), and the GB300 / GB200 / B300 all-to-all rows the copy
bound explains (oracle-quickstart/oci-gpu-quickstarts, commit 2a523ef)."""

from __future__ import annotations

import numpy as np
import pytest

from fabricsim.catalog import load_catalog
from fabricsim.collectives import p2p_copy
from fabricsim.collectives.api import run_collective
from fabricsim.collectives.nccl_model import copy_bound_s
from fabricsim.collectives.timing import communicator, library
from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario
from fabricsim.topology.design import design_fabric

GiB, MiB = 2**30, 2**20
RATE = 91.62e9  # collective_libraries nccl per_channel_p2p_copy_bytes_per_s.blackwell (fitted)
ROCE = {"transport": "roce", "switch": "spectrum-4", "port_speed": "400G"}


def _design(gpu: str, gpus: int, rack: bool = True, **fabric):
    cluster = {"gpu": gpu, "gpus": gpus}
    if rack:
        cluster |= {"scale_up": f"{gpu}-nvl72", "gpus_per_server": 4}
    return design_fabric(scenario_from_dict({"cluster": cluster, "fabric": {**ROCE, **fabric}}))


def _setup(design, ranks: int):
    return library(design), communicator(design, np.arange(ranks))


@pytest.fixture(scope="module")
def gb300():
    return _design("gb300", 72)


def test_channels_are_ncclss_counts(gb300):
    """One NVLink 5 domain: 32 ring channels -> 32 p2p channels; 18 NVLinks -> 36 per peer, pow2Up 64, at most 32.
    8 H100 (24 ring channels): 32 and 32, the NCCL log line '24 coll channels, ... 32 p2p channels, 32 p2p channels
    per peer'.  Across nodes the per-peer count is the NIC's ceil(GB/s / 14), halved while it times ceil(ranks / 8)
    exceeds the p2p channels."""
    lib, comm = _setup(gb300, 8)
    assert comm.channels == 32 and p2p_copy.p2p_channels(lib, comm) == (32, 32)
    h100 = design_fabric(scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 256}}))
    lib_h, comm_h = _setup(h100, 8)
    assert comm_h.channels == 24 and p2p_copy.p2p_channels(lib_h, comm_h) == (32, 32)
    two_nodes = communicator(h100, np.arange(16))  # 400G NIC: ceil(50 / 14) = 4; 4 x ceil(16 / 8) = 8 <= 16
    assert (two_nodes.channels, p2p_copy.p2p_channels(lib_h, two_nodes)) == (16, (16, 4))
    assert p2p_copy.p2p_channels(lib_h, communicator(h100, np.arange(64))) == (16, 2)  # 4 x 8 > 16: halved once
    assert p2p_copy.p2p_channels(lib_h, communicator(h100, np.arange(256))) == (16, 1)
    racks = _design("gb300", 144)  # 2 x 400G per GPU: ceil(100 / 14) = 8 -> halved to 2 for 128 ranks
    assert p2p_copy.p2p_channels(*_setup(racks, 128)) == (32, 2)


@pytest.mark.parametrize("ranks, size, parts", [
    (4, 16 * GiB, 32),   # 4 GiB per peer: starts on 32 / 4 = 8 channels, parts of 512 MiB > 16 MiB double it to 32
    (8, 16 * GiB, 32),
    (64, 16 * GiB, 16),  # 256 MiB per peer: 1 -> 16 channels of 16 MiB (maxPart = 32 x 512 KiB)
    (64, 8 * GiB, 8),
    (64, 4 * GiB, 4),
    (8, 512 * 1024, 1),  # 64 KiB per peer: one channel (minPart = 512 KiB / 8)
])
def test_a_peers_parts(gb300, ranks, size, parts):
    lib, comm = _setup(gb300, ranks)
    assert p2p_copy.chunk_bytes(lib, comm) == 512 * 1024
    assert p2p_copy.peer_channels(lib, comm, size / ranks) == parts


def test_round_bases():
    """One node: reverseBits(round) over log2(32) bits; across nodes the 8 rounds of a group share a base."""
    one = _design("gb300", 8)
    comm = communicator(one, np.arange(8))
    assert list(p2p_copy.round_bases(comm, np.arange(8), 32)) == [0, 16, 8, 24, 4, 20, 12, 28]
    two = communicator(_design("b300", 16, rack=False), np.arange(16))
    assert list(p2p_copy.round_bases(two, np.arange(16), 32)) == [0] * 8 + [16] * 8


@pytest.mark.parametrize("ranks, size, in_place, per_channel", [
    (4, 16 * GiB, False, 14 * 128 * MiB),  # own block 2 + 3 peers x 4, 128 MiB parts on every channel
    (4, 16 * GiB, True, 12 * 128 * MiB),   # in place: no own block
    (8, 16 * GiB, False, 30 * 64 * MiB),   # 2 + 7 x 4
])
def test_channel_bytes_are_the_hand_count(gb300, ranks, size, in_place, per_channel):
    lib, comm = _setup(gb300, ranks)
    loads = p2p_copy.channel_bytes(lib, comm, "all_to_all", size, in_place)
    assert loads.size == 32 and np.all(loads == per_channel)


@pytest.mark.parametrize("ranks, size", [(64, 16 * GiB), (64, 4 * GiB), (72, 1 * GiB), (5, 3 * GiB + 12)])
def test_channel_bytes_add_up(gb300, ranks, size):
    """Every byte sent and received is loaded and stored once by a CTA (4 per byte), the own block copied (2)."""
    lib, comm = _setup(gb300, ranks)
    peer = size / ranks
    loads = p2p_copy.channel_bytes(lib, comm, "all_to_all", size)
    assert loads.sum() == pytest.approx(4 * peer * (ranks - 1) + 2 * peer, rel=1e-12)
    assert p2p_copy.channel_bytes(lib, comm, "send_recv", size).sum() == pytest.approx(4 * size, rel=1e-12)


def test_the_bound_and_what_it_leaves_alone(gb300):
    lib, comm = _setup(gb300, 4)
    assert copy_bound_s(lib, comm, "all_to_all", "direct", "simple", 16 * GiB) == pytest.approx(
        14 * 128 * MiB / RATE, rel=1e-12)
    assert copy_bound_s(lib, comm, "all_to_all", "direct", "ll", 16 * GiB) == 0.0
    assert copy_bound_s(lib.model_copy(update={"per_channel_p2p_copy_bytes_per_s": {}}), comm, "all_to_all",
                        "direct", "simple", 16 * GiB) == 0.0
    hopper = design_fabric(scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 8}}))
    assert copy_bound_s(*_setup(hopper, 8), "all_to_all", "direct", "simple", GiB) == 0.0  # no measured rate


def _busbw(design, ranks, size, in_place=False, method="analytic"):
    return run_collective(design, "all_to_all", "auto", [size], ranks=ranks, in_place=in_place,
                          method=method).results[0]


@pytest.mark.parametrize("gpu, gpus, rack, ranks, size, published", [
    ("gb200", 72, True, 4, 8 * GiB, 615.30e9),   # held out (the fit is the GB300 tray row)
    ("gb300", 72, True, 8, 16 * GiB, 685.06e9),
    ("gb200", 72, True, 8, 16 * GiB, 662.27e9),
    ("b300", 8, False, 8, 8 * GiB, 675.55e9),
])
def test_held_out_rows(gpu, gpus, rack, ranks, size, published):
    result = _busbw(_design(gpu, gpus, rack), ranks, size)
    assert result.copy_bound
    assert result.busbw_bytes_per_s == pytest.approx(published, rel=0.04)


def test_four_gpus_of_a_tray_get_less_than_eight_and_more_in_place(gb300):
    """OCI GB300: 4 GPUs 627.69, 8 GPUs 685.06, 4 GPUs in place 680.70 GB/s: the own block costs the CTAs,
    so 4 < 8 out of place (cap 32 x 91.62 x 3/14 = 628 vs 7/30: 684); in place NVLink binds (~721)."""
    four, eight = _busbw(gb300, 4, 16 * GiB), _busbw(gb300, 8, 16 * GiB)
    in_place = _busbw(gb300, 4, 16 * GiB, in_place=True)
    assert four.busbw_bytes_per_s == pytest.approx(627.69e9, rel=2e-3)  # the fitted row
    assert four.busbw_bytes_per_s < eight.busbw_bytes_per_s < in_place.busbw_bytes_per_s
    assert eight.busbw_bytes_per_s == pytest.approx(7 * 32 * RATE / 30, rel=2e-3)  # 7/8 x 256 channel-parts / 30
    assert not in_place.copy_bound and in_place.busbw_bytes_per_s == pytest.approx(680.70e9, rel=0.07)


def test_flow_level_and_analytic_agree():
    fabric = fabric_from_scenario(scenario_from_dict(
        {"cluster": {"gpu": "gb300", "gpus": 8, "scale_up": "gb300-nvl72", "gpus_per_server": 4}, "fabric": ROCE}))
    for ranks in (4, 8):
        flow = _busbw(fabric, ranks, 16 * GiB, method="flow")
        analytic = _busbw(fabric.design, ranks, 16 * GiB)
        assert flow.busbw_bytes_per_s == pytest.approx(analytic.busbw_bytes_per_s, rel=1e-9)
        assert flow.copy_bound and analytic.copy_bound


def test_across_racks_the_network_binds_not_the_ctas():
    """128 GB200 in 2 racks: every CTA moves 8 works x 4 x 32 MiB = 1 GiB (11.7 ms), the NICs take ~100 ms."""
    design = _design("gb200", 144)
    lib, comm = _setup(design, 128)
    result = _busbw(design, 128, 8 * GiB)
    assert copy_bound_s(lib, comm, "all_to_all", "direct", "simple", 8 * GiB) == pytest.approx(GiB / RATE, rel=1e-9)
    assert not result.copy_bound and result.time_s > 5 * GiB / RATE


def test_plugin_sets_the_network_chunk():
    """aws-ofi-nccl's p5 platform exports NCCL_P2P_NET_CHUNKSIZE = 512 KiB (catalog net_plugins)."""
    fabric = fabric_from_scenario(scenario_from_dict(
        {"cluster": {"gpus": 16, "nic": "efa-p5"}, "fabric": {"transport": "efa", "switch": "tomahawk5"}}))
    lib, comm = _setup(fabric.design, 16)
    assert p2p_copy.chunk_bytes(lib, comm) == 512 * 1024


def test_the_catalog_checks_the_new_fields(tmp_path):
    path = tmp_path / "lib.yaml"
    body = """collective_libraries:
  my-nccl:
    extends: nccl
    version: "2.30.7-site"
    source: "site"
    sources: {per_channel_p2p_copy_bytes_per_s: "ours", p2p_chunk_bytes: "ours"}
    per_channel_p2p_copy_bytes_per_s: {hopper: -1.0}
"""
    path.write_text(body)
    with pytest.raises(FabricsimError, match="per_channel_p2p_copy_bytes_per_s"):
        load_catalog([path])
    path.write_text(body.replace("{hopper: -1.0}", "{hopper: 6.0e+10}") + "    p2p_chunk_bytes: {nvl: 1}\n")
    with pytest.raises(FabricsimError, match="p2p_chunk_bytes"):
        load_catalog([path])


def test_an_moe_dispatchers_own_kernels_carry_no_nccl_fifo_bound(gb300):
    """DeepEP and HybridEP write tokens straight into the peers' receive buffers: their all-to-alls are not bounded
    by NCCL's FIFO copies (``direct``), Megatron's all-to-all dispatcher (NCCL all_to_all_single) is; a training step
    marks its expert-parallel calls accordingly."""
    from fabricsim.collectives.concurrent import time_groups_analytic
    from fabricsim.workload import train

    lib, comm = _setup(gb300, 4)
    assert copy_bound_s(lib, comm, "all_to_all", "direct", "simple", 16 * GiB, direct=True) == 0.0
    assert copy_bound_s(lib, comm, "all_to_all", "direct", "simple", 16 * GiB) > 0.0
    groups = np.arange(4)[None, :]
    bounded = time_groups_analytic(gb300, "all_to_all", "auto", groups, 16 * GiB)
    direct = time_groups_analytic(gb300, "all_to_all", "auto", groups, 16 * GiB, direct=True)
    assert direct.time_s < bounded.time_s
    scenario = scenario_from_dict({"cluster": {"gpu": "gb300", "gpus": 8}})
    job = dict(model="qwen3-30b-a3b", tp=1, pp=1, dp=8, ep=8, global_batch=64, micro_batch=1, seq=4096,
               precision="fp8", fp8_recipe="mxfp8", communication="analytic")
    for dispatcher, direct_calls in (("hybridep", True), ("deepep", True), ("alltoall", False)):
        calls = [c for c in train(scenario, moe_dispatcher=dispatcher, **job).calls if c.kind == "ep"]
        assert calls and all(c.direct is direct_calls for c in calls)
