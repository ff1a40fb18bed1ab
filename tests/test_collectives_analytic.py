"""Analytic alpha-beta model vs the flow-level simulator on contention-free fabrics, and its scaling laws."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabricsim.collectives.analytic import analytic_time
from fabricsim.collectives.api import run_collective
from fabricsim.collectives.concurrent import time_groups
from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario
from fabricsim.topology.design import design_fabric
from fabricsim.workload import train

GiB = 2**30


@pytest.fixture(scope="module", params=[256, 2048])
def fabric(request):
    return fabric_from_scenario(scenario_from_dict({"cluster": {"gpus": request.param}}))


CASES = [
    ("all_reduce", "ring", "all"), ("all_reduce", "ring", "server"), ("all_reduce", "ring", "rail"),
    ("reduce_scatter", "ring", "all"), ("all_gather", "ring", "all"), ("broadcast", "ring", "all"),
    ("all_reduce", "hierarchical", "all"), ("reduce_scatter", "hierarchical", "all"),
    ("all_reduce", "in_network", "all"), ("all_reduce", "in_network", "rail"),
    ("all_to_all", "direct", "64"), ("all_to_all", "hierarchical", "64"), ("send_recv", "direct", "pair"),
]


def _gpus(kind: str, n: int) -> np.ndarray:
    return {"all": np.arange(n), "server": np.arange(8), "rail": np.arange(0, n, 8), "64": np.arange(64),
            "pair": np.array([0, 8])}[kind]


@pytest.mark.parametrize("op,algorithm,kind", CASES)
def test_analytic_matches_flow_level_where_nothing_contends(fabric, op, algorithm, kind):
    """Ideal routing (only NIC and NVLink ports constrain): both models must agree to 1%."""
    gpus = _gpus(kind, fabric.design.gpus)
    flow = time_groups(fabric, op, algorithm, gpus[None, :], GiB, "ideal").time_s
    assert analytic_time(fabric.design, op, algorithm, gpus, GiB) == pytest.approx(flow, rel=0.01)


def test_tree_is_an_approximation_within_a_quarter(fabric):
    """The double binary tree's per-link load depends on node degrees; the analytic form bounds it
    by the busiest node (4 tree edges per NIC) and lands within 25% of the flow-level model."""
    gpus = np.arange(fabric.design.gpus)
    flow = time_groups(fabric, "all_reduce", "tree", gpus[None, :], GiB, "ideal").time_s
    assert analytic_time(fabric.design, "all_reduce", "tree", gpus, GiB) == pytest.approx(flow, rel=0.25)


def test_alpha_terms_scale_linearly_for_rings_and_logarithmically_for_trees():
    design = design_fabric(scenario_from_dict({"cluster": {"gpus": 131072},
                                                  "fabric": {"switch": "tomahawk5", "transport": "roce"}}))
    tiny = 8  # bytes: latency-bound
    ring = [analytic_time(design, "all_reduce", "ring", np.arange(0, n * 8, 8), tiny * n) for n in (1024, 4096)]
    tree = [analytic_time(design, "all_reduce", "tree", np.arange(0, n * 8, 8), tiny * n) for n in (1024, 4096)]
    assert ring[1] / ring[0] == pytest.approx(4, rel=0.05)
    assert tree[1] / tree[0] < 1.3


def test_in_network_reduction_doubles_ring_busbw_at_scale_analytically():
    design = design_fabric(scenario_from_dict({"cluster": {"gpus": 65536}}))
    gpus = np.arange(0, 65536, 8)  # one GPU per server: every byte crosses the fabric
    ring = analytic_time(design, "all_reduce", "ring", gpus, 256 * GiB)  # bandwidth-bound
    sharp = analytic_time(design, "all_reduce", "in_network", gpus, 256 * GiB)
    assert ring / sharp == pytest.approx(2.0, rel=0.05)
    # at 4 GiB the ring's 2 x 8,191 latency steps add to its handicap
    assert analytic_time(design, "all_reduce", "ring", gpus, 4 * GiB) / analytic_time(
        design, "all_reduce", "in_network", gpus, 4 * GiB) > 2.5


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["ring", "hierarchical", "in_network", "tree"]), st.integers(10, 34),
       st.sampled_from([16, 64, 256]))
def test_analytic_time_grows_with_size_and_busbw_stays_under_the_port_rate(algorithm, log_size, ranks):
    design = design_fabric(scenario_from_dict({"cluster": {"gpus": 256}}))
    gpus = np.arange(ranks)
    small = analytic_time(design, "all_reduce", algorithm, gpus, 2**log_size)
    large = analytic_time(design, "all_reduce", algorithm, gpus, 2**(log_size + 1))
    assert large > small
    busbw_bits = 2 * (ranks - 1) / ranks * 2**(log_size + 1) * 8 / large
    per_gpu_ports = design.scale_out_bits_per_s + design.gpu.scale_up_bits_per_s
    assert busbw_bits < 2 * per_gpu_ports  # in-network reduction may reach twice the ring's bound, not more


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
