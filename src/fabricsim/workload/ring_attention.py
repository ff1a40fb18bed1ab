"""Context parallelism as PyTorch's experimental ring attention ran it in late 2024 (software
``context_parallel: pytorch-ring``), the CP of torchtitan's 2024 benchmarks.

Source: ``torch/distributed/tensor/experimental/_attention.py`` of PyTorch main from August to
December 2024 -- PR #131351 (ring backward passing dK/dV), #132442 (load-balanced shards), #132820
(all-gather rotater), #142093 (``set_rotate_method``, 2024-12-05) -- as torchtitan 9dec370 turns it
on: ``torchtitan/utils.py`` ``create_context_parallel_ctx`` calls ``set_rotate_method`` with
``experimental.context_parallel_rotate_method`` (default ``'allgather'``, ``config_manager.py``) and
``context_parallel(cp_mesh, buffers=[input_ids, labels, freqs_cis])``; ``get_train_context`` limits
SDPA to the flash and memory-efficient backends.  torchtitan's attention (``models/llama/model.py``)
repeats keys and values to every query head (``repeat_kv``) before ``F.scaled_dot_product_attention``,
so the ring moves as many K/V heads as query heads (software ``attention_kv_expanded``).

One layer on one of ``cp`` ranks (``_templated_ring_attention``, ``_SDPAMerger``,
``_templated_ring_attention_backward``, ``_AllGatherRotater``, ``_cp_options`` with
``convert_to_f32 = True`` and ``enable_load_balance = True``):

* **Shards**: the sequence is cut into ``2 cp`` chunks; rank ``r`` holds chunks ``r`` and
  ``2 cp - 1 - r`` (``_RoundRobinLoadBalancer``).
* **Forward**: one all-gather of the rank's keys and values (``torch.cat`` of both, gathered once by
  the all-gather rotater), then ``cp`` SDPA calls: step 0 causal on the local chunks; step ``i >= 1``
  non-causal, on both query chunks against the first key chunk of rank ``r - i`` when ``i <= r``,
  or on the second query chunk against both key chunks when ``i > r``.  Every step computes two
  chunk-squares of scores (:func:`ring_steps`), so every rank does ``1 / cp`` of the causal square
  and the FLOPs equal those of one causal attention over the sequence split ``cp`` ways -- what
  :mod:`fabricsim.workload.compute` already counts.  Each step's output is merged into the running
  output through the log-sum-exp in FP32 (``_SDPAMerger.step``: cast to float32, then
  ``out - sigmoid(lse_b - lse) (out - out_b)``).
* **Backward**: the K/V are all-gathered again, ``cp`` SDPA backward calls on the same blocks, dQ,
  dK and dV accumulated in FP32, and the FP32 dK/dV accumulator handed to the next rank after every
  step (``dkv_rotater``, always ``ALL_TO_ALL``: ``ft_c.permute_tensor`` to rank ``r + 1``), ``cp``
  hand-offs per layer; the last is waited for after the loop.
* With full activation checkpointing the recomputed forward runs the ring again (its all-gather too).

**HBM bytes** of the FP32 merges, per element of each accumulated tensor (BF16 2 bytes, FP32 4): step 0
casts its output to FP32 (read 2, write 4); each later step reads the FP32 running value and the step's
BF16 result and writes the FP32 value (4 + 2 + 4 = 10, one fused kernel per step under torch.compile);
the result is cast back (read 4, write 2): ``10 cp + 2`` bytes per element and pass -- the output
forward; dQ, dK and dV backward.  ASSUMPTION: every step's update counted over the whole accumulator
(exact for rank ``cp - 1``'s forward; the half-chunk updates of ``_partial_update`` move 9 bytes, not
10, per element), the log-sum-exp (1 / head_dim of the output) left out.

**Communication**: under ``torch.compile`` (torchtitan ``apply_compile``, fullgraph per block) the ring
is traced, and a functional collective traced is waited for right where it is issued
(``torch/distributed/_functional_collectives.py`` ``_maybe_wrap_tensor``: ``wait_tensor`` when
tracing; Inductor's ``reorder_for_compute_comm_overlap`` is off by default), so every all-gather and
dK/dV hand-off is exposed, as :mod:`fabricsim.workload.exposure` counts CP.
"""

from __future__ import annotations

