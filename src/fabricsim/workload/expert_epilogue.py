"""Eager epilogues of Megatron-Core's grouped expert MLP for models that clamp the GLU input or bias their experts.

gpt-oss clamps its GLU pre-activation (``activation_func_clamp_value`` 7: the gate half at most 7, the linear half
within +-7) and gives every expert's linears a bias (``add_bias_linear``).  Megatron-Core's ``TEGroupedMLP`` (core
v0.15 to v0.18 and main, ``transformer/moe/experts.py`` and ``fusions/fused_bias_geglu.py``) runs both outside its
fused activation kernel, op by op in PyTorch, BF16 (2 bytes an element):

* **clamp** (``weighted_bias_quick_geglu_impl``): ``chunk`` the FC1 output ``[rows, 2F]`` into its halves (views),
  ``clamp`` each (read and write: 4 bytes per half element), ``cat`` them back (read and write the ``2F`` row):
  8 bytes per FC1-output element forward in 3 kernels; backward each clamp's mask-and-pass (read the gradient and
  the saved input, write: 6 bytes per half element) and the concatenation of the two gradients (4 bytes per
  element): 10 bytes per element in 3 kernels.  It sits inside the function ``moe_act`` recomputation reruns.
* **output bias** (``TEGroupedMLP._apply_bias``: FC2 runs with ``skip_bias_add``, then per local expert
  ``t + b * p`` over that expert's rows, and one ``cat``): ``b * p`` written (2), the add reads two and writes one
  (6), the ``cat`` reads and writes (4): 12 bytes per FC2-output element forward in 2 kernels per expert and one
  more; backward the bias gradient ``sum(dy * p)`` and the probability gradient ``sum(dy * b)`` (each a product
  read and written and a reduction read: 6 bytes) = 12 bytes in 4 kernels per expert.  The routing probabilities
  are BF16 here: without ``moe_router_dtype`` the router scores in its input's dtype (``router.py gating``) and
  ``topk_routing_with_score_function`` returns probabilities ``type_as(logits)``; in FP32 (``moe_router_dtype:
  fp32``) the product and the sum would promote to FP32 and cost more.

Transformer Engine's fused grouped MLP (``moe_fused_grouped_mlp``: the CuTe-DSL kernels apply the clamp, the
offset and the bias in the GEMM epilogues) has neither pass.  The FC1 bias is added inside the GEMM (TE
``GroupedLinear`` without ``skip_bias_add``) in both paths.
"""

from __future__ import annotations

from dataclasses import dataclass

CLAMP_BYTES = (8.0, 10.0)
"""(forward, backward) bytes per FC1-output element of the eager clamp (module docstring)."""
CLAMP_KERNELS = (3, 3)
BIAS_BYTES = (12.0, 12.0)
"""(forward, backward) bytes per FC2-output element of the eager per-expert bias."""
BIAS_KERNELS_PER_EXPERT = (2, 4)


@dataclass(frozen=True)
class EpilogueWork:
    """HBM bytes and kernels of one MoE layer's eager expert epilogues for one micro-batch on one GPU."""

    forward_bytes: float
    backward_bytes: float
    rerun_bytes: float  # forward bytes that moe_act recomputation repeats (the clamp)
    forward_kernels: int
    backward_kernels: int


NONE = EpilogueWork(0.0, 0.0, 0.0, 0, 0)


def epilogue_kernels(model, local_experts: int) -> tuple[int, int]:
    """(forward, backward) kernels of the eager clamp and output-bias passes over ``local_experts`` experts."""
    forward = backward = 0
    if model.activation_clamp is not None:
        forward, backward = CLAMP_KERNELS
    if model.expert_bias:
        n = max(1, int(local_experts))
        forward, backward = forward + BIAS_KERNELS_PER_EXPERT[0] * n + 1, backward + BIAS_KERNELS_PER_EXPERT[1] * n
    return forward, backward


def eager_expert_epilogue(model, routed_rows: float, etp: int, local_experts: int) -> EpilogueWork:
    """The eager clamp and output-bias passes of ``model``'s routed experts over ``routed_rows`` token copies on one
    GPU holding ``local_experts`` experts of FFN width ``expert_ffn_hidden_size / etp`` (no passes when the model
    neither clamps nor biases its experts)."""
    fc1_elements = 2 * model.expert_ffn_hidden_size / etp * routed_rows  # gate and linear halves (GLU)
    fc2_elements = model.hidden_size * routed_rows
    forward = backward = rerun = 0.0
    if model.activation_clamp is not None:
        forward += CLAMP_BYTES[0] * fc1_elements
        backward += CLAMP_BYTES[1] * fc1_elements
        rerun += CLAMP_BYTES[0] * fc1_elements
    if model.expert_bias:
        forward += BIAS_BYTES[0] * fc2_elements
        backward += BIAS_BYTES[1] * fc2_elements
    return EpilogueWork(forward, backward, rerun, *epilogue_kernels(model, local_experts))


__all__ = ["EpilogueWork", "NONE", "eager_expert_epilogue", "epilogue_kernels", "CLAMP_BYTES", "CLAMP_KERNELS", "BIAS_BYTES",
           "BIAS_KERNELS_PER_EXPERT"]
