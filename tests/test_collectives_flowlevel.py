"""Flow-level collectives: NCCL-built rings and trees, the library's latency and protocols composed with
simulated transfers, in-network reduction, ECMP flows per connection, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabricsim.catalog import default_catalog
from fabricsim.collectives.algorithms import ALGORITHMS, padded_size
from fabricsim.collectives.api import busbw_factor, run_collective
from fabricsim.collectives.communicator import graph_channels, simple_tree
from fabricsim.collectives.concurrent import time_groups
from fabricsim.collectives.nccl_patterns import ring_coflows
from fabricsim.collectives.stragglers import straggler_cost
from fabricsim.collectives.timing import communicator
from fabricsim.errors import FabricsimError
from fabricsim.netsim.transport import TRANSPORTS
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario

GiB = 2**30
NCCL = default_catalog().get("collective_libraries", "nccl")


@pytest.fixture(scope="module")
def fab256():
    return fabric_from_scenario(scenario_from_dict({"cluster": {"gpus": 256}}))


@pytest.fixture(scope="module")
def fab2048():
    return fabric_from_scenario(scenario_from_dict({"cluster": {"gpus": 2048}}))


def test_ring_all_reduce_time_is_nccls_latency_plus_the_simulated_transfer(fab256):
    """256 H100, 32 servers on one leaf per rail: every ring hop has its own link.  By hand:
    8 rings (one per NIC), PXN makes every ring cross every GPU's NVLink once, so the transfer is
    2(n-1)/n S / NVLink payload rate, plus the pipeline fill (one Simple chunk on each of the 16
    channels crosses first: NCCL's loop of 256 ranks x 2 MiB per channel is more than the 64 MiB each channel
    carries, so the kernels shrink the chunk to 1 GiB / (16 x 256) = 256 KiB, 4 MiB over 16 channels); latency = NCCL's base + 2(n - nodes) intra steps at max(NVLink latency,
    3 x net overhead) + 2(nodes - 1) network steps, x 1.4 (ring plateau), + the launch overhead."""
    n, nodes, size = 256, 32, GiB
    design = fab256.design
    nvlink = design.gpu.scale_up_bits_per_s / 8 * design.scale_up.payload_efficiency
    transfer = 2 * (n - 1) / n * size / nvlink * (1 + 16 * (size / (16 * 256)) / size)
    intra = max(NCCL.hardware_latency_s["nvlink"]["ring"]["simple"], 3 * NCCL.net_overhead_s)
    latency = (NCCL.base_latency_s["ring"]["simple"] + (2 * (n - 1) - 2 * (nodes - 1)) * intra
               + 2 * (nodes - 1) * NCCL.hardware_latency_s["net"]["ring"]["simple"]) * 1.4 + NCCL.launch_overhead_s
    result = run_collective(fab256, "all_reduce", "ring", [size], load_balancing="ecmp", protocol="simple").results[0]
    assert result.time_s == pytest.approx(transfer + latency, rel=1e-6)
    assert result.latency_s == pytest.approx(latency, rel=1e-6)
    assert result.delivered == pytest.approx(1.0)
    # 2 nodes, NDR: "46-48 GB/s per NIC" x 8 (nccl-tests #290); PXN's NVLink crossing keeps it under 8 x 50
    two = run_collective(fab256, "all_reduce", "ring", [8 * GiB], ranks=16, protocol="simple").results[0]
    assert 355e9 < two.busbw_bytes_per_s < 376e9


def test_nccl_rings_keep_every_hop_between_nodes_on_one_rail():
    gpus = np.arange(64)
    node = gpus // 8
    for cross_rail, same_rail in ((False, True), (True, False)):
        for coflow in ring_coflows(gpus, node, 8, 2, 1.0, cross_rail=cross_rail):
            between = node[coflow.src] != node[coflow.dst]
            assert between.sum() == 8  # one hop out of every node
            assert np.all((coflow.src[between] % 8 == coflow.dst[between] % 8) == same_rail)
            if not cross_rail:  # every GPU sends once per ring over NVLink (PXN: the last GPU hands back)
                inside = ~between
                assert np.bincount(coflow.src[inside], minlength=64).tolist() == [1] * 64


def test_random_placement_rings_visit_nodes_in_rank_order():
    gpus = np.array([40, 41, 0, 1, 16, 17])  # nodes 5, 0, 2 in rank order
    coflow = ring_coflows(gpus, gpus // 8, 1, 1, 1.0)[0]
    hops = [(int(s) // 8, int(d) // 8) for s, d in zip(coflow.src, coflow.dst) if s // 8 != d // 8]
    assert sorted(hops) == sorted([(5, 0), (0, 2), (2, 5)])


def test_ring_r_enters_every_node_at_its_position_r_mod_the_node_ranks():
    for gpus in (np.arange(24), np.array([0, 1, 2, 8, 9, 16, 17, 18, 19])):  # equal nodes; 3, 2, 4 ranks
        node = gpus // 8
        for r, coflow in enumerate(ring_coflows(gpus, node, 9, 2, 1.0)):
            between = coflow.src // 8 != coflow.dst // 8
            entries = [int(gpus[node == k][r % (node == k).sum()]) for k in np.unique(node)]
            assert sorted(coflow.dst[between].tolist()) == entries


def test_small_messages_rise_to_the_plateau_like_nccl_tests(fab256):
    """busbw rises from ~0 at 8 B to the plateau by 1 GiB, latency-bound below ~1 MiB; LL for tiny
    messages, Simple for large ones (the tuner's protocol choice)."""
    sizes = [8, 1024, 2**16, 2**20, 2**24, 2**28, 2**30, 2**33]
    for ranks in (8, 128):
        report = run_collective(fab256, "all_reduce", "auto", sizes, ranks=ranks)
        busbw = [r.busbw_bytes_per_s for r in report.results]
        assert all(b2 >= b1 * 0.999 for b1, b2 in zip(busbw, busbw[1:]))
        assert busbw[0] < 1e-3 * busbw[-1] and busbw[-2] > 0.8 * busbw[-1]
        assert report.results[0].protocol == "ll" and report.results[-1].protocol == "simple"
        assert 5e-6 < report.results[0].time_s < 100e-6


def test_nvls_on_8_h100_reaches_ncclss_efficiency():
    """NVLS all-reduce: S (1 + 1/8) through each NVLink port at NCCL's Hopper NVLS efficiency 0.85:
    busbw ~ 490 GB/s (published: ~480, nccl-tests #212)."""
    fab = fabric_from_scenario(scenario_from_dict({"cluster": {"gpus": 8}}))
    r = run_collective(fab, "all_reduce", "auto", [8 * GiB]).results[0]
    assert r.algorithm == "nvls"
    nvlink = 3.6e12 / 8 * 0.824
    assert r.busbw_bytes_per_s == pytest.approx(nvlink * 0.85 / (9 / 8) * 1.75, rel=0.01)
    off = fabric_from_scenario(scenario_from_dict({"cluster": {"gpus": 8}, "fabric": {"in_network_reduction": "off"}}))
    assert run_collective(off, "all_reduce", "auto", [8 * GiB]).results[0].algorithm == "ring"


@pytest.mark.parametrize("nodes, per_channel", [(2, 57.7e9), (4, 45.5e9)])
def test_nvls_tree_busbw_is_ncclss_ceiling_per_nvls_head(nodes, per_channel):
    """NCCL's tuner caps NVLS tree at nChannels of the NVLS *search* graph (one per head GPU: 8 on an
    8-GPU H100 node with 8 NICs) x perChMaxNVLSTreeBw (Hopper 57.7 GB/s on 2 nodes, 45.5 beyond), not
    x the 16 NVLS execution channels: 2 x 8 H100 land at 8 x 57.7 = 461.6 GB/s busbw (published
    430-465 GB/s on RoCE, 435-478 on EFA), 4 x 8 at 364 GB/s."""
    fab = fabric_from_scenario(scenario_from_dict({"cluster": {"gpus": 8 * nodes}}))
    r = run_collective(fab, "all_reduce", "nvls_tree", [16 * GiB]).results[0]
    assert r.busbw_bytes_per_s == pytest.approx(8 * per_channel, rel=0.01)


@pytest.mark.parametrize("architecture, rings, speed, expected", [
    ("blackwell", 16, 45.1e9, 16),  # Blackwell, < 50 GB/s, > 4 rings: search.cc keeps the graph as found
    ("hopper", 8, 48e9, 8),
    ("hopper", 4, 48e9, 8),  # 4 rings or fewer: doubled
    ("blackwell", 8, 90e9, 16),  # >= 50 GB/s per channel (one NVL72 rack): doubled
    ("ampere", 6, 40e9, 12),  # Ampere and older, >= 25 GB/s: doubled (8 A100 on one HGX node)
    ("ampere", 20, 30e9, 32),  # ... up to ringGraph->maxChannels
    ("ampere", 8, 24e9, 8),  # below 25 GB/s per channel (bwIntra < 25.0): kept, on every architecture
    ("hopper", 2, 20e9, 2),
])
def test_tuner_graph_channels_follow_ncclss_dup_channels(architecture, rings, speed, expected):
    assert graph_channels(architecture, rings, speed, 32) == expected


@pytest.mark.parametrize("gpu, rings, search, execution", [
    ("a100-sxm", 6, 12, 24),  # 240 GB/s NVLink3 / 40 GB/s rings = 6 -> DupChannels 12 -> connect.cc 24
    ("h100-sxm", 6, 12, 24),  # 370.8 GB/s / 60 GB/s = 6 -> 12 (>= 50 GB/s: doubled) -> 24
])
def test_execution_channels_double_the_search_graph(gpu, rings, search, execution):
    """One 8-GPU node: connect.cc doubles the channels of the ring search graph (after DupChannels),
    not the rings the search found."""
    fab = fabric_from_scenario(scenario_from_dict({"cluster": {"gpu": gpu, "gpus": 8}}))
    report = run_collective(fab, "all_reduce", "ring", [GiB])
    comm = communicator(fab.design, np.arange(8))
    assert (comm.rings, comm.graph_channels, comm.channels) == (rings, search, execution)
    assert report.channels == execution


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["volta", "ampere", "hopper", "blackwell"]), st.integers(1, 32),
       st.floats(0.1e9, 100e9), st.integers(1, 64))