from dataclasses import dataclass

ACCUMULATOR_BYTES = 4
"""FP32 accumulation of outputs and gradients (``_ContextParallelOptions.convert_to_f32 = True``)."""
ACTIVATION_BYTES = 2
"""BF16 inputs, outputs and SDPA results."""
CHUNKS_PER_RANK = 2
"""Load-balanced shards: two sequence chunks per rank (``_RoundRobinLoadBalancer``)."""


@dataclass(frozen=True)
class RingStep:
    """One SDPA call of a rank's ring: query and key chunks (of ``seq / (2 cp)`` tokens each)."""

    query_chunks: int
    key_chunks: int
    causal: bool

    @property
    def score_chunks(self) -> float:
        """Score pairs computed, in chunk-squares: a causal call computes half its square."""
        square = float(self.query_chunks * self.key_chunks)
        return square / 2 if self.causal else square


def ring_steps(cp: int, rank: int) -> list[RingStep]:
    """The SDPA calls rank ``rank`` of ``cp`` runs in one forward (the backward runs the same blocks)."""
    steps = [RingStep(CHUNKS_PER_RANK, CHUNKS_PER_RANK, True)]
    for i in range(1, cp):
        if i <= rank:  # keys of an earlier rank: its first chunk serves both local query chunks
            steps.append(RingStep(CHUNKS_PER_RANK, 1, False))
        else:  # keys of a later rank: both its chunks serve the second local query chunk
            steps.append(RingStep(1, CHUNKS_PER_RANK, False))
    return steps


def _head_dims(model) -> tuple[int, int]:
    """(query/key head dimension, value head dimension)."""
    if model.attention == "mla":
        return model.qk_nope_head_dim + model.qk_rope_head_dim, model.head_dim
    return model.head_dim, model.head_dim


def _kv_heads(model, expanded: bool) -> int:
    return model.attention_heads if expanded else model.kv_heads


def merge_bytes_per_element(cp: int) -> float:
    """HBM bytes per accumulated element and pass: FP32 cast, ``cp - 1`` merges, cast back."""
    if cp <= 1:
        return 0.0
    first = ACTIVATION_BYTES + ACCUMULATOR_BYTES
    merge = ACCUMULATOR_BYTES + ACTIVATION_BYTES + ACCUMULATOR_BYTES
    last = ACCUMULATOR_BYTES + ACTIVATION_BYTES
    return first + (cp - 1) * merge + last


def merge_bytes(model, tokens: float, tp: int, cp: int, expanded: bool) -> tuple[float, float]:
    """(forward bytes per pass, backward bytes) of the FP32 merges of one layer on one rank holding
    ``tokens`` tokens (micro-batch x seq / cp): the output forward; dQ, dK and dV backward."""
    per = merge_bytes_per_element(cp)
    dqk, dv = _head_dims(model)
    heads, kv = model.attention_heads / tp, _kv_heads(model, expanded) / tp
    out = tokens * heads * dv
    grads = tokens * (heads * dqk + kv * (dqk + dv))
    return per * out, per * grads


def kv_gather_bytes(model, micro_batch: int, seq: int, tp: int, expanded: bool) -> float:
    """The gathered K/V buffer of one layer (nccl-tests size: every rank's keys and values, BF16)."""
    dqk, dv = _head_dims(model)
    return micro_batch * seq * _kv_heads(model, expanded) / tp * (dqk + dv) * ACTIVATION_BYTES


def dkv_send_bytes(model, tokens: float, tp: int, expanded: bool) -> float:
    """One dK/dV hand-off to the next rank: the rank's FP32 key and value gradient accumulators."""
    dqk, dv = _head_dims(model)
    return tokens * _kv_heads(model, expanded) / tp * (dqk + dv) * ACCUMULATOR_BYTES


def gathers_per_layer(recomputed: float) -> float:
    """K/V all-gathers per layer and micro-batch: the forward, the backward, and a recomputed forward
    (``recomputed``: the share of layers recomputed)."""
    return 2.0 + recomputed


__all__ = ["RingStep", "ring_steps", "merge_bytes_per_element", "merge_bytes", "kv_gather_bytes",
           "dkv_send_bytes", "gathers_per_layer", "ACCUMULATOR_BYTES", "CHUNKS_PER_RANK"]
