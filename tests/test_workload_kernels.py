"""Kernel counts of the grouped expert MLP (Transformer Engine GroupedLinear) and what they cost."""

from dataclasses import replace

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.errors import FabricsimError
from fabricsim.workload.compute import Shape, head_work, layer_work
from fabricsim.workload.kernels import captured_kernels, grouped_linear_kernels, layer_kernels
from fabricsim.workload.layers import moe_layer_gemms

CATALOG = default_catalog()


def test_grouped_linear_launches_per_local_expert():
    """16 local experts, per-tensor current scaling: forward 16 GEMMs + 16 x 3 quantize kernels
    (amax, scale, cast) + 16 weight lookups issued; every GEMM pays its gap (the 4 streams do not hide them:
    Transformer Engine PR #2045's microbenchmark, validation cases te27-grouped-gemm-*)."""
    k = grouped_linear_kernels(16, True, "tensorwise")
    assert (k.issued_forward, k.gaps_forward) == (16 + 48 + 16, 16 + 48)
    # backward: dgrad + wgrad GEMMs (32), output gradients quantized (48), 16 main-gradient hand-offs
    assert (k.issued_backward, k.gaps_backward) == (32 + 48 + 16, 32 + 48)
    mx = grouped_linear_kernels(16, True, "mxfp8")  # block scales inside the cast: one kernel per tensor
    assert (mx.issued_forward, mx.gaps_forward) == (16 + 16 + 16, 16 + 16)
    bf16 = grouped_linear_kernels(16, False, "tensorwise")
    assert (bf16.issued_forward, bf16.issued_backward, bf16.gaps_backward) == (16, 48, 32)


def test_layer_kernels_of_qwen3_30b_by_hand():
    """Qwen3-30B-A3B MoE layer, EP8 (16 local experts), MXFP8, TP1: QKV (cast fused into the norm),
    attention out, router = 3 fixed GEMMs; attention out cast (1); input and pre-MLP norms, QK-Norm's
    query and key norms, residuals, activation (7), rotary (1), fused attention (1), MoE router/dispatcher
    (18) = 31 forward; twice backward."""
    model = CATALOG.get("models", "qwen3-30b-a3b")
    profile = CATALOG.get("software", "megatron-core-2025")
    gemms = moe_layer_gemms(model, 4096, 1, 8, 1, 2048)
    k = layer_kernels(gemms, model, profile, "native", True, True, "mxfp8")  # the grouped GEMMs carry 16 experts
    experts = grouped_linear_kernels(16, True, "mxfp8")
    assert k.issued_forward == 31 + 2 * experts.issued_forward
    assert k.gaps_backward == 62 + 2 * experts.gaps_backward


def test_more_local_experts_cost_more_host_time_not_more_flops():
    """The same tokens spread over 32 local experts instead of 4 (EP8 vs EP64 of DeepSeek-V3's 256)
    leave the FLOPs alone and add per-expert launches: host time grows by host_s_per_kernel per launch."""
    model = CATALOG.get("models", "deepseek-v3")
    gpu = CATALOG.gpu("b200")
    profile = CATALOG.get("software", "megatron-core-2025")
    few = layer_work(model, gpu, Shape(4096, 4096, 1, 1, True, "fp8", 64, 1, 8192, 4 * 8192, "mxfp8"), profile, True)
    many = layer_work(model, gpu, Shape(4096, 4096, 1, 1, True, "fp8", 8, 1, 1024, 32 * 1024, "mxfp8"), profile, True)
    assert many.gemm_flops == pytest.approx(few.gemm_flops)
    per_linear = (grouped_linear_kernels(32, True, "mxfp8").issued_forward
                  - grouped_linear_kernels(4, True, "mxfp8").issued_forward)
    assert many.host_forward - few.host_forward == pytest.approx(2 * per_linear * profile.host_s_per_kernel)


def test_one_grouped_kernel_stack_launches_like_a_plain_linear():
    """A stack with a single grouped-GEMM kernel (DeepSeek's DeepGEMM; expert_gemm_streams None) launches one
    GEMM and one cast forward, dgrad + wgrad and one cast backward, however many experts it holds."""
    k = grouped_linear_kernels(32, True, "blockwise", None)
    assert (k.issued_forward, k.issued_backward, k.gaps_forward, k.gaps_backward) == (2, 3, 2, 3)
    assert CATALOG.get("software", "deepseek-v3-2024").expert_gemm_streams is None
    assert CATALOG.get("software", "megatron-core-2025").expert_gemm_streams == 4


