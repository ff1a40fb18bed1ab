"""The 26.06 Megatron-Bridge MoE recipe features as mechanisms: full-iteration CUDA graphs with a sync-free HybridEP
dispatch, Transformer Engine's fused grouped MLP, FP8 attention, the MXFP8 output head and Megatron-Core's merged-1F1B
all-to-all overlap.
Hand-counted bytes and launches, analytic bounds of the overlap, and the errors for combinations that do not exist."""

from dataclasses import replace
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fabricsim.catalog import default_catalog
from fabricsim.errors import FabricsimError
from fabricsim.workload import train
from fabricsim.workload.a2a_overlap import MoePhases, exposed_per_micro_batch, merged_layer_exposed_s
from fabricsim.workload.compute import Shape, head_work, layer_work
from fabricsim.workload.gemm import gemm_seconds, rates_for, wgrad_output_bytes
from fabricsim.workload.fp8_casts import fp8_cast_bytes
from fabricsim.workload.elementwise import fused_mlp_saved_bytes
from fabricsim.workload.fp8_attention import cast_elements
from fabricsim.workload.kernels import FUSED_MLP_KERNELS, MOE_DISPATCH_KERNELS, layer_kernels, moe_kernels
from fabricsim.workload.layers import moe_layer_gemms

CATALOG = default_catalog()
QWEN = CATALOG.get("models", "qwen3-30b-a3b")  # hidden 2048, 128 experts top-8, expert FFN 768, SwiGLU, no shared
PROFILE = CATALOG.get("software", "megatron-core-2025")
B200 = CATALOG.get("gpus", "b200")
FEATURES = dict(moe_dispatcher="hybridep", cuda_graph_full_iteration=True, moe_expert_rank_capacity_factor=1.5,
                moe_a2a_overlap=True, moe_fused_grouped_mlp=True, fp8_attention=True)


def _job(gpu="b200", **fields):
    """Qwen3-30B-A3B on 8 GPUs, EP8 (16 local experts), MXFP8, 4 micro-batches of one 1,024-token sequence."""
    job = dict(model="qwen3-30b-a3b", tp=1, pp=1, dp=8, ep=8, expert_tp=1, global_batch=32, micro_batch=1, seq=1024,
               precision="fp8", fp8_recipe="mxfp8", recompute="none", communication="analytic", virtual_stages=1)
    job.update(fields)
    return train({"cluster": {"gpu": gpu, "gpus": 8}, "workload": {"train": job}})


def _shape(**kw):
    """1,024 tokens, 16 local experts with 64 rows each: 1,024 routed copies (8 per token x 1,024 / 8 ranks)."""
    return Shape(1024.0, 1024, 1, 1, False, "fp8", 8, 1, 64.0, 1024.0, "mxfp8", **kw)


def test_fused_mlp_saved_bytes_by_hand():
    """Fused chains: SwiGLU 6 B forward, 10 B backward per FFN element; casts 2 B per element (hypothetical).
    F x rows = 768 x 1,000: forward (6 + 2) x 768,000 = 6,144,000 B; backward 10 x 768,000 + 2 x 2 x 768,000
    = 10,752,000 B (FC1's output gradient is gate and up: 2F wide)."""
    model = SimpleNamespace(expert_ffn_hidden_size=768)
    shape = SimpleNamespace(elementwise=None, etp=1, routed_tokens=1000.0)
    profile = SimpleNamespace(elementwise="fused")
    assert fused_mlp_saved_bytes(model, shape, profile, 2.0) == (6_144_000, 10_752_000)


def test_fused_mlp_removes_exactly_those_bytes_from_the_layer():
    plain = layer_work(QWEN, B200, _shape(), PROFILE, True)
    fused = layer_work(QWEN, B200, _shape(fused_mlp=True), PROFILE, True)
    saved_f, saved_b = fused_mlp_saved_bytes(QWEN, _shape(), PROFILE, fp8_cast_bytes(PROFILE, "mxfp8"))
    hbm = B200.hbm_stream_bytes_per_s
    assert plain.memory_forward - fused.memory_forward == pytest.approx(saved_f / hbm)
    assert plain.memory_backward - fused.memory_backward == pytest.approx(saved_b / hbm)
    assert fused.gemm_forward == plain.gemm_forward  # the GEMMs themselves are unchanged