def test_tuner_graph_channels_are_the_rings_or_their_capped_double(architecture, rings, speed, max_rings):
    """DupChannels either keeps the searched rings or doubles them up to the graph's maximum."""
    n = graph_channels(architecture, rings, speed, max_rings)
    assert n in (rings, min(2 * rings, max_rings))
    if speed < 25e9:
        assert n == rings
    elif architecture in ("volta", "ampere") or speed >= 50e9 or rings <= 4:
        assert n == min(2 * rings, max_rings)


@pytest.mark.parametrize("architecture, nodes, nics_on_cpu, expected", [
    ("hopper", 2, False, True),  # DGX H100: one NIC per GPU behind its own PCIe switch
    ("blackwell", 20, True, False),  # GB200: NICs on Grace, both GPUs equally near -> balanced tree
    ("hopper", 1, False, False),  # one node: no NIC in the tree
    ("ampere", 4, False, False),  # compute capability < 9.0 never falls back to TREE
])
def test_simple_tree_pattern_where_ncclss_search_falls_back(architecture, nodes, nics_on_cpu, expected):
    assert simple_tree(architecture, nodes, nics_on_cpu) is expected


def test_twenty_nvl72_racks_switch_to_rings_for_large_all_reduces():
    """1,440 GB200 on 20 NVL72 racks, NVLS off (coreweave/nccl-tests README): the published curve is a
    ring's (a ~4.6 ms intercept of 2 x 1,439 steps).  NCCL's tuner caps the tree at 16 search-graph
    channels x 24 GB/s, so rings win from a few GiB; with the tree capped per execution channel (32)
    instead, the tree would win at every size."""
    fab = fabric_from_scenario(scenario_from_dict({
        "cluster": {"gpu": "gb200", "gpus": 1440, "scale_up": "gb200-nvl72", "gpus_per_server": 4},
        "fabric": {"transport": "infiniband", "in_network_reduction": "off"}}))
    report = run_collective(fab, "all_reduce", "auto", [256 * 2**20, 16 * GiB], method="analytic")
    assert [r.algorithm for r in report.results] == ["tree", "ring"]
    assert report.results[1].latency_s > 4e-3  # 2 x 1,439 ring steps


