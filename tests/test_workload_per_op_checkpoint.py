"""torchtitan's per-op selective checkpointing and FSDP's root unit, counted by hand for Llama 3 8B
(h 4096, 32 query and 8 KV heads of 128, FFN 14336, vocabulary 128256, untied embeddings)."""

import numpy as np
import pytest

from fabricsim.catalog import default_catalog
from fabricsim.scenario import scenario_from_dict
from fabricsim.workload import train
from fabricsim.workload.comms import plan_calls
from fabricsim.workload.compute import Shape, layer_work, stage_compute
from fabricsim.workload.exposure import flat_buffer_copy_s
from fabricsim.workload.gemm import gemm_seconds, rates_for
from fabricsim.workload.layers import dense_layer_gemms
from fabricsim.workload.memory import parameters_per_gpu
from fabricsim.workload.model import activation_bytes_per_token_per_layer
from fabricsim.workload.parallelism import Parallelism, RankGroups
from fabricsim.workload.per_op_checkpoint import recomputed_shares, saved_matmuls

CATALOG = default_catalog()
MODEL = CATALOG.get("models", "llama3-8b")
TOKENS = 16384


def test_every_second_matmul_of_the_block_is_recomputed():
    """Order wq, wk, wv, wo, w1, w3, w2: wk (8 of QKV's 48 heads), wo and w3 (half of SwiGLU's FC1) run
    again; (4096 x 1024 + 4096 x 4096 + 4096 x 14336) / 218.1M multiply-adds = 36.5% of the GEMM FLOPs."""
    gemms = dense_layer_gemms(MODEL, 1, 1)
    shares = recomputed_shares(gemms, MODEL)
    assert [g.name for g in gemms] == ["QKV", "attention out", "MLP FC1", "MLP FC2"]
    assert shares == pytest.approx([8 / 48, 1.0, 0.5, 0.0])
    recomputed = 4096 * 1024 + 4096 * 4096 + 4096 * 14336
    total = 4096 * (4096 + 2 * 1024) + 4096 * 4096 + 3 * 4096 * 14336
    assert sum(g.flops * s for g, s in zip(gemms, shares)) / sum(g.flops for g in gemms) == pytest.approx(
        recomputed / total)
    assert saved_matmuls(gemms, MODEL) == 4  # wq, wv, w1, w2


def test_per_op_keeps_block_input_kept_matmul_outputs_and_attention_output():
    """Bytes per token per layer, BF16: block input 2 x 4096, wq 2 x 4096, wv 2 x 1024, w1 2 x 14336,
    w2 2 x 4096, SDPA output 2 x 4096 and its FP32 log-sum-exp 4 x 32 = 63,616; between full (2h) and none."""
    per_op = activation_bytes_per_token_per_layer(MODEL, 8192, 1, False, "per-op")
    assert per_op == 2 * (4096 + 4096 + 1024 + 14336 + 4096 + 4096) + 4 * 32 == 63_616
    assert activation_bytes_per_token_per_layer(MODEL, 8192, 1, False, "full") < per_op
    assert per_op < activation_bytes_per_token_per_layer(MODEL, 8192, 1, False, "selective")


def test_per_op_recompute_runs_the_elementwise_forward_and_the_recomputed_gemms_alone():
    gpu, profile = CATALOG.gpu("h100-sxm"), CATALOG.get("software", "torchtitan-2024")
    shape = Shape(TOKENS, 8192, 2, 1, False, "bf16")
    work = layer_work(MODEL, gpu, shape, profile, False)
    rates = rates_for(gpu, "bf16", profile.kernel_efficiency)
    alone = sum(float(gemm_seconds(TOKENS, n, k, rates)) for n, k in ((1024, 4096), (4096, 4096), (14336, 4096)))
    launches = work.per_op_recompute - work.memory_forward - alone
    assert 0.0 <= launches <= work.launch_forward
    stage = stage_compute(MODEL, gpu, shape, profile, 32, 0, False, "per-op")
    assert stage.recompute_s == pytest.approx(32 * work.per_op_recompute)
    full = stage_compute(MODEL, gpu, shape, profile, 32, 0, False, "full")
    assert stage_compute(MODEL, gpu, shape, profile, 32, 0, False, "selective").recompute_s < stage.recompute_s
    assert stage.recompute_s < full.recompute_s
    assert stage.recompute_flops == pytest.approx(32 * 2 * TOKENS * 4096 * (1024 + 4096 + 14336))


