"""The attention core in FP8 (Megatron-Core / Transformer Engine ``fp8_dot_product_attention``, cuDNN's FP8 SDPA).

Two effects, both per layer and micro-batch on one GPU:

* **rate**: the fused attention kernel runs at the GPU's measured FP8 attention efficiency (catalog
  ``attention_efficiency`` under ``<kernel>-fp8``, a share of the dense BF16 peak like the BF16 entries, so the
  FLOPs stay those of :func:`fabricsim.workload.model.attention_flops_per_token_per_layer`);
* **casts**: Transformer Engine quantizes the query, key and value tensors before the forward kernel and the
  output gradient ``dO`` before the backward one (its DotProductAttention with ``fp8_dpa``: the BF16 linear output
  is cast unless the QKV GEMM already emits FP8), each element read in BF16 and written in FP8 at the software
  profile's bytes per cast element.  Multi-head latent attention casts its expanded per-head keys
  (``qk_nope + qk_rope`` wide) and values (``v_head_dim``);
* **windows**: cuDNN's FP8 backward does not skip the blocks outside a sliding window: it runs the whole causal
  square of a windowed layer (NVIDIA/cudnn-frontend benchmark/sdpa_benchmark_training, gpt_oss preset -- window
  128, head dim 64 -- on GB200, cuDNN 9.22: FP8 backward 0.54, 1.73, 6.18, 23.2, 90.3 ms at 2k to 32k tokens,
  growing with the square, while the BF16 backward and the FP8 forward grow linearly), so its backward FLOPs are
  those of full causal layers (:func:`backward_pass_flops`).
"""

from __future__ import annotations

from fabricsim.errors import FabricsimError
from fabricsim.workload.model import attention_flops_per_key, attention_flops_per_token_per_layer


def fp8_attention_efficiency(gpu, profile) -> float:
    """Share of dense BF16 peak the profile's attention kernel sustains with FP8 inputs on ``gpu`` (catalog
    ``attention_efficiency['<kernel>-fp8']``), scaled like the BF16 figure by the GPU's sustained compute ratio and
    the profile's kernel efficiency."""
    key = f"{profile.attention}-fp8"
    if key not in gpu.attention_efficiency:
        raise FabricsimError(f"workload.train.fp8_attention=true: the catalog has no measured FP8 attention rate for "
                             f"'{profile.attention}' on {gpu.name} (gpus.yaml attention_efficiency['{key}']); FP8 "
                             "attention needs FP8 tensor cores (Hopper or Blackwell) and a public measurement -- set "
                             "fp8_attention: false or add the figure with its source")
    return gpu.attention_efficiency[key] * gpu.sustained_compute_ratio * profile.kernel_efficiency


def cast_elements(model, tokens: float, tp: int) -> tuple[float, float]:
    """(forward, backward) elements quantized to FP8 around one layer's attention core for ``tokens`` on one TP
    rank: Q, K and V forward, dO backward."""
    heads, kv = model.attention_heads / tp, model.kv_heads / tp
    if model.attention == "mla":
        qk = model.qk_nope_head_dim + model.qk_rope_head_dim
        q, k, v, o = heads * qk, heads * qk, heads * model.head_dim, heads * model.head_dim
    else:
        d = model.head_dim
        q, k, v, o = heads * d, kv * d, kv * d, heads * d
    return tokens * (q + k + v), tokens * o


def backward_pass_flops(model, seq: float) -> float:
    """Forward-equivalent FLOPs per token and layer that the FP8 backward pass works through for ``seq``-token
    sequences (multiply by the backward factor): every layer's whole causal square -- windowed layers included,
    their out-of-window blocks not skipped (module docstring); the band otherwise equals the forward's."""
    if not model.sliding_window_layers:
        return attention_flops_per_token_per_layer(model, seq)
    return attention_flops_per_key(model) * seq / 2


__all__ = ["fp8_attention_efficiency", "cast_elements", "backward_pass_flops"]
