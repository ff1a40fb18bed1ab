"""Blackwell and Hopper attention efficiency follows the sequence length as cuDNN's training benchmark measures it
(catalog attention_half_sequence_tokens); GPUs without a measured curve keep one figure."""

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.workload.compute import attention_efficiency

CATALOG = default_catalog()
PROFILE = CATALOG.get("software", "megatron-core-2025")


@pytest.mark.parametrize("seq, measured", [(2048, 0.35), (4096, 0.47), (8192, 0.55), (16384, 0.59), (32768, 0.61)])
def test_gb200_curve_follows_cudnns_measurement(seq, measured):
    """cudnn-frontend sdpa_benchmark_training, GB200 cuDNN 9.19, llama3.1 causal: (1 + 2.5) / (1 / fwd + 2.5 / bwd)
    TFLOP/s over the 2.5 PF BF16 peak; the single-kernel figure is the in-training one without the sustained ratio."""
    gpu = CATALOG.gpu("gb200")
    single = attention_efficiency(gpu, PROFILE, None, seq=seq) / (gpu.sustained_compute_ratio * PROFILE.kernel_efficiency)
    assert single == pytest.approx(measured, abs=0.02)


@pytest.mark.parametrize("seq, measured", [(2048, 0.39), (4096, 0.53), (8192, 0.64), (16384, 0.70), (32768, 0.73)])
def test_gb200_fp8_curve(seq, measured):
    gpu = CATALOG.gpu("gb200")
    scale = gpu.sustained_compute_ratio * PROFILE.kernel_efficiency
    assert attention_efficiency(gpu, PROFILE, None, fp8=True, seq=seq) / scale == pytest.approx(measured, abs=0.02)


@pytest.mark.parametrize("seq, measured", [(2048, 0.40), (4096, 0.51), (8192, 0.57), (16384, 0.61), (32768, 0.61)])
def test_hopper_curve_follows_cudnns_measurement(seq, measured):
    """cudnn-frontend sdpa_benchmark_training, H200 cuDNN 9.19, llama3.1 causal (batch 1, 64 / 8 heads, head dim
    128): at 4,096 tokens forward 0.465 ms and backward 1.450 ms for 2.75e11 and 6.87e11 FLOPs, 502 TFLOP/s of 989
    = 0.51; every GH100 part (H100, H800, H200) carries the same curve."""
    for name in ("h100-sxm", "h200-sxm", "h800-sxm"):
        gpu = CATALOG.gpu(name)
        single = attention_efficiency(gpu, PROFILE, None, seq=seq) / (gpu.sustained_compute_ratio
                                                                       * PROFILE.kernel_efficiency)
        assert single == pytest.approx(measured, abs=0.02)


def test_no_curve_no_length_dependence():
    a100 = CATALOG.gpu("a100-sxm")
    assert not a100.attention_half_sequence_tokens
    assert attention_efficiency(a100, PROFILE, None, seq=1024) == attention_efficiency(a100, PROFILE, None, seq=65536)
    b200 = CATALOG.gpu("b200")
    assert attention_efficiency(b200, PROFILE, None, seq=2048) < attention_efficiency(b200, PROFILE, None, seq=32768)


def test_flashattention_v1_runs_at_half_flashattention2():
    """Dao 2023 (FlashAttention-2, arXiv:2307.08691), abstract: FlashAttention-2's changes 'yield around 2x speedup
    compared to FlashAttention'; section 1 puts FlashAttention (v1) at 25-40% of A100 peak.  Every GPU that carries
    both kernels has flash1 = flash2 / 2, on A100 inside that band; MPT's Triton FlashAttention (composer-fsdp-2023)
    runs at it."""
    both = [g for g in CATALOG.sections["gpus"].values() if {"flash1", "flash2"} <= set(g.attention_efficiency)]
    assert {g.name for g in both} >= {"a100-sxm", "a100-sxm-40gb", "h100-sxm", "h200-sxm"}
    for gpu in both:
        assert gpu.attention_efficiency["flash1"] == pytest.approx(gpu.attention_efficiency["flash2"] / 2)
    a100 = CATALOG.gpu("a100-sxm")
    assert 0.25 <= a100.attention_efficiency["flash1"] <= 0.40
    composer = CATALOG.get("software", "composer-fsdp-2023")
    assert composer.attention == "flash1"
    scale = a100.sustained_compute_ratio * composer.kernel_efficiency
    assert attention_efficiency(a100, composer, None, seq=2048) == pytest.approx(0.275 * scale)
