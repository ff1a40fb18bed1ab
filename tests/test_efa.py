"""AWS EFA as a fabric transport: its parts and their errors, what aws-ofi-nccl changes in NCCL's cost
model (settings, reported latency, flush, tuner regions), and the 20 p5 validation cases running.

Hand counts use NCCL v2.30.7 tuning.cc constants (catalog collective_libraries.nccl) and aws-ofi-nccl
v1.16.3's p5 platform entry (latency 75 us, NCCL_BUFFSIZE 8 MiB, NCCL_NVLS_CHUNKSIZE 512 KiB)."""

import numpy as np
import pytest

from fabricsim.catalog import default_catalog
from fabricsim.collectives.api import run_collective
from fabricsim.collectives.nccl_model import latency_s
from fabricsim.collectives.region_tuner import extend, forced_choice
from fabricsim.collectives.timing import communicator, library
from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario
from fabricsim.validation.runner import run_validation

GiB, MiB = 2**30, 2**20
CORNER = (100 * GiB, 2**20)  # aws-ofi-nccl TUNER_MAX_SIZE, TUNER_MAX_RANKS


def p5(gpus: int, **fabric):
    return fabric_from_scenario(scenario_from_dict(
        {"cluster": {"gpus": gpus, "nic": "efa-p5"}, "fabric": {"transport": "efa", "switch": "tomahawk5", **fabric}}))


def error_of(data: dict) -> str:
    with pytest.raises(FabricsimError) as info:
        fabric_from_scenario(scenario_from_dict(data))
    return str(info.value)


def test_p5_gives_each_gpu_four_100g_efa_ports_and_sprays():
    design = p5(16).design
    # 32 cards x 100 Gb/s per 8-GPU instance: 400 Gb/s and 4 ports per GPU, 8 x 4 = 32 rails
    assert (design.scale_out_bits_per_s, design.link_bits_per_s, design.ports_per_nic_per_plane) == (400e9, 100e9, 4)
    assert design.shape.rails == 32 and design.load_balancing == "spray"


@pytest.mark.parametrize("data, words", [
    ({"cluster": {"gpus": 16}, "fabric": {"transport": "efa", "switch": "tomahawk5"}},
     ["fabric.transport=efa", "connectx-7", "efa-p5", "cluster.nic"]),
    ({"cluster": {"gpus": 16, "nic": "efa-p5"}, "fabric": {"transport": "efa"}},
     ["fabric.transport=efa", "Ethernet", "quantum-2"]),
    ({"cluster": {"gpus": 16, "nic": "efa-p5", "gpu": "b200"}, "fabric": {"transport": "efa", "switch": "tomahawk5"}},
     ["cluster.nic=efa-p5", "cluster.gpu=b200", "h100-sxm"]),
    ({"cluster": {"gpus": 16, "nic": "efa-p5"},
      "fabric": {"transport": "efa", "switch": "tomahawk5", "load_balancing": "ecmp"}},
     ["fabric.load_balancing=ecmp", "valid: spray"]),
    ({"cluster": {"gpus": 16, "nic": "efa-p5"}, "fabric": {"transport": "roce", "switch": "tomahawk5"}},
     ["fabric.transport=roce", "efa-p5 speaks efa", "connectx-7"]),
])
def test_invalid_efa_combinations_name_the_field_and_the_valid_choices(data, words):
    message = error_of(data)
    assert all(w in message for w in words), message


def test_plugin_settings_replace_the_simple_buffer_and_nvls_chunk_only_on_efa():
    efa, ib = library(p5(16).design), library(fabric_from_scenario(scenario_from_dict({"cluster": {"gpus": 16}})).design)
    assert (efa.buffer_bytes["simple"], efa.nvls_chunk_bytes) == (8 * MiB, 512 * 1024)
    assert (ib.buffer_bytes["simple"], ib.nvls_chunk_bytes) == (4 * MiB, 128 * 1024)
    assert efa.buffer_bytes["ll128"] == ib.buffer_bytes["ll128"] == 4608000  # NCCL_BUFFSIZE is Simple's only


@pytest.fixture(scope="module")
def four_nodes():
    fab = p5(32)
    return library(fab.design), communicator(fab.design, np.arange(32))


def test_communicator_carries_the_plugins_latency_protocols_and_no_flush_on_hopper(four_nodes):
    _, comm = four_nodes
    assert (comm.nodes, comm.net_latency_s, comm.protocols, comm.needs_flush) == (4, 75e-6, ("ll", "ll128", "simple"),
                                                                                   False)


