"""A scaled RoPE (YaRN) runs Megatron-Core's unfused rotary op (fabricsim.workload.elementwise.chains)."""

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.workload.elementwise import FUSED, UNFUSED_SCALED_ROTARY, chains, layer_elementwise_bytes

CATALOG = default_catalog()
MEGATRON = CATALOG.get("software", "megatron-core-2025")


def test_yarn_concentration_of_gpt_oss():
    import math

    assert CATALOG.get("models", "gpt-oss-120b").rope_attention_scale == pytest.approx(0.1 * math.log(32) + 1, abs=1e-4)
    assert CATALOG.get("models", "qwen3-30b-a3b").rope_attention_scale == 1.0


def test_only_a_scaled_rope_on_a_unit_scale_fused_kernel_falls_back():
    gpt_oss, qwen = CATALOG.get("models", "gpt-oss-120b"), CATALOG.get("models", "qwen3-30b-a3b")
    chain = chains(MEGATRON, None, gpt_oss)
    assert (chain.rotary, chain.rotary_kernels) == (UNFUSED_SCALED_ROTARY, 6) == ((24.0, 20.0), 6)
    assert chains(MEGATRON, None, qwen) == FUSED
    other = CATALOG.get("software", "llama3-2024")  # no fused_rope_unit_scale_only: its fused kernel takes the scale
    assert not other.fused_rope_unit_scale_only and chains(other, None, gpt_oss).rotary == FUSED.rotary


def test_the_fallback_adds_its_bytes_over_queries_and_keys_by_hand():
    """gpt-oss, TP1, 4,096 tokens: (64 + 8) heads x 64 = 4,608 rotated elements per token; forward 24 - 4 = 20 more
    bytes per element, backward 20 - 4 = 16."""
    from fabricsim.workload.compute import Shape

    model = CATALOG.get("models", "gpt-oss-120b")
    shape = Shape(tokens=4096.0, seq=4096, micro_batch=1, tp=1, sequence_parallel=False, precision="bf16")
    plain = MEGATRON.model_copy(update={"fused_rope_unit_scale_only": False})
    f1, b1, _, side1 = layer_elementwise_bytes(model, shape, MEGATRON, False)
    f0, b0, _, side0 = layer_elementwise_bytes(model, shape, plain, False)
    rotated = 4096 * (64 + 8) * 64
    assert (f1 - f0, b1 - b0, side1 - side0) == (20 * rotated, 16 * rotated, 20 * rotated)
