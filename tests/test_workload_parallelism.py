"""Rank -> GPU mapping and concurrent collectives of a training job's communicators."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabricsim.collectives.concurrent import time_groups, time_transfers
from fabricsim.collectives.flowlevel import FLUID_EPSILON
from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario
from fabricsim.workload.parallelism import Parallelism, rank_groups


def test_llama3_order_puts_tp_in_a_server_and_dp_outermost():
    par = Parallelism(tp=8, pp=4, cp=2, dp=4)
    g = rank_groups(par, "tp-cp-pp-dp")
    assert g.tp[0].tolist() == list(range(8))  # consecutive ranks: one 8-GPU server
    assert g.cp[0].tolist() == [0, 8]
    assert g.pp[0].tolist() == [0, 16, 32, 48]  # stride tp x cp
    assert g.dp[0].tolist() == [0, 64, 128, 192]  # stride tp x cp x pp
    assert g.dp_cp.shape == (32, 8)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([1, 2, 4, 8]), st.sampled_from([1, 2, 4]), st.sampled_from([1, 2]), st.sampled_from([1, 2, 8]),
       st.permutations(["tp", "cp", "dp", "pp"]))
def test_every_communicator_partitions_the_gpus(tp, pp, cp, dp, order):
    """Each kind of group covers every GPU exactly once, and two GPUs share a TP group only if they
    share every other coordinate (the groups are the grid's axes)."""
    par = Parallelism(tp=tp, pp=pp, cp=cp, dp=dp)
    g = rank_groups(par, "-".join(order))
    for groups, size in ((g.tp, tp), (g.pp, pp), (g.cp, cp), (g.dp, dp), (g.dp_cp, dp * cp)):
        assert groups.shape == (par.gpus // size, size)
        assert np.array_equal(np.sort(groups.ravel()), np.arange(par.gpus))
    # a TP group and a DP group meet in at most one GPU
    assert max(np.intersect1d(g.tp[0], row).size for row in g.dp) <= 1


def test_expert_groups_fold_into_data_parallel_ranks():
    par = Parallelism(tp=1, pp=1, cp=1, dp=16, ep=4)
    g = rank_groups(par, "tp-cp-pp-dp")
    assert g.ep.shape == (4, 4)
    assert g.ep[0].tolist() == [0, 1, 2, 3]


def test_random_server_placement_keeps_servers_whole():
    par = Parallelism(tp=8, pp=2, dp=8)
    g = rank_groups(par, placement="random-servers", seed=3)
    assert not np.array_equal(g.gpu_of_rank, np.arange(par.gpus))
    assert np.all(g.tp // 8 == (g.tp // 8)[:, :1])  # each TP group still inside one server


def test_bad_order_and_placement_are_named():
    with pytest.raises(FabricsimError, match="give each of tp, cp, dp, pp once"):
        rank_groups(Parallelism(), "tp-dp-pp")
    with pytest.raises(FabricsimError, match="valid placements"):
        rank_groups(Parallelism(), placement="scattered")


def test_domain_gpus_fill_each_rack_with_the_same_number_of_ranks():
    """NVIDIA's Llama 3.1 8B MLPerf run on GB200 (Slurm SEGMENT=16): 512 ranks on 16 of 18 trays of 8 NVL72 racks."""
    par = Parallelism(tp=2, cp=4, dp=64)
    g = rank_groups(par, gpus_per_server=4, domain=72, cluster_gpus=576, domain_gpus=64)
    gpu = g.gpu_of_rank
    assert gpu[63] == 63 and gpu[64] == 72 and gpu[511] == 7 * 72 + 63
    assert np.bincount(gpu // 72).tolist() == [64] * 8  # 64 GPUs of every rack, the last 8 left idle
    assert np.all(gpu % 72 < 64)
    racks = g.dp_cp // 72  # each gradient (DP x CP) communicator: 32 ranks in each of the 8 racks
    assert all(np.bincount(row).tolist() == [32] * 8 for row in racks)
    packed = rank_groups(par, gpus_per_server=4, domain=72, cluster_gpus=512).dp_cp[0] // 72
    assert np.bincount(packed).tolist() == [36] * 7 + [4]  # without it: 7 full racks and 4 ranks in an eighth


@settings(max_examples=60, deadline=None)
@given(servers_per_domain=st.integers(1, 18), used=st.integers(1, 18), server=st.sampled_from([4, 8]),
       ranks=st.integers(1, 600))
def test_domain_gpus_place_every_rank_once_in_rank_order(servers_per_domain, used, server, ranks):
    from fabricsim.workload.parallelism import place_ranks
    domain, used = server * servers_per_domain, server * min(used, servers_per_domain)
    cluster = -(-ranks // used) * domain
    gpu = place_ranks(ranks, "auto", server, domain, 1, cluster, domain_gpus=used)
    assert len(set(gpu.tolist())) == ranks and gpu.max() < cluster  # one GPU per rank, inside the cluster
    assert np.all(np.diff(gpu) > 0) and np.all(gpu % domain < used)  # rank order, only the used slots
    assert np.bincount(gpu // domain).max() <= used


@pytest.mark.parametrize("domain_gpus, cluster, placement, message", [
    (66, 576, "auto", "whole servers of 4 GPUs from a domain; give a multiple of 4"),
    (80, 576, "auto", "holds 72 GPUs; give at most that many"),
    (64, 512, "auto", "need 576 GPUs; the cluster has 512"),
    (64, 576, "random-servers", "placement random-servers scatters"),
])
def test_bad_domain_gpus_are_refused_naming_the_field(domain_gpus, cluster, placement, message):
    with pytest.raises(FabricsimError, match=f"workload.train.domain_gpus={domain_gpus}.*{message}"):
        rank_groups(Parallelism(tp=2, cp=4, dp=64), placement=placement, gpus_per_server=4, domain=72,
                    cluster_gpus=cluster, domain_gpus=domain_gpus)


@pytest.fixture(scope="module")
def fab2048():
    return fabric_from_scenario(scenario_from_dict({"cluster": {"gpus": 2048}}))


def test_concurrent_groups_in_separate_servers_equal_one_group_alone(fab2048):
    """TP groups inside their own servers share no link: timing all equals timing one."""
    groups = np.arange(2048).reshape(-1, 8)
    together = time_groups(fab2048, "all_gather", "ring", groups, 2**26, "ecmp")
    alone = time_groups(fab2048, "all_gather", "ring", groups[:1], 2**26, "ecmp")
    assert together.independent
    assert together.time_s == pytest.approx(alone.time_s)


def test_concurrent_dp_groups_collide_under_ecmp_but_not_under_spraying(fab2048):
    """DP groups striding across leaves share spine uplinks: ECMP hashing collides, spraying does not."""
    groups = np.arange(2048).reshape(16, 128).T  # 128 groups of 16, stride 128 (like DP outermost)
    ecmp = time_groups(fab2048, "reduce_scatter", "ring", groups, 2**28, "ecmp")
    spray = time_groups(fab2048, "reduce_scatter", "ring", groups, 2**28, "spray")
    single = time_groups(fab2048, "reduce_scatter", "ring", groups[:1], 2**28, "ecmp")
    assert not ecmp.independent
    assert spray.delivered == pytest.approx(1.0, rel=1e-3)
    assert ecmp.time_s > 1.2 * spray.time_s  # collisions between groups cost time ...
    assert single.time_s < ecmp.time_s  # ... that one group alone does not see


def test_pipeline_transfers_byte_rate_bound(fab2048):
    """Stage-to-stage sends of 64 MiB over 400G NICs cannot beat the NIC payload rate."""
    src, dst = np.arange(0, 1024), np.arange(1024, 2048)
    t = time_transfers(fab2048, src, dst, 2**26, "spray")
    nic_payload = fab2048.design.link_bits_per_s * 0.99  # IB payload efficiency is below 0.99
    assert t.time_s >= (1 - FLUID_EPSILON) * 2**26 * 8 / nic_payload  # the fluid loop batches within epsilon
    assert t.delivered == pytest.approx(1.0, rel=1e-3)