def test_per_expert_gemm_wave_quantization_by_hand():
    """DeepSeek-V3 expert FC1 on EP8: M=1024 tokens, N=4096, K=7168 -> 8 x 16 = 128 tiles of 128 x 256.
    Without stream-K (A100, 108 SMs) two waves run 128 of 216 slots; with stream-K (B200, 148 SMs) one
    GEMM splits K over all SMs and pays the tile overhead per piece; four concurrent streams fill the SMs."""
    from fabricsim.workload.gemm import rates_for, shape_efficiency

    a100 = rates_for(CATALOG.gpu("a100-sxm"), "bf16")
    kb = a100.k_balance
    assert float(shape_efficiency(1024, 4096, 7168, a100)) == pytest.approx(7168 / (7168 + kb) * 128 / 216)
    b200 = rates_for(CATALOG.gpu("b200"), "fp8")
    kb = b200.k_balance
    assert float(shape_efficiency(1024, 4096, 7168, b200)) == pytest.approx(7168 * 128 / (7168 * 128 + 148 * kb))
    assert float(shape_efficiency(1024, 4096, 7168, b200, batch=4)) == pytest.approx(7168 / (7168 + kb))


def test_permute_bytes_of_routed_copies_by_hand():
    """Qwen3-30B-A3B, 4096 tokens, top-8 over EP8: 32,768 routed copies of h = 2048.  Each direction reads
    and writes every copy once to permute and once to un-permute (4 x 2 B x h), and SwiGLU reads gate and
    up and writes their product over the expert width f = 768 (6 B x f; 10 B x f backward)."""
    from fabricsim.workload.elementwise import layer_elementwise_bytes

    model = CATALOG.get("models", "qwen3-30b-a3b")
    profile = CATALOG.get("software", "megatron-core-2025")
    routed = 4096 * 8
    with_experts = layer_elementwise_bytes(model, Shape(4096, 4096, 1, 1, True, "fp8", 8, 1, routed / 16, routed), profile, True)
    without = layer_elementwise_bytes(model, Shape(4096, 4096, 1, 1, True, "fp8", 8, 1, 0.0, 0.0), profile, True)
    assert with_experts[0] - without[0] == pytest.approx(routed * (4 * 2 * 2048 + 6 * 768))  # 687,865,856 B
    assert with_experts[1] - without[1] == pytest.approx(routed * (4 * 2 * 2048 + 10 * 768))


def test_the_output_head_runs_in_bf16_under_fp8_and_the_mtp_projection_does_not():
    """Megatron-Core builds the output layer as its own ColumnParallelLinear, outside Transformer
    Engine's fp8_autocast: the head's GEMMs take the same time in FP8 and in BF16 training, while the
    MTP projection (a Transformer Engine linear) runs faster in FP8."""
    model, gpu = CATALOG.get("models", "deepseek-v3"), CATALOG.gpu("h100-sxm")
    profile = CATALOG.get("software", "megatron-core-2025")
    fp8, bf16 = (Shape(4096, 4096, 1, 1, True, precision) for precision in ("fp8", "bf16"))
    head_fp8, head_bf16 = head_work(model, gpu, fp8, profile), head_work(model, gpu, bf16, profile)
    assert head_fp8.gemm_forward + head_fp8.gemm_backward == pytest.approx(
        head_bf16.gemm_forward + head_bf16.gemm_backward)
    assert head_fp8.memory_forward == pytest.approx(head_bf16.memory_forward)  # no FP8 casts for the head
    mtp_fp8, mtp_bf16 = head_work(model, gpu, fp8, profile, mtp=True), head_work(model, gpu, bf16, profile, mtp=True)
    projection_fp8 = mtp_fp8.gemm_forward - head_fp8.gemm_forward
    projection_bf16 = mtp_bf16.gemm_forward - head_bf16.gemm_forward
    assert 0 < projection_fp8 < 0.75 * projection_bf16
    assert mtp_fp8.gemm_flops == pytest.approx(mtp_bf16.gemm_flops)


