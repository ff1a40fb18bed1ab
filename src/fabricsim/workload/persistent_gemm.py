"""What a communication kernel running beside the GEMMs costs them when the GEMMs are persistent (seconds).

A GEMM library either launches one thread block per output tile (a classic grid: blocks that find
their SM busy simply run later, in the same waves as the rest) or a *persistent* grid: exactly one
block per SM, each block looping over a fixed share of the tiles.  Hopper's cuBLAS kernels are
persistent with a static share of tiles per block: on H100 "all the matmuls ... launch as many CUDA
blocks as there are SMs on the GPU (i.e., 132) and each of these blocks will process several tiles in a
row", and while an FSDP NCCL collective holds some SMs "the matmuls take 2x as long to complete"
(pytorch/pytorch issue 143988, 2024-12-30; PR 147966, 2025-02, which added an opt-in SM carve-out for
the matmuls, ``torch._C._set_sm_carveout_experimental``, because such a block "can double the latency of the
matmul kernels").  Transformer Engine has the same knob for its GEMMs (``NVTE_EXT_MARGIN_SM``, PR 713,
default 0: transformer_engine/pytorch/csrc/extensions/gemm.cpp at v2.12).

With ``c`` SMs held by the collective, ``S - c`` blocks of a GEMM launched during the collective start at
once and ``c`` wait.  The waiting blocks start when an SM frees: when the collective ends or when the first
blocks finish their own share, whichever is first.  A GEMM of length ``g`` launched ``t`` into a collective
window of length ``D`` therefore ends ``min(g, D - t)`` late.  The collective's own blocks get their SMs at a
GEMM boundary (a persistent GEMM holds every SM until it ends), so with GEMMs of length ``g`` back to back
each one launched inside the window doubles, and the one the window closes in is late by what is left of
the window:

    lost(D) = k g + min(g, D - 2 k g),   k = floor(D / 2g)

(``D`` for a window shorter than one GEMM, about ``D / 2`` for a long one), where a classic grid loses only
the SM share ``D c / S``.  Kernels that are not GEMMs (fused attention, elementwise) keep the SM share.

Applied to data-parallel collectives (ZeRO-3 / FSDP gathers and reduce-scatters, the per-step gradient
reduction and parameter gather), the overlap the measurement is of.  Pipeline sends, expert all-to-alls
and context-parallel gathers keep the SM share: no measurement of them beside persistent GEMMs was
found, and Megatron-Core runs with interleaved pipeline sends overlapped on H100 match without the
stretch (applied to them, the H100 fit case nemo2407-llama2-70b-64-h100-fp8 would fall 7% below its
published figure).  Tensor-parallel overlap through Transformer Engine's userbuffers launches its GEMMs
on the SMs the communication leaves (``math_sms``), so it pays the SM share too.
"""

from __future__ import annotations

import math


def stretch_s(window_s: float, gemm_s: float) -> float:
    """Seconds a stream of persistent GEMMs (each ``gemm_s`` long) loses to one collective window of
    ``window_s`` seconds that holds some of the SMs (see the module docstring)."""
    if window_s <= 0.0:
        return 0.0
    if gemm_s <= 0.0:
        return window_s
    doubled = math.floor(window_s / (2.0 * gemm_s))
    return doubled * gemm_s + min(gemm_s, window_s - 2.0 * doubled * gemm_s)


def overlap_cost_s(hidden_s: float, windows: float, gemm_share: float, gemm_kernel_s: float, sm_share: float,
                   persistent: bool) -> float:
    """Compute seconds lost while ``hidden_s`` seconds of collectives, in ``windows`` separate calls, run beside
    the compute stream.  ``gemm_share``: the share of that compute spent in GEMMs; ``gemm_kernel_s``: the mean
    length of one GEMM kernel; ``sm_share``: SMs the collective holds / the GPU's SMs; ``persistent``: the
    GEMMs run persistent grids with a static tile share (Hopper cuBLAS without an SM carve-out)."""
    if hidden_s <= 0.0:
        return 0.0
    if not persistent:
        return sm_share * hidden_s
    windows = max(windows, 1.0)
    gemm_window = gemm_share * hidden_s / windows
    return windows * stretch_s(gemm_window, gemm_kernel_s) + (1.0 - gemm_share) * hidden_s * sm_share


def mean_gemm_kernel_s(stage) -> float:
    """Mean length of one GEMM kernel of a stage's micro-batch (forward, input- and weight-gradient GEMMs; a
    grouped expert GEMM runs one kernel per local expert)."""
    return stage.gemm_s / stage.gemm_kernels if stage.gemm_kernels else stage.gemm_s


__all__ = ["stretch_s", "overlap_cost_s", "mean_gemm_kernel_s"]
