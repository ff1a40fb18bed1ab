"""gpt-oss's attention as Megatron-Bridge runs it: fused sink attention, every other layer through a
128-token sliding window (hand counts)."""

import pytest

from fabricsim.catalog import default_catalog
from fabricsim.catalog.model_schema import LlmModel
from fabricsim.workload.compute import attention_kind
from fabricsim.workload.model import (attention_flops_per_key, attention_flops_per_token_per_layer,
                                      causal_keys_per_query, decode_keys_per_query, kv_cache_bytes,
                                      kv_cache_bytes_per_token)

CATALOG = default_catalog()
OSS = CATALOG.get("models", "gpt-oss-120b")
LLAMA = CATALOG.get("models", "llama3-8b")


def test_training_attention_counts_the_band_of_windowed_layers():
    """seq 4096: a full layer's query sees 2048 keys on average; a windowed one 129 - 129^2 / 8192 = 126.97;
    half the 36 layers of each: 1087.48 keys, i.e. 53% of the full-attention FLOPs."""
    keys = 0.5 * 2048 + 0.5 * (129 - 129 * 129 / 8192)
    assert causal_keys_per_query(OSS, 4096) == pytest.approx(keys, rel=1e-12)
    per_key = 2 * 64 * (64 + 64)
    assert attention_flops_per_key(OSS) == per_key
    assert attention_flops_per_token_per_layer(OSS, 4096) == pytest.approx(per_key * keys, rel=1e-12)
    # sequences inside the window: nothing to skip
    assert causal_keys_per_query(OSS, 100) == pytest.approx(50)
    # the model-FLOPs convention keeps the full square; models without windows are unchanged
    assert attention_flops_per_token_per_layer(OSS, 4096, causal=False) == per_key * 4096
    assert causal_keys_per_query(LLAMA, 4096) == 2048


def test_decode_reads_only_the_window_of_windowed_layers():
    assert decode_keys_per_query(OSS, 10_000) == pytest.approx(0.5 * 10_000 + 0.5 * 129)
    assert decode_keys_per_query(OSS, 100) == 100
    assert decode_keys_per_query(LLAMA, 10_000) == 10_000
    # KV cache of one 4096-token sequence: 18 full layers x 4096 + 18 windowed x 129 tokens, 2 x 8 x 64 x 2 B each
    assert kv_cache_bytes(OSS, 4096, 2) == (18 * 4096 + 18 * 129) * 2 * 8 * 64 * 2
    assert kv_cache_bytes(LLAMA, 4096, 2) == kv_cache_bytes_per_token(LLAMA, 2) * 4096


def test_megatron_bridge_runs_sink_attention_fused():
    profile = CATALOG.get("software", "megatron-core-2025")
    assert attention_kind(OSS, profile) == "native"
    unfused = profile.model_copy(update={"fused_attention_sinks": False})
    assert attention_kind(OSS, unfused) == "materialized"


def test_a_window_needs_its_layer_count():
    fields = OSS.model_dump()
    fields.update(sliding_window_layers=0)
    with pytest.raises(ValueError, match="sliding_window=128 and sliding_window_layers=0"):
        LlmModel(**fields)
    fields.update(sliding_window_layers=37)
    with pytest.raises(ValueError, match="at most layers=36"):
        LlmModel(**fields)


def test_windowed_layers_run_at_the_measured_band_rate():
    """seq 4096, 16,384 query tokens: full layers 0.5 x 2048 keys, windowed 0.5 x 126.97 (above); 16,384 FLOPs a key.
    Full 16,384 x 1024 x 16,384 = 2.7488e11 FLOPs at 0.3 of 2.5e15 = 0.36652 ms; band 16,384 x 63.484 x 16,384 =
    1.7042e10 FLOPs at 0.05 of 2.5e15 = 0.13633 ms; 0.50285 ms in all (0.38925 ms at one rate)."""
    from fabricsim.workload.windowed_attention import attention_seconds_by_layer_kind
    flops, seconds = attention_seconds_by_layer_kind(OSS, 4096, 16384, 2.5e15, 0.3, 0.05)
    assert flops == pytest.approx(2.7488e11 + 1.7042e10, rel=1e-4)
    assert seconds == pytest.approx(0.36652e-3 + 0.13633e-3, rel=1e-4)
    _, one_rate = attention_seconds_by_layer_kind(OSS, 4096, 16384, 2.5e15, 0.3, None)
    assert one_rate == pytest.approx(0.38925e-3, rel=1e-4)
    # no windows: the full-layer rate alone
    _, llama = attention_seconds_by_layer_kind(LLAMA, 4096, 16384, 2.5e15, 0.3, 0.05)
    assert llama == pytest.approx(2 * 32 * 256 * 2048 * 16384 / 7.5e14, rel=1e-12)  # 0.733 ms


