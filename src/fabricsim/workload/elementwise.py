"""The memory-bound chains of one transformer layer -- norms, rotary embedding, activation -- run fused
(one kernel each: Transformer Engine, Apex, Triton, ``torch.compile``) or eager (PyTorch op by op).

HBM bytes per element, BF16 activations (2 bytes), forward and backward.  Fused kernels read their
inputs and write their outputs once:

* norm: read x, write y (4); backward reads x and dy, writes dx (6);
* rotary on q and k: read and write (4 both ways);
* SwiGLU: read gate and up, write the product (6 per FFN element); backward reads three, writes two
  (10); GELU 4 and 6.

Eager, as the PyTorch reference Llama code runs them (torchtitan ``models/norms.py`` RMSNorm and
``models/llama/model.py`` at 9dec370; Hugging Face's LlamaRMSNorm is the same chain), every op reads
and writes its full tensor:

* RMSNorm ``(x.float() * rsqrt(x.float().pow(2).mean(-1) + eps)).type_as(x) * w``: upcast (2 + 4),
  square (4 + 4), mean (4), scale (4 + 4), downcast (4 + 2), weight (2 + 2) = 36 bytes in 6 kernels
  (the per-token mean, eps and rsqrt are negligible in bytes, 2 more kernels); its autograd backward
  walks the chain back: weight (dy x w: 2 + 2, and dy x y for dw: 2 + 2), downcast (2 + 4), scale
  (dg x rstd: 4 + 4, and the per-token sum of dg x x: 4 + 4), square and mean (4 + 4 + 4), the two
  dx branches added (4 + 4 + 4), upcast (4 + 2) = 60 bytes;
* rotary through complex64: upcast (2 + 4), complex multiply (4 + 4), downcast (4 + 2) = 20 bytes in
  3 kernels per tensor; backward downcast-grad (2 + 4), conjugate multiply (4 + 4), upcast-grad
  (4 + 2) = 20 in 3;
* SwiGLU ``silu(w1 x) * w3 x``: silu (2 + 2), product (2 + 2 + 2) = 10 bytes in 2 kernels; backward
  d(w3 x) = dout x silu (6), d silu = dout x w3 x (6), silu's backward (6) = 18 in 3;
* ``eager-fused-norm``: the same with a fused norm kernel (torchtitan ``norm_type = "fused_rmsnorm"``);
* around attention: grouped-query keys and values expanded to every head by a copy (``repeat_kv``:
  read the KV heads, write all heads; backward sums them back) and the attention output made
  contiguous again after the head transpose (4 bytes both ways), 3 more kernels forward.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Chains:
    """Bytes per element (forward, backward) and forward kernels of a layer's elementwise chains."""

    norm: tuple[float, float]  # per hidden element, each of the layer's two norms
    rotary: tuple[float, float]  # per query / key element
    swiglu: tuple[float, float]  # per FFN element
    gelu: tuple[float, float]
    norm_kernels: int  # forward kernels of one norm
    rotary_kernels: int  # forward kernels of the rotary embedding (queries and keys)
    activation_kernels: int
    head_copies: bool  # GQA keys/values copied to every head, attention output made contiguous


FUSED = Chains(norm=(4, 6), rotary=(4, 4), swiglu=(6, 10), gelu=(4, 6), norm_kernels=1, rotary_kernels=1,
               activation_kernels=1, head_copies=False)
EAGER = Chains(norm=(36, 60), rotary=(20, 20), swiglu=(10, 18), gelu=(4, 6), norm_kernels=8, rotary_kernels=6,
               activation_kernels=2, head_copies=True)
EAGER_FUSED_NORM = replace(EAGER, norm=FUSED.norm, norm_kernels=FUSED.norm_kernels)
"""Eager code with one fused norm kernel (torchtitan's ``norm_type = "fused_rmsnorm"``, a Triton kernel)."""
CHAINS = {"fused": FUSED, "eager": EAGER, "eager-fused-norm": EAGER_FUSED_NORM}


UNFUSED_SCALED_ROTARY = (24.0, 20.0)
"""Bytes per query/key element (forward, backward) of Megatron-Core's unfused rotary op with a scale
(core_v0.14+ ``rope_utils._apply_rotary_pos_emb_bshd``: ``t * cos_ + rotate_half(t) * sin_`` then ``cat`` with the
empty pass-through): multiply (2 + 2), rotate_half's negated half and concatenation (1 + 1, 2 + 2), multiply
(2 + 2), add (4 + 2), concatenation (2 + 2) = 24 bytes in 6 kernels; backward the two multiplies (4 + 4), the
negation (2), the re-assembly of the two halves (4) and the sum of the branches (6) = 20."""


