"""Token-drop MoE (Megatron-Core moe_expert_capacity_factor / moe_pad_expert_input_to_capacity, read at
core_v0.14.0): capacities, padded rows and all-to-all bytes counted by hand, the host synchronization the
padding removes, the whole-layer CUDA graphs it allows, and the errors Megatron-Core raises."""

import math
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabricsim.catalog import default_catalog
from fabricsim.errors import FabricsimError
from fabricsim.workload import train
from fabricsim.workload.compute import Shape, layer_work
from fabricsim.workload.kernels import MOE_EXTRA_KERNELS, layer_kernels, moe_kernels
from fabricsim.workload.layers import moe_layer_gemms
from fabricsim.workload.moe import expert_capacity, expert_load, token_drop_copies

CATALOG = default_catalog()
QWEN = CATALOG.get("models", "qwen3-30b-a3b")  # 128 experts, top-8, hidden 2048
PROFILE = CATALOG.get("software", "megatron-core-2025")


def _job(seq=100, **train_fields):
    """Qwen3-30B-A3B on 8 B200, EP8 (16 local experts), one 100-token sequence per micro-batch: each rank's router
    sees 100 tokens, 100 x 8 / 128 = 6.25 copies per expert on average."""
    job = dict(model="qwen3-30b-a3b", tp=1, pp=1, dp=8, ep=8, expert_tp=1, global_batch=8, micro_batch=1, seq=seq,
               precision="fp8", fp8_recipe="mxfp8", recompute="none", communication="analytic")
    job.update(train_fields)
    return train({"cluster": {"gpu": "b200", "gpus": 8}, "workload": {"train": job}})


def _ep_call(result):
    (call,) = [c for c in result.calls if c.kind == "ep"]
    return call


def _expert_rows(result):
    (row,) = [g for g, _, _ in result.stage.gemms if g.name == "experts FC1"]
    return row.m, row.batch


def test_padded_capacity_rows_and_all_to_all_bytes_by_hand():
    """Capacity factor 1.0: ceil(6.25) = 7 copies per expert from each rank (Megatron-Core get_capacity), padded:
    each local expert multiplies 7 x 8 ranks = 56 rows (dropless: 50), each rank sends 7 x 128 = 896 rows of
    2048 x 2 B = 3,670,016 B per all-to-all (dropless: 100 x 8 = 800 rows, 3,276,800 B)."""
    dropless = _job()
    padded = _job(moe_capacity_factor=1.0, moe_pad_to_capacity=True)
    assert _expert_rows(dropless) == (50, 16)
    assert _expert_rows(padded) == (56, 16)
    assert _ep_call(dropless).size_bytes == pytest.approx(800 * 2048 * 2) == 3_276_800
    assert _ep_call(padded).size_bytes == pytest.approx(896 * 2048 * 2) == 3_670_016
    assert _ep_call(padded).per_micro_batch == _ep_call(dropless).per_micro_batch == 4 * 48  # two each way per layer
    # the padded GEMM rows cost FLOPs: 56 / 50 of the routed experts' GEMM FLOPs
    experts = [g for g, _, _ in padded.stage.gemms if g.name.startswith("experts")]
    assert sum(g.flops for g in experts) == pytest.approx(
        56 / 50 * sum(g.flops for g, _, _ in dropless.stage.gemms if g.name.startswith("experts")))


def test_unpadded_capacity_caps_the_busiest_expert_and_the_sent_rows():
    """Without padding an expert takes min(routed, capacity) from each rank: capacity factor 0.5 gives
    ceil(3.125) = 4 per rank, 32 rows per expert and 4 x 128 = 512 rows sent (5.12 copies per token); 1.5 gives
    ceil(9.375) = 10, above the balanced 6.25, so nothing is dropped (50 rows, 800 sent), but an imbalance of 2
    (100 rows on the busiest expert) is cut to 80."""
    half = _job(moe_capacity_factor=0.5)
    assert _expert_rows(half) == (32, 16)
    assert _ep_call(half).size_bytes == pytest.approx(512 * 2048 * 2)
    loose = _job(moe_capacity_factor=1.5)
    assert _expert_rows(loose) == (50, 16)
    assert _ep_call(loose).size_bytes == pytest.approx(800 * 2048 * 2)
    assert _expert_rows(_job(moe_capacity_factor=1.5, routing_imbalance=2.0)) == (80, 16)
    assert _expert_rows(_job(routing_imbalance=2.0)) == (100, 16)  # dropless: the whole imbalance


def test_padding_makes_the_routing_imbalance_irrelevant():
    """Padded, every expert computes exactly its capacity whatever the router chose."""
    assert _expert_rows(_job(moe_capacity_factor=1.0, moe_pad_to_capacity=True, routing_imbalance=3.0)) == (56, 16)