def test_band_rate_is_cudnns_measurement_on_blackwell_and_the_tile_loop_on_hopper():
    """GB200: 3.5 / (1/161 + 2.5/182) = 175 TFLOP/s of 2,500 = 0.070 (cudnn-frontend gpt_oss preset), times the
    node's sustained ratio and the profile's kernel efficiency.  Hopper has no band measurement: its full-layer curve
    0.649 x seq / (seq + 1,199) gives a fixed 1,199 / 256 = 4.68 tiles per query tile, so a 128-key band (1 tile of
    FLOPs in a 2-tile loop) runs at 0.649 / 6.68 = 0.0971 at head dimension 128 and 0.80 of that at gpt-oss's 64
    (catalog attention_head_dim_64_ratio).  The GB200 measurement is at head dimension 64: a head-dim-128 model's band
    runs 1 / 0.95 faster.  FlashAttention-2 (no curve) keeps the full-layer rate."""
    from fabricsim.workload.windowed_attention import windowed_attention_efficiency
    profile = CATALOG.get("software", "megatron-core-2025")
    gb200, h100 = CATALOG.get("gpus", "gb200"), CATALOG.get("gpus", "h100-sxm")
    assert 3.5 / (1 / 161 + 2.5 / 182) / 2500 == pytest.approx(0.070, abs=5e-4)
    gb200_scale = gb200.sustained_compute_ratio * profile.kernel_efficiency
    assert windowed_attention_efficiency(gb200, profile, model=OSS) == pytest.approx(0.070 * gb200_scale, rel=1e-12)
    assert windowed_attention_efficiency(gb200, profile, model=LLAMA) == pytest.approx(0.070 / 0.95 * gb200_scale,
                                                                                       rel=1e-12)
    h100_band = 0.649 / (1199 / 256 + 2) * h100.sustained_compute_ratio * profile.kernel_efficiency
    assert windowed_attention_efficiency(h100, profile, model=LLAMA) == pytest.approx(h100_band, rel=1e-12)
    assert windowed_attention_efficiency(h100, profile, model=OSS) == pytest.approx(0.80 * h100_band, rel=1e-12)
    flash2 = profile.model_copy(update={"attention": "flash2"})
    assert windowed_attention_efficiency(h100, flash2) is None


def test_tile_loop_predicts_the_measured_bands_from_the_full_layer_curves():
    """Cross-checks against measurements the tile loop never saw.  GB200: the head-dim-128 full-layer curve
    (0.642, 1,708 tokens) predicts 0.642 / (6.67 + 2) = 0.074 on gpt-oss's 128-key band, cuDNN measures 0.070
    (head dim 64).  H200: a 1,024-key band (8 tiles of FLOPs, 9-tile loop) predicts 0.649 x 8 / (4.68 + 9) = 0.380;
    cuDNN 9.19 (results/h200_919_only_cudnn/gpt_oss_20260227_034819.csv, window 1,024, head dim 64, 64 / 8 heads)
    measures forward 336-358 and backward 289-303 TFLOP/s: 3.5 / (1/347 + 2.5/296) = 309 of 989 = 0.312 -- the
    head-dim-128 loop overstates the head-dim-64 kernel by a fifth; with the narrow head's fixed work per score
    (FlashAttention-3 Fig. 5/6's cuDNN panels: 0.80 of the head-dim-128 rate) it predicts 0.304, within 3%."""
    from fabricsim.workload.attention_head_dim import head_dim_factor
    from fabricsim.workload.windowed_attention import band_efficiency
    assert band_efficiency(128, 0.642, 1708) == pytest.approx(0.070, rel=0.10)
    measured_h200 = 3.5 / (1 / 347 + 2.5 / 296) / 989
    assert measured_h200 == pytest.approx(0.312, abs=0.002)
    assert band_efficiency(1024, 0.649, 1199) == pytest.approx(0.380, abs=0.002)
    assert band_efficiency(1024, 0.649, 1199) == pytest.approx(measured_h200, rel=0.25)
    h200 = CATALOG.get("gpus", "h200-sxm")
    narrow = band_efficiency(1024, 0.649, 1199) * head_dim_factor(h200.attention_head_dim_64_ratio["native"], 64)
    assert narrow == pytest.approx(0.304, abs=0.002)
    assert narrow == pytest.approx(measured_h200, rel=0.03)
    # wider bands approach the full-layer asymptote, never exceed it
    assert band_efficiency(128, 0.649, 1199) < band_efficiency(1024, 0.649, 1199) < band_efficiency(1 << 20, 0.649, 1199) < 0.649