def _groups(n: int) -> RankGroups:
    ranks = np.arange(n).reshape(1, n)
    alone = ranks.reshape(n, 1)
    return RankGroups(tp=ranks, cp=alone, dp=alone, ep=alone, dp_cp=alone, pp=alone, gpu_of_rank=np.arange(n))


def test_per_op_runs_every_all_gather_again_but_keeps_reduce_scatters():
    par = Parallelism(tp=2, pp=1, cp=1, dp=1, zero=1, sequence_parallel=True)
    calls = {c.what: c for c in plan_calls(MODEL, par, _groups(2), 8192, 1, "per-op", 32, 0, 0.0, 0.0, 4)}
    assert calls["all-gather (SP)"].per_micro_batch == 2 * 3 * 32
    assert calls["reduce-scatter (SP)"].per_micro_batch == 2 * 2 * 32


def test_fsdp_reduces_every_parameter_once_including_the_root_unit():
    """ZeRO-3 on one stage: the per-layer tensors times 32 layers plus the root unit (input embedding and
    output layer, 2 x 128256 x 4096) are exactly the parameters the stage holds: each gradient is
    reduce-scattered once per micro-batch, the root's around the pass."""
    scenario = scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 16}})
    result = train(scenario, model="llama3-8b", tp=1, pp=1, dp=16, global_batch=32, micro_batch=2, seq=8192,
                   zero=3, recompute="per-op", software="torchtitan-2024", gradient_reduce_bytes=4)
    reduced = sum(c.size_bytes / 4 * c.per_micro_batch for c in result.calls
                  if c.kind == "dp" and c.op == "reduce_scatter")
    root = [c for c in result.calls if c.root]
    assert [c.op for c in root] == ["all_gather", "reduce_scatter"]
    assert root[0].size_bytes == 2 * 2 * 128256 * 4096
    assert reduced == pytest.approx(parameters_per_gpu(MODEL, result.parallelism)[0], rel=1e-6)
    assert result.recompute == "per-op"


def test_fsdp2_flat_buffer_copies_by_hand():
    """Two layers of 100 elements and a root of 10, gathered twice per layer: copy-out 4 B x (2 x 2 x 100
    + 10), copy-in to FP32 (2 + 4) B x (2 x 100 + 10) = 1,640 + 1,260 bytes."""
    assert flat_buffer_copy_s(100, 2, 10, 2, 4, 1.0) == 2900.0
    assert flat_buffer_copy_s(100, 2, 10, 2, 2, 1.0) == 1640.0 + 4 * 210


def test_fsdp2_copies_sit_on_the_step_and_only_for_profiles_that_copy():
    scenario = scenario_from_dict({"cluster": {"gpu": "h100-sxm", "gpus": 8}})
    args = dict(model="llama3-8b", tp=1, pp=1, dp=8, global_batch=16, micro_batch=2, seq=8192, zero=3,
                recompute="per-op", gradient_reduce_bytes=4)
    titan = train(scenario, software="torchtitan-2024", **args)
    layer = sum(c.size_bytes / 2 for c in titan.calls if c.what.startswith("dense weight all-gather (ZeRO-3)"))
    root = 2 * 128256 * 4096
    expected = (4 * (2 * 32 * layer + root) + 6 * (32 * layer + root)) / CATALOG.gpu("h100-sxm").hbm_stream_bytes_per_s
    assert titan.breakdown_s["FSDP buffer copies"] == pytest.approx(expected)
    assert "FSDP buffer copies" not in train(scenario, software="megatron-core-2025", **args).breakdown_s
