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
    biases = 4 * h if model.mlp == "gelu" else 0  # GPT-3 projections carry biases
    return q_and_out + kv + biases


def parameter_counts(model) -> ParameterCounts:
    h = model.hidden_size
    attention = attention_parameters(model)
    dense_mlp = _mlp(h, model.ffn_hidden_size, model.mlp) + (model.ffn_hidden_size + h if model.mlp == "gelu" else 0)
    norms = 2 * h * (2 if model.mlp == "gelu" else 1)  # LayerNorm has gain and bias, RMSNorm a gain
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


def attention_flops_per_token_per_layer(model, context: float, causal: bool = True) -> float:
    """Forward FLOPs of attention scores and values for one token attending to ``context`` tokens.

    ``causal=True``: executed FLOPs of causal flash attention (half the square); False: the full
    square, as model-FLOPs conventions count it."""
    if model.attention == "mla":
        qk, v = model.qk_nope_head_dim + model.qk_rope_head_dim, model.head_dim
    else:
        qk = v = model.head_dim
    flops = 2.0 * context * model.attention_heads * (qk + v)
    return flops / 2 if causal else flops


def training_flops_per_token(model, seq: int) -> float:
    """Model FLOPs per trained token (forward + backward, no recomputation), the MFU numerator.

    = 6 x matmul weights + 3 x layers x full-square attention; for GPT shapes this equals Narayanan
    et al. 2021 eq. 3 divided by tokens (72 B s l h^2 (1 + s/6h + V/12hl) / (B s))."""
    return 6.0 * matmul_parameters_per_token(model) + 3.0 * model.layers * attention_flops_per_token_per_layer(
        model, seq, causal=False)


def forward_flops_per_token(model, context: float) -> float:
    """Executed forward FLOPs of one token that attends to ``context`` earlier tokens (inference)."""
    return 2.0 * matmul_parameters_per_token(model) + model.layers * attention_flops_per_token_per_layer(
        model, 2 * context, causal=True)


def kv_cache_bytes_per_token(model, bytes_per_element: float = 2) -> float:
    """KV-cache bytes per token over all layers: 2 x KV heads x head dim (GQA/MHA), or MLA's
    compressed latent plus the decoupled RoPE key (DeepSeek-V2 section 2.1.2)."""
    if model.attention == "mla":
        per_layer = model.kv_lora_rank + model.qk_rope_head_dim
    else:
        per_layer = 2 * model.kv_heads * model.head_dim
    return model.layers * per_layer * bytes_per_element


def activation_bytes_per_token_per_layer(model, seq: int, tp: int = 1, sequence_parallel: bool = True,
                                         recompute: str = "none") -> float:
    """Bytes one layer keeps per token for the backward pass (BF16), after TP/SP sharding.

    Korthikanti et al. 2022 (Table 2) count 34 h + 5 a s bytes per token for a GPT layer (GELU FFN
    of 4h, dropout); the same accounting for this model's shapes, *with flash attention* (no score
    matrix is stored, so 'selective' recomputation of attention saves nothing more) and no dropout:
    norms 2 x 2h, attention input 2h, queries 2h, keys and values 2 x 2 kv d, attention output 2h,
    MLP input 2h, FFN pre-activations and activation output (SwiGLU 3 x 2f, GELU 2 x 2f).  MoE
    layers store the FFN terms for every routed and shared expert a token visits.  Full
    recomputation keeps only the layer input (2h).  TP divides everything when sequence
    parallelism is on; without it the norms, inputs and residuals (10h) stay replicated."""
    h = model.hidden_size
    if recompute == "full":
        return 2.0 * h / (tp if sequence_parallel else 1)
    if model.attention == "mla":
        kv = 2 * (model.kv_lora_rank + model.qk_rope_head_dim) + 2 * model.attention_heads * (
            model.qk_nope_head_dim + model.qk_rope_head_dim + model.head_dim)
    else:
        kv = 4 * model.kv_heads * model.head_dim
    ffn_terms = 6 if model.mlp == "swiglu" else 4
    ffn = ffn_terms * model.active_ffn_width
    replicated = 10.0 * h  # norm outputs and inputs: 4h + attention input 2h + attention output 2h + MLP input 2h
    sharded = kv + 2.0 * h + ffn  # queries, keys/values, FFN activations
    if sequence_parallel:
        return (replicated + sharded) / tp
    return replicated + sharded / tp
