"""How many kernels one layer's forward and backward launch, and how many launch gaps the GPU sees.

Two counts per pass, because eager PyTorch pays for a kernel twice:

* **issued** -- host (CPU) operations: every kernel launch, plus the per-expert Python work of the
  grouped expert linears (weight-workspace lookups forward, main-gradient hand-off backward).
  The software profile's ``host_s_per_kernel`` each.
* **gaps** -- idle slots on the GPU between dependent kernels (the profile's ``kernel_overhead_s``
  each).  Kernels issued to parallel streams overlap their gaps.

Most of a layer launches a fixed set of kernels (GEMMs, norms, residual adds, activation, rotary,
attention, the MoE router and dispatcher), and its backward about twice as many.  The routed
experts are different: Transformer Engine 2.x's ``GroupedLinear`` runs one cuBLAS GEMM per local
expert (``general_grouped_gemm`` -> ``nvte_multi_stream_cublas_gemm``, round-robin over
``num_streams = 4`` compute streams: the software profile's ``expert_gemm_streams``), quantizes each expert's input forward and each expert's
output gradient backward separately (``split_quantize`` / ``fused_multi_quantize``: one quantizer
per expert), loops in Python over the experts' FP8 weight workspaces forward and over their main
gradients backward.  So kernel counts grow with the local experts (experts / EP).  Stacks that run
all local experts as one grouped kernel (``expert_gemm_streams`` None: CUTLASS / DeepGEMM grouped
GEMM) launch one GEMM and one quantization per grouped linear, like any other linear.

How many kernels one FP8 quantization takes depends on the recipe (Transformer Engine
``quantizer.cpp``): per-tensor current scaling ('tensorwise') runs an amax reduction, a
scale-from-amax kernel and the cast (3); delayed scaling takes the scale from the amax history and
MXFP8 / blockwise scaling compute their block scales inside the cast kernel (1).

Recipes may capture parts of each layer in a CUDA graph (Megatron-Core ``cuda_graph_scope`` with
``cuda_graph_impl=transformer_engine``): ``attn`` (input norm, attention projections and their casts,
rotary, attention, the residual add), ``moe_router`` (pre-MLP norm, router GEMM, scoring, top-k and
load-balancing terms, unoverlapped shared experts) and ``moe_preprocess`` (per-expert token counts and
splits, the first permutation; only with ``moe_router``).  The scope is one callable per layer
(``TransformerLayer._te_cuda_graph_capture`` runs the captured attention, then the MoE layer up to its
early return after the router or the preprocessing), graphed by ``make_graphed_callables`` into one
forward and one backward graph: its kernels are issued as one launch per pass with one launch gap, and each
captured kernel after the first still leaves the GPU idle for a graph node's time (``graph_nodes_*``: a replay
removes the host's per-kernel work, not the GPU's gap between dependent kernels).
The dropless dispatcher's device-host synchronization stays outside the graph (MoEAlltoAllTokenDispatcher
moves its token-count copy to ``before_ep_alltoall`` when the preprocessing is captured; DeepEP and
HybridEP wait for the counts inside their dispatch call), so a captured layer still synchronizes once.

Token-drop MoE (Megatron-Core ``moe_expert_capacity_factor``) adds the capacity mask to the router; padded
to capacity (``moe_pad_expert_input_to_capacity``) its all-to-all splits are fixed and known on the host,
so the dispatcher neither counts tokens per expert on the device nor copies them to the host
(core_v0.14.0 token_dispatcher.py: ``preprocess`` fills the counts with the capacity, and
``_maybe_dtoh_and_synchronize`` does nothing under ``drop_and_pad``).  Such a layer has no host
synchronization and can be captured whole (Megatron-Core 0.14 ``enable_cuda_graph``, the per-layer
CudaGraphManager; 0.16 refuses a captured MoE layer that is not drop-and-pad).
"""

from __future__ import annotations

from dataclasses import dataclass

from fabricsim.errors import FabricsimError
from fabricsim.workload.elementwise import FUSED, Chains
from fabricsim.workload.expert_epilogue import epilogue_kernels

