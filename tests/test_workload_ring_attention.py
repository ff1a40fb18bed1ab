"""PyTorch's 2024 ring attention (torchtitan's context parallelism), counted by hand for Llama 3 8B
(32 query and 8 KV heads of 128; torchtitan repeats K/V to all 32 heads before SDPA)."""

import numpy as np
import pytest

from fabricsim.catalog import default_catalog
from fabricsim.scenario import scenario_from_dict
from fabricsim.workload import train
from fabricsim.workload.comms import plan_calls
from fabricsim.workload.compute import Shape, layer_work
from fabricsim.workload.model import attention_flops_per_token_per_layer
from fabricsim.workload.parallelism import Parallelism, RankGroups
from fabricsim.workload.ring_attention import (RingStep, dkv_send_bytes, kv_gather_bytes, merge_bytes,
                                               merge_bytes_per_element, ring_steps)

CATALOG = default_catalog()
MODEL = CATALOG.get("models", "llama3-8b")
TITAN = CATALOG.get("software", "torchtitan-2024")
E = 32768 * 32 * 128  # elements of one rank's attention output at 32,768 tokens: 134,217,728


def test_ring_steps_follow_the_load_balanced_shards():
    """CP 4, chunks of seq / 8: step 0 causal on both local chunks; rank 0 only meets later ranks
    (second query chunk x both key chunks), rank 3 only earlier ones (both query chunks x first key chunk)."""
    causal, later, earlier = RingStep(2, 2, True), RingStep(1, 2, False), RingStep(2, 1, False)
    assert ring_steps(4, 0) == [causal, later, later, later]
    assert ring_steps(4, 1) == [causal, earlier, later, later]
    assert ring_steps(4, 3) == [causal, earlier, earlier, earlier]
    assert ring_steps(1, 0) == [causal]


@pytest.mark.parametrize("cp", [2, 4, 8, 16])
def test_every_rank_computes_one_cp_th_of_the_causal_square(cp):
    """Each step is two chunk-squares (causal 2 x 2 / 2 = 2; 1 x 2 = 2): 2 cp per rank, 2 cp^2 in all =
    (2 cp)^2 / 2, the causal half of the 2 cp x 2 cp chunk square -- no rank waits for another."""
    per_rank = [sum(s.score_chunks for s in ring_steps(cp, r)) for r in range(cp)]
    assert per_rank == [2.0 * cp] * cp
    assert all(s.score_chunks == 2.0 for r in range(cp) for s in ring_steps(cp, r))
    assert sum(per_rank) == (2 * cp) ** 2 / 2


def test_ring_flops_equal_the_causal_attention_fabricsim_counts():
    """CP 8 at 262,144 tokens: 16 score chunk-squares of 16,384^2 per rank, 2 x (128 + 128) FLOPs per score
    and head, 32 heads: 16 x 16384^2 x 512 x 32 = 7.0369e13 forward FLOPs per layer, what compute counts."""
    seq, cp = 262144, 8
    chunk = seq // (2 * cp)
    ring = sum(s.score_chunks for s in ring_steps(cp, 5)) * chunk**2 * 2 * (128 + 128) * 32
    assert ring == 16 * 16384**2 * 512 * 32 == pytest.approx(7.0369e13, rel=1e-4)
    assert attention_flops_per_token_per_layer(MODEL, seq) * seq / cp == pytest.approx(ring)


def test_merge_bytes_per_element_by_hand():
    """Cast to FP32 (2 + 4), cp - 1 merges (read 4 + 2, write 4), cast back (4 + 2): 10 cp + 2."""
    assert merge_bytes_per_element(1) == 0.0
    assert merge_bytes_per_element(2) == 6 + 10 + 6 == 22
    assert merge_bytes_per_element(8) == 6 + 7 * 10 + 6 == 82