def test_fused_mlp_kernel_counts_by_hand():
    """One grouped kernel per linear (streams None), MXFP8 (one cast kernel per quantization): unfused FC1 and FC2
    launch 2 + 2 forward, 3 + 3 backward, plus the layer's activation kernel (1 forward, 2 backward); fused: 3 forward,
    5 backward and no activation kernel (Qwen3 has no shared experts).  Forward 5 -> 3, backward 8 -> 5."""
    profile = PROFILE.model_copy(update={"expert_gemm_streams": None})
    gemms = moe_layer_gemms(QWEN, 1024, 1, 8, 1, 64)
    kw = dict(model=QWEN, profile=profile, attention="native", moe=True, fp8=True, recipe="mxfp8")
    plain = layer_kernels(gemms, **kw)
    fused = layer_kernels(gemms, **kw, fused_mlp=True)
    assert plain.issued_forward - fused.issued_forward == 5 - FUSED_MLP_KERNELS[0] == 2
    assert plain.issued_backward - fused.issued_backward == 8 - FUSED_MLP_KERNELS[1] == 3


def test_sync_free_dispatch_launches_one_kernel_fewer():
    assert moe_kernels("", sync_free=True)[2] == moe_kernels("")[2] - 1 == MOE_DISPATCH_KERNELS - 1


def test_full_iteration_graph_has_no_host_time_and_every_kernel_a_node():
    eager = layer_work(QWEN, B200, _shape(sync_free=True), PROFILE, True)
    graphed = layer_work(QWEN, B200, _shape(sync_free=True, full_iteration=True), PROFILE, True)
    assert graphed.host_forward == graphed.host_backward == 0.0
    assert graphed.synced_forward == 0.0 and eager.synced_forward == 0.0  # sync-free: no host wait either way
    gemms = moe_layer_gemms(QWEN, 1024, 1, 8, 1, 64)
    count = layer_kernels(gemms, QWEN, PROFILE, "native", True, True, "mxfp8", sync_free=True)
    node = PROFILE.graph_node_seconds("blackwell")
    assert graphed.launch_forward == pytest.approx(node * (count.gaps_forward + count.graph_nodes_forward))
    assert graphed.launch_backward == pytest.approx(node * (count.gaps_backward + count.graph_nodes_backward))
    result = _job(moe_dispatcher="hybridep", moe_expert_rank_capacity_factor=1.5, cuda_graph_full_iteration=True)
    assert result.stage.host_bound_s == pytest.approx(0.0, abs=1e-12)


def test_fp8_attention_rate_and_casts_by_hand():
    """B200 (cuDNN's measured Blackwell curves) at 1,024 tokens: native 0.642 x 1024 / (1024 + 1708), native-fp8
    0.775 x 1024 / (1024 + 2017) of BF16 peak: the attention core takes the ratio of the two of its BF16 time.  Casts:
    Q 32 heads x 128, K and V 4 KV heads x 128 each = 5,120 elements per token forward; dO 4,096 backward."""
    assert B200.attention_efficiency["native-fp8"] == 0.775
    assert B200.attention_half_sequence_tokens == {"native": 1708, "native-fp8": 2017}
    bf16 = layer_work(QWEN, B200, _shape(), PROFILE, False)
    fp8 = layer_work(QWEN, B200, _shape(fp8_attention=True), PROFILE, False)
    ratio = (0.642 * 1024 / (1024 + 1708)) / (0.775 * 1024 / (1024 + 2017))
    assert fp8.attention_forward == pytest.approx(bf16.attention_forward * ratio)
    assert cast_elements(QWEN, 1024, 1) == (1024 * 5120, 1024 * 4096)
    per = fp8_cast_bytes(PROFILE, "mxfp8")  # the run's recipe (ASSUMED to scale attention's casts too)
    assert fp8.memory_forward - bf16.memory_forward == pytest.approx(per * 1024 * 5120 / B200.hbm_stream_bytes_per_s)


def test_merged_layer_exposure_by_hand():
    """Phases 1, 4 (experts backward), 2 (experts forward), 3 s against 2.5 s all-to-alls: 1.5 + 0 + 0.5 + 0 = 2 s
    exposed; over 4 micro-batches through 2 MoE layers: (3 pairs x 2 x 2 + 2 x 4 x 2.5) / 4 = 8 s per micro-batch."""
    phases = MoePhases(attention_forward=1.0, experts_forward=2.0, attention_backward=3.0, experts_backward=4.0)
    assert merged_layer_exposed_s(phases, 2.5) == pytest.approx(2.0)
    assert exposed_per_micro_batch(phases, 2.5, 2, 4) == pytest.approx(8.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1e3), min_size=4, max_size=4), st.floats(0, 1e3))
