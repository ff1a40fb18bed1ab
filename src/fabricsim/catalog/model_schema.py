"""Schema of LLM catalog entries (section ``models`` in ``models.yaml``): decoder-only transformers.

Shapes only (counts of layers, widths, heads, experts); the arithmetic that turns them into
parameters, FLOPs and bytes lives in :mod:`fabricsim.workload.model`.  ``published_parameters``
and ``published_active_parameters`` are the figures the model's authors state, kept so tests can
check the arithmetic against them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from fabricsim.catalog.schema import Entry


class LlmModel(Entry):
    """A decoder-only transformer (dense or mixture-of-experts; GQA or MLA attention).

    Upper bounds on sizes are ~100x the largest published models: they catch typos and keep
    every derived count (parameters, FLOPs, bytes) finite."""

    extends: str | None = Field(None, description=(
        "entry this one was derived from (its fields, with the ones listed here changed; catalog.inherit)"))
    layers: int = Field(gt=0, le=10_000)
    hidden_size: int = Field(gt=0, le=1_000_000)
    attention: Literal["mha", "gqa", "mla"] = "gqa"
    attention_heads: int = Field(gt=0, le=100_000)
    kv_heads: int = Field(gt=0, le=100_000, description="key/value heads (GQA); = attention_heads for MHA and MLA")
    head_dim: int = Field(gt=0, le=100_000, description="query/key/value width per head (MLA: the value width)")
    mlp: Literal["swiglu", "gelu", "relu2"] = Field(
        "swiglu", description="swiglu: 3 weight matrices; gelu, relu2 (squared ReLU): 2")
    biases: bool | None = Field(None, description="linear layers carry biases; default: GELU (GPT-style) models do")
    attention_sinks: bool = Field(False, description="learned per-head attention sinks in the softmax (gpt-oss)")
    activation_clamp: float | None = Field(None, gt=0, le=1e6, description="the GLU pre-activation clamped to this "
                                           "value (Megatron-Core activation_func_clamp_value; gpt-oss: 7)")
    expert_bias: bool = Field(False, description="the routed experts' linears carry biases (gpt-oss)")
    qk_norm: bool = Field(False, description="an RMSNorm over every query and key head before the rotary embedding "
                          "(Qwen3's QK-Norm)")
    sliding_window: int = Field(0, ge=0, le=2**30, description="keys before the query that a windowed layer "
                                "attends to (Transformer Engine window_size left; the query's own key besides); 0: none")
    sliding_window_layers: int = Field(0, ge=0, le=10_000, description="layers that attend through the window "
                                       "(gpt-oss: every other layer); the rest attend to the whole context")
    ffn_hidden_size: int = Field(gt=0, le=10_000_000, description="FFN width of dense layers")
    vocab_size: int = Field(gt=0, le=100_000_000)
    tied_embeddings: bool = False
    learned_positions: int = Field(0, ge=0, le=2**30, description="learned position embeddings (GPT-3: 2048); 0 for RoPE")
    rope_attention_scale: float = Field(1.0, gt=0, le=100, description="factor RoPE multiplies its cos and sin by "
                                        "(YaRN's attention concentration, 0.1 ln(scaling factor) + 1; 1: plain RoPE)")
    max_sequence: int = Field(gt=0, le=2**30, description="longest trained context, tokens")
    # MLA (DeepSeek-V2/V3): queries and keys/values pass through low-rank latents
    q_lora_rank: int | None = Field(None, gt=0, le=1_000_000)
    kv_lora_rank: int | None = Field(None, gt=0, le=1_000_000)
    qk_nope_head_dim: int | None = Field(None, gt=0, le=1_000_000)
    qk_rope_head_dim: int | None = Field(None, gt=0, le=1_000_000)
    # mixture of experts
    routed_experts: int = Field(0, ge=0, le=100_000)
    experts_per_token: int = Field(0, ge=0, le=100_000)
    shared_experts: int = Field(0, ge=0, le=100_000)
    expert_ffn_hidden_size: int = Field(0, ge=0, le=10_000_000)
    dense_layers: int = Field(0, ge=0, le=10_000, description="leading layers with a dense FFN in an MoE model")
    mtp_modules: int = Field(
        0, ge=0, le=100, description="multi-token-prediction modules trained beside the model (DeepSeek-V3: 1): each "
        "a projection of 2 x hidden to hidden, one more transformer block and the shared output head with its own loss")
    published_parameters: float = Field(gt=0, description="total parameters as published")
    published_active_parameters: float = Field(gt=0, description="parameters active per token as published")

    @model_validator(mode="after")
    def _consistent(self) -> "LlmModel":
        if self.attention_heads % self.kv_heads:
            raise ValueError(f"attention_heads={self.attention_heads} must be a multiple of "
                             f"kv_heads={self.kv_heads} (each KV head serves a whole group of query heads)")
        if bool(self.sliding_window) != bool(self.sliding_window_layers) or self.sliding_window_layers > self.layers:
            raise ValueError(f"sliding_window={self.sliding_window} and sliding_window_layers="
                             f"{self.sliding_window_layers}: give both, with at most layers={self.layers} windowed")
        if self.attention == "mla" and None in (self.kv_lora_rank, self.qk_nope_head_dim, self.qk_rope_head_dim):
            raise ValueError("attention 'mla' needs kv_lora_rank, qk_nope_head_dim and qk_rope_head_dim")
        if self.routed_experts:
            if not 0 < self.experts_per_token <= self.routed_experts:
                raise ValueError(f"experts_per_token={self.experts_per_token} must be between 1 and "
                                 f"routed_experts={self.routed_experts}")
            if self.expert_ffn_hidden_size <= 0:
                raise ValueError("an MoE model needs expert_ffn_hidden_size > 0")
            if self.dense_layers >= self.layers:
                raise ValueError(f"dense_layers={self.dense_layers} leaves no MoE layer of {self.layers}")
        elif self.experts_per_token or self.shared_experts:
            raise ValueError("experts_per_token / shared_experts given but routed_experts is 0")
        return self

    @property
    def has_biases(self) -> bool:
        return self.mlp == "gelu" if self.biases is None else self.biases

    @property
    def moe_layers(self) -> int:
        return self.layers - self.dense_layers if self.routed_experts else 0

    @property
    def active_ffn_width(self) -> float:
        """FFN width a token passes through, averaged over layers (MoE: routed + shared experts)."""
        if not self.routed_experts:
            return float(self.ffn_hidden_size)
        moe = (self.experts_per_token + self.shared_experts) * self.expert_ffn_hidden_size
        return (self.dense_layers * self.ffn_hidden_size + self.moe_layers * moe) / self.layers
