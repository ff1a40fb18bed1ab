"""Fused attention on narrow heads (fabricsim.workload.attention_head_dim): the catalog's head-dim-64 ratios against
the FlashAttention-3 paper's bars, the fixed-work-per-score form, and what the step charges for gpt-oss's heads."""

import pytest
from hypothesis import example, given, strategies as st

from fabricsim.catalog import default_catalog
from fabricsim.catalog.schema import Gpu
from fabricsim.workload.attention_head_dim import fixed_columns, head_dim_factor, kernel_head_dim_factor
from fabricsim.workload.compute import attention_efficiency

CATALOG = default_catalog()
PROFILE = CATALOG.get("software", "megatron-core-2025")


def _combined(forward, backward):
    """TFLOP/s of 1 forward + 2.5 backward FLOPs at the two rates (attention_efficiency's weighting)."""
    return 3.5 / (1 / forward + 2.5 / backward)


@pytest.mark.parametrize("fwd64, bwd64, fwd128, bwd128", [(334, 395, 484, 465), (363, 417, 518, 499),
                                                          (379, 432, 529, 518)])
def test_hopper_cudnn_ratio_is_flashattention3s_bars(fwd64, bwd64, fwd128, bwd128):
    """Shah et al. 2024 (arXiv:2407.08608) Fig. 5 (causal forward) and Fig. 6 (backward), H100 SXM5 BF16, cuDNN bars at
    2k, 4k and 8k tokens: 0.79-0.80 of the head-dim-128 rate at head dim 64, every length."""
    ratio = _combined(fwd64, bwd64) / _combined(fwd128, bwd128)
    for name in ("h100-sxm", "h200-sxm", "h800-sxm"):
        assert CATALOG.gpu(name).attention_head_dim_64_ratio["native"] == pytest.approx(ratio, abs=0.01)


def test_hopper_flashattention2_ratio():
    """Same figures, FlashAttention-2 bars at 4k tokens: forward 284 vs 319, backward 279 vs 310."""
    ratio = _combined(284, 279) / _combined(319, 310)
    assert CATALOG.gpu("h100-sxm").attention_head_dim_64_ratio["flash2"] == pytest.approx(ratio, abs=0.01)


def test_factor_hand_values():
    """r = 0.80: x = 128 x 0.2 / 0.6 = 42.67 columns; at 64 the factor is r itself; at 96,
    (96 / 138.67) / (128 / 170.67) = 0.9231; 1 at 128 and above."""
    assert fixed_columns(0.80) == pytest.approx(128 * 0.2 / 0.6, rel=1e-12)
    assert head_dim_factor(0.80, 64) == pytest.approx(0.80, rel=1e-12)
    assert head_dim_factor(0.80, 96) == pytest.approx((96 / (96 + 128 / 3)) / (128 / (128 + 128 / 3)), rel=1e-12)
    assert head_dim_factor(0.80, 96) == pytest.approx(0.9231, abs=1e-4)
    assert head_dim_factor(0.80, 128) == head_dim_factor(0.80, 256) == head_dim_factor(None, 64) == 1.0


@given(st.floats(0.51, 1.0), st.integers(1, 127), st.integers(1, 127))
@example(0.9999999999999999, 1, 86)  # a ratio a rounding step below 1 once gave 1.0000000000000002
def test_factor_grows_with_the_head_and_stays_in_bounds(ratio, a, b):
    low, high = sorted((a, b))
    assert 0 < head_dim_factor(ratio, low) <= head_dim_factor(ratio, high) <= 1.0


def test_gpt_oss_heads_run_slower_than_llama_heads_on_hopper_not_blackwell_alike():
    """gpt-oss (head dim 64) on H100 at 0.80 of Llama's head-dim-128 rate at the same length; on GB200 at 0.95; MLA's
    192-wide query/key heads keep the measured rate."""
    oss, llama, dsv3 = (CATALOG.get("models", m) for m in ("gpt-oss-120b", "llama3-8b", "deepseek-v3"))
    for gpu, ratio in (("h100-sxm", 0.80), ("gb200", 0.95)):
        g = CATALOG.gpu(gpu)
        narrow = attention_efficiency(g, PROFILE, None, seq=4096, model=oss)
        wide = attention_efficiency(g, PROFILE, None, seq=4096, model=llama)
        assert narrow == pytest.approx(ratio * wide, rel=1e-12)
        assert attention_efficiency(g, PROFILE, None, seq=4096, model=dsv3) == wide
        assert attention_efficiency(g, PROFILE, None, seq=4096) == wide  # no model: head dim 128
    # FP8 attention takes the BF16 kernel's ratio
    assert kernel_head_dim_factor(CATALOG.gpu("h100-sxm"), "native-fp8", oss) == pytest.approx(0.80)


def test_ratio_outside_the_form_is_refused():
    fields = CATALOG.gpu("h100-sxm").model_dump()
    fields["attention_head_dim_64_ratio"] = {"native": 0.4}
    with pytest.raises(ValueError, match="attention_head_dim_64_ratio"):
        Gpu(**fields)
