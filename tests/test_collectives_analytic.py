"""Analytic transfers vs the flow-level simulator on contention-free fabrics (every algorithm, to 1%),
NCCL's double binary trees, and the latency scaling laws of rings and trees."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabricsim.collectives.algorithms import build_phases
from fabricsim.collectives.analytic import transfer_time
from fabricsim.collectives.api import run_collective, time_phases
from fabricsim.collectives.concurrent import time_groups, time_groups_analytic
from fabricsim.collectives.timing import communicator
from fabricsim.collectives.trees import degrees, dtree_parents
from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario
from fabricsim.topology.design import design_fabric
from fabricsim.workload import train

GiB = 2**30
SHAPES = {
    "h100-256": {"cluster": {"gpus": 256}, "fabric": {"in_network_reduction": "nvls+sharp"}},
    "h100-2048": {"cluster": {"gpus": 2048}, "fabric": {"in_network_reduction": "nvls+sharp"}},
    "gb200-144": {"cluster": {"gpu": "gb200", "gpus": 144, "scale_up": "gb200-nvl72", "gpus_per_server": 4},
                  "fabric": {}},
    "h100-efa-p5-256": {"cluster": {"gpus": 256, "nic": "efa-p5"}, "fabric": {"transport": "efa", "switch": "tomahawk5"}},
    "a100-shared-nic-64": {"cluster": {"gpu": "a100-sxm", "gpus": 64, "gpus_per_nic": 2},
                           "fabric": {"switch": "quantum-hdr", "in_network_reduction": "sharp"}},
}


@pytest.fixture(scope="module", params=sorted(SHAPES))
def fabric(request):
    return fabric_from_scenario(scenario_from_dict(SHAPES[request.param]))


CASES = [
    ("all_reduce", "ring", "all"), ("all_reduce", "ring", "node"), ("all_reduce", "ring", "rail"),
    ("reduce_scatter", "ring", "all"), ("all_gather", "ring", "all"), ("broadcast", "ring", "all"),
    ("all_reduce", "tree", "all"), ("all_reduce", "tree", "rail"), ("all_reduce", "tree", "node"),
    ("all_reduce", "nvls", "node"), ("all_reduce", "nvls_tree", "all"),
    ("all_reduce", "in_network", "all"), ("all_reduce", "in_network", "rail"),
    ("all_reduce", "hierarchical", "all"), ("reduce_scatter", "hierarchical", "all"), ("all_gather", "pat", "rail"),
    ("all_to_all", "direct", "64"), ("all_to_all", "hierarchical", "64"), ("send_recv", "direct", "pair"),
]


def _gpus(kind: str, fabric) -> np.ndarray:
    n, m = fabric.design.gpus, fabric.design.scale_up.gpus
    return {"all": np.arange(n), "node": np.arange(8), "rail": np.arange(0, n, m), "64": np.arange(64),
            "pair": np.array([0, m])}[kind]


@pytest.mark.parametrize("op,algorithm,kind", CASES)
def test_analytic_transfer_matches_flow_level_where_nothing_contends(fabric, op, algorithm, kind):
    """Ideal routing (only NIC and NVLink ports constrain): both models must agree to 1%."""
    gpus = _gpus(kind, fabric)
    comm = communicator(fabric.design, gpus)
    try:
        phases = build_phases(fabric, op, algorithm, gpus, GiB, comm)
    except FabricsimError:
        pytest.skip(f"{algorithm} does not apply to this shape")
    flow = time_phases(fabric, phases, "ideal")[0]
    assert transfer_time(fabric.design, comm, op, algorithm, GiB) == pytest.approx(flow, rel=0.01)


@pytest.mark.parametrize("algorithm", ["ring", "tree", "in_network", "nvls_tree"])
def test_whole_calls_agree_including_latency(algorithm):
    """The same call through time_groups (flow) and time_groups_analytic: latency and protocol are
    shared, so whole times agree too (ideal routing), for small and large sizes."""
    fab = fabric_from_scenario(scenario_from_dict(SHAPES["h100-256"]))
    gpus = np.arange(256)[None, :]
    for size in (2**10, 2**20, 2**30):
        flow = time_groups(fab, "all_reduce", algorithm, gpus, size, "ideal")
        analytic = time_groups_analytic(fab.design, "all_reduce", algorithm, gpus, size, "ideal")
        assert (flow.algorithm, flow.protocol) == (analytic.algorithm, analytic.protocol)
        assert analytic.time_s == pytest.approx(flow.time_s, rel=0.01)


@pytest.mark.parametrize("n", [2, 3, 8, 9, 100, 1023, 4096])
def test_nccl_double_binary_tree_is_two_spanning_trees_with_low_combined_degree(n):
    first, second = dtree_parents(n)
    for parents in (first, second):
        assert (parents < 0).sum() == 1  # one root
        # every node reaches the root: follow parents at most n steps
        node = np.arange(n)
        for _ in range(n):
            node = np.where(parents[node] >= 0, parents[node], node)
        assert np.all(parents[node] < 0)
        assert degrees(parents).max() <= 3
    # the point of two trees: no node carries more than 4 edges in both together
    assert (degrees(first) + degrees(second)).max() <= 4


def test_nccl_btree_matches_its_bit_arithmetic_by_hand():
    # n = 8: 0 is the root with child 4; 4 -> 2, 6; 2 -> 1, 3; 6 -> 5, 7
    first, _ = dtree_parents(8)
    assert first.tolist() == [-1, 2, 4, 2, 0, 6, 4, 6]


def test_latency_grows_linearly_for_rings_and_logarithmically_for_trees():
    design = design_fabric(scenario_from_dict({"cluster": {"gpus": 131072},
                                               "fabric": {"switch": "tomahawk5", "transport": "roce"}}))
    ring = [time_groups_analytic(design, "all_reduce", "ring", np.arange(0, n * 8, 8)[None, :], 8).time_s
            for n in (1024, 4096)]
    tree = [time_groups_analytic(design, "all_reduce", "tree", np.arange(0, n * 8, 8)[None, :], 8).time_s
            for n in (1024, 4096)]
    assert ring[1] / ring[0] == pytest.approx(4, rel=0.05)
    assert tree[1] / tree[0] < 1.3
    # and so the tuner picks the tree for small messages at scale
    auto = time_groups_analytic(design, "all_reduce", "auto", np.arange(0, 4096 * 8, 8)[None, :], 2**20)
    assert auto.algorithm == "tree"


def test_in_network_reduction_halves_the_bytes_on_the_network_analytically():
    design = design_fabric(scenario_from_dict({"cluster": {"gpus": 65536},
                                               "fabric": {"in_network_reduction": "nvls+sharp"}}))
    gpus = np.arange(0, 65536, 8)  # one GPU per server: every byte crosses the fabric
    comm = communicator(design, gpus)
    ring = transfer_time(design, comm, "all_reduce", "ring", 256 * GiB)
    sharp = transfer_time(design, comm, "all_reduce", "in_network", 256 * GiB)
    assert ring / sharp == pytest.approx(2.0, rel=0.01)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["ring", "hierarchical", "tree", "nvls_tree"]), st.integers(10, 34),
       st.sampled_from([16, 64, 256]))
def test_time_grows_with_size_and_busbw_stays_under_the_port_rate(algorithm, log_size, ranks):
    design = design_fabric(scenario_from_dict({"cluster": {"gpus": 256}}))
    gpus = np.arange(ranks)[None, :]
    small = time_groups_analytic(design, "all_reduce", algorithm, gpus, 2**log_size).time_s
    large = time_groups_analytic(design, "all_reduce", algorithm, gpus, 2**(log_size + 1)).time_s
    assert large > small
    busbw_bits = 2 * (ranks - 1) / ranks * 2**(log_size + 1) * 8 / large
    per_gpu_ports = design.scale_out_bits_per_s + design.gpu.scale_up_bits_per_s
    assert busbw_bits < 2 * per_gpu_ports


def test_run_collective_analytic_on_a_million_gpus_needs_no_fabric():
    design = design_fabric(scenario_from_dict({"cluster": {"gpu": "gb300", "gpus": 1_048_576},
                                               "fabric": {"switch": "tomahawk6", "planes": 4, "transport": "roce"}}))
    report = run_collective(design, "all_reduce", "auto", [GiB], method="analytic")
    assert report.results[0].time_s > 0 and report.results[0].delivered == 1.0
    with pytest.raises(FabricsimError, match="valid methods are flow, analytic"):
        run_collective(design, "all_reduce", "ring", [GiB], method="simulated")


def test_training_step_analytic_matches_flow_level_on_a_sprayed_fabric():
    scenario = scenario_from_dict({"cluster": {"gpus": 4096}})
    fabric = fabric_from_scenario(scenario)
    job = dict(model="llama3-70b", tp=8, pp=4, dp=128, global_batch=512, seq=4096, load_balancing="spray")
    flow = train(scenario, fabric, **job, communication="flow")
    analytic = train(scenario, fabric, **job, communication="analytic")
    assert analytic.step_time_s == pytest.approx(flow.step_time_s, rel=0.02)


def test_min_channels_lift_the_executed_ll128_ceiling_not_the_tuners():
    """NCCL_MIN_NCHANNELS raises the channels the kernels run on; the tuner still reads its search graph.
    2 x 8 H100 on 400G InfiniBand: 8 rings at 48 GB/s, kept by DupChannels (Hopper, < 50 GB/s, > 4 rings),
    16 execution channels.  Ring LL128 at 4 GiB runs at its ceiling, 8 x 36.7 GB/s = 293.6 GB/s bus
    bandwidth; with 32 execution channels the ceiling is 16 x 36.7 GB/s and no longer binds."""
    design = design_fabric(scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 16},
                                               "fabric": {"transport": "infiniband"}}))
    default, raised = (communicator(design, np.arange(16), min_channels=m) for m in (None, 32))
    assert (default.graph_channels, default.channels) == (8, 16)
    assert (raised.graph_channels, raised.channels) == (8, 32)
    size = 4 * 2**30

    def busbw(min_channels):
        report = run_collective(design, "all_reduce", "ring", [size], method="analytic", protocol="ll128",
                                min_channels=min_channels)
        return report.results[0].busbw_bytes_per_s, report.results[0]

    capped, result = busbw(None)
    transfer_busbw = size * 2 * 15 / 16 / (result.time_s - result.latency_s)
    assert transfer_busbw == pytest.approx(8 * 36.7e9, rel=0.01)  # the pipeline fill costs well under 1%
    lifted, _ = busbw(32)
    assert lifted > 1.1 * capped
    with pytest.raises(FabricsimError, match="min-channels"):
        communicator(design, np.arange(16), min_channels=0)


@pytest.mark.parametrize("method", ["flow", "analytic"])
def test_one_rank_exchanges_nothing_and_reports_no_latency(method):
    """A communicator of one rank has nothing to send: the call, its latency and its bandwidths are all zero
    (before, the table showed a 6.6 us latency under a 0 us time)."""
    design = design_fabric(scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 8}}))
    fabric = design if method == "analytic" else fabric_from_scenario(design.scenario)
    row = run_collective(fabric, sizes=[2**20], ranks=1, method=method).results[0]
    assert (row.time_s, row.latency_s, row.busbw_bytes_per_s) == (0.0, 0.0, 0.0)
