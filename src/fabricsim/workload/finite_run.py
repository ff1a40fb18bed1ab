"""A finite serving benchmark: ``requests`` requests of varying output lengths, ``batch`` of them in flight.

An offline benchmark (MLPerf Offline, trtllm-bench, vLLM's throughput script) hands every request to the server at
once.  In-flight batching keeps ``batch`` sequences decoding while requests are waiting: when one finishes, the next
takes its place.  Once the last request has started, nothing replaces the ones that finish, and the batch empties
while the longest requests run on.  A decode step of a few sequences still streams every weight, so this drain
serves far fewer tokens per second than the full batch -- and the longer the tail of the output lengths, the longer
it lasts.

* **Lengths.**  The requests' output lengths are the quantiles of a gamma distribution with the run's mean and
  coefficient of variation (an assumption: only the two moments are given; on MLPerf's DeepSeek-R1 samples,
  cv 1.25, the gamma's drain is within a point of the samples' own), in a fixed shuffled order, since benchmarks
  issue their samples in random order (MLPerf LoadGen's sample_index_rng_seed).  Equal lengths (cv 0) run in
  waves: the batch starts together and finishes together.
* **Occupancy.**  Every sequence in flight takes one token per decode step; an event simulation over the requests'
  finishing steps gives how many steps the run spends at each number of sequences in flight.
* **Step time.**  The caller's decode step at a few batch sizes (the full batch, halved down to one), linear in
  between.  Summed over the stretches, it gives the run's seconds and the time each request is done (MLPerf
  Offline reports those as latency percentiles: LoadGen issues every sample at the start).

Only the decode steps are simulated; the caller adds the prompts' prefill (in series on a static instance, beside
it on disaggregated prefill GPUs).  Seconds, tokens.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

MAX_SIMULATED_REQUESTS = 200_000
"""Requests simulated one by one; a longer run only lengthens the stretch at the full batch, which is added whole
(every request beyond these runs while others are waiting, so the batch stays full)."""
ORDER_SEED = 0
"""Seed of the requests' shuffled order (fixed, so that a run's figures repeat)."""


def output_lengths(requests: int, mean: float, cv: float) -> np.ndarray:
    """Output tokens of each of ``requests`` requests, in the order they are issued: ``mean`` for all when ``cv``
    is 0, else the gamma distribution's quantiles (shape 1 / cv^2, mean ``mean``), at least one token each."""
    if cv == 0:
        return np.full(requests, float(mean))
    shape = 1.0 / cv ** 2
    quantiles = (np.arange(requests) + 0.5) / requests
    lengths = np.maximum(1.0, np.round(stats.gamma.ppf(quantiles, shape, scale=mean / shape)))
    return np.random.default_rng(ORDER_SEED).permutation(lengths)


def finish_steps(lengths: np.ndarray, batch: int) -> np.ndarray:
    """The decode step at which each request (in issue order) finishes: the first ``batch`` start at step 0, each
    later one at the step an earlier one finishes."""
    lengths = np.asarray(lengths, dtype=float)
    slots = min(batch, len(lengths))
    finish = lengths.copy()
    finishing = [(lengths[i], i) for i in range(slots)]
    heapq.heapify(finishing)
    for index in range(slots, len(lengths)):
        start, _ = heapq.heappop(finishing)
        finish[index] = start + lengths[index]
        heapq.heappush(finishing, (finish[index], index))
    return finish


def occupancy(lengths: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sequences in flight, decode steps, the step each stretch ends at) of each stretch of the run between two
    finishing steps: the batch stays full while requests wait, then empties one finishing request at a time."""
    return _stretches(np.sort(finish_steps(lengths, batch)), batch)


def _stretches(ends: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`occupancy` from the requests' finishing steps, sorted."""
    edges = np.unique(ends)
    starts = np.concatenate([[0.0], edges[:-1]])
    finished = np.searchsorted(ends, starts, side="right")
    return np.minimum(batch, len(ends) - finished), edges - starts, edges


@dataclass(frozen=True)
class FiniteRun:
    """Decode seconds and output tokens of a finite run, and when its requests are done (seconds from the start
    until half and nine tenths of them have finished; 0 when the run is longer than ``MAX_SIMULATED_REQUESTS``)."""

    seconds: float
    tokens: float
    half_done_s: float = 0.0
    nine_tenths_done_s: float = 0.0


def simulate(requests: int, batch: int, mean: float, cv: float, step_seconds: Callable[[int], float]) -> FiniteRun:
    """The decode steps of a run of ``requests`` requests of mean output ``mean`` and coefficient of variation
    ``cv``, ``batch`` in flight; ``step_seconds(b)``: one decode step of ``b`` sequences."""
    simulated = min(requests, MAX_SIMULATED_REQUESTS)
    lengths = output_lengths(simulated, mean, cv)
    finished = np.sort(finish_steps(lengths, batch))
    active, steps, edges = _stretches(finished, batch)
    top = min(batch, simulated)
    grid = np.unique(np.maximum(1, top // 2 ** np.arange(int(np.log2(top)) + 1)))
    times = np.array([step_seconds(int(b)) for b in grid])
    elapsed = np.cumsum(steps * np.interp(active, grid, times))  # seconds at each stretch's end
    done = {}
    if simulated == requests:
        at = elapsed[np.searchsorted(edges, finished)]
        done = dict(half_done_s=float(np.quantile(at, 0.5)), nine_tenths_done_s=float(np.quantile(at, 0.9)))
    extra = (requests - simulated) * mean  # tokens of the requests beyond the simulated ones, all at the full batch
    return FiniteRun(float(elapsed[-1]) + extra / top * times[-1], float(lengths.sum()) + extra, **done)


__all__ = ["FiniteRun", "output_lengths", "finish_steps", "occupancy", "simulate", "MAX_SIMULATED_REQUESTS"]
