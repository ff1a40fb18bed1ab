"""Adam's state per parameter by precision: the bytes the optimizer holds (memory) and moves per update
(the HBM-bound optimizer step).  Bytes throughout.

Three precisions, as public training stacks run them:

* ``fp32``: an FP32 master copy of every BF16 weight and FP32 moments, 4 + 4 + 4 = 12 bytes (mixed-precision
  Adam, Rajbhandari et al. 2020, ZeRO, section 3.1: K = 12; Megatron-Core's distributed optimizer by default).
* ``bf16-moments``: the FP32 master copy with both moments in BF16, 4 + 2 + 2 = 8 bytes (DeepSeek-AI 2024,
  DeepSeek-V3 Technical Report, section 3.3, 'Low-Precision Storage and Communication': "we adopt the BF16
  data format instead of FP32 to track the first and second moments in the AdamW optimizer ... the master
  weights ... and gradients ... are still retained in FP32"; Megatron-Core's precision-aware optimizer with
  exp_avg_dtype and exp_avg_sq_dtype bfloat16, as Megatron-Bridge's DeepSeek-V3 recipe sets them).
* ``bf16``: no master copy -- the BF16 weights are updated in place -- and BF16 moments, 0 + 2 + 2 = 4 bytes
  beyond the weights (plain ``torch.optim.Adam`` over BF16 parameters: its moments are ``zeros_like`` the
  parameter; FSDP2 shards the BF16 parameters and casts its FP32-reduced gradients back to their dtype, so the
  held gradients are BF16 too).
"""

from __future__ import annotations

from dataclasses import dataclass

WEIGHT_BYTES = 2
"""BF16 weights, which forward and backward read."""
UPDATE_GRADIENT_BYTES = 4
"""Bytes of gradient an update reads per parameter when a master copy exists: the FP32 main gradient (the
figure fabricsim's optimizer step has always charged, whatever the reduce dtype)."""


@dataclass(frozen=True)
class OptimizerStates:
    """Adam's per-parameter state under one precision."""

    precision: str
    master_bytes: float  # the FP32 master copy, 0 when the BF16 weights are the master
    moment_bytes: float  # each of the two moments

    @property
    def held_bytes(self) -> float:
        """Bytes per parameter the optimizer holds beyond the weights and gradients."""
        return self.master_bytes + 2 * self.moment_bytes

    def held_gradient_bytes(self, gradient_reduce_bytes: int) -> float:
        """Bytes per parameter of the gradients held between backward and the update: the reduce dtype's
        (Megatron's main gradients), or the BF16 weights' own when there is no master copy (FSDP2 casts
        the reduced gradients back to the parameter dtype)."""
        return WEIGHT_BYTES if self.master_bytes == 0 else gradient_reduce_bytes

    @property
    def update_bytes(self) -> float:
        """HBM bytes one Adam update moves per parameter: read and write the master (or, without one, the
        BF16 weight) and both moments, read the gradient, and with a master write the new BF16 weight."""
        if self.master_bytes == 0:
            return 2 * (WEIGHT_BYTES + 2 * self.moment_bytes) + WEIGHT_BYTES
        return 2 * self.held_bytes + UPDATE_GRADIENT_BYTES + WEIGHT_BYTES


STATES = {
    "fp32": OptimizerStates("fp32", 4.0, 4.0),
    "bf16-moments": OptimizerStates("bf16-moments", 4.0, 2.0),
    "bf16": OptimizerStates("bf16", 0.0, 2.0),
}


def optimizer_states(precision: str) -> OptimizerStates:
    """The state of Adam at ``precision`` (one of :data:`STATES`)."""
    return STATES[precision]


def describe(states: OptimizerStates) -> str:
    """One line for the training report: what the optimizer keeps per parameter."""
    master = "an FP32 master copy" if states.master_bytes else "no master copy (BF16 weights updated in place)"
    moments = "FP32" if states.moment_bytes == 4 else "BF16"
    return f"Adam with {master} and {moments} moments: {states.held_bytes:g} bytes per parameter"
