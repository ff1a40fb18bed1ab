"""Arithmetic of a transformer's shapes: parameters, FLOPs per token, KV-cache and activation bytes.

Conventions (SI: FLOPs, bytes):

* a weight matrix of m x n costs 2 m n FLOPs per token forward and twice that backward, so
  training costs 6 FLOPs per active weight per token (Kaplan et al. 2020; Narayanan et al. 2021);
* attention scores and values cost 2 x seq x heads x (d_qk + d_v) FLOPs per token per layer
  forward.  *Model* FLOPs (MFU's numerator) count the full square, as Narayanan et al. 2021 eq. 3
  and PaLM (Chowdhery et al. 2022, appendix B: 6N + 12 L H Q T) do; *executed* FLOPs of causal
  flash attention are half of that (masked blocks are skipped), which the compute model uses;
* the input embedding is a lookup (no FLOPs); the output projection is a GEMM.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabricsim.workload.gemm import NVFP4_BYTES
from fabricsim.workload.layers import dense_layer_gemms, moe_layer_gemms
from fabricsim.workload.per_op_checkpoint import POLICY as PER_OP, saved_bytes_per_token
from fabricsim.workload.recompute_modules import layer_parts


@dataclass(frozen=True)
class ParameterCounts:
    """Parameters by part (counts, not bytes)."""

    attention_per_layer: float
    dense_mlp_per_layer: float
    expert: float  # one routed or shared expert
    norms_per_layer: float
    input_embedding: float  # token (+ learned position) embeddings
    output_embedding: float  # 0 when tied to the input embedding
    routed_experts_total: float
    total: float
    active: float

    @property
    def embedding(self) -> float:
        return self.input_embedding + self.output_embedding


def _mlp(width_in: int, width_ffn: int, kind: str) -> float:
    return (3 if kind == "swiglu" else 2) * width_in * width_ffn


def attention_parameters(model) -> float:
    """Weights of one attention block (projections; MLA's latent down/up projections and norms)."""
    h, heads = model.hidden_size, model.attention_heads
    if model.attention == "mla":
        qk = model.qk_nope_head_dim + model.qk_rope_head_dim
        if model.q_lora_rank:
            q = h * model.q_lora_rank + model.q_lora_rank + model.q_lora_rank * heads * qk
        else:
            q = h * heads * qk
        kv_down = h * (model.kv_lora_rank + model.qk_rope_head_dim) + model.kv_lora_rank
        kv_up = model.kv_lora_rank * heads * (model.qk_nope_head_dim + model.head_dim)
        return q + kv_down + kv_up + heads * model.head_dim * h
    q_and_out = 2 * h * heads * model.head_dim
    kv = 2 * h * model.kv_heads * model.head_dim
    biases = 4 * h if model.has_biases else 0  # GPT-3 projections carry biases
    return q_and_out + kv + biases


def parameter_counts(model) -> ParameterCounts:
    h = model.hidden_size
    attention = attention_parameters(model)
    dense_mlp = _mlp(h, model.ffn_hidden_size, model.mlp) + (model.ffn_hidden_size + h if model.has_biases else 0)
    norms = 2 * h * (2 if model.has_biases else 1)  # LayerNorm has gain and bias, RMSNorm a gain
    expert = _mlp(h, model.expert_ffn_hidden_size, model.mlp) if model.routed_experts else 0.0
    router = model.routed_experts * h
    input_embedding = model.vocab_size * h + model.learned_positions * h
    output_embedding = 0.0 if model.tied_embeddings else model.vocab_size * h
    dense_layers = model.layers - model.moe_layers
    routed_total = model.moe_layers * model.routed_experts * expert
    per_moe_layer_fixed = attention + norms + router + model.shared_experts * expert
    total = (dense_layers * (attention + dense_mlp + norms) + model.moe_layers * per_moe_layer_fixed + routed_total
             + input_embedding + output_embedding + h)
    active = total - routed_total + model.moe_layers * model.experts_per_token * expert
    return ParameterCounts(attention, dense_mlp, expert, norms, input_embedding, output_embedding, routed_total,
                           total, active)


def matmul_parameters_per_token(model) -> float:
    """Weights a token multiplies by (active, without the embedding lookup, with the output head)."""
    counts = parameter_counts(model)
    head = model.vocab_size * model.hidden_size
    return counts.active - counts.embedding + head


def attention_flops_per_key(model) -> float:
    """Forward FLOPs of attention scores and values for one query and one key, over all heads."""
    if model.attention == "mla":
        qk, v = model.qk_nope_head_dim + model.qk_rope_head_dim, model.head_dim
    else:
        qk = v = model.head_dim
    return 2.0 * model.attention_heads * (qk + v)


def _window_share(model) -> tuple[float, float]:
    """(keys a windowed layer's query reaches, the query's own included; share of windowed layers)."""
    return model.sliding_window + 1.0, model.sliding_window_layers / model.layers


def causal_keys_by_layer_kind(model, seq: float) -> tuple[float, float]:
    """(full layers', sliding-window layers') shares of :func:`causal_keys_per_query`: each kind's keys a query
    reaches times the kind's share of the layers (the second is 0 without windows)."""
    full = seq / 2
    if not model.sliding_window_layers:
        return full, 0.0
    w, share = _window_share(model)
    windowed = full if seq <= w else w - w * w / (2 * seq)
    return (1 - share) * full, share * windowed


def causal_keys_per_query(model, seq: float) -> float:
    """Keys a query of a causal sequence of ``seq`` tokens attends to, averaged over the sequence and the
    model's layers: ``seq / 2`` in a full layer; in a sliding-window layer of ``w`` keys the kernel skips the
    masked blocks, so ``w - w^2 / (2 seq)`` once the sequence is longer than the window."""
    return sum(causal_keys_by_layer_kind(model, seq))


def decode_keys_per_query(model, context: float) -> float:
    """Keys one new token attends to with ``context`` tokens cached, averaged over the layers (a
    sliding-window layer reads at most its window)."""
    if not model.sliding_window_layers:
        return context
    w, share = _window_share(model)
    return (1 - share) * context + share * min(context, w)


def attention_flops_per_token_per_layer(model, context: float, causal: bool = True) -> float:
    """Forward FLOPs of attention scores and values per token of a sequence of ``context`` tokens, per layer.

    ``causal=True``: executed FLOPs of causal flash attention (half the square; sliding-window layers only
    their band); False: the full square, as model-FLOPs conventions count it (windows not subtracted)."""
    keys = causal_keys_per_query(model, context) if causal else context
    return attention_flops_per_key(model) * keys


def training_flops_per_token(model, seq: int) -> float:
    """Model FLOPs per trained token (forward + backward, no recomputation), the MFU numerator.

    = 6 x matmul weights + 3 x layers x full-square attention; for GPT shapes this equals Narayanan
    et al. 2021 eq. 3 divided by tokens (72 B s l h^2 (1 + s/6h + V/12hl) / (B s))."""
    return 6.0 * matmul_parameters_per_token(model) + 3.0 * model.layers * attention_flops_per_token_per_layer(
        model, seq, causal=False)


def kv_cache_bytes_per_token(model, bytes_per_element: float = 2) -> float:
    """KV-cache bytes per token over all layers: 2 x KV heads x head dim (GQA/MHA), or MLA's
    compressed latent plus the decoupled RoPE key (DeepSeek-V2 section 2.1.2)."""
    if model.attention == "mla":
        per_layer = model.kv_lora_rank + model.qk_rope_head_dim
    else:
        per_layer = 2 * model.kv_heads * model.head_dim
    return model.layers * per_layer * bytes_per_element


def kv_cache_bytes(model, tokens: float, bytes_per_element: float = 2) -> float:
    """KV-cache bytes of one sequence of ``tokens`` tokens: every layer keeps them all but a sliding-window
    layer, which keeps only its window."""
    per_layer = kv_cache_bytes_per_token(model, bytes_per_element) / model.layers
    if not model.sliding_window_layers:
        return per_layer * model.layers * tokens
    w, _ = _window_share(model)
    full_layers = model.layers - model.sliding_window_layers
    return per_layer * (full_layers * tokens + model.sliding_window_layers * min(tokens, w))


STORAGE_BYTES = {"bf16": (2.0, 2.0, 2.0), "fp8": (1.0, 1.5, 1.0), "te-fp8": (1.0, 2.0, 2.0),
                 "te-fp8-delayed": (1.0, 3.0, 2.0), "te-nvfp4": (NVFP4_BYTES, 2.0, 2.0)}
"""Bytes per element a layer keeps of (a linear layer's input, the attention output, the SwiGLU input), by how
the stack caches activations (software profile ``activation_storage``; in FP8 runs only).  Transformer Engine
2.12 ``pytorch/module/linear.py`` (and LayerNormLinear, GroupedLinear) saves the quantized input
(``saved_inputmat = inputmat`` after quantization, column-wise data for the weight gradient) unless
``save_original_input``; Megatron-Core b0cc2706 ``attention.py`` sets that on ``linear_proj`` for FP8
recipes other than delayed scaling ("the output of the fused core_attn is saved by itself"), so the
attention output is kept once in BF16, and twice (BF16 + FP8) under delayed scaling; NVFP4 runs (precision fp4,
``te-nvfp4``) keep the NVFP4 cast of each linear's input (a 4-bit value and an FP8 scale per 16), the attention
output and the SwiGLU input in BF16 as ``te-fp8``."""


def activation_bytes_per_token_per_layer(model, seq: int, tp: int = 1, sequence_parallel: bool = True,
                                         recompute: str = "none", materialized: bool = False,
                                         dropout: bool = False, moe: bool | None = None, storage: str = "bf16",
                                         recompute_up_projection: bool = False,
                                         routed_copies: float | None = None,
                                         recomputed: frozenset | None = None) -> float:
    """Bytes one layer keeps per token for the backward pass, after TP/SP sharding.

    The accounting of Korthikanti et al. 2022 (section 4.1: 34 h + 5 a s bytes per token for a GPT
    layer with dropout), for this model's shapes:

    * kept whole without sequence parallelism: both norms' inputs and outputs (8 h) and, with
      dropout, the two 1-byte hidden dropout masks (2 h);
    * split over TP: queries, keys, values and the attention output (2 (a + 2 kv) d + 2 a d), the
      FFN's pre-activations and activation output (SwiGLU 3 x 2 f, GELU 2 x 2 f); MoE layers store
      them for every routed (k) and shared expert copy of a token, plus the dispatched token copies;
    * materialized attention (no flash kernel) also keeps the softmax output, and with dropout its
      mask and output: 5 a s bytes per token (2 a s without dropout); flash attention keeps none.

    ``recompute``: ``selective`` frees what it recomputes: the ``recomputed`` parts
    (:mod:`fabricsim.workload.recompute_modules`, from Megatron-Core's recompute_modules), by default the
    score matrices under materialized attention (Korthikanti et al.), the norm outputs and activation
    outputs otherwise, and with ``recompute_up_projection`` MLA's queries, keys and values (rebuilt from
    the latents); ``full``
    keeps only the layer input (2 h); ``per-op`` (torchtitan) keeps what
    :func:`fabricsim.workload.per_op_checkpoint.saved_bytes_per_token` lists.

    ``routed_copies``: routed copies of a token the experts keep (default ``k``; token-drop: the capacity's,
    :func:`fabricsim.workload.moe.token_drop_copies`).

    ``storage`` (:data:`STORAGE_BYTES`): ``fp8`` (DeepSeek-V3 report 3.3.2): inputs of linear layers -- norm
    outputs, MLA latents, the activation output, dispatched token copies -- are cached in FP8 (1 byte), the
    attention output in E5M6 (1.5 bytes), and the SwiGLU inputs in FP8; norm inputs and attention's q, k, v
    stay BF16.  ``te-fp8``: Transformer Engine's FP8 linears keep the FP8 cast of their input for the weight
    gradient instead of the BF16 input (the same tensors, 1 byte), the attention output stays BF16 (the
    attention kernel keeps it; Megatron-Core lets the output projection share it), the SwiGLU input BF16;
    ``te-fp8-delayed``: delayed scaling, where the output projection keeps its own FP8 copy besides."""
    h = model.hidden_size
    sp = tp if sequence_parallel else 1
    if recompute == "full":
        return 2.0 * h / sp
    moe = bool(model.routed_experts) if moe is None else moe
    if recompute == PER_OP:
        gemms = moe_layer_gemms(model, 1, tp, 1, 1, model.experts_per_token / model.routed_experts) \
            if moe and model.routed_experts \
            else dense_layer_gemms(model, 1, tp)
        return saved_bytes_per_token(gemms, model, h / sp, model.attention_heads * model.head_dim / tp)
    linear, attention_out, activation_in = STORAGE_BYTES[storage]
    if model.mlp != "swiglu":
        activation_in = 2.0
    parts = recomputed if recomputed is not None else layer_parts(
        recompute, None, model, moe, materialized, recompute_up_projection)
    if recompute != "selective":
        parts = frozenset()
    if model.attention == "mla":
        qk = model.qk_nope_head_dim + model.qk_rope_head_dim
        qkv = 0.0 if "mla_up" in parts else 2 * model.attention_heads * (2 * qk + model.head_dim)
        attention = qkv + attention_out * model.attention_heads * model.head_dim
        attention_latent = linear * (model.kv_lora_rank + model.qk_rope_head_dim + (model.q_lora_rank or 0))
    else:
        attention = 2 * (model.attention_heads + 2 * model.kv_heads) * model.head_dim \
            + attention_out * model.attention_heads * model.head_dim
        attention_latent = 0
    pre_activation = 2 if model.mlp == "swiglu" else 1  # FC1 outputs per FFN width: gate and up, or one

    def block(width: float, whole: bool, activation: bool) -> float:
        """An FFN's FC1 outputs and activation output, none of them when the block is recomputed whole."""
        return 0.0 if whole else activation_in * pre_activation * width + (0.0 if activation else linear * width)

    if moe:
        copies = model.experts_per_token if routed_copies is None else routed_copies
        everything = "moe" in parts
        routed = block(copies * model.expert_ffn_hidden_size, everything, "routed_act" in parts) \
            + (0.0 if everything else linear * h * copies)  # dispatched token copies
        ffn = routed + block(model.shared_experts * model.expert_ffn_hidden_size,
                             everything or "shared_mlp" in parts, "shared_act" in parts)
    else:
        ffn = block(model.ffn_hidden_size, "dense_mlp" in parts, "dense_act" in parts)
    norm_outputs = linear * h * (("input_norm" not in parts) + ("pre_mlp_norm" not in parts))
    replicated = 4.0 * h + norm_outputs + (2.0 * h if dropout else 0.0)
    scores = (5 if dropout else 2) * model.attention_heads * seq if materialized and "core_attn" not in parts else 0.0
    return replicated / sp + attention_latent / sp + (attention + ffn + scores) / tp
