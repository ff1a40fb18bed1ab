"""Hybrid sharding (HSDP: ZeRO-3 shard groups that replicate each other; workload.train.dp_shard)."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from fabricsim.errors import FabricsimError
from fabricsim.scenario import scenario_from_dict
from fabricsim.workload import train
from fabricsim.workload.parallelism import hybrid_groups


def test_shard_groups_are_neighbours_and_replicas_take_one_rank_of_each():
    """8 data-parallel ranks in shard groups of 4: [0-3] and [4-7] shard; 0 with 4, 1 with 5, ... replicate."""
    shard, replicate = hybrid_groups(np.arange(8).reshape(1, 8), dp=8, cp=1, dp_shard=4)
    assert shard.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert replicate.tolist() == [[0, 4], [1, 5], [2, 6], [3, 7]]


def test_context_parallel_ranks_join_their_shard_group():
    """dp 4 x cp 2 (rows cp-major): torchtitan's FSDP mesh is dp_shard x cp, so a shard group holds both cp ranks
    of its dp_shard data-parallel ranks."""
    row = np.array([[0, 1, 2, 3, 10, 11, 12, 13]])  # c0: d0..d3, c1: d0..d3
    shard, replicate = hybrid_groups(row, dp=4, cp=2, dp_shard=2)
    assert sorted(map(sorted, shard.tolist())) == [[0, 1, 10, 11], [2, 3, 12, 13]]
    assert sorted(map(sorted, replicate.tolist())) == [[0, 2], [1, 3], [10, 12], [11, 13]]


@given(rows=st.integers(1, 4), cp=st.sampled_from([1, 2, 4]), replicas=st.integers(1, 6), shard=st.integers(1, 6))
def test_every_rank_is_in_one_shard_group_and_one_replica_group(rows, cp, replicas, shard):
    dp = replicas * shard
    dp_cp = np.arange(rows * dp * cp).reshape(rows, dp * cp)
    shards, reps = hybrid_groups(dp_cp, dp, cp, shard)
    assert shards.shape == (rows * replicas, cp * shard)
    assert reps.shape == (rows * cp * shard, replicas)
    assert sorted(shards.ravel().tolist()) == list(range(dp_cp.size)) == sorted(reps.ravel().tolist())
    for group in shards:  # a shard group and a replica group meet in at most one rank
        for replica in reps:
            assert len(set(group) & set(replica)) <= 1


def _step(gpus: int, **extra):
    scenario = scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": gpus}})
    return train(scenario, model="llama3-8b", tp=1, pp=1, dp=gpus, global_batch=gpus, micro_batch=1, seq=4096,
                 precision="bf16", zero=3, software="torchtitan-2024", recompute="none", **extra)


def test_a_shard_group_of_all_ranks_is_full_sharding():
    full, same = _step(16), _step(16, dp_shard=16)
    assert same.step_time_s == pytest.approx(full.step_time_s, rel=1e-12)
    assert not [c for c in same.calls if "HSDP" in c.what]


def test_hybrid_shards_state_like_full_sharding_over_the_shard_group():
    """16 GPUs in shard groups of 8 hold per GPU what FULL_SHARD over 8 GPUs holds: weights, gradients and
    optimizer state over 8, not 16."""
    hybrid, eight, sixteen = _step(16, dp_shard=8), _step(8), _step(16)
    for part in ("weights", "gradients", "optimizer"):
        assert getattr(hybrid.memory, part) == pytest.approx(getattr(eight.memory, part), rel=1e-9)
    assert hybrid.memory.weights == pytest.approx(2 * sixteen.memory.weights, rel=1e-9)


def test_replicas_all_reduce_each_gradient_shard_after_its_reduce_scatter():
    """Every reduce-scattered tensor is followed by an all-reduce of its shard (elements x gradient bytes / 8) over
    the 2 replicas, once per layer and micro-batch; gathers and reduce-scatters stay inside the 8-GPU shard groups."""
    result = _step(16, dp_shard=8)
    calls = [c for c in result.calls if c.kind == "dp"]
    scatters = [c for c in calls if c.op == "reduce_scatter"]
    reduces = [c for c in calls if "HSDP" in c.what]
    assert len(reduces) == len(scatters) > 0
    for scatter, reduce in zip(scatters, reduces):
        assert reduce.op == "all_reduce" and reduce.groups.shape[1] == 2
        assert reduce.size_bytes == pytest.approx(scatter.size_bytes / 8)
        assert (reduce.per_layer, reduce.root, reduce.per_micro_batch) == (scatter.per_layer, scatter.root,
                                                                           scatter.per_micro_batch)
    assert {c.groups.shape[1] for c in calls if "HSDP" not in c.what} == {8}


@pytest.mark.parametrize("extra, message", [
    (dict(dp_shard=3), "dp_shard=3 must divide dp=16"),
    (dict(dp_shard=8, zero=1), "but zero=1; set zero: 3"),
    (dict(dp_shard=8, model="mixtral-8x7b", ep=8, seq=2048), "hybrid sharding of the routed experts is not modelled"),
])
def test_bad_shard_groups_are_named(extra, message):
    scenario = scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 16}})
    job = dict(model="llama3-8b", tp=1, pp=1, dp=16, global_batch=16, micro_batch=1, seq=4096, zero=3)
    with pytest.raises((FabricsimError, ValueError), match=message):
        train(scenario, **{**job, **extra})