def test_in_network_reduction_roughly_doubles_ring_busbw_at_scale():
    """On the network (one GPU per server) switch reduction halves the bytes every NIC carries."""
    fab = fabric_from_scenario(scenario_from_dict({"cluster": {"gpus": 2048},
                                                   "fabric": {"in_network_reduction": "nvls+sharp"}}))
    rails = np.arange(0, 2048, 8)
    size = 16 * GiB
    ring = time_groups(fab, "all_reduce", "ring", rails[None, :], size, "spray").time_s
    sharp = time_groups(fab, "all_reduce", "in_network", rails[None, :], size, "spray").time_s
    assert 1.5 < ring / sharp < 2.1  # 2x on bytes, less NCCL's CollNet efficiency (0.85) and latencies


def test_auto_never_picks_sharp_unless_the_scenario_enables_it(fab2048):
    r = run_collective(fab2048, "all_reduce", "auto", [GiB], load_balancing="spray").results[0]
    assert r.algorithm != "in_network"
    with pytest.raises(FabricsimError, match="SHARP"):
        run_collective(fab2048, "all_reduce", "in_network", [GiB])


def test_ecmp_loss_falls_with_flows_per_connection():
    """256 data-parallel groups whose ranks sit 32 servers apart: every ring hop crosses the spines.
    ECMP hashes each connection's flows (QPs) on their own, so more flows per connection average
    the collisions out (Llama 3's E-ECMP used 16)."""
    delivered = {}
    groups = np.arange(256)[:, None] + 256 * np.arange(8)[None, :]
    for q in (1, 4, 16):
        fab = fabric_from_scenario(scenario_from_dict({"cluster": {"gpus": 2048},
                                                       "fabric": {"flows_per_connection": q}}))
        delivered[q] = time_groups(fab, "all_reduce", "ring", groups, 4 * GiB, "ecmp").delivered
    assert delivered[1] < delivered[4] < delivered[16] <= 1.0
    assert delivered[1] < 0.5 and delivered[16] > 2 * delivered[1]


