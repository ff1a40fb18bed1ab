"""What a serving checkpoint's weight bytes mean for its GEMMs and its memory.

``workload.infer.weight_bytes`` (and ``expert_weight_bytes`` for an MoE checkpoint that quantizes its routed experts
apart) is 0.5, 1 or 2: NVFP4, FP8 or BF16 weights.  The bytes select the GEMMs' precision
(:func:`fabricsim.workload.gemm.rates_for`: NVFP4 multiplies on FP4 tensor cores where the GPU has them, else its
weights are widened inside the kernel) and the bytes the weights hold in HBM (NVFP4 carries an FP8 scale per 16
values: :data:`fabricsim.workload.gemm.NVFP4_BYTES`).
"""

from __future__ import annotations

from fabricsim.workload.gemm import NVFP4_BYTES

WEIGHT_PRECISIONS = {0.5: "fp4", 1: "fp8", 2: "bf16"}
"""The GEMM precision a checkpoint's weight bytes select (:func:`fabricsim.workload.gemm.rates_for`)."""


def weight_precision(weight_bytes: float) -> str:
    """'fp4', 'fp8' or 'bf16' for 0.5, 1 or 2 bytes per weight."""
    return WEIGHT_PRECISIONS[weight_bytes]


def expert_precision(spec) -> str | None:
    """The routed experts' GEMM precision when the checkpoint quantizes them apart (``expert_weight_bytes``), else
    None (the model's)."""
    if spec.expert_weight_bytes is None or spec.expert_weight_bytes == spec.weight_bytes:
        return None
    return weight_precision(spec.expert_weight_bytes)


def stored_bytes(weight_bytes: float) -> float:
    """HBM bytes per weight of a format: NVFP4 carries an FP8 scale per 16 values (gemm.NVFP4_BYTES)."""
    return NVFP4_BYTES if weight_bytes == 0.5 else float(weight_bytes)


def stored_weight_bytes(spec, dense: float, routed: float) -> float:
    """HBM bytes of ``dense`` parameters at the checkpoint's weight format and ``routed`` expert parameters at its
    experts' format (``expert_weight_bytes``, else the same)."""
    return stored_bytes(spec.weight_bytes) * dense + stored_bytes(spec.expert_weight_bytes or spec.weight_bytes) * routed


NAMES = {0.5: "NVFP4", 1: "FP8", 2: "BF16"}


def _format(weight_bytes: float, gpu) -> str:
    name = NAMES[weight_bytes]
    if weight_bytes == 0.5:
        if gpu.fp4_dense_flops:
            return name + " on FP4 tensor cores"
        widened = "FP8" if gpu.fp8_matmul_efficiency is not None else "BF16"
        return f"{name} widened to {widened} in the GEMMs (no FP4 tensor cores)"
    return name


def describe(spec, gpu) -> str:
    """The weight formats of ``spec`` as the GEMMs on ``gpu`` run them, e.g. 'FP8, routed experts NVFP4 on FP4 tensor
    cores'."""
    text = _format(spec.weight_bytes, gpu)
    if expert_precision(spec) is not None:
        text += ", routed experts " + _format(spec.expert_weight_bytes, gpu)
    return text


__all__ = ["WEIGHT_PRECISIONS", "weight_precision", "expert_precision", "stored_bytes", "stored_weight_bytes", "describe"]