def test_ring_ll128_pays_the_reported_latency_on_every_network_step(four_nodes):
    lib, comm = four_nodes
    # 32 ranks, 4 nodes: 2 x 31 = 62 steps, 2 x 3 = 6 of them between nodes.
    # base 14.0 + 56 x max(NVLink 1.9, net overhead 1.0) + 6 x (net 4.0 + EFA 75) = 14 + 106.4 + 474 = 594.4 us
    assert latency_s(lib, comm, "all_reduce", "ring", "ll128", GiB) == pytest.approx(594.4e-6, rel=1e-9)


def test_simple_predicts_the_flush_latency_twice_but_runs_it_once_on_hopper(four_nodes):
    lib, comm = four_nodes
    # base 8.4 + 56 x max(3.4, 3 x 1.0) + 6 x (14 + 75 + 75), x 1.4 ring plateau (Hopper, >= 64 B per chunk)
    assert latency_s(lib, comm, "all_reduce", "ring", "simple", GiB) == pytest.approx(1655.92e-6, rel=1e-9)
    # as run: no GDR flush on compute capability 9.0 (NCCL_NET_FORCE_FLUSH=0): 6 x (14 + 75)
    assert latency_s(lib, comm, "all_reduce", "ring", "simple", GiB, executed=True) == pytest.approx(
        (8.4 + 190.4 + 534) * 1.4e-6, rel=1e-9)


def test_extend_region_follows_the_line_to_the_domain_edge():
    # vertical line: up to the ranks limit
    assert extend((402653184, 2048), (402653184, 4096), CORNER) == (402653184, 2**20)
    # slope 32 / 1610612736 through the origin: at 100 GiB, 107374182400 x 32 / 1610612736 = 2133.33 ranks
    x, y = extend((8053063680, 160), (9663676416, 192), CORNER)
    assert x == 100 * GiB and y == pytest.approx(6400 / 3, rel=1e-12)


@pytest.mark.parametrize("size, ranks, expected", [
    (32 * MiB, 128, ("tree", "ll128")),  # tree region spans up to 301989888 B at 128 ranks
    (301989888, 128, ("tree", "ll128")),  # a vertex: edges belong to the region
    (8 * GiB, 32, ("ring", "simple")),  # right of the ring LL128 edge (1 GiB, 17)-(2 GiB, 64)
    (256 * MiB, 32, ("ring", "ll128")),
    (1 * GiB, 256, ("nvls_tree", "simple")),
    (32 * MiB, 16, None),  # two nodes: left to NCCL
])
def test_p5_all_reduce_regions_pick_as_aws_ofi_nccl(size, ranks, expected):
    plugin = default_catalog().get("net_plugins", "aws-ofi-nccl-p5")
    assert forced_choice(plugin, "all_reduce", ranks, ranks // 8, size, lambda a, p: True) == expected


def test_an_unusable_region_passes_the_call_on_to_the_next_or_to_nccl():
    plugin = default_catalog().get("net_plugins", "aws-ofi-nccl-p5")
    # no region but the tree's reaches left of 301989888 B at 128 ranks
    assert forced_choice(plugin, "all_reduce", 128, 16, 32 * MiB, lambda a, p: a != "tree") is None
    # p5 has no all-gather regions with 8 GPUs per node
    assert forced_choice(plugin, "all_gather", 256, 32, 32 * MiB, lambda a, p: True) is None


def test_a_large_all_reduce_on_four_p5_runs_the_regions_ring_simple_with_executed_latency():
    r = run_collective(p5(32), "all_reduce", sizes=[8 * GiB]).results[0]
    assert (r.algorithm, r.protocol) == ("ring", "simple")
    assert r.latency_s == pytest.approx((8.4 + 190.4 + 534) * 1.4e-6 + 6.6e-6, rel=1e-9)  # + launch overhead


@pytest.mark.parametrize("op, algorithm", [("all_reduce", "ring"), ("all_gather", "ring"), ("all_to_all", "direct")])
def test_sprayed_efa_fabric_agrees_with_the_analytic_model_contention_free(op, algorithm):
    fab = p5(64)
    flow = run_collective(fab, op, algorithm, [GiB]).results[0]
    analytic = run_collective(fab.design, op, algorithm, [GiB], method="analytic").results[0]
    assert flow.time_s == pytest.approx(analytic.time_s, rel=0.01) and flow.delivered == pytest.approx(1.0, rel=0.01)


def test_the_twenty_p5_cases_run():
    ids = [c for c in run_validation("collectives") if "efa-p5" in c.case.id]
    assert len(ids) == 20 and all(r.status in ("pass", "miss") and r.model > 0 for r in ids)