def test_merged_layer_never_beats_its_compute_nor_exposes_more(compute, a2a):
    phases = MoePhases(*compute)
    exposed = merged_layer_exposed_s(phases, a2a)
    assert 0.0 <= exposed <= 4 * a2a + 1e-9
    pair = sum(compute) + exposed  # the merged layer's time
    assert pair >= sum(compute) and pair >= 4 * a2a - 1e-9  # neither stream can finish early


def test_overlap_step_between_compute_and_no_overlap():
    kw = dict(moe_dispatcher="hybridep", moe_expert_rank_capacity_factor=1.5, cuda_graph_full_iteration=True)
    plain = _job(**kw)
    overlapped = _job(**kw, moe_a2a_overlap=True)
    compute = overlapped.micro_batches * overlapped.stage.total_s
    assert compute <= overlapped.step_time_s < plain.step_time_s
    assert overlapped.breakdown_s["exposed EP comm"] < plain.breakdown_s["exposed EP comm"]


@pytest.mark.parametrize("fields, words", [
    (dict(cuda_graph_full_iteration=True), "moe_expert_rank_capacity_factor"),
    (dict(cuda_graph_full_iteration=True, moe_dispatcher="hybridep", moe_expert_rank_capacity_factor=1.5,
          cuda_graph_scope=["attn"]), "cuda_graph_scope"),
    (dict(moe_expert_rank_capacity_factor=1.5), "moe_dispatcher: hybridep"),
    (dict(moe_dispatcher="hybridep", moe_expert_rank_capacity_factor=1.5, routing_imbalance=2.0), "routing_imbalance"),
    (dict(moe_fused_grouped_mlp=True, fp8_recipe="tensorwise"), "MXFP8"),
    (dict(fp8_attention=True, precision="bf16", fp8_recipe=None), "precision: fp8"),
    (dict(fp8_output_head=True, precision="bf16", fp8_recipe=None), "fp8_output_head=true with precision='bf16'"),
    (dict(fp8_output_head=True, fp8_recipe="tensorwise"), "fp8_recipe: mxfp8"),
    (dict(moe_a2a_overlap=True, recompute="full"), "full recomputation"),
    (dict(moe_a2a_overlap=True, ep_comm_overlap=0.5), "ep_comm_overlap"),
])
def test_invalid_combinations_are_named(fields, words):
    with pytest.raises(FabricsimError, match=words):
        _job(**fields)


def test_fused_mlp_refused_on_hopper_and_a2a_overlap_without_virtual_stages():
    with pytest.raises(FabricsimError, match="Blackwell"):
        _job(gpu="h100-sxm", moe_fused_grouped_mlp=True)
    with pytest.raises(FabricsimError, match="virtual_stages"):
        train({"cluster": {"gpu": "b200", "gpus": 16}, "workload": {"train": dict(
            model="qwen3-30b-a3b", tp=1, pp=2, dp=8, ep=8, global_batch=32, micro_batch=1, seq=1024, recompute="none",
            communication="analytic", moe_a2a_overlap=True)}})


def test_every_feature_together_runs_and_each_helps():
    """Each feature makes the step faster, none of them changes the model FLOPs.  FP8 attention only pays off once the
    attention core outweighs its Q/K/V and dO casts: at 1,024 tokens (x1.08 on Blackwell there) it does not, at 4,096 it
    does."""
    full = _job(**FEATURES)
    for feature in ("moe_a2a_overlap", "moe_fused_grouped_mlp", "fp8_attention"):
        without = _job(**{**FEATURES, feature: False})
        assert without.model_flops_per_step == full.model_flops_per_step
        if feature != "fp8_attention":
            assert without.step_time_s > full.step_time_s, feature
    long, long_without = _job(**FEATURES, seq=4096), _job(**{**FEATURES, "fp8_attention": False}, seq=4096)
    assert long_without.step_time_s > long.step_time_s
    assert _job(**{**FEATURES, "fp8_attention": False}).step_time_s < full.step_time_s  # short: the casts win


