"""The matrix multiplies of one transformer layer on one GPU, with their shapes (M x N x K).

``M`` is tokens, ``N`` output features, ``K`` the reduced dimension (FLOPs 2 M N K).  Tensor
parallelism ``t`` splits the attention heads and the FFN width (Megatron column-/row-parallel
linears); with sequence parallelism the tokens are all-gathered before each block, so M is the
whole micro-batch.  The backward pass runs two GEMMs per forward GEMM: the input gradient
``(M, K, N)`` and the weight gradient ``(N, K, M)`` (reduced over the tokens).

Mixture-of-experts layers run their routed experts as a grouped GEMM: each GPU holds
``experts / ep`` experts and each of them multiplies the tokens routed to it (``tokens_per_expert``,
the busiest GPU's load).  Expert tensor parallelism ``etp`` splits each expert's width.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Gemm:
    """``batch`` independent GEMMs of M x N x K (grouped experts, batched attention heads)."""

    name: str
    m: float
    n: float
    k: float
    batch: float = 1.0
    follows_norm: bool = False  # its input comes straight from a norm (FP8 cast can be fused there)
    grouped: bool = False  # routed experts: one GEMM per local expert (Transformer Engine GroupedLinear)
    graph_part: str = ""  # the Megatron-Core cuda_graph_scope part that captures it (attn, moe_router), "" none

    @property
    def flops(self) -> float:
        return 2.0 * self.m * self.n * self.k * self.batch


def backward_of(gemm: Gemm) -> list[Gemm]:
    """Input-gradient and weight-gradient GEMMs of a forward GEMM."""
    return [replace(gemm, name=f"{gemm.name} dgrad", n=gemm.k, k=gemm.n, follows_norm=False),
            replace(gemm, name=f"{gemm.name} wgrad", m=gemm.n, n=gemm.k, k=gemm.m, follows_norm=False)]


def attention_gemms(model, tokens: float, tp: int) -> list[Gemm]:
    """Projections of one attention block (GQA/MHA or MLA), forward."""
    return [replace(g, graph_part="attn") for g in _attention_gemms(model, tokens, tp)]


def _attention_gemms(model, tokens: float, tp: int) -> list[Gemm]:
    h, a, t = model.hidden_size, model.attention_heads, tp
    if model.attention == "mla":
        qk = model.qk_nope_head_dim + model.qk_rope_head_dim
        out = []
        if model.q_lora_rank:
            out += [Gemm("Q down", tokens, model.q_lora_rank, h, follows_norm=True),
                    Gemm("Q up", tokens, a * qk / t, model.q_lora_rank)]
        else:
            out.append(Gemm("Q", tokens, a * qk / t, h, follows_norm=True))
        out += [Gemm("KV down", tokens, model.kv_lora_rank + model.qk_rope_head_dim, h, follows_norm=True),
                Gemm("KV up", tokens, a * (model.qk_nope_head_dim + model.head_dim) / t, model.kv_lora_rank),
                Gemm("attention out", tokens, h, a * model.head_dim / t)]
        return out
    qkv = (a + 2 * model.kv_heads) * model.head_dim / t
    return [Gemm("QKV", tokens, qkv, h, follows_norm=True), Gemm("attention out", tokens, h, a * model.head_dim / t)]


def mlp_gemms(model, tokens: float, width: float, tp: int, label: str = "MLP", batch: float = 1.0,
              follows_norm: bool = True, grouped: bool = False) -> list[Gemm]:
    """FC1 (gate and up for SwiGLU) and FC2 of an FFN of ``width`` split over ``tp``."""
    up = (2 if model.mlp == "swiglu" else 1) * width / tp
    return [Gemm(f"{label} FC1", tokens, up, model.hidden_size, batch, follows_norm, grouped),
            Gemm(f"{label} FC2", tokens, model.hidden_size, width / tp, batch, grouped=grouped)]


def dense_layer_gemms(model, tokens: float, tp: int) -> list[Gemm]:
    return attention_gemms(model, tokens, tp) + mlp_gemms(model, tokens, model.ffn_hidden_size, tp)


def moe_layer_gemms(model, tokens: float, tp: int, ep: int, etp: int, tokens_per_expert: float,
                    active: float | None = None) -> list[Gemm]:
    """Attention, router, shared experts (TP-split, all tokens) and the grouped routed experts.  The router
    and the shared experts sit in the ``moe_router`` CUDA-graph part (Megatron-Core transformer_layer.py
    ``_get_submodules_under_cudagraphs``: pre-MLP norm, router, and shared experts not overlapped).
    ``active``: local experts that receive tokens (default all of them); the grouped GEMM runs over those,
    each with its share of the ``tokens_per_expert x local`` rows."""
    gemms = attention_gemms(model, tokens, tp)
    gemms.append(Gemm("router", tokens, model.routed_experts, model.hidden_size, follows_norm=True,
                      graph_part="moe_router"))
    if model.shared_experts:
        gemms += [replace(g, graph_part="moe_router") for g in
                  mlp_gemms(model, tokens, model.shared_experts * model.expert_ffn_hidden_size, tp, "shared expert")]
    local = model.routed_experts / ep
    active = local if active is None else min(local, active)
    rows = tokens_per_expert * local / active if active > 0 else 0.0
    gemms += mlp_gemms(model, rows, model.expert_ffn_hidden_size, etp, "experts", batch=active,
                       follows_norm=False, grouped=True)
    return gemms


def head_gemms(model, tokens: float, tp: int) -> list[Gemm]:
    """The output projection to the vocabulary (last pipeline stage)."""
    return [Gemm("output head", tokens, model.vocab_size / tp, model.hidden_size, follows_norm=True)]


__all__ = ["Gemm", "backward_of", "attention_gemms", "mlp_gemms", "dense_layer_gemms", "moe_layer_gemms",
           "head_gemms"]
