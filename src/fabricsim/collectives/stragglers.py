"""Stragglers and jitter: a collective starts when its last rank arrives; everyone else idles.

With per-rank arrival times a_i (seconds after the earliest possible start), the collective
starts at max(a) and rank i waits max(a) - a_i.  The GPU time wasted is sum_i (max(a) - a_i)
GPU-seconds.  Seed 003_00372c7f04e89618.txt: 10,000 GPUs, one 20 us late -> 0.2 GPU-seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fabricsim.errors import FabricsimError

DISTRIBUTIONS = ("none", "normal", "exponential", "lognormal")


@dataclass(frozen=True)
class StragglerResult:
    start_delay_s: float  # when the collective can start, after the earliest rank
    idle_gpu_seconds: float  # summed waiting of all ranks
    mean_wait_s: float
    ranks: int


def straggler_cost(arrival_s: np.ndarray) -> StragglerResult:
    """Start delay and idle GPU-seconds from per-rank arrival times (seconds)."""
    arrival = np.asarray(arrival_s, dtype=float)
    if arrival.size == 0:
        raise FabricsimError("straggler model needs at least one rank")
    if np.any(~np.isfinite(arrival)):
        raise FabricsimError("arrival times must be finite seconds")
    start = arrival.max()
    wait = start - arrival
    return StragglerResult(float(start - arrival.min()), float(wait.sum()), float(wait.mean()), int(arrival.size))


def sample_arrivals(ranks: int, distribution: str = "normal", scale_s: float = 1e-5, seed: int = 0) -> np.ndarray:
    """Per-rank arrival jitter (seconds, >= 0): |N(0, scale)|, Exp(scale) or LogNormal(log(scale), 0.5)."""
    if distribution not in DISTRIBUTIONS:
        raise FabricsimError(f"jitter distribution {distribution!r}: valid choices are {', '.join(DISTRIBUTIONS)}")
    if scale_s < 0:
        raise FabricsimError(f"jitter scale {scale_s} s must be >= 0")
    rng = np.random.default_rng(seed)
    if distribution == "none" or scale_s == 0:
        return np.zeros(ranks)
    if distribution == "normal":
        return np.abs(rng.normal(0.0, scale_s, ranks))
    if distribution == "exponential":
        return rng.exponential(scale_s, ranks)
    return rng.lognormal(np.log(scale_s), 0.5, ranks)


def expected_straggler_delay(ranks: int, distribution: str, scale_s: float, trials: int = 200, seed: int = 0) -> float:
    """Mean start delay (max arrival) over Monte Carlo trials: grows with the rank count."""
    rng = np.random.default_rng(seed)
    delays = [straggler_cost(sample_arrivals(ranks, distribution, scale_s, int(rng.integers(2**31)))).start_delay_s
              for _ in range(trials)]
    return float(np.mean(delays))