def test_fp8_backward_runs_windowed_layers_as_full_causal(monkeypatch):
    """gpt-oss (18 of 36 layers through a 128-token window): the FP8 backward works through the whole causal square
    of every layer, 2 x 64 heads x (64 + 64) x seq / 2 FLOPs per token and layer (cuDNN's FP8 backward grows with
    seq^2 on the gpt_oss preset); the forward keeps the band.  A model without windows is unaffected."""
    from fabricsim.workload.fp8_attention import backward_pass_flops
    from fabricsim.workload.model import attention_flops_per_token_per_layer

    oss = CATALOG.get("models", "gpt-oss-120b")
    assert backward_pass_flops(oss, 4096) == 2 * 64 * 128 * 4096 / 2
    assert attention_flops_per_token_per_layer(oss, 4096) < backward_pass_flops(oss, 4096)
    assert backward_pass_flops(QWEN, 4096) == attention_flops_per_token_per_layer(QWEN, 4096)
    shape = Shape(4096.0, 4096, 1, 1, False, "fp8", 8, 1, 128.0, 16384.0, "mxfp8")
    import fabricsim.workload.compute as compute
    monkeypatch.setattr(compute, "windowed_attention_efficiency", lambda *_: None)  # BF16 windows at the full rate
    plain = layer_work(oss, B200, shape, PROFILE, False)
    fp8 = layer_work(oss, B200, replace(shape, fp8_attention=True), PROFILE, False)
    band, square = attention_flops_per_token_per_layer(oss, 4096), backward_pass_flops(oss, 4096)
    ratio = (0.642 * 4096 / (4096 + 1708)) / (0.775 * 4096 / (4096 + 2017))
    assert fp8.attention_forward / plain.attention_forward == pytest.approx(ratio)
    assert fp8.attention_backward / plain.attention_backward == pytest.approx(ratio * square / band)


def test_fp8_output_head_gemms_and_casts_by_hand():
    """Qwen3-30B's head, 1,024 tokens x 2,048 -> 151,936 on B200: BF16 by default (Megatron-Core's own
    ColumnParallelLinear), with fp8_output_head the forward (1,024 x 151,936 x 2,048), data-gradient (1,024 x 2,048 x
    151,936) and weight-gradient (151,936 x 2,048 x 1,024, accumulating into 4-byte gradients) GEMMs at the FP8 rates;
    its input (1,024 x 2,048 elements, no fused norm) and the logits' gradient (1,024 x 151,936) are quantized; one
    more kernel each way.  The loss is the same either way."""
    plain = head_work(QWEN, B200, _shape(), PROFILE)
    fp8 = head_work(QWEN, B200, _shape(fp8_output_head=True), PROFILE)
    t, h, v = 1024, 2048, 151936
    for work, rates in ((plain, rates_for(B200, "bf16")), (fp8, rates_for(B200, "fp8", 1.0, "mxfp8"))):
        assert work.gemm_forward == pytest.approx(float(gemm_seconds(t, v, h, rates)))
        assert work.gemm_backward == pytest.approx(float(gemm_seconds(t, h, v, rates))
                                                   + float(gemm_seconds(v, h, t, rates, 1.0, wgrad_output_bytes(4))))
    per, hbm = fp8_cast_bytes(PROFILE, "mxfp8"), B200.hbm_stream_bytes_per_s
    assert fp8.memory_forward - plain.memory_forward == pytest.approx(per * t * h / hbm)
    assert fp8.memory_backward - plain.memory_backward == pytest.approx(per * t * v / hbm)
    gap = PROFILE.kernel_overhead_s
    for each_way in ("forward", "backward"):
        assert getattr(fp8, f"launch_{each_way}") - getattr(plain, f"launch_{each_way}") == pytest.approx(gap)
        assert getattr(fp8, f"host_{each_way}") - getattr(plain, f"host_{each_way}") == pytest.approx(
            PROFILE.host_s_per_kernel)
    assert fp8.gemm_forward < 0.6 * plain.gemm_forward  # a 151,936-wide GEMM is near both peaks (FP8 = 2 x BF16)


def test_fp8_output_head_speeds_the_step_and_keeps_the_flops():
    plain, fp8 = _job(**FEATURES), _job(**FEATURES, fp8_output_head=True)
    assert fp8.model_flops_per_step == plain.model_flops_per_step
    assert fp8.step_time_s < plain.step_time_s
    assert any("fp8_output_head" in note for note in fp8.notes)


def test_fp8_output_head_costs_nothing_where_fp8_runs_as_bf16():
    """A100 has no FP8 tensor cores: its transformer layers run an FP8 recipe as BF16 with no casts, and so does the
    head -- the flag changes nothing there."""
    a100 = CATALOG.get("gpus", "a100-sxm")
    plain = head_work(QWEN, a100, _shape(), PROFILE)
    flagged = head_work(QWEN, a100, _shape(fp8_output_head=True), PROFILE)
    assert flagged == plain