def test_merge_bytes_of_one_layer_by_hand():
    """CP 8, 32,768 tokens per rank: forward 82 x E (the output); backward 82 x (dQ + dK + dV) = 82 x 3 E with
    K/V repeated to 32 heads, 82 x (E + 2 x E / 4) with the 8 KV heads."""
    forward, backward = merge_bytes(MODEL, 32768, 1, 8, True)
    assert forward == 82 * E == 11_005_853_696
    assert backward == 82 * 3 * E == 33_017_561_088
    assert merge_bytes(MODEL, 32768, 1, 8, False)[1] == 82 * (E + 2 * E // 4) == 16_508_780_544
    assert merge_bytes(MODEL, 32768, 2, 8, True) == (forward / 2, backward / 2)  # TP splits the heads


def test_communication_sizes_by_hand():
    """The gathered K/V of 262,144 tokens x 32 heads x (128 + 128) x 2 B = 4 GiB (1 GiB with 8 heads, the
    size of the all-gather CP's call); one FP32 dK/dV hand-off of 32,768 tokens x 32 x 256 x 4 B = 1 GiB."""
    assert kv_gather_bytes(MODEL, 1, 262144, 1, True) == 4 * 2**30
    assert kv_gather_bytes(MODEL, 1, 262144, 1, False) == 2**30
    assert dkv_send_bytes(MODEL, 32768, 1, True) == 2**30


def _cp_groups(n: int) -> RankGroups:
    ranks = np.arange(n).reshape(1, n)
    alone = ranks.reshape(n, 1)
    return RankGroups(tp=alone, cp=ranks, dp=alone, ep=alone, dp_cp=ranks, pp=alone, gpu_of_rank=np.arange(n))


@pytest.mark.parametrize("recompute, gathers", [("full", 3), ("none", 2)])
def test_ring_calls_per_micro_batch(recompute, gathers):
    """32 layers at CP 8: the K/V gathered in the forward, the backward (and the recomputed forward);
    8 FP32 dK/dV hand-offs per layer, the last rank handing to the first."""
    par = Parallelism(tp=1, pp=1, cp=8, dp=1, zero=1)
    calls = {c.what: c for c in plan_calls(MODEL, par, _cp_groups(8), 262144, 1, recompute, 32, 0, 0.0, 0.0, 4,
                                           context_parallel="pytorch-ring", kv_expanded=True) if c.kind == "cp"}
    gather = calls["K/V all-gather (ring attention)"]
    handoff = calls["dK/dV hand-off, FP32 (ring attention)"]
    assert (gather.op, gather.size_bytes, gather.per_micro_batch) == ("all_gather", 4 * 2**30, gathers * 32)
    assert (handoff.op, handoff.size_bytes, handoff.per_micro_batch) == ("send_recv", 2**30, 8 * 32)
    assert handoff.groups.tolist() == [[0, 1, 2, 3, 4, 5, 6, 7, 0]]
    old = {c.what for c in plan_calls(MODEL, par, _cp_groups(8), 262144, 1, recompute, 32, 0, 0.0, 0.0, 4)
           if c.kind == "cp"}
    assert old == {"K/V all-gather", "dK/dV reduce-scatter"}  # the all-gather CP (Llama 3) is unchanged


def test_merges_run_at_hbm_bandwidth_in_the_layer():
    """CP 8 on the 500 W H100 (2.4 TB/s, streamed at 88.66%): 82 x E / 2.128e12 more memory-bound forward
    and 3 x that backward than the same layer under the all-gather CP."""
    gpu = CATALOG.gpu("h100-sxm-hbm2e-500w")
    shape = Shape(32768, 262144, 1, 1, False, "fp8", elementwise="fused", cp=8)
    ring = layer_work(MODEL, gpu, shape, TITAN, False)
    plain = layer_work(MODEL, gpu, shape, TITAN.model_copy(update={"context_parallel": "allgather"}), False)
    assert ring.memory_forward - plain.memory_forward == pytest.approx(82 * E / (2.4e12 * 0.8866))
    assert ring.memory_backward - plain.memory_backward == pytest.approx(3 * 82 * E / (2.4e12 * 0.8866))
    assert ring.attention_flops == plain.attention_flops
    cp1 = Shape(32768, 32768, 1, 1, False, "fp8", elementwise="fused")
    assert layer_work(MODEL, gpu, cp1, TITAN, False).memory_forward == pytest.approx(
        layer_work(MODEL, gpu, cp1, TITAN.model_copy(update={"context_parallel": "allgather"}), False).memory_forward)


def test_ring_communication_is_exposed_in_the_step():
    """torchtitan 8B at CP 4 on one node: exposed CP time = 96 gathers + 128 hand-offs at their timings."""
    scenario = scenario_from_dict({"cluster": {"gpu": "h100-sxm-hbm2e-500w", "gpus": 8}})
    result = train(scenario, model="llama3-8b", tp=1, pp=1, cp=4, dp=2, global_batch=2, micro_batch=1,
                   seq=131072, precision="fp8", software="torchtitan-2024", elementwise="fused", zero=3,
                   recompute="full", gradient_reduce_bytes=4, sequence_parallel=False)
    cp = [c for c in result.calls if c.kind == "cp"]
    assert sorted(c.per_micro_batch for c in cp) == [96, 128]
    assert result.breakdown_s["exposed CP comm"] == pytest.approx(sum(c.time_s * c.per_micro_batch for c in cp))
