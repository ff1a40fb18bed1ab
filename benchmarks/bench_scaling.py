"""Scaling table of one all-reduce (1 GiB) over every GPU: flow-level vs analytic, ring vs hierarchical.

For 1k-128k GPUs on the default H100 / NDR fabric (3 tiers; 2 planes of 200G beyond 65,536 GPUs):
simulated collective time and busbw from each method, wall time and peak Python-heap memory
(tracemalloc, which numpy reports its buffers to) of the computation, fabric build included.

    python benchmarks/bench_scaling.py [--max-flow-gpus 131072]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

from fabricsim.collectives.api import run_collective
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario
from fabricsim.topology.design import design_fabric

GiB = 2**30


def measure(fn):
    tracemalloc.start()
    start = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, wall, peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-flow-gpus", type=int, default=131072)
    args = parser.parse_args()
    print(f"{'GPUs':>8} {'algorithm':>12} {'method':>8} {'time ms':>9} {'busbw GB/s':>11} {'wall s':>7} {'peak MiB':>9}")
    for gpus in (1024, 4096, 16384, 32768, 131072):
        scenario = scenario_from_dict({"cluster": {"gpus": gpus}, "fabric": {"planes": 1 if gpus <= 65536 else 2}})
        for algorithm in ("ring", "hierarchical"):
            for method in ("flow", "analytic"):
                if method == "flow" and gpus > args.max_flow_gpus:
                    print(f"{gpus:>8,} {algorithm:>12} {method:>8}  skipped (--max-flow-gpus)")
                    continue

                def job():
                    target = fabric_from_scenario(scenario) if method == "flow" else design_fabric(scenario)
                    return run_collective(target, "all_reduce", algorithm, [GiB], load_balancing="spray",
                                          method=method).results[0]

                result, wall, peak = measure(job)
                print(f"{gpus:>8,} {algorithm:>12} {method:>8} {result.time_s * 1e3:>9.2f} "
                      f"{result.busbw_bytes_per_s / 1e9:>11.1f} {wall:>7.2f} {peak / 2**20:>9.0f}")


if __name__ == "__main__":
    main()