def chains(profile, override: str | None = None, model=None) -> Chains:
    """The chains of a software profile (``elementwise``), or of ``override`` (a job's own setting); with ``model``,
    a scaled RoPE (YaRN) that the stack's fused kernel does not take runs unfused (``fused_rope_unit_scale_only``:
    Megatron-Core ``apply_rotary_pos_emb`` warns 'mscale is not supported by TE's fused RoPE' and falls back)."""
    chain = CHAINS[override or profile.elementwise]
    if (model is not None and getattr(model, "rope_attention_scale", 1.0) != 1.0 and profile.fused_rope_unit_scale_only
            and chain.rotary == FUSED.rotary):
        chain = replace(chain, rotary=UNFUSED_SCALED_ROTARY, rotary_kernels=6)
    return chain


def head_copy_bytes(model, tokens: float, tp: int) -> tuple[float, float]:
    """(forward, backward) bytes of the eager copies around attention for ``tokens`` on one TP rank:
    ``repeat_kv`` (read the KV heads of keys and values, write them for every query head; backward
    reads every head's gradient and writes the summed KV-head gradient) and the attention output's
    ``contiguous()`` after the head transpose (read + write, both ways), BF16."""
    d = model.head_dim
    kv, heads = model.kv_heads * d / tp, model.attention_heads * d / tp
    repeat = 2 * 2 * (kv + heads) if model.kv_heads < model.attention_heads else 0.0  # keys and values
    contiguous = 2 * 2 * heads
    return tokens * (repeat + contiguous), tokens * (repeat + contiguous)


ACTIVATION_BYTES = 2
"""Bytes per activation element (BF16)."""


def layer_elementwise_bytes(model, shape, profile, moe: bool) -> tuple[float, float, dict, float]:
    """(forward bytes, backward bytes, forward bytes of the kernels selective recomputation can repeat --
    each norm, each FFN's activation, the MoE permutation -- by name, forward bytes of
    the attention side: both norms, the first residual add, rotary, QK-Norm, head copies) of the
    memory-bound kernels of one layer (``shape``: a :class:`fabricsim.workload.compute.Shape`), BF16, per
    element as this module's fused or eager chains count them:

    * norms (two per layer) and the rotary embedding on queries and keys, before which QK-Norm models
      normalize every query and key head (Megatron-Core's q_layernorm and k_layernorm; not among the
      norms that selective recomputation repeats);
    * residual adds: read two, write one (6 h), plus a 1-byte dropout mask (7 h); backward adds the
      branch gradient to the residual one (6 h) and applies the mask;
    * activation: SwiGLU or GELU per FFN element;
    * eager only: the grouped-query key/value copies and the attention output's re-layout;
    * MoE: permute and un-permute every routed token copy (read + write, both directions); with the all-to-all
      dispatcher's sort by local expert (``shape.expert_sort``) two more copies of every row each way, and with the
      grouped experts' FP8 row padding (``shape.expert_padding``) two more again."""
    h, t = model.hidden_size, shape.tp
    sp = t if shape.sequence_parallel else 1
    tokens = shape.tokens
    mask = 1 if profile.dropout else 0
    chain = chains(profile, shape.elementwise, model)
    norms_f, norms_b = (2 * per * h * tokens / sp for per in chain.norm)
    residual_f = 2 * (6 + mask) * h * tokens / sp
    residual_b = 2 * (6 + mask) * h * tokens / sp
    rotated = 0.0 if model.learned_positions else (model.attention_heads + model.kv_heads) * (
        model.qk_rope_head_dim or model.head_dim) * tokens / t
    rope_f, rope_b = (per * rotated for per in chain.rotary)
    heads = (model.attention_heads + model.kv_heads) * model.head_dim * tokens / t if model.qk_norm else 0.0
    qk_norm_f, qk_norm_b = (per * heads for per in chain.norm)  # not among what selective recomputation repeats
    copies_f, copies_b = head_copy_bytes(model, tokens, t) if chain.head_copies else (0.0, 0.0)
    act_f, act_b = chain.swiglu if model.mlp == "swiglu" else chain.gelu
    if moe:
        shared = model.shared_experts * model.expert_ffn_hidden_size * tokens / t
        routed = model.expert_ffn_hidden_size / shape.etp * shape.routed_tokens
        width = shared + routed
        permute = _routed_row_copies_bytes(model, shape) + expert_sort_bytes(model, shape) \
            + expert_padding_bytes(model, shape)
        rerun = {"routed_act": act_f * routed, "shared_act": act_f * shared, "permute": permute}
    else:
        width = model.ffn_hidden_size * tokens / t
        permute = 0.0
        rerun = {"dense_act": act_f * width}
    activation_f, activation_b = act_f * width, act_b * width
    rerun.update(input_norm=norms_f / 2, pre_mlp_norm=norms_f / 2)
    forward = norms_f + residual_f + rope_f + qk_norm_f + copies_f + activation_f + permute
    backward = norms_b + residual_b + rope_b + qk_norm_b + copies_b + activation_b + permute
    return forward, backward, rerun, norms_f + residual_f / 2 + rope_f + qk_norm_f + copies_f


