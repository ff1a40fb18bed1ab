"""Flow-level collectives: hand-computed alpha-beta agreement, in-network gain, stragglers, bad input."""

import numpy as np
import pytest

from fabricsim.collectives.algorithms import padded_size
from fabricsim.collectives.api import NVLINK_PAYLOAD_EFFICIENCY, STEP_OVERHEAD_S, busbw_factor, run_collective
from fabricsim.collectives.concurrent import time_groups
from fabricsim.collectives.stragglers import straggler_cost
from fabricsim.errors import FabricsimError
from fabricsim.netsim.transport import TRANSPORTS
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario

GiB = 2**30


@pytest.fixture(scope="module")
def fab256():
    return fabric_from_scenario(scenario_from_dict({"cluster": {"gpus": 256}}))


@pytest.fixture(scope="module")
def fab2048():
    return fabric_from_scenario(scenario_from_dict({"cluster": {"gpus": 2048}}))


def test_ring_all_reduce_on_contention_free_rail_aligned_fabric_matches_alpha_beta(fab256):
    """256 GPUs, 32 servers on one leaf per rail: every ring hop has its own link, so the time is
    bytes / per-channel rate + steps x (hop latency + overhead), computed here by hand."""
    n, channels, size = 256, 8, GiB
    design = fab256.design
    nic = design.link_bits_per_s * TRANSPORTS["infiniband"].payload_efficiency
    nvlink_share = design.gpu.scale_up_bits_per_s * NVLINK_PAYLOAD_EFFICIENCY / 7  # 7 of 8 channels leave a GPU on NVLink
    rate = min(nic, nvlink_share)
    bandwidth_time = 2 * (n - 1) / n * size / channels * 8 / rate
    hop_latency = 2 * design.link_latency_s(0) + design.switch.latency_s
    alpha = 2 * (n - 1) * (hop_latency + STEP_OVERHEAD_S)
    result = run_collective(fab256, "all_reduce", "ring", [size], load_balancing="ecmp").results[0]
    assert result.time_s == pytest.approx(bandwidth_time + alpha, rel=1e-6)
    assert result.delivered == pytest.approx(1.0)
    # nccl-tests definition: busbw = algbw x 2(n-1)/n, and it approaches the 8 NICs' payload rate
    assert result.busbw_bytes_per_s == pytest.approx(result.algbw_bytes_per_s * 2 * 255 / 256)


def test_in_network_reduction_roughly_doubles_ring_busbw_at_scale(fab2048):
    """On the network (one GPU per server, 256 ranks across the fabric) switch reduction halves the
    bytes every NIC carries: ~2x the ring's busbw.  With 8 GPUs per server the NVLink SHARP stage,
    at its measured throughput (NVLS_EFFICIENCY), becomes the bottleneck and the gain shrinks."""
    size = 4 * GiB
    rails = np.arange(0, 2048, 8)
    ring_rail = time_groups(fab2048, "all_reduce", "ring", rails[None, :], size, "spray").time_s
    sharp_rail = time_groups(fab2048, "all_reduce", "in_network", rails[None, :], size, "spray").time_s
    assert ring_rail / sharp_rail == pytest.approx(2.0, rel=0.05)
    ring = run_collective(fab2048, "all_reduce", "hierarchical", [size], load_balancing="spray").results[0]
    sharp = run_collective(fab2048, "all_reduce", "in_network", [size], load_balancing="spray").results[0]
    flat = run_collective(fab2048, "all_reduce", "ring", [size], load_balancing="spray").results[0]
    gain = sharp.busbw_bytes_per_s / ring.busbw_bytes_per_s
    assert 1.35 < gain < 2.1
    assert sharp.busbw_bytes_per_s > flat.busbw_bytes_per_s


def test_contiguous_ring_crosses_spines_and_ecmp_loses_what_spray_keeps(fab2048):
    size = GiB
    ecmp = run_collective(fab2048, "all_reduce", "ring", [size], load_balancing="ecmp", placement="contiguous").results[0]
    spray = run_collective(fab2048, "all_reduce", "ring", [size], load_balancing="spray", placement="contiguous").results[0]
    assert spray.delivered == pytest.approx(1.0)
    assert 0.35 < ecmp.delivered < 0.75


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
                                     ("broadcast", "tree"), ("all_reduce", "tree"), ("send_recv", "direct"),
                                     ("all_to_all", "hierarchical"), ("reduce_scatter", "hierarchical")])
def test_every_algorithm_runs_and_respects_the_nic_bound(fab256, op, algo):
    result = run_collective(fab256, op, algo, [256 * 2**20], load_balancing="adaptive").results[0]
    assert result.time_s > 0
    # no algorithm moves a GPU's share faster than NVLink + NIC allow
    per_gpu = fab256.design.gpu.scale_up_bits_per_s + fab256.design.link_bits_per_s
    assert result.algbw_bytes_per_s * 8 * (0.5 if op == "all_reduce" else 1) < 8 * per_gpu


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


@pytest.mark.parametrize("kwargs,match", [
    ({"op": "allreduce"}, "valid operations"),
    ({"algorithm": "butterfly"}, "valid algorithms are ring, tree, hierarchical, in_network"),
    ({"load_balancing": "random"}, "valid load-balancing"),
    ({"ranks": 10_000}, "more than the cluster's 256 GPUs"),
    ({"sizes": [0]}, "must be > 0"),
    ({"placement": "packed"}, "valid placements"),
])
def test_bad_collective_input(fab256, kwargs, match):
    args = {"op": "all_reduce", "algorithm": "ring", "sizes": [GiB]} | kwargs
    with pytest.raises(FabricsimError, match=match):
        run_collective(fab256, **args)