QUANTIZE_KERNELS = {"delayed": 1, "tensorwise": 3, "mxfp8": 1, "blockwise": 1, "nvfp4": 2}
"""Kernels per FP8 quantization of one tensor, by Megatron ``fp8_recipe``: current ('tensorwise')
scaling = ``nvte_compute_amax`` + ``nvte_compute_scale_from_amax`` + ``nvte_quantize_v2``
(Transformer Engine Float8CurrentScalingQuantizer::quantize_impl); NVFP4 an amax pass for its FP32 per-tensor scale
and the cast (ASSUMED: the block scales are computed in the cast); the others one cast kernel."""
MOE_ROUTER_KERNELS = 6
"""Router kernels besides its GEMM: score, top-k, normalisation and load-balancing terms."""
MOE_PREPROCESS_KERNELS = 6
"""Dispatcher preprocessing: per-expert token counts, splits and offsets (4), the first permutation (2)."""
MOE_DISPATCH_KERNELS = 6
"""The rest of the dispatcher: the token counts' copy to the host (1), the two all-to-alls (2),
un-permutation and the weighted combine (3)."""
MOE_EXTRA_KERNELS = MOE_ROUTER_KERNELS + MOE_PREPROCESS_KERNELS + MOE_DISPATCH_KERNELS
"""Kernels an MoE layer launches besides its GEMMs (Megatron-Core router and all-to-all dispatcher): 18."""
MOE_CAPACITY_KERNELS = 5
"""Token-drop in the router (Megatron-Core core_v0.14.0 moe_utils.py ``apply_router_token_dropping``): the top
``capacity`` of each expert's column (torch.topk along the tokens), zeros_like, scatter, the mask's bool, probs x mask."""
MOE_PADDED_PREPROCESS_KERNELS = 3
"""Drop-and-pad preprocessing (token_dispatcher.py ``MoEAlltoAllTokenDispatcher.preprocess``): the per-expert counts
are the capacity, known on the host (torch.full on the CPU: no kernel); one fill of the per-rank splits on the
device; the first permutation (2)."""
MOE_PADDED_DISPATCH_KERNELS = MOE_DISPATCH_KERNELS - 1
"""Drop-and-pad dispatch: no token-count copy to the host (``_maybe_dtoh_and_synchronize`` returns at once)."""


def moe_kernels(token_drop: str = "", sync_free: bool = False) -> tuple[int, int, int]:
    """(router, preprocessing, dispatch) kernels of an MoE layer besides its GEMMs: dropless ('' ), token-drop
    ('drop': the capacity mask in the router) or token-drop padded to capacity ('pad': fixed splits too).
    ``sync_free``: a dropless dispatch into static receive buffers (HybridEP with moe_expert_rank_capacity_factor)
    copies no token counts to the host: one dispatch kernel fewer."""
    router = MOE_ROUTER_KERNELS + (MOE_CAPACITY_KERNELS if token_drop else 0)
    if token_drop == "pad":
        return router, MOE_PADDED_PREPROCESS_KERNELS, MOE_PADDED_DISPATCH_KERNELS
    return router, MOE_PREPROCESS_KERNELS, MOE_DISPATCH_KERNELS - (1 if sync_free else 0)


FUSED_MLP_KERNELS = (3, 5)
"""Kernels of Transformer Engine's fused grouped MLP over all local experts (TE v2.16 ops/fused/forward_grouped_mlp.py
and backward_grouped_mlp.py, the CuTe-DSL kernels of cudnn-frontend): forward the FC1 input's group quantization,
FC1 grouped GEMM with GLU, probability scaling and MXFP8 quantization of the FC2 input in its epilogue, FC2 grouped
GEMM (3); backward the FC2 output gradient's group quantization, FC2 dgrad GEMM with dGLU, dprob and the FC1 output
gradient's quantization in its epilogue, FC2 wgrad, FC1 dgrad, FC1 wgrad (5)."""


EXPERT_PADDING_KERNELS = 3
"""Kernels of the grouped experts' FP8 row padding each pass (:func:`fabricsim.workload.moe.quantization_padding`):
forward Transformer Engine ``fused_multi_row_padding`` of the input and of the routing probabilities and
``fused_multi_row_unpadding`` of the output; backward the inverse copy of each gradient."""


@dataclass(frozen=True)
class KernelCount:
    """Kernels of one layer for one micro-batch (counts, not seconds)."""

    issued_forward: float
    issued_backward: float
    gaps_forward: float
    gaps_backward: float
    graph_nodes_forward: float = 0.0
    """gaps between captured kernels inside a partial-scope graph (its kernels after the first): the graph's own
    launch is one of ``gaps_forward``, these cost the GPU's per-node time of a graph replay"""
    graph_nodes_backward: float = 0.0

    def __add__(self, other: "KernelCount") -> "KernelCount":
        return KernelCount(self.issued_forward + other.issued_forward, self.issued_backward + other.issued_backward,
                           self.gaps_forward + other.gaps_forward, self.gaps_backward + other.gaps_backward,
                           self.graph_nodes_forward + other.graph_nodes_forward,
                           self.graph_nodes_backward + other.graph_nodes_backward)

    def full_iteration(self) -> "KernelCount":
        """The same layer inside one CUDA graph of the whole iteration (Megatron-Core cuda_graph_impl full_iteration):
        nothing issued by the host per kernel, every gap a graph node (the graph's one launch per step is negligible)."""
        return KernelCount(0, 0, 0, 0, self.gaps_forward + self.graph_nodes_forward,
                           self.gaps_backward + self.graph_nodes_backward)

    def whole_graph(self) -> "KernelCount":
        """The same layer captured whole (Megatron-Core enable_cuda_graph): one host issue and one launch gap per
        pass, every other gap a graph node."""
        f, b = self.gaps_forward + self.graph_nodes_forward, self.gaps_backward + self.graph_nodes_backward
        return KernelCount(1, 1, 1, 1, max(0.0, f - 1), max(0.0, b - 1))