def test_all_to_all_loses_less_to_ecmp_than_a_permutation(fab2048):
    a2a = run_collective(fab2048, "all_to_all", "direct", [64 * 2**20], ranks=256, placement="random",
                         load_balancing="ecmp").results[0]
    assert a2a.delivered > 0.85


def test_link_load_bound_equals_fluid_for_all_to_all(fab256, monkeypatch):
    import fabricsim.collectives.flowlevel as flowlevel

    fluid = run_collective(fab256, "all_to_all", "direct", [2**24], ranks=64, load_balancing="spray").results[0]
    monkeypatch.setattr(flowlevel, "MAX_FLUID_ROWS", 10)
    bound = run_collective(fab256, "all_to_all", "direct", [2**24], ranks=64, load_balancing="spray").results[0]
    assert bound.phases[0].method == "link-load bound" and fluid.phases[0].method == "fluid max-min"
    assert bound.time_s == pytest.approx(fluid.time_s, rel=1e-6)


@pytest.mark.parametrize("op,algo", [("reduce_scatter", "ring"), ("all_gather", "ring"), ("broadcast", "ring"),
                                     ("all_reduce", "tree"), ("all_reduce", "nvls_tree"), ("send_recv", "direct"),
                                     ("all_to_all", "hierarchical"), ("reduce_scatter", "hierarchical")])
def test_every_algorithm_runs_and_respects_the_port_bound(fab256, op, algo):
    result = run_collective(fab256, op, algo, [256 * 2**20], load_balancing="adaptive").results[0]
    assert result.time_s > result.latency_s > 0
    per_gpu = fab256.design.gpu.scale_up_bits_per_s + fab256.design.link_bits_per_s
    assert result.algbw_bytes_per_s * 8 * (0.5 if op == "all_reduce" else 1) < 8 * per_gpu


GENERATIONS = {
    "a100": {"gpu": "a100-sxm"}, "h100": {"gpu": "h100-sxm"}, "b200": {"gpu": "b200"},
    "gb200": {"gpu": "gb200", "scale_up": "gb200-nvl72", "gpus_per_server": 4},
    "a100-4-nics": {"gpu": "a100-sxm", "gpus_per_nic": 2}, "a800-1-nic": {"gpu": "a800-sxm", "gpus_per_nic": 8},
}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(GENERATIONS)), st.sampled_from(sorted(ALGORITHMS)), st.data(),
       st.sampled_from([(1, 2), (2, 2), (2, 8), (4, 4), (1, 16)]), st.sampled_from([None, "nvls+sharp", "off"]))
