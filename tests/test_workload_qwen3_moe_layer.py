"""One Qwen3-30B-A3B MoE layer, counted by hand from the code the Megatron-Bridge 26.02 recipes run
(Megatron-Core b0cc2706, Transformer Engine v2.12) against what fabricsim counts, per token (TP1, EP8, fused
elementwise chains, BF16 activations, MXFP8 linears): hidden h = 2048, 32 query and 4 key/value heads of 128,
8 of 128 experts per token with an FFN of 768."""

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.workload.compute import Shape, _gemm_work, layer_work
from fabricsim.workload.elementwise import layer_elementwise_bytes
from fabricsim.workload.gemm import rates_for
from fabricsim.workload.layers import moe_layer_gemms

CATALOG = default_catalog()
TOKENS = 32768  # micro-batch 8 x 4096 (the GB300 and B300 recipes)
ROUTED = TOKENS * 8  # token copies this GPU's 16 experts process (balanced routing)


def _shape() -> Shape:
    return Shape(TOKENS, 4096, 8, 1, False, "fp8", 8, 1, ROUTED / 16, ROUTED, "mxfp8")


def _parts():
    model = CATALOG.get("models", "qwen3-30b-a3b")
    return model, CATALOG.get("software", "megatron-core-2025")


def _without_qk_norm(model):
    return model.model_copy(update={"qk_norm": False})


def test_qk_norm_adds_a_norm_over_every_query_and_key_head():
    """Megatron-Core attention.py (b0cc2706) lines 1280-1298 and 1478-1481: q_layernorm and k_layernorm over
    the head width of (32 + 4) heads x 128 = 4,608 elements per token; a fused RMSNorm reads and writes each
    element forward (2 + 2 B) and reads two, writes one backward (6 B): 18,432 and 27,648 B per token, not
    repeated by selective recomputation (only the input and pre-MLP norms are)."""
    model, profile = _parts()
    assert model.qk_norm
    with_f, with_b, with_sel, _ = layer_elementwise_bytes(model, _shape(), profile, True)
    without_f, without_b, without_sel, _ = layer_elementwise_bytes(_without_qk_norm(model), _shape(), profile, True)
    assert (with_f - without_f) / TOKENS == 4 * 4608 == 18_432
    assert (with_b - without_b) / TOKENS == 6 * 4608 == 27_648
    assert with_sel == without_sel


def test_qk_norm_launches_two_more_kernels_forward_four_backward():
    """Two TE RMSNorm calls forward (query, key); the fixed kernels launch twice as many backward."""
    model, profile = _parts()
    gpu = CATALOG.gpu("gb300")
    with_norm = layer_work(model, gpu, _shape(), profile, True)
    without = layer_work(_without_qk_norm(model), gpu, _shape(), profile, True)
    assert (with_norm.launch_forward - without.launch_forward) / profile.kernel_overhead_s == pytest.approx(2)
    assert (with_norm.launch_backward - without.launch_backward) / profile.kernel_overhead_s == pytest.approx(4)


def test_memory_bound_bytes_of_the_moe_layer_by_hand():
    """Per token, forward | backward: input and pre-MLP norms 2 x 4 h | 2 x 6 h; two residual adds 2 x 6 h both
    ways; rotary 4 B x 36 x 128 both ways; QK-Norm 18,432 | 27,648; weighted SwiGLU of each of the 8 routed
    copies (Megatron weighted_bias_swiglu_impl: read 2 x 768, write 768 | read 768 + 2 x 768, write 2 x 768,
    BF16) 6 x 768 | 10 x 768 per copy; permutation and un-permutation of every routed copy, read + write,
    4 x 2 B x h per copy both ways (HybridEP's permute and un-permute move D + R = 5.25 + 8 rows each way:
    the model's 4 R is 21% more, left as it is)."""
    model, profile = _parts()
    forward, backward, _, _ = layer_elementwise_bytes(model, _shape(), profile, True)
    h = 2048
    assert forward / TOKENS == 2 * 4 * h + 2 * 6 * h + 4 * 36 * 128 + 18_432 + 8 * 6 * 768 + 8 * 8 * h == 245_760
    assert backward / TOKENS == 2 * 6 * h + 2 * 6 * h + 4 * 36 * 128 + 27_648 + 8 * 10 * 768 + 8 * 8 * h == 287_744


def test_fp8_casts_of_the_moe_layer_by_hand():
    """Elements quantized per token: forward the attention-output input (4,096; QKV and router inputs come from
    a norm the profile fuses the cast into) and each routed copy's FC1 (2,048) and FC2 (768) inputs; backward
    every GEMM's output gradient: QKV 5,120, attention out 2,048, router 128, per copy FC1 1,536 and FC2 2,048.
    The profile charges 6 B each (current scaling's amax pass + the cast); MXFP8 rowwise + columnwise moves
    2 + 2 x (1 + 1/32) = 4.0625 B (Transformer Engine v2.12 split_quantize, one nvte_quantize_v2 per expert)."""
    model, profile = _parts()
    gpu = CATALOG.gpu("gb300")
    gemms = moe_layer_gemms(model, TOKENS, 1, 8, 1, ROUTED / 16)
    _, _, cast_f, cast_b, _ = _gemm_work(gemms, rates_for(gpu, "fp8"), profile, True)
    assert cast_f / TOKENS == 6 * (4096 + 8 * (2048 + 768)) == 159_744
    assert cast_b / TOKENS == 6 * (5120 + 2048 + 128 + 8 * (1536 + 2048)) == 215_808


