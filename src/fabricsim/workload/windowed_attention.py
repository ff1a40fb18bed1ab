"""Sliding-window layers on the fused attention kernel run at their own, measured rate.

A model that alternates full and sliding-window layers (gpt-oss: 18 of 36 layers attend through a 128-token
window) gives the fused kernel two very different shapes.  In a windowed layer every 128-query tile reaches only
two 128-key tiles, the diagonal one and the one before, so the kernel's fixed work per query tile (loading the
queries, the softmax statistics, writing the output and, backward, the dQ/dK/dV tiles) is spread over a two-tile
loop instead of a ``seq / 256`` one on average.  cuDNN's own benchmark of that shape (catalog
``windowed_attention_efficiency``: NVIDIA/cudnn-frontend benchmark/sdpa_benchmark_training, gpt_oss preset, GB200
and GB300) runs the band at 161-191 TFLOP/s of its FLOPs, 0.07 of BF16 peak, while the same kernel reaches 0.47 on
a full causal layer of 4,096 tokens.

The FLOPs stay :func:`fabricsim.workload.model.attention_flops_per_token_per_layer`'s, split by layer kind
(:func:`fabricsim.workload.model.causal_keys_by_layer_kind`); only the windowed part's rate changes.  Where the
catalog has no measured band rate for the kernel (Hopper, FlashAttention-2) windowed layers run at the full-layer
efficiency as before.
"""

from __future__ import annotations

from fabricsim.workload.model import attention_flops_per_key, causal_keys_by_layer_kind


def windowed_attention_efficiency(gpu, profile) -> float | None:
    """Share of dense BF16 peak the profile's fused kernel sustains on a sliding-window layer's band on ``gpu``,
    scaled like every attention efficiency by the GPU's sustained compute ratio and the profile's kernel
    efficiency; None without a measurement for that kernel."""
    measured = gpu.windowed_attention_efficiency.get(profile.attention)
    if measured is None:
        return None
    return measured * gpu.sustained_compute_ratio * profile.kernel_efficiency


def attention_seconds_by_layer_kind(model, seq: float, tokens: float, peak_flops: float, full_efficiency: float,
                                    windowed_efficiency: float | None) -> tuple[float, float]:
    """(forward-equivalent FLOPs, seconds) of one layer's attention core averaged over the model's layers, for
    ``tokens`` query tokens of ``seq``-token causal sequences on one GPU: full layers at ``full_efficiency`` of
    ``peak_flops`` (FLOP/s), sliding-window layers at ``windowed_efficiency`` (None: the full layers' rate)."""
    full_keys, windowed_keys = causal_keys_by_layer_kind(model, seq)
    per_key = attention_flops_per_key(model) * tokens
    full, windowed = per_key * full_keys, per_key * windowed_keys
    band_efficiency = full_efficiency if windowed_efficiency is None else windowed_efficiency
    return full + windowed, full / (peak_flops * full_efficiency) + windowed / (peak_flops * band_efficiency)


__all__ = ["windowed_attention_efficiency", "attention_seconds_by_layer_kind"]