def _qwen3_30b_moe_layer():
    model = CATALOG.get("models", "qwen3-30b-a3b")
    profile = CATALOG.get("software", "megatron-core-2025")
    return model, profile, moe_layer_gemms(model, 4096, 1, 8, 1, 2048)


def test_captured_router_and_preprocess_issue_one_launch_per_pass():
    """Qwen3-30B-A3B MoE layer, MXFP8, cuda_graph_scope [moe_router, moe_preprocess] (the B200 recipe):
    pre-MLP norm, router GEMM, 6 router kernels and 6 preprocessing kernels = 14 kernels run as one graph
    forward (14 -> 1) and one backward (28 -> 1); everything else launches as before."""
    model, profile, gemms = _qwen3_30b_moe_layer()
    eager = layer_kernels(gemms, model, profile, "native", True, True, "mxfp8")
    graphed = layer_kernels(gemms, model, profile, "native", True, True, "mxfp8", ("moe_router", "moe_preprocess"))
    assert captured_kernels(gemms, model, "native", True, True, 1, profile, ("moe_router", "moe_preprocess")) == 14
    assert eager.issued_forward - graphed.issued_forward == 13
    assert eager.issued_backward - graphed.issued_backward == 27
    assert (eager.gaps_forward - graphed.gaps_forward, eager.gaps_backward - graphed.gaps_backward) == (13, 27)
    router_only = layer_kernels(gemms, model, profile, "native", True, True, "mxfp8", ("moe_router",))
    assert eager.issued_forward - router_only.issued_forward == 8 - 1  # norm, GEMM, 6 router kernels


def test_captured_attention_router_and_preprocess_are_one_graph():
    """Adding 'attn' (the GB200 recipes): QKV (cast fused into the norm), attention out and its MXFP8 cast,
    input norm, QK-Norm's query and key norms, rotary, fused attention, residual add = 9 more kernels in the
    same graph: 23 -> 1 forward, 46 -> 1 backward.
    A dense layer captures only its attention (7 -> 1); the MoE parts do not exist there."""
    model, profile, gemms = _qwen3_30b_moe_layer()
    scope = ("attn", "moe_router", "moe_preprocess")
    eager = layer_kernels(gemms, model, profile, "native", True, True, "mxfp8")
    graphed = layer_kernels(gemms, model, profile, "native", True, True, "mxfp8", scope)
    assert (eager.issued_forward - graphed.issued_forward, eager.issued_backward - graphed.issued_backward) == (22, 45)
    dense = CATALOG.get("models", "llama3-8b")
    from fabricsim.workload.layers import dense_layer_gemms
    d = dense_layer_gemms(dense, 4096, 1)
    assert captured_kernels(d, dense, "native", False, False, 1, profile, scope) == 2 + 4
    plain, attn = (layer_kernels(d, dense, profile, "native", False, False, "mxfp8", s) for s in ((), scope))
    assert plain.issued_forward - attn.issued_forward == 5


def test_deepseek_v3_router_graph_holds_the_shared_expert():
    """Megatron-Core captures unoverlapped shared experts with the router: DeepSeek-V3 (one shared expert, MXFP8)
    adds its FC1 (cast fused into the pre-MLP norm) and FC2 (one cast) to the 14: 17 kernels."""
    model = CATALOG.get("models", "deepseek-v3")
    profile = CATALOG.get("software", "megatron-core-2025")
    gemms = moe_layer_gemms(model, 4096, 1, 64, 1, 8192)
    assert captured_kernels(gemms, model, "native", True, True, 1, profile, ("moe_router", "moe_preprocess")) == 17