def _routed_row_copies_bytes(model, shape) -> float:
    """Bytes, each way, of copying every routed token row (BF16, ``h`` wide) to a new layout and back: read and
    write, twice."""
    return 4 * ACTIVATION_BYTES * model.hidden_size * shape.routed_tokens


def expert_sort_bytes(model, shape) -> float:
    """Bytes, each way, of the all-to-all dispatcher's sort of received rows by local expert and the inverse
    sort before the combine (``shape.expert_sort``, :func:`fabricsim.workload.moe.expert_sort`): every routed
    token copy read and written twice; they run in the experts' phase, after the dispatch and before the combine."""
    return _routed_row_copies_bytes(model, shape) if shape.expert_sort else 0.0


def expert_padding_bytes(model, shape) -> float:
    """Bytes, each way, of the grouped experts' FP8 row padding (``shape.expert_padding``,
    :func:`fabricsim.workload.moe.quantization_padding`): forward Transformer Engine's ``Fp8Padding`` copies every
    routed row into its expert's aligned block and ``Fp8Unpadding`` copies the expert output back (read + write of
    ``h`` BF16 elements each); backward the same copies of the gradients.  Left out: the padding of the routing
    probabilities (one value per row, a third kernel each way) and the padding rows themselves (fewer than the
    alignment per local expert).  They run in the experts' phase, between the dispatch and the combine."""
    return _routed_row_copies_bytes(model, shape) if shape.expert_padding else 0.0


def routed_activation_bytes(model, shape, profile) -> tuple[float, float]:
    """(forward, backward) bytes of the routed experts' activation function for ``shape.routed_tokens`` token copies
    (part of :func:`layer_elementwise_bytes`' activation term)."""
    chain = chains(profile, shape.elementwise)
    act_f, act_b = chain.swiglu if model.mlp == "swiglu" else chain.gelu
    width = model.expert_ffn_hidden_size / shape.etp * shape.routed_tokens
    return act_f * width, act_b * width


def fused_mlp_saved_bytes(model, shape, profile, cast_bytes_per_element: float) -> tuple[float, float]:
    """(forward, backward) HBM bytes of one MoE layer's routed experts that Transformer Engine's fused grouped MLP
    (CuTe-DSL grouped GEMMs, TE v2.16 ops/fused/forward_grouped_mlp.py and backward_grouped_mlp.py) no longer moves
    in kernels of their own, for ``shape.routed_tokens`` token copies of FFN width ``F = expert_ffn / etp``:

    * forward: the GLU activation with its probability weighting (this module's chain bytes per FFN element; the
      FC1 GEMM's epilogue writes the activated product instead) and the MXFP8 quantization of the FC2 input
      (``cast_bytes_per_element`` per FFN element; the same epilogue writes it row- and column-wise);
    * backward: the GLU backward (chain bytes per FFN element; the FC2 dgrad epilogue computes it) and the
      quantization of the FC1 output gradient (``2F`` elements, gate and up; the same epilogue writes it).

    The FC1 pre-activation the epilogue also saves for backward is the GEMM's own output, as before; the FC1 input
    and FC2 output-gradient quantizations stay (one group quantization each)."""
    act_f, act_b = chains(profile, shape.elementwise).swiglu
    width = model.expert_ffn_hidden_size / shape.etp * shape.routed_tokens
    return (act_f + cast_bytes_per_element) * width, act_b * width + cast_bytes_per_element * 2 * width


__all__ = ["Chains", "FUSED", "EAGER", "EAGER_FUSED_NORM", "CHAINS", "chains", "head_copy_bytes", "layer_elementwise_bytes",
           "ACTIVATION_BYTES", "UNFUSED_SCALED_ROTARY", "expert_sort_bytes", "expert_padding_bytes", "fused_mlp_saved_bytes",
           "routed_activation_bytes"]
