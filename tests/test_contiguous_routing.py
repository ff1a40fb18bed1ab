"""Forced-balance routing as NeMo AutoModel's FakeBalancedGate draws it (token t to experts tk .. tk + k - 1): a
token's experts sit on one or two ranks, so the flex dispatchers send far fewer copies than under random
routing."""

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.scenario import scenario_from_dict
from fabricsim.workload import train
from fabricsim.workload.moe import contiguous_targets, dispatch_copies, distinct_targets
from fabricsim.workload.parallelism import Parallelism

CATALOG = default_catalog()


def test_contiguous_targets_by_hand():
    # 128 experts on 8 GPUs (16 each), 8 consecutive experts from a multiple of 8: always one GPU
    assert contiguous_targets(128, 8, 8) == 1.0
    # 256 experts on 64 GPUs (4 each): two GPUs; on 8 nodes (32 each): one node
    assert contiguous_targets(256, 64, 8) == 2.0 and contiguous_targets(256, 8, 8) == 1.0
    # 384 experts on 32 GPUs (12 each): runs starting at 0, 8, 16 (mod 24) touch 1, 2, 1 GPUs
    assert contiguous_targets(384, 32, 8) == pytest.approx(4 / 3)
    # random routing over 8 units: 8 (1 - (7/8)^8)
    assert distinct_targets(8, 8) == pytest.approx(5.2511, abs=1e-4)


def test_dispatch_copies_follow_the_routing():
    qwen = CATALOG.get("models", "qwen3-30b-a3b")
    one_node = Parallelism(ep=8)
    assert dispatch_copies(qwen, one_node, 8, None, "deepep") == pytest.approx(distinct_targets(8, 8))
    assert dispatch_copies(qwen, one_node, 8, None, "deepep", "contiguous") == 1.0
    # the all-to-all dispatcher sends one copy per routed expert whatever the routing
    assert dispatch_copies(qwen, one_node, 8, None, "alltoall", "contiguous") == 8.0
    dsv3 = CATALOG.get("models", "deepseek-v3")
    eight_nodes = Parallelism(ep=64)
    assert dispatch_copies(dsv3, eight_nodes, 8, None, "deepep", "contiguous") == 1.0
    assert dispatch_copies(dsv3, eight_nodes, 8, 4, "deepep") == 4.0  # node-limited random routing


def test_a_step_moves_fewer_bytes_under_contiguous_routing():
    """The same 8-GPU Qwen3 job: the EP calls carry 1 / 5.25 of the bytes, the expert GEMMs are unchanged."""
    scenario = scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 8}})
    job = dict(model="qwen3-30b-a3b", tp=1, pp=1, dp=8, ep=8, global_batch=64, micro_batch=4, seq=4096, zero=3,
               recompute="full", moe_dispatcher="deepep", software="automodel-2025")
    spread, packed = (train(scenario, routing=r, **job) for r in ("random", "contiguous"))
    ep = {name: sum(c.size_bytes * c.per_micro_batch for c in r.calls if c.kind == "ep")
          for name, r in (("random", spread), ("contiguous", packed))}
    assert ep["contiguous"] / ep["random"] == pytest.approx(1 / distinct_targets(8, 8), rel=1e-6)
    assert packed.stage.gemm_s == spread.stage.gemm_s
    assert packed.step_time_s < spread.step_time_s