def test_captured_router_saves_host_time_and_keeps_the_synchronization():
    """Host time of the Qwen3-30B MoE layer, eager against the B200 recipe's captured router and preprocessing:
    13 fewer host launches forward, 27 backward, at host_s_per_kernel each; the dropless dispatcher still
    copies the token counts to the host outside the graph, so the forward still waits for the device once
    (fabricsim.workload.host_sync: at least max(GPU, host))."""
    model = CATALOG.get("models", "qwen3-30b-a3b")
    gpu, profile = CATALOG.gpu("b200"), CATALOG.get("software", "megatron-core-2025")
    shape = Shape(4096, 4096, 1, 1, True, "fp8", 8, 1, 2048, 16 * 2048, "mxfp8")
    eager = layer_work(model, gpu, shape, profile, True)
    graphed = layer_work(model, gpu, replace(shape, cuda_graph_scope=("moe_router", "moe_preprocess")), profile, True)
    h = profile.host_s_per_kernel
    assert eager.host_forward - graphed.host_forward == pytest.approx(13 * h)
    assert eager.host_backward - graphed.host_backward == pytest.approx(27 * h)
    # the 14 captured kernels: one launch gap and 13 graph nodes (B200: 0.8 us each) instead of 14 launch gaps
    node = profile.graph_node_seconds(gpu.architecture)
    assert node == pytest.approx(0.8e-6)
    assert eager.launch_forward - graphed.launch_forward == pytest.approx(13 * (profile.kernel_overhead_s - node))
    assert eager.launch_backward - graphed.launch_backward == pytest.approx(27 * (profile.kernel_overhead_s - node))
    assert graphed.synced_forward >= max(graphed.forward, graphed.host_forward)
    assert graphed.gemm_flops == pytest.approx(eager.gemm_flops)


def test_preprocess_graph_needs_the_router_graph():
    model, profile, gemms = _qwen3_30b_moe_layer()
    with pytest.raises(FabricsimError, match="moe_preprocess is captured only together with moe_router"):
        layer_kernels(gemms, model, profile, "native", True, True, "mxfp8", ("moe_preprocess",))


def test_a_recipes_cuda_graph_scope_reaches_the_step_and_unknown_parts_are_refused():
    """Qwen3-30B-A3B on 8 B200 at micro-batch 1 is host-bound in both passes: capturing router and
    preprocessing saves its 48 MoE layers 27 host launches each backward and, forward, at most 13 (launches
    before the host synchronization the GPU would otherwise hide: fabricsim.workload.host_sync), nothing else."""
    from fabricsim.scenario import scenario_from_dict
    from fabricsim.workload import train

    scenario = scenario_from_dict({"cluster": {"gpu": "b200", "gpus": 8}})
    job = dict(model="qwen3-30b-a3b", tp=1, pp=1, dp=8, ep=8, expert_tp=1, global_batch=512, micro_batch=1,
               seq=4096, precision="fp8", fp8_recipe="mxfp8", software="megatron-core-2025", communication="analytic")
    eager = train(scenario, **job)
    graphed = train(scenario, cuda_graph_scope=["moe_router", "moe_preprocess"], **job)
    h = CATALOG.get("software", "megatron-core-2025").host_s_per_kernel
    saved = eager.stage.total_s - graphed.stage.total_s
    assert 48 * 27 * h < saved <= 48 * (13 + 27) * h * (1 + 1e-9)
    assert graphed.stage.host_bound_s > 0
    with pytest.raises(FabricsimError, match="cuda_graph_scope"):
        train(scenario, cuda_graph_scope=["mlp"], **job)


def test_graph_nodes_by_architecture_and_whole_graph_count():
    """graph_node_s by GPU architecture (H100 1.3 us, B200 0.8 us measured); an architecture the profile does
    not list costs an eager launch gap per node.  A partial graph of 14 captured kernels keeps 13 nodes forward and
    27 backward; capturing the whole layer turns every gap but one per pass into a node."""
    model, profile, gemms = _qwen3_30b_moe_layer()
    assert profile.graph_node_seconds("hopper") == pytest.approx(1.3e-6)
    assert profile.graph_node_seconds("blackwell") == pytest.approx(0.8e-6)
    assert profile.graph_node_seconds("rubin") == profile.kernel_overhead_s
    graphed = layer_kernels(gemms, model, profile, "native", True, True, "mxfp8", ("moe_router", "moe_preprocess"))
    assert (graphed.graph_nodes_forward, graphed.graph_nodes_backward) == (13, 27)
    whole = graphed.whole_graph()
    assert (whole.gaps_forward, whole.gaps_backward) == (1, 1)
    assert whole.graph_nodes_forward == graphed.gaps_forward + 13 - 1
    assert whole.graph_nodes_backward == graphed.gaps_backward + 27 - 1