def test_token_drop_kernels_by_hand():
    """Qwen3-30B layer, EP8, MXFP8 (31 fixed forward kernels dropless, 18 of them router + dispatcher):
    token-drop adds the capacity mask (topk, zeros_like, scatter, bool, multiply: 5) -> 36; padded, the
    preprocessing drops its 4 count/split kernels for one fill (6 -> 3) and the dispatch its host copy (6 -> 5)
    -> 32; backward twice the fixed kernels."""
    gemms = moe_layer_gemms(QWEN, 4096, 1, 8, 1, 2048)
    base = layer_kernels(gemms, QWEN, PROFILE, "native", True, True, "mxfp8")
    drop = layer_kernels(gemms, QWEN, PROFILE, "native", True, True, "mxfp8", token_drop="drop")
    pad = layer_kernels(gemms, QWEN, PROFILE, "native", True, True, "mxfp8", token_drop="pad")
    assert sum(moe_kernels("")) == MOE_EXTRA_KERNELS == 18
    assert moe_kernels("drop") == (11, 6, 6) and moe_kernels("pad") == (11, 3, 5)
    assert drop.issued_forward - base.issued_forward == 5 and drop.gaps_backward - base.gaps_backward == 10
    assert pad.issued_forward - base.issued_forward == 1 and pad.issued_backward - base.issued_backward == 2
    # captured router + preprocessing: pre-MLP norm + 11 router + 3 preprocessing kernels become one launch
    scope = ("moe_router", "moe_preprocess")
    captured = layer_kernels(gemms, QWEN, PROFILE, "native", True, True, "mxfp8", scope, token_drop="pad")
    router_gemm = 1  # the router GEMM sits in the moe_router part
    assert pad.issued_forward - captured.issued_forward == router_gemm + 1 + 11 + 3 - 1


def _shape(**fields) -> Shape:
    return Shape(4096, 4096, 1, 1, True, "fp8", 8, 1, 2048, 16 * 2048, "mxfp8", **fields)


def test_padding_removes_the_host_synchronization():
    """Dropless (and unpadded token-drop) layers synchronize: their forward takes at least max(GPU, host) per
    layer (fabricsim.workload.host_sync); padded token-drop knows its splits on the host and lets the CPU run ahead."""
    gpu = CATALOG.gpu("b200")
    dropless = layer_work(QWEN, gpu, _shape(), PROFILE, True)
    drop = layer_work(QWEN, gpu, _shape(token_drop="drop"), PROFILE, True)
    pad = layer_work(QWEN, gpu, _shape(token_drop="pad"), PROFILE, True)
    assert dropless.synced_forward >= max(dropless.forward, dropless.host_forward) > 0
    assert drop.synced_forward >= max(drop.forward, drop.host_forward) > 0
    assert pad.synced_forward == 0.0
    assert pad.host_forward > 0  # the host still issues every kernel, hidden while it runs ahead


def test_whole_layer_graphs_of_a_padded_moe_layer_cost_one_launch_per_pass():
    """Megatron-Core 0.14's per-layer CudaGraphManager: one forward and one backward graph per layer: one launch
    gap per pass and one host issue forward, two backward; no per-kernel host time, no moe_layer_host_s, no
    synchronization.  Each captured kernel after the first still costs the GPU a graph node (B200: 0.8 us,
    graph_node_s).  By hand, Qwen3-30B padded token-drop, EP8 (16 local experts), MXFP8, one gap per expert GEMM:
    forward 32 fixed gaps + 2 grouped linears x (16 GEMMs + 16 casts) = 96 -> 1 launch + 95 nodes;
    backward 64 + 2 x (32 + 16) = 160 -> 1 launch + 159 nodes."""
    work = layer_work(QWEN, CATALOG.gpu("b200"), _shape(token_drop="pad", cuda_graphs=True), PROFILE, True)
    node = PROFILE.graph_node_s["blackwell"]
    assert node == pytest.approx(0.8e-6)
    assert work.launch_forward == pytest.approx(PROFILE.kernel_overhead_s + 95 * node)
    assert work.launch_backward == pytest.approx(PROFILE.kernel_overhead_s + 159 * node)
    eager = layer_work(QWEN, CATALOG.gpu("b200"), _shape(token_drop="pad"), PROFILE, True)
    assert eager.launch_forward == pytest.approx(96 * PROFILE.kernel_overhead_s)
    assert work.host_forward == PROFILE.host_s_per_kernel and work.host_backward == 2 * PROFILE.host_s_per_kernel
    assert work.synced_forward == 0.0


def test_graphs_turn_the_host_bound_mbs1_step_gpu_bound():
    """The fitted dropless B200 row at micro-batch 1 is host-bound; padded token-drop with whole-layer graphs
    (the 25.09 recipe) leaves no host-bound time and only the GPU's."""
    dropless = _job(seq=4096, global_batch=64, cuda_graph_scope=["moe_router", "moe_preprocess"])
    graphed = _job(seq=4096, global_batch=64, moe_capacity_factor=1.0, moe_pad_to_capacity=True, cuda_graphs=True)
    assert dropless.stage.host_bound_s > 0.5 * dropless.stage.total_s
    assert graphed.stage.host_bound_s == pytest.approx(0.0, abs=1e-12)
    assert graphed.step_time_s < dropless.step_time_s


