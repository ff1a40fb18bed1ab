"""Monte Carlo speed: 1,000 runs of a 54-day 16,384-GPU job (target <= 5 s), and larger cases.

    python benchmarks/bench_montecarlo.py
"""

from __future__ import annotations

import time


def main() -> None:
    from fabricsim.reliability import (
        LLAMA3_COUNTS,
        counts_for_gpu_cluster,
        llama3_policy,
        mean_time_between_interruptions,
        simulate_run,
    )

    policy = llama3_policy()
    cases = [
        ("Llama-3 counts, 16,384 GPUs, 54 d", LLAMA3_COUNTS, 54, 1000),
        ("fat-tree 100,000 GPUs, 54 d", counts_for_gpu_cluster(100_000), 54, 1000),
        ("fat-tree 1,000,000 GPUs, 30 d", counts_for_gpu_cluster(1_000_000), 30, 1000),
    ]
    simulate_run(LLAMA3_COUNTS, policy, 1, runs=10, rng=0)  # warm-up (catalog load, imports)
    print(f"{'case':38s} {'runs':>5s} {'events/run':>10s} {'seconds':>8s} {'MTBI min':>9s} {'goodput p5/p50/p95':>22s}")
    for label, counts, days, runs in cases:
        t0 = time.perf_counter()
        res = simulate_run(counts, policy, days, runs=runs, rng=0, planned_per_day=47 / 54)
        dt = time.perf_counter() - t0
        s = res.summary()["goodput"]
        events = (res.interruptions + res.planned_interruptions).mean()
        mtbi = mean_time_between_interruptions(counts) / 60
        print(f"{label:38s} {runs:5d} {events:10.0f} {dt:8.3f} {mtbi:9.1f} "
              f"{s['p5']:.3f}/{s['p50']:.3f}/{s['p95']:.3f}")
    t_first = None
    t0 = time.perf_counter()
    simulate_run(LLAMA3_COUNTS, policy, 54, runs=1000, rng=1, planned_per_day=47 / 54)
    t_first = time.perf_counter() - t0
    print(f"target: 1,000 runs x 54 d x 16,384 GPUs <= 5 s: {t_first:.3f} s -> {'OK' if t_first <= 5 else 'TOO SLOW'}")


if __name__ == "__main__":
    main()
