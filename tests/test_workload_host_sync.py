"""A dropless MoE layer's forward around its host synchronization (fabricsim.workload.host_sync)."""

from dataclasses import replace

import pytest
from hypothesis import given, strategies as st

from fabricsim.catalog import default_catalog
from fabricsim.workload.compute import Shape, layer_work
from fabricsim.workload.host_sync import synced_forward_s
from fabricsim.workload.kernels import kernels_before_sync
from fabricsim.workload.layers import moe_layer_gemms

CATALOG = default_catalog()
seconds = st.floats(0.0, 1.0, allow_nan=False)


def test_gpu_bound_layer_is_its_gpu_time():
    """The post segment keeps the GPU busy longer than the host needs to issue it: the pre segment
    runs after it and the layer takes pre + post GPU time, as without the synchronization."""
    assert synced_forward_s(1.0, 3.0, 0.2, 2.0) == pytest.approx(4.0)


def test_host_bound_post_segment_exposes_the_pre_segment():
    """Host issues the post segment in 3 ms, the GPU runs it in 2 ms; the GPU then runs the 1 ms pre
    segment the host had issued in 0.2 ms: 3 + 1 = 4 ms, against max(GPU 3, host 3.2) = 3.2 ms unsynchronized."""
    assert synced_forward_s(1.0e-3, 2.0e-3, 0.2e-3, 3.0e-3) == pytest.approx(4.0e-3)


def test_host_bound_pre_segment_paces_the_layer():
    """An eager pre segment whose issue outlasts the GPU's work on both segments: host time alone."""
    assert synced_forward_s(0.1, 0.1, 2.0, 1.0) == pytest.approx(3.0)


@given(seconds, seconds, seconds, seconds)
def test_never_faster_than_gpu_or_host(pre_gpu, post_gpu, pre_host, post_host):
    """The synchronization can only add time: at least max(GPU, host), at most GPU + host."""
    t = synced_forward_s(pre_gpu, post_gpu, pre_host, post_host)
    assert t >= max(pre_gpu + post_gpu, pre_host + post_host) - 1e-12
    assert t <= pre_gpu + post_gpu + pre_host + post_host + 1e-12


def test_kernels_before_sync_of_qwen3_30b_by_hand():
    """Qwen3-30B-A3B, MXFP8, TP1: before the synchronization come QKV, attention out and the router (3 GEMMs),
    attention out's cast (1), input norm and QK-Norm's query and key norms (3), rotary (1), attention (1),
    the first residual add (1), pre-MLP norm (1), router (6) and preprocessing (6) = 23 kernels.  The 26.02
    recipe captures router and preprocessing (router GEMM, pre-MLP norm, 6 + 6: 14) as one launch: 10; capturing
    the attention too leaves one launch."""
    model = CATALOG.get("models", "qwen3-30b-a3b")
    profile = CATALOG.get("software", "megatron-core-2025")
    gemms = moe_layer_gemms(model, 4096, 1, 8, 1, 2048)
    args = (gemms, model, profile, "native")
    assert kernels_before_sync(*args, fp8=True, recipe="mxfp8") == 23
    assert kernels_before_sync(*args, fp8=True, recipe="mxfp8", scope=("moe_router", "moe_preprocess")) == 10
    assert kernels_before_sync(*args, fp8=True, recipe="mxfp8", scope=("attn", "moe_router", "moe_preprocess")) == 1


def test_dropless_layer_waits_token_drop_padded_does_not():
    """Qwen3-30B on B200 at micro-batch 4 (16,384 tokens, EP8): the dropless layer's forward takes longer than
    max(GPU, host) (its pre segment is exposed); padded token-drop knows its splits on the host and has no
    synchronization at all."""
    model = CATALOG.get("models", "qwen3-30b-a3b")
    gpu = CATALOG.gpu("b200")
    profile = CATALOG.get("software", "megatron-core-2025")
    tokens = 16384
    shape = replace(Shape(tokens, 4096, 1, 1, True, "fp8", 8, 1, tokens * 8 / 128, tokens * 8, "mxfp8"),
                    cuda_graph_scope=("moe_router", "moe_preprocess"))
    dropless = layer_work(model, gpu, shape, profile, True)
    assert dropless.synced_forward > max(dropless.forward, dropless.host_forward) * 1.05
    padded = layer_work(model, gpu, replace(shape, token_drop="pad"), profile, True)
    assert padded.synced_forward == 0.0
