"""Serving speed: one steady-state ``infer`` and finite runs of varying output lengths (queue and drain).

    python benchmarks/bench_inference.py
Prints wall seconds per call and the share of the full batch's rate a finite run keeps, for MLPerf's DeepSeek-R1
layout on 8 H200 (attention data-parallel, EP8, 1,032 in flight, outputs of mean 3,828 tokens, cv 1.25) at growing
request counts (beyond fabricsim.workload.finite_run.MAX_SIMULATED_REQUESTS the full-batch stretch is added whole).
"""

from __future__ import annotations

import time


def main() -> None:
    from fabricsim.scenario import scenario_from_dict
    from fabricsim.topology.build import fabric_from_scenario
    from fabricsim.workload import infer

    scenario = scenario_from_dict({"cluster": {"gpu": "h200-sxm", "gpus": 16}})
    fabric = fabric_from_scenario(scenario)
    job = dict(model="deepseek-v3", tp=1, ep=8, prefill_gpus=8, decode_gpus=8, prefill_batch=1, batch=1032,
               context=804, output_tokens=3828, weight_bytes=1, kv_bytes=1, software="trtllm-2025",
               context_cv=0.505, output_tokens_cv=1.253, length_correlation=-0.34)
    start = time.perf_counter()
    steady = infer(scenario, fabric, **job)
    print(f"steady state            {time.perf_counter() - start:7.3f} s   {steady.tokens_per_s_per_gpu:8,.0f} tokens/s/GPU")
    print(f"{'requests':>10} {'wall s':>8} {'tokens/s/GPU':>13} {'of full batch':>14}")
    for requests in (1_032, 4_388, 26_328, 200_000, 10_000_000):
        start = time.perf_counter()
        run = infer(scenario, fabric, **job, requests=requests)
        wall = time.perf_counter() - start
        print(f"{requests:>10,} {wall:8.3f} {run.tokens_per_s_per_gpu:13,.0f} {run.run_steady_s / run.run_s:14.1%}")


if __name__ == "__main__":
    main()
