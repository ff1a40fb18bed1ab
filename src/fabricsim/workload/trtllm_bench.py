"""The rows a TensorRT-LLM 1.0 decode step really computes under ``trtllm-bench throughput``.

TensorRT-LLM's PyTorch backend replays generation-only steps from CUDA graphs captured at a list of batch
sizes and, with ``enable_padding``, pads a smaller batch up to the next captured size with copies of one
dummy generation request.  The dummies hold a one-token KV cache, so they cost no attention, but every GEMM,
elementwise kernel and the output head computes their rows.  Which sizes are captured depends on the
executor's ``max_batch_size`` and ``max_num_tokens``, which ``trtllm-bench`` sets from its own heuristic when
the command line gives neither (as in the performance overview's commands).

Sources (NVIDIA/TensorRT-LLM; the v1.0 tag itself could not be fetched, the files below are the stored
versions nearest to it, and every rule used here reads the same in the older and newer versions checked):

* ``tensorrt_llm/bench/build/tuning.py`` (04cba88) ``calc_engine_setting`` / ``finetune_setting``: requests
  that fit the KV cache = fraction x (NVML total x tp - parameters x bytes) / (KV bytes per token x (ISL +
  OSL)), in GiB; ``max_batch_size`` = that, capped at 4,096, rounded *up* (to 32 below 256, min 64; to 128
  below 1,024; else to 256); ``max_num_tokens`` = that x (1 + ISL / OSL), capped at 32,768, rounded up (to
  256 below 4,096, min 2,048; to 512 below 8,192; else to 1,024).  ``tensorrt_llm/bench/build/utils.py``
  (7ed07f0) ``get_device_memory``: NVML ``total`` / 2^30.
* ``tensorrt_llm/bench/benchmark/utils/general.py`` (0171265) ``get_settings``: without chunked prefill,
  ``max_num_tokens = max(max_num_tokens, max ISL + max_batch_size)``.
* ``tensorrt_llm/_torch/pyexecutor/model_engine.py`` ``_filter_cuda_graph_batch_sizes`` (read at stored
  versions before and after 1.0): captured sizes = listed sizes <= min(max_batch_size, max_num_tokens), plus
  that bound itself when padding is on; ``_round_up_batch_size``: bisect to the next captured size.
* ``tensorrt_llm/_torch/pyexecutor/cuda_graph_runner.py`` / ``model_engine.py`` ``_get_padded_batch``: only
  generation-only batches (``can_run_cuda_graph``) are padded; a step holding a context request runs eagerly
  at its own size.  ``resource_manager.py`` ``add_dummy_requests``: the dummy has 1 + draft tokens = 1 token.

Seconds, bytes and counts throughout.
"""

from __future__ import annotations

import bisect
import math

GIB = 2**30
"""trtllm-bench sizes memory in GiB (``get_device_memory``: NVML total / 1024^3)."""
BATCH_CAP = 4096
"""tuning.py finetune_setting: 'Cap total batch size to avoid decoder buffer size becoming too large'."""
TOKEN_CAP = 32768
"""tuning.py finetune_setting: 'Cap num tokens to avoid TRT activation buffer becoming too large'."""
MIN_BATCH = 64
MIN_TOKENS = 2048
"""tuning.py finetune_setting: 'Set min BS to be 64' and 'Set min to 2048 to ensure Ctx/Gen overlap efficiency'."""


def _round_up(value: float, step: int) -> int:
    return step * math.ceil(value / step)


def _tiered_round_up(value: float, tiers, last_step: int, minimum: int) -> int:
    """tuning.py finetune_setting's rounding: up to the step of the first (bound, step) tier the value is
    below, else to ``last_step``; never below ``minimum`` (which only the first tier can reach)."""
    step = next((s for bound, s in tiers if value < bound), last_step)
    return max(minimum, _round_up(value, step))


def engine_limits(parameters: float, weight_bytes: float, kv_bytes_per_token: float, memory_total_bytes: float,
                  tp: int, isl: int, osl: int, fraction: float) -> tuple[int, int]:
    """(max_batch_size, max_num_tokens) trtllm-bench picks for a PyTorch-backend run (pp = 1, no chunking).

    ``kv_bytes_per_token``: the whole model's KV bytes per token (every layer, every KV head; at most one KV
    head per GPU is assumed, as tuning.py's ``max(tp, kv_heads)`` does for GQA models with kv_heads >= tp)."""
    available = memory_total_bytes * tp / GIB - parameters * weight_bytes / GIB
    requests = available * fraction / (kv_bytes_per_token / GIB * (isl + osl))
    raw_bs = min(requests, BATCH_CAP)
    raw_tokens = min(raw_bs * (1 + isl / osl), TOKEN_CAP)
    max_bs = _tiered_round_up(raw_bs, ((256, 32), (1024, 128)), 256, MIN_BATCH)
    max_tokens = _tiered_round_up(raw_tokens, ((4096, 256), (8192, 512)), 1024, MIN_TOKENS)
    return max_bs, max(max_tokens, isl + max_bs)  # general.py: a whole prompt must fit beside a full batch


def graph_batch_sizes(listed: list[int], max_batch_size: int, max_num_tokens: int) -> list[int]:
    """Batch sizes the engine captures (padding on): the listed ones up to min(max_batch_size, max_num_tokens),
    then that bound itself if the list goes beyond it (model_engine.py _filter_cuda_graph_batch_sizes)."""
    bound = min(max_batch_size, max_num_tokens)
    kept: list[int] = []
    for size in sorted(listed):
        if size <= bound:
            kept.append(size)
        else:
            if not kept or kept[-1] != bound:
                kept.append(bound)
            break
    return kept


def padded_batch(batch: int, sizes: list[int]) -> int:
    """Rows of a generation-only step of ``batch`` sequences: the next captured size, or ``batch`` itself when
    it is larger than every captured size (then no graph and no padding)."""
    if not sizes or batch > sizes[-1]:
        return batch
    return sizes[bisect.bisect_left(sizes, batch)]


def generation_only_share(batch: int, max_num_tokens: int, isl: int, osl: int) -> float:
    """Share of a request's decode steps that hold no context request (so run a padded CUDA graph).

    In-flight batching admits whole prompts (no chunking) while they fit ``max_num_tokens`` beside the batch's
    generation tokens: at most k = (max_num_tokens - batch) // isl per step, at least one.  Uniform requests
    queued at once start in waves, each wave admitted over batch / k steps and finishing (and being replaced)
    over as many: that many of a request's ``osl`` steps are mixed.  ASSUMPTION: waves keep that spread (the
    requests of the performance overview all have the same ISL and OSL)."""
    per_step = max(1, (max_num_tokens - batch) // isl)
    mixed = math.ceil(batch / per_step)
    return max(0.0, 1.0 - mixed / osl)


__all__ = ["engine_limits", "graph_batch_sizes", "padded_batch", "generation_only_share"]