@pytest.mark.parametrize("fields, words", [
    (dict(moe_pad_to_capacity=True), ["moe_pad_to_capacity", "moe_capacity_factor"]),
    (dict(cuda_graphs=True), ["cuda_graphs", "drop-padding", "moe_pad_to_capacity"]),
    (dict(moe_capacity_factor=1.0, cuda_graphs=True), ["cuda_graphs", "moe_pad_to_capacity"]),
    (dict(moe_capacity_factor=1.0, moe_dispatcher="deepep"), ["moe_capacity_factor", "alltoall", "deepep"]),
    (dict(moe_capacity_factor=1.0, cuda_graph_scope=["moe_router", "moe_preprocess"]), ["moe_preprocess", "DtoH"]),
    (dict(moe_capacity_factor=17.0), ["capacity of 107", "100 tokens", "at most 16"]),
])
def test_what_megatron_core_refuses_is_refused_by_name(fields, words):
    with pytest.raises(FabricsimError) as info:
        _job(**fields)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), "x"])
def test_a_bad_capacity_factor_is_named(value):
    with pytest.raises(FabricsimError, match="moe_capacity_factor"):
        _job(moe_capacity_factor=value)


def test_dense_models_ignore_the_capacity_factor():
    """As Megatron-Core does (no experts, no router): the step is the dropless one."""
    job = dict(model="llama3-8b", tp=1, pp=1, dp=8, global_batch=8, micro_batch=1, seq=1024, recompute="none",
               communication="analytic")
    scenario = {"cluster": {"gpu": "b200", "gpus": 8}}
    plain = train({**scenario, "workload": {"train": job}})
    dropped = train({**scenario, "workload": {"train": {**job, "moe_capacity_factor": 1.0}}})
    assert dropped.step_time_s == plain.step_time_s


@settings(max_examples=60, deadline=None)
@given(experts=st.sampled_from([8, 64, 128, 256]), k=st.sampled_from([1, 2, 8]), tp=st.sampled_from([1, 2, 4]),
       ep=st.sampled_from([1, 2, 8]), etp=st.sampled_from([1, 2]), per_rank=st.integers(1, 4096),
       share=st.floats(0.01, 1.0), imbalance=st.floats(1.0, 4.0))
def test_capacity_invariants(experts, k, tp, ep, etp, per_rank, share, imbalance):
    """For any layout: the padded rows are exactly capacity x etp x ep, the capacity is within one of
    factor x the balanced share, unpadded rows never exceed padded ones nor the dropless load, and the padded
    all-to-all sends capacity x E rows."""
    if k > experts:
        return
    model = SimpleNamespace(experts_per_token=k, routed_experts=experts)
    par = SimpleNamespace(tp=tp, etp=etp, ep=ep)
    tokens = per_rank * tp
    factor = share * experts / k  # capacity never above the rank's tokens
    capacity = expert_capacity(model, par, tokens, factor)
    balanced = per_rank * k / experts
    assert balanced * factor <= capacity < balanced * factor + 1 + 1e-9
    spec = SimpleNamespace(routing_imbalance=imbalance, moe_capacity_factor=factor, moe_pad_to_capacity=True)
    padded, padded_total = expert_load(model, par, tokens, spec)
    assert padded == capacity * etp * ep and padded_total == pytest.approx(padded * experts / ep)
    unpadded, _ = expert_load(model, par, tokens, SimpleNamespace(**{**vars(spec), "moe_pad_to_capacity": False}))
    dropless, _ = expert_load(model, par, tokens, SimpleNamespace(routing_imbalance=imbalance))
    assert unpadded <= padded and unpadded <= dropless
    assert token_drop_copies(model, par, tokens, factor, True) * per_rank == pytest.approx(capacity * experts)
    assert token_drop_copies(model, par, tokens, factor, False) <= k
    assert math.isclose(dropless, per_rank * etp * k * ep / experts * imbalance)


def test_padded_rows_are_kept_for_the_backward_too():
    """Activation memory counts the copies the experts keep: per extra routed copy of a Qwen3-30B token
    (TP1, BF16, no recomputation) the SwiGLU inputs (2 x 2 x 768 B), its output (2 x 768 B) and the dispatched
    row (2 x 2048 B): 8,704 B.  Padded to ceil(6.25) = 7 per expert and rank, 8.96 copies per token are kept; the
    FP8 job keeps the output and the dispatched row as Transformer Engine's FP8 casts (768 + 2,048 B) beside the
    BF16 SwiGLU inputs: 5,888 B per copy."""
    from fabricsim.workload.model import activation_bytes_per_token_per_layer

    per_token = activation_bytes_per_token_per_layer(QWEN, 4096, 1, True, moe=True)
    assert activation_bytes_per_token_per_layer(QWEN, 4096, 1, True, moe=True, routed_copies=10) - per_token == 2 * 8704
    dropless, padded = _job(), _job(moe_capacity_factor=1.0, moe_pad_to_capacity=True)
    layers = QWEN.layers
    assert padded.memory.activations - dropless.memory.activations == pytest.approx(0.96 * 5888 * 100 * layers)
