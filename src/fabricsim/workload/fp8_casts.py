"""Bytes an FP8 cast moves per element of a GEMM input, by scaling recipe (bytes).

A Transformer Engine linear quantizes each BF16 input before its FP8 GEMM: it reads the input and writes the FP8
copy the forward GEMM uses and a transposed FP8 copy for the weight gradient.  What else it moves depends on how the
recipe scales (:data:`RECIPE_CAST_BYTES`).  A software profile states the figure of its own stack
(``fp8_cast_bytes_per_element`` with its ``fp8_recipe``); a run that picks another recipe pays that recipe's
(:func:`fp8_cast_bytes`).
"""

from __future__ import annotations

from fabricsim.workload.gemm import NVFP4_BYTES


RECIPE_CAST_BYTES = {"delayed": 4.0, "tensorwise": 6.0, "mxfp8": 4.0 + 2 / 32, "blockwise": 4.0 + 2 * 4 / 128,
                     "nvfp4": 4.0 + 2 * NVFP4_BYTES}
"""HBM bytes per element to quantize a GEMM input by FP8 recipe (read BF16 2 B, write the FP8 copy and its
transposed copy for the weight gradient 1 + 1 B, plus): delayed scaling nothing (the scale comes from the amax
history); per-tensor current scaling ('tensorwise') an amax pass over the input first (+2 B; Transformer Engine
Float8CurrentScalingQuantizer: nvte_compute_amax before nvte_quantize_v2); MXFP8 one E8M0 scale byte per 32
elements for each copy (OCP Microscaling Formats v1.0: blocks of 32; Transformer Engine MXFP8Quantizer writes
row- and column-wise data and scales in the one cast kernel); blockwise (DeepSeek-V3 report section 3.3.2: 1 x 128
activation tiles, 128 x 128 weight blocks) one FP32 scale per 128 elements for each copy; NVFP4 (precision fp4) an
amax pass for its FP32 per-tensor scale (+2 B, as current scaling) and a 4-bit value and an FP8 scale per 16 elements
for each copy (0.5625 B: :data:`fabricsim.workload.gemm.NVFP4_BYTES`), the weight-gradient copy's random Hadamard
transform and the gradients' stochastic rounding computed inside the cast (Transformer Engine NVFP4BlockScaling;
ASSUMED to add no HBM traffic)."""


def run_recipe(job, profile) -> str:
    """The FP8 scaling recipe a run uses: ``job.fp8_recipe`` (a TrainSpec or a compute Shape) where it sets one, else
    the software profile's."""
    return job.fp8_recipe or profile.fp8_recipe


def fp8_cast_bytes(profile, recipe: str | None) -> float:
    """Bytes per element of an FP8 cast under ``recipe`` (None: the software profile's own recipe): the profile's
    figure for its own recipe, :data:`RECIPE_CAST_BYTES` for another one a run chooses (``fp8_recipe``)."""
    if recipe is None or recipe == profile.fp8_recipe:
        return profile.fp8_cast_bytes_per_element
    return RECIPE_CAST_BYTES[recipe]


def quantized(precision: str, gpu) -> bool:
    """Whether GEMM inputs are cast before their GEMMs: FP8 on a GPU with FP8 tensor cores (else FP8 runs as BF16),
    NVFP4 always (training refuses it without FP4 tensor cores)."""
    return precision == "fp4" or (precision == "fp8" and gpu.fp8_matmul_efficiency is not None)


__all__ = ["RECIPE_CAST_BYTES", "fp8_cast_bytes", "quantized", "run_recipe"]