def grouped_linear_kernels(local_experts: int, fp8: bool, recipe: str, streams: int | None = 4) -> KernelCount:
    """One grouped expert linear over ``local_experts`` experts (forward and backward).

    Transformer Engine GroupedLinear (``streams`` an integer) -- forward: a GEMM and (FP8) an input
    quantization per expert, a weight-workspace lookup per expert (host only).  Every expert GEMM pays its
    own launch gap: the ``streams`` streams let the launches queue but do not hide the gaps, as the only
    published microbenchmark of the path shows (Transformer Engine PR #2045, TE 2.7 general_grouped_gemm on
    H100: 8 x 4096 x 768 x 2048 at 628 TFLOP/s and 16 x 2048 x 768 x 2048 at 554, within 1% of the GEMM model
    plus one gap per GEMM; one gap per round of ``streams`` GEMMs would give 711 and 683 -- validation
    cases te27-grouped-gemm-*).  Backward: the data- and weight-gradient GEMMs per expert, the
    output gradient quantized per expert, the main-gradient hand-off per expert (host only).
    ``streams`` None: one grouped GEMM kernel for all experts (one quantization forward, one
    backward; dgrad and wgrad kernels)."""
    if streams is None:
        q = QUANTIZE_KERNELS[recipe] if fp8 else 0
        return KernelCount(1 + q, 2 + q, 1 + q, 2 + q)
    n = max(1, int(local_experts))
    q = QUANTIZE_KERNELS[recipe] * n if fp8 else 0
    weights = n if fp8 else 0
    return KernelCount(issued_forward=n + q + weights, issued_backward=2 * n + q + n,
                       gaps_forward=n + q, gaps_backward=2 * n + q)


def _casts(gemms, profile, fp8: bool, q: int) -> int:
    """FP8 quantization kernels of the (ungrouped) GEMMs whose input is not cast by a fused norm."""
    return q * sum(1 for g in gemms if not g.grouped and not (g.follows_norm and profile.fused_norm_cast)) if fp8 else 0


def _attention_block_kernels(model, attention: str, chain: Chains) -> int:
    """Forward kernels of the attention block besides its GEMMs: input norm, QK-Norm's query and key norms,
    rotary, the attention core (materialized: scale, mask, softmax and dropout), eager code's head copies,
    the residual add."""
    rotary = 0 if model.learned_positions else chain.rotary_kernels
    copies = (1 + (2 if model.kv_heads < model.attention_heads else 0)) if chain.head_copies else 0
    norms = chain.norm_kernels * (3 if model.qk_norm else 1)
    return norms + rotary + (4 if attention == "materialized" else 1) + copies + 1


def captured_kernels(gemms, model, attention: str, moe: bool, fp8: bool, q: int, profile, scope,
                     chain: Chains = FUSED, token_drop: str = "") -> int:
    """Forward kernels of one layer inside its CUDA-graph ``scope`` (see the module docstring)."""
    scope = set(scope or ())
    parts = {p for p in ("attn", "moe_router") if p in scope}
    if not moe:
        parts.discard("moe_router")
    inside = [g for g in gemms if g.graph_part in parts]
    n = len(inside) + _casts(inside, profile, fp8, q)
    if "attn" in parts:
        n += _attention_block_kernels(model, attention, chain)
    if "moe_router" in parts:  # pre-MLP norm and the router's own kernels
        router, preprocess, _ = moe_kernels(token_drop)
        n += chain.norm_kernels + router + (preprocess if "moe_preprocess" in scope else 0)
    return n


