"""Wall time of one simulated training step: Llama 3 405B on 16,384 H100 (issue #4: <= 10 s with
communication simulated flow by flow, <= 0.5 s analytic), and how it scales with the cluster.

    python benchmarks/bench_training.py
"""

from __future__ import annotations

import time

from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario
from fabricsim.workload import train


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    print(f"{'GPUs':>7} {'comm':>9} {'lb':>8} {'fabric build s':>15} {'step wall s':>12} {'step s':>8} {'MFU':>6}")
    for gpus, dp in ((2048, 16), (8192, 64), (16384, 128), (32768, 256)):
        scenario = scenario_from_dict({"cluster": {"gpus": gpus}})
        fabric, build_s = timed(lambda: fabric_from_scenario(scenario))
        for method in ("flow", "analytic"):
            for lb in ("ecmp", "adaptive"):
                try:
                    result, wall = timed(lambda: train(scenario, fabric, dp=dp, communication=method, load_balancing=lb))
                except ImportError as exc:
                    print(f"{gpus:>7,} {method:>9} {lb:>8}  not available: {exc}")
                    continue
                print(f"{gpus:>7,} {method:>9} {lb:>8} {build_s:>15.2f} {wall:>12.2f} {result.step_time_s:>8.2f} "
                      f"{result.mfu:>6.1%}")


if __name__ == "__main__":
    main()