def test_every_op_algorithm_and_group_shape_answers_or_refuses_clearly(generation, op, data, shape, in_network):
    """The crash of issue 11 (in-network all-reduce over groups on A100) and its kin: every op x
    algorithm x group shape on every GPU generation either times or raises FabricsimError."""
    algorithm = data.draw(st.sampled_from(("auto",) + ALGORITHMS[op]))
    cluster = GENERATIONS[generation]
    fabric = {} if in_network is None else {"in_network_reduction": in_network}
    try:
        scenario = scenario_from_dict({"cluster": {**cluster, "gpus": 144}, "fabric": fabric})
    except FabricsimError:
        return  # e.g. nvls+sharp on A100: refused at design time is fine too
    fab = _fabric(scenario)
    groups_n, ranks = shape
    stride = 8 if generation != "gb200" else 72
    groups = np.arange(groups_n)[:, None] + stride * np.arange(ranks)[None, :] if ranks > 1 else np.arange(groups_n)[:, None]
    if groups.max() >= 144:
        groups = np.arange(groups_n * ranks).reshape(groups_n, ranks)
    try:
        timing = time_groups(fab, op if op != "send_recv" else "all_reduce", algorithm if op != "send_recv" else "auto",
                             groups, 2**20)
    except FabricsimError as exc:
        assert str(exc)
        return
    assert np.isfinite(timing.time_s) and timing.time_s >= 0


_FABRICS = {}


def _fabric(scenario):
    key = scenario.model_dump_json()
    if key not in _FABRICS:
        _FABRICS[key] = fabric_from_scenario(scenario)
    return _FABRICS[key]


def test_busbw_factors_are_nccl_tests():
    assert busbw_factor("all_reduce", 8) == pytest.approx(1.75)
    assert busbw_factor("all_gather", 8) == pytest.approx(0.875)
    assert busbw_factor("broadcast", 8) == 1.0


def test_sizes_not_divisible_are_padded_like_nccl():
    assert padded_size(1000, 3) == 1008  # 84 floats per rank
    assert padded_size(1024, 8) == 1024


def test_seed_straggler_example_is_computed():
    """Seed 003: 10,000 GPUs, one 20 us late -> ~0.2 GPU-seconds wasted."""
    arrival = np.zeros(10_000)
    arrival[1234] = 20e-6
    cost = straggler_cost(arrival)
    assert cost.idle_gpu_seconds == pytest.approx(9_999 * 20e-6)
    assert round(cost.idle_gpu_seconds, 1) == 0.2
    assert cost.start_delay_s == pytest.approx(20e-6)


def test_transport_efficiency_is_in_the_nic_rate(fab256):
    assert TRANSPORTS["infiniband"].payload_efficiency > TRANSPORTS["roce"].payload_efficiency


@pytest.mark.parametrize("kwargs,match", [
    ({"op": "allreduce"}, "valid operations"),
    ({"algorithm": "butterfly"}, "valid algorithms are ring, tree, nvls, nvls_tree, in_network, hierarchical"),
    ({"load_balancing": "random"}, "valid load-balancing"),
    ({"ranks": 10_000}, "more than the cluster's 256 GPUs"),
    ({"sizes": [0]}, "must be > 0"),
    ({"placement": "packed"}, "valid placements"),
    ({"algorithm": "pat"}, "valid algorithms"),
])
def test_bad_collective_input(fab256, kwargs, match):
    args = {"op": "all_reduce", "algorithm": "ring", "sizes": [GiB]} | kwargs
    with pytest.raises(FabricsimError, match=match):
        run_collective(fab256, **args)


def test_a100_simple_ring_fills_one_chunk_per_execution_channel():
    """8 A100 (NVLink3, 240 GB/s as NCCL sees it), ring Simple at 1 GiB, by hand: transfer 1 GiB x 14/8 /
    240 GB/s = 7.8294 ms; pipeline fill 24 execution channels x 4 steps x 512 KiB = 48 MiB -> x (1 +
    48/1024) = 8.1964 ms; latency 8.4 + 14 x 3.4 = 56 us + 6.6 us launch -> 8.2590 ms: busbw 227.5 GB/s
    (12 channels, the rings before this fix, gave 232.7 GB/s; published 228-231 GB/s)."""
    fab = fabric_from_scenario(scenario_from_dict({"cluster": {"gpu": "a100-sxm", "gpus": 8}}))
    r = run_collective(fab, "all_reduce", "ring", [GiB], protocol="simple").results[0]
    transfer = GiB * 14 / 8 / 240e9
    expected_s = transfer * (1 + 48 / 1024) + 56e-6 + 6.6e-6
    assert r.time_s == pytest.approx(expected_s, rel=2e-3)
    assert r.busbw_bytes_per_s == pytest.approx(227.5e9, rel=2e-3)