def kernels_before_sync(gemms, model, profile, attention: str, fp8: bool, recipe: str, scope=(),
                        chain: Chains = FUSED, token_drop: str = "") -> int:
    """Forward kernels an MoE layer issues before its host synchronization (:mod:`fabricsim.workload.host_sync`):
    the attention block, the pre-MLP norm, router and shared experts, and the dispatcher's preprocessing;
    the parts a recipe captures (``scope``, all of them before the synchronization) count as one launch."""
    q = QUANTIZE_KERNELS[recipe]
    every = captured_kernels(gemms, model, attention, True, fp8, q, profile, ("attn", "moe_router", "moe_preprocess"),
                             chain, token_drop)
    captured = captured_kernels(gemms, model, attention, True, fp8, q, profile, scope, chain, token_drop)
    return every - captured + (1 if captured else 0)


def layer_kernels(gemms, model, profile, attention: str, moe: bool, fp8: bool, recipe: str,
                  scope=(), chain: Chains = FUSED, token_drop: str = "", sync_free: bool = False,
                  fused_mlp: bool = False, fp8_attention: bool = False, expert_padding: bool = False) -> KernelCount:
    """Kernels of one layer: the fixed set (backward twice the forward) plus the grouped experts'.

    ``gemms``: the layer's forward GEMMs (:class:`fabricsim.workload.layers.Gemm`), those with
    ``grouped`` set run as GroupedLinear over their ``batch`` of local experts; ``attention``: the attention path
    ('materialized' launches scale, mask, softmax and dropout kernels besides the two GEMMs); ``scope``: the
    parts captured as one CUDA graph (Megatron-Core cuda_graph_scope), issued and spaced as one launch per pass;
    ``token_drop``: '' dropless, 'drop' or 'pad' (:func:`moe_kernels`); ``sync_free``: dropless into static buffers;
    ``fused_mlp``: the routed experts as one fused grouped MLP (:data:`FUSED_MLP_KERNELS`; their activation kernel
    goes into the GEMM's epilogue -- the layer's counted activation kernel stays only for shared experts);
    ``fp8_attention``: one quantization of the fused Q/K/V buffer before the FP8 attention kernel (backward: dO);
    ``expert_padding``: the grouped experts' FP8 row padding copies (:data:`EXPERT_PADDING_KERNELS` each pass)."""
    q = QUANTIZE_KERNELS[recipe]
    if "moe_preprocess" in (scope or ()) and "moe_router" not in scope:
        raise FabricsimError("cuda_graph_scope: moe_preprocess is captured only together with moe_router "
                             "(Megatron-Core transformer_config.py: 'moe_preprocess cuda graph is only supported "
                             "with moe_router cuda graph'); add moe_router or drop moe_preprocess")
    fused = fused_mlp and moe
    activation = 0 if fused and not model.shared_experts else chain.activation_kernels
    mlp_block = chain.norm_kernels + activation + 1  # pre-MLP norm, activation, residual add
    fixed = sum(1 for g in gemms if not g.grouped) + _attention_block_kernels(model, attention, chain) + mlp_block
    fixed += 1 if fp8_attention else 0
    if moe:
        fixed += sum(moe_kernels(token_drop, sync_free))
    fixed += _casts(gemms, profile, fp8, q)
    captured = captured_kernels(gemms, model, attention, moe, fp8, q, profile, scope, chain, token_drop)
    if captured:
        fixed -= captured
        count = KernelCount(fixed + 1, 2 * fixed + 1, fixed + 1, 2 * fixed + 1, captured - 1, 2 * captured - 1)
    else:
        count = KernelCount(fixed, 2 * fixed, fixed, 2 * fixed)
    if fused:
        f, b = FUSED_MLP_KERNELS
        return count + KernelCount(f, b, f, b)
    if expert_padding:
        count += KernelCount(*(EXPERT_PADDING_KERNELS,) * 4)
    grouped = [g for g in gemms if g.grouped]
    for g in grouped:
        count += grouped_linear_kernels(g.batch, fp8, recipe, profile.expert_gemm_streams)
    if grouped:  # gpt-oss's clamp and expert bias, op by op outside the fused activation (expert_epilogue.py)
        f, b = epilogue_kernels(model, grouped[0].batch)
        count += KernelCount(f, b, f, b)
    return count


__all__ = ["KernelCount", "grouped_linear_kernels", "layer_kernels", "captured_kernels", "kernels_before_sync", "moe_kernels",
           "QUANTIZE_KERNELS", "MOE_EXTRA_KERNELS", "MOE_ROUTER_KERNELS", "MOE_PREPROCESS_KERNELS",
           "MOE_DISPATCH_KERNELS", "MOE_CAPACITY_KERNELS", "MOE_PADDED_PREPROCESS_KERNELS",
           "MOE_PADDED_DISPATCH_KERNELS", "FUSED_MLP_KERNELS", "EXPERT_PADDING_KERNELS"]