def test_all_to_all_dispatcher_sorts_every_received_row_by_local_expert_and_back():
    """Megatron-Core MoEAlltoAllTokenDispatcher (core_v0.14.0 to core_v0.19.0): with 16 local experts,
    dispatch_postprocess sorts the received rows by local expert (sort_chunks_by_idxs) and combine_preprocess
    restores rank order: one more read and write of every routed copy each way, 2 x (2 + 2) B x h = 16,384 B per
    copy of h = 2048, in the experts' phase.  DeepEP and HybridEP receive into expert order: no sort; one local
    expert needs none either."""
    from dataclasses import replace

    from fabricsim.workload.moe import expert_sort
    from fabricsim.workload.parallelism import Parallelism

    model, profile = _parts()
    ep8, ep128 = Parallelism(tp=1, pp=1, cp=1, dp=8, ep=8), Parallelism(tp=1, pp=1, cp=1, dp=128, ep=128)
    assert expert_sort("alltoall", model, ep8)
    assert not expert_sort("hybridep", model, ep8) and not expert_sort("deepep", model, ep8)
    assert not expert_sort("alltoall", model, ep128)  # 128 experts over EP 128: one local expert
    plain, sorted_ = _shape(), replace(_shape(), expert_sort=True)
    base_f, base_b, base_sel, _ = layer_elementwise_bytes(model, plain, profile, True)
    sort_f, sort_b, sort_sel, _ = layer_elementwise_bytes(model, sorted_, profile, True)
    assert (sort_f - base_f) / ROUTED == (sort_b - base_b) / ROUTED == 16_384
    assert sort_sel["permute"] - base_sel["permute"] == 16_384 * ROUTED  # recomputed with the permutation
    gpu = CATALOG.gpu("gb300")
    without, with_sort = layer_work(model, gpu, plain, profile, True), layer_work(model, gpu, sorted_, profile, True)
    hbm = gpu.hbm_stream_bytes_per_s
    assert with_sort.expert_forward - without.expert_forward == pytest.approx(16_384 * ROUTED / hbm)
    assert with_sort.memory_forward - without.memory_forward == pytest.approx(16_384 * ROUTED / hbm)


def test_grouped_experts_pad_fp8_rows_unless_hybridep_pads_them():
    """Megatron-Core TEGroupedMLP (b0cc2706 experts.py lines 603-606, 646-653, 760-762) runs Transformer Engine
    v2.12 Fp8Padding on its input and Fp8Unpadding on its output when a local expert's rows are not a multiple of 32
    (MXFP8; 16 for other FP8 recipes: quantization.py get_align_size_for_quantization): dropless routing leaves
    some expert unaligned, so every routed row is copied in and out (2 x (2 + 2) B x h = 16,384 B per copy of
    h = 2048 forward, the same backward), in the experts' phase, 3 more kernels each way.  HybridEP's permute writes
    the padded layout itself; padded token-drop with aligned capacity needs no copy."""
    from dataclasses import replace

    from fabricsim.workload.moe import quantization_padding

    assert quantization_padding("alltoall", "mxfp8", "", 2048.0)
    assert quantization_padding("deepep", None, "", 2048.0)
    assert not quantization_padding("hybridep", "mxfp8", "", 2048.0)
    assert not quantization_padding("alltoall", "mxfp8", "pad", 2048.0)  # capacity 256 x EP 8 rows: aligned
    assert quantization_padding("alltoall", "mxfp8", "pad", 2064.0)  # 2064 = 16 x 129: aligned for 16, not 32
    assert not quantization_padding("alltoall", "tensorwise", "pad", 2064.0)
    model, profile = _parts()
    plain, padded = _shape(), replace(_shape(), expert_padding=True)
    base_f, base_b, base_sel, _ = layer_elementwise_bytes(model, plain, profile, True)
    pad_f, pad_b, pad_sel, _ = layer_elementwise_bytes(model, padded, profile, True)
    assert (pad_f - base_f) / ROUTED == (pad_b - base_b) / ROUTED == 16_384
    assert pad_sel["permute"] - base_sel["permute"] == 16_384 * ROUTED  # rerun with the MoE layer
    gpu = CATALOG.gpu("gb300")
    without, with_pad = layer_work(model, gpu, plain, profile, True), layer_work(model, gpu, padded, profile, True)
    hbm = gpu.hbm_stream_bytes_per_s
    assert with_pad.expert_forward - without.expert_forward == pytest.approx(16_384 * ROUTED / hbm)
    assert with_pad.expert_backward - without.expert_backward == pytest.approx(16_384 * ROUTED / hbm)
    assert (with_pad.launch_forward - without.launch_forward) / profile.kernel_overhead_s == pytest.approx(3)
    assert (with_pad.launch_backward - without.launch_backward) / profile.kernel_overhead_s == pytest.approx(3)
    bf16 = replace(padded, precision="bf16")  # Transformer Engine pads only FP8 GEMM inputs
    assert layer_work(model, gpu, bf16, profile, True).memory_forward == \
        layer_work(model, gpu, replace(plain, precision="bf16"), profile, True).memory_forward
