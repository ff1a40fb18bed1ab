"""Time of matrix multiplies on one GPU, by shape and precision (seconds, FLOPs, bytes).

``C[M, N] = A[M, K] @ B[K, N]`` costs ``2 M N K`` FLOPs.  A GPU computes C in output tiles, one tile
per streaming multiprocessor (SM) at a time, streaming K through each tile:

* **K overhead.**  Every piece of work an SM takes (a tile, or a K-slice of one) pays a fixed
  prologue/epilogue: it loads its operands' first slices and writes ``tile`` outputs to HBM.  In
  units of K that costs about the GPU's machine balance, ``peak FLOP/s / HBM bytes/s`` (the K at
  which writing a tile's BF16 outputs takes as long as computing it), less the share that
  warp-specialized persistent kernels hide behind the next tile (catalog ``gemm_epilogue_overlap``),
  so a tile of depth K runs at ``K / (K + K_balance)``.  Skinny-K GEMMs (small hidden sizes, high tensor parallelism) lose most.
* **Too few tiles.**  With fewer output tiles than SMs, the library splits K over SMs (split-K /
  stream-K); every split piece pays the overhead again, so efficiency is
  ``K tiles / (K tiles + max(tiles, SMs) K_balance)``.  With more tiles than SMs, stream-K
  scheduling balances the last wave (CUTLASS 3 / cuBLAS on Hopper and later); without it
  (catalog ``gemm_stream_k: false``) the last wave leaves SMs idle: ``tiles / (waves x SMs)``.
* **Tile quantization.**  M and N are padded to the MMA granularity (64 rows/columns): a 96-wide
  GEMM computes 128.
* **Memory bound.**  No GEMM runs faster than reading A and B and writing C from HBM (decode,
  tiny experts).
* **Block-scaled FP4 on Blackwell** (catalog ``fp4_gemm_stream_k``, ``fp4_gemm_fixed_s``): persistent kernels with a
  static tile schedule (no stream-K: the last wave's idle SMs count) and a fixed time per kernel from
  ``FIXED_MIN_ROWS`` rows, both read off cuBLASLt's MXFP4 measurements.

The per-generation *ceiling* is not fitted.  It comes from the measured Maximum Achievable Matmul
FLOPS (MAMF, ml-engineering table in ``gpus.yaml``).  MAMF is the *maximum* over a brute-force sweep
of shapes (M, N and K from 256 to 20,480 in steps of 256), so the ceiling is MAMF divided by this
model's best shape efficiency over that same sweep: no shape of the sweep then runs faster in the
model than the fastest one measured.  (Dividing by the efficiency at the reported best shape instead
would let the model exceed MAMF at other shapes of the sweep whenever its best shape has a short K,
as on Blackwell, where MAMF peaks at K = 1,024-3,072.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

GRANULARITY = 64
"""Rows/columns an MMA instruction tile covers (Hopper wgmma M = 64; Ampere mma.sync tiles of
64 x 64 per warp group are the smallest cuBLAS tiles); M and N are padded to it."""
OUTPUT_BYTES = 2
"""GEMM outputs are written in BF16 (also in FP8 training: Transformer Engine's FP8 GEMMs output BF16)."""
MAMF_SWEEP = np.arange(256, 20480 + 1, 256, dtype=float)
"""M, N and K values of the MAMF sweep (ml-engineering compute/accelerator/benchmarks/README.md,
mamf-finder.py exhaustive search: ``--m_range 0 20480 256 --n_range 0 20480 256 --k_range 0 20480 256``)."""
FIXED_MIN_ROWS = 128
"""Rows from which a kernel's fixed time (``GemmRates.fixed_s``) applies: the smallest M of the measurements that set it
(block-scaled FP4 GEMMs on B200 from 128 rows, DeepGEMM PR #348).  Below it decode GEMMs of a few rows run other
kernels (swapped operands, split K) that no measurement here times, and serving rows of 4-32 sequences on NVFP4
(the InferenceX MiniMax-M2.5 cases) run faster than a per-kernel floor would allow."""


def wgrad_output_bytes(gradient_bytes: int = 4) -> int:
    """Bytes a weight-gradient GEMM's epilogue moves per output element: it accumulates into the main
    gradient over micro-batches (Megatron's gradient_accumulation_fusion: read and write), whose dtype is
    the one gradients are reduced in (Megatron-Core DistributedDataParallel: FP32 with grad_reduce_in_fp32,
    else the parameters' BF16)."""
    return 2 * gradient_bytes


WGRAD_OUTPUT_BYTES = wgrad_output_bytes(4)
"""FP32 main gradients: read and write 4 bytes per element."""


NVFP4_BYTES = 0.5 + 1.0 / 16
"""Bytes per element of an NVFP4 operand: a 4-bit value and an FP8 (E4M3) scale per 16-element block (NVIDIA's
NVFP4: 16-element blocks, FP8 per-block scales, an FP32 per-tensor scale -- negligible), e.g. nvidia/*-NVFP4
checkpoints as SemiAnalysis InferenceX describes them (MiniMax-M2.5, 2026-05-26)."""


def input_bytes(precision: str) -> float:
    return {"fp8": 1.0, "fp4": NVFP4_BYTES}.get(precision, 2.0)


@dataclass(frozen=True)
class GemmRates:
    """The per-precision figures of one GPU that the model uses (FLOP/s, bytes/s, counts)."""

    peak: float  # dense tensor FLOP/s at this precision
    ceiling: float  # fraction of peak at infinite K with every SM busy (from MAMF)
    sms: int
    tile: tuple[int, int]
    hbm_bytes_per_s: float
    in_bytes: float
    epilogue_overlap: float = 0.0
    stream_k: bool = True
    weight_bytes: float | None = None  # bytes per element of the B (weight) operand; None: in_bytes (both operands alike)
    fixed_s: float = 0.0  # seconds each kernel takes beyond its tiles' work (block-scaled FP4: prologue and epilogue)

    @property
    def k_balance(self) -> float:
        """K (elements) at which a tile's epilogue costs as much as its main loop: peak / HBM bandwidth
        in FLOP per output byte (BF16 outputs: 2 bytes per 2 FLOP per K-step), less the share of the
        epilogue that overlaps the next tile's main loop."""
        return (1.0 - self.epilogue_overlap) * self.peak / self.hbm_bytes_per_s


def shape_efficiency(m, n, k, rates: GemmRates, batch=1.0, out_bytes: float = OUTPUT_BYTES) -> np.ndarray:
    """Fraction of the ceiling a GEMM reaches from its shape alone (tile, split and K effects).

    ``batch``: independent GEMMs of this shape launched together (batched or grouped GEMM): their
    tiles share the SMs.  ``out_bytes``: bytes moved per output element by the epilogue (2 for a
    BF16 output; 8 when a weight gradient is accumulated into an FP32 buffer, read and written)."""
    m, n, k, batch = (np.asarray(x, dtype=float) for x in (m, n, k, batch))
    padded = np.ceil(m / GRANULARITY) * GRANULARITY * np.ceil(n / GRANULARITY) * GRANULARITY
    tile_fill = m * n / padded
    tiles = np.ceil(m / rates.tile[0]) * np.ceil(n / rates.tile[1]) * np.maximum(batch, 1.0)
    pieces = np.maximum(tiles, rates.sms)
    k_fill = k * tiles / (k * tiles + pieces * rates.k_balance * out_bytes / OUTPUT_BYTES)
    if not rates.stream_k:  # classic tiling: the last wave runs with idle SMs
        waves = np.ceil(tiles / rates.sms)
        k_fill = np.where(tiles >= rates.sms, k_fill * tiles / (waves * rates.sms), k_fill)
    return tile_fill * k_fill


def rates_for(gpu, precision: str, software_efficiency: float = 1.0, fp8_recipe: str | None = None) -> GemmRates:
    """GEMM figures of ``gpu`` (a catalog Gpu) at ``precision`` ('bf16', 'fp8' or 'fp4'): the ceiling is
    the MAMF-derived one times the GPU's sustained-compute ratio in a loaded node and the software
    stack's library efficiency (both 1 for a single-kernel benchmark).  FP8 under ``fp8_recipe`` 'mxfp8'
    multiplies block-scaled operands, at the GPU's ``mxfp8_matmul_ratio`` of the per-tensor FP8 rate MAMF measures.

    'fp4' is NVFP4 weights: multiplied with NVFP4 activations on FP4 tensor cores (catalog ``fp4_dense_flops``, its
    MAMF ratio ``fp4_matmul_efficiency``, else FP8's -- an assumption); on a GPU without them the weights are widened
    inside the kernel (weight-only quantization) to the best precision it multiplies -- FP8 on Hopper (W4A8), BF16
    before -- at that precision's rate, the weight operand still moving NVFP4 bytes (an assumption: serving stacks
    also run W4A16 kernels on Hopper)."""
    weights, stream_k, fixed = None, gpu.gemm_stream_k, 0.0
    if precision == "fp4" and gpu.fp4_dense_flops is not None:
        peak, in_bytes = gpu.fp4_dense_flops, input_bytes("fp4")
        measured = gpu.fp4_matmul_efficiency or gpu.fp8_matmul_efficiency or gpu.matmul_efficiency
        stream_k = gpu.gemm_stream_k if gpu.fp4_gemm_stream_k is None else gpu.fp4_gemm_stream_k
        fixed = gpu.fp4_gemm_fixed_s
    else:
        if precision == "fp4":  # weight-only: the weights stay 4-bit in HBM
            precision, weights = "fp8", NVFP4_BYTES
        fp8 = precision == "fp8" and gpu.fp8_matmul_efficiency is not None  # else FP8 runs as BF16 (A100)
        peak = gpu.fp8_dense_flops if fp8 else gpu.bf16_dense_flops
        measured = gpu.fp8_matmul_efficiency if fp8 else gpu.matmul_efficiency
        in_bytes = input_bytes("fp8" if fp8 else "bf16")
    base = GemmRates(peak, 1.0, gpu.sm_count, tuple(gpu.gemm_tile), gpu.hbm_stream_bytes_per_s, in_bytes,
                     gpu.gemm_epilogue_overlap, stream_k, weights, fixed)
    sustained = gpu.sustained_compute_ratio * software_efficiency
    fp8_cores = weights is None and gpu.fp8_matmul_efficiency is not None  # not FP8 run as BF16, not widened FP4
    block_scale = gpu.mxfp8_matmul_ratio if precision == "fp8" and fp8_recipe == "mxfp8" and fp8_cores else 1.0
    return replace(base, ceiling=min(1.0, measured / sweep_best_efficiency(base)) * sustained * block_scale)


@lru_cache(maxsize=64)
def sweep_best_efficiency(rates: GemmRates) -> float:
    """This model's highest shape efficiency over the MAMF sweep (the shape the benchmark would have
    reported as best, were the model exact)."""
    m, n, k = np.meshgrid(MAMF_SWEEP, MAMF_SWEEP, MAMF_SWEEP, indexing="ij", sparse=True)
    return float(np.max(shape_efficiency(m, n, k, rates)))


def gemm_seconds(m, n, k, rates: GemmRates, batch=1.0, out_bytes: float = OUTPUT_BYTES) -> np.ndarray:
    """Seconds of ``batch`` independent GEMMs of M x N x K each (compute or HBM bound, whichever is slower), run as
    one kernel: plus the kernel's fixed time (``rates.fixed_s``, block-scaled FP4 on Blackwell) from
    ``FIXED_MIN_ROWS`` rows up."""
    m, n, k, batch = (np.asarray(x, dtype=float) for x in (m, n, k, batch))
    flops = 2.0 * m * n * k * batch
    compute = flops / (rates.peak * rates.ceiling * shape_efficiency(m, n, k, rates, batch, out_bytes))
    weights = rates.in_bytes if rates.weight_bytes is None else rates.weight_bytes
    memory = batch * (rates.in_bytes * m * k + weights * k * n + out_bytes * m * n) / rates.hbm_bytes_per_s
    return np.maximum(compute, memory) + np.where(m >= FIXED_MIN_ROWS, rates.fixed_s, 0.0)


def achieved_fraction(m, n, k, rates: GemmRates) -> np.ndarray:
    """Achieved FLOP/s of the GEMM as a fraction of the precision's dense peak."""
    seconds = gemm_seconds(m, n, k, rates)
    return 2.0 * np.asarray(m, float) * np.asarray(n, float) * np.asarray(k, float) / (seconds * rates.peak)


__all__ = ["GemmRates", "NVFP4_BYTES", "rates_for", "wgrad_output_bytes", "sweep_best_efficiency", "gemm_seconds", "shape_efficiency", "achieved_fraction", "input_bytes"]
