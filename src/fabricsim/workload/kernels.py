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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

QUANTIZE_KERNELS = {"delayed": 1, "tensorwise": 3, "mxfp8": 1, "blockwise": 1}
"""Kernels per FP8 quantization of one tensor, by Megatron ``fp8_recipe``: current ('tensorwise')
scaling = ``nvte_compute_amax`` + ``nvte_compute_scale_from_amax`` + ``nvte_quantize_v2``
(Transformer Engine Float8CurrentScalingQuantizer::quantize_impl); the others one cast kernel."""
MOE_EXTRA_KERNELS = 18
"""Kernels an MoE layer launches besides its GEMMs (Megatron-Core router and all-to-all dispatcher):
router score, top-k, normalisation and load-balancing terms (6), per-expert token counts, offsets
and their copy to the host (5), permutation (2), the two all-to-alls (2), un-permutation and the
weighted combine (3)."""


@dataclass(frozen=True)
class KernelCount:
    """Kernels of one layer for one micro-batch (counts, not seconds)."""

    issued_forward: float
    issued_backward: float
    gaps_forward: float
    gaps_backward: float

    def __add__(self, other: "KernelCount") -> "KernelCount":
        return KernelCount(self.issued_forward + other.issued_forward, self.issued_backward + other.issued_backward,
                           self.gaps_forward + other.gaps_forward, self.gaps_backward + other.gaps_backward)


def grouped_linear_kernels(local_experts: int, fp8: bool, recipe: str, streams: int | None = 4) -> KernelCount:
    """One grouped expert linear over ``local_experts`` experts (forward and backward).

    Transformer Engine GroupedLinear (``streams`` an integer) -- forward: a GEMM and (FP8) an input
    quantization per expert, a weight-workspace lookup per expert (host only); the GEMMs' gaps
    overlap over ``streams`` streams.  Backward: the data- and weight-gradient GEMMs per expert, the
    output gradient quantized per expert, the main-gradient hand-off per expert (host only).
    ``streams`` None: one grouped GEMM kernel for all experts (one quantization forward, one
    backward; dgrad and wgrad kernels)."""
    if streams is None:
        q = QUANTIZE_KERNELS[recipe] if fp8 else 0
        return KernelCount(1 + q, 2 + q, 1 + q, 2 + q)
    n = max(1, int(local_experts))
    q = QUANTIZE_KERNELS[recipe] * n if fp8 else 0
    rounds = math.ceil(n / streams)
    weights = n if fp8 else 0
    return KernelCount(issued_forward=n + q + weights, issued_backward=2 * n + q + n,
                       gaps_forward=rounds + q, gaps_backward=2 * rounds + q)


def layer_kernels(gemms, model, profile, attention: str, moe: bool, fp8: bool, recipe: str) -> KernelCount:
    """Kernels of one layer: the fixed set (backward twice the forward) plus the grouped experts'.

    ``gemms``: the layer's forward GEMMs (:class:`fabricsim.workload.layers.Gemm`), those with
    ``grouped`` set run as GroupedLinear over their ``batch`` of local experts; ``attention``: the attention path
    ('materialized' launches scale, mask, softmax and dropout kernels besides the two GEMMs)."""
    q = QUANTIZE_KERNELS[recipe]
    fixed = sum(1 for g in gemms if not g.grouped) + 2 + 2 + 1  # GEMMs, two norms, two residual adds, activation
    fixed += 0 if model.learned_positions else 1
    fixed += 4 if attention == "materialized" else 1
    if moe:
        fixed += MOE_EXTRA_KERNELS
    if fp8:
        fixed += q * sum(1 for g in gemms if not g.grouped and not (g.follows_norm and profile.fused_norm_cast))
    count = KernelCount(fixed, 2 * fixed, fixed, 2 * fixed)
    for g in gemms:
        if g.grouped:
            count += grouped_linear_kernels(g.batch, fp8, recipe, profile.expert_gemm_streams)
    return count


__all__ = ["KernelCount", "grouped_linear_kernels", "layer_kernels", "QUANTIZE_KERNELS", "MOE_EXTRA_KERNELS"]
