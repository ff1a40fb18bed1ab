"""Wall time of one simulated training step: Llama 3 405B on 16,384 H100 with the paper's recipe
(issue #12: <= 2 s with communication simulated flow by flow), and how it scales with the cluster.

    python benchmarks/bench_training.py
"""

from __future__ import annotations

import time

from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario
from fabricsim.workload import train


RECIPE = dict(model="llama3-405b", tp=8, pp=16, cp=1, seq=8192, global_batch=2048, micro_batch=1, zero=1,
              first_stage_layers=7, last_stage_layers=7, software="llama3-2024", pipeline_group=8,
              order="tp-cp-pp-dp", recompute="auto")
"""The Llama 3 paper's recipe (section 3.3.2; see validation case llama3-405b-16k-tflops)."""


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
                    result, wall = timed(lambda: train(scenario, fabric, **RECIPE, dp=dp, communication=method,
                                                       load_balancing=lb))
                except ImportError as exc:
                    print(f"{gpus:>7,} {method:>9} {lb:>8}  not available: {exc}")
                    continue
                print(f"{gpus:>7,} {method:>9} {lb:>8} {build_s:>15.2f} {wall:>12.2f} {result.step_time_s:>8.2f} "
                      f"{result.mfu:>6.1%}")


def llama3_fabric() -> None:
    """The published run on the fabric it used: the 24K RoCE cluster, jobs of 8,192 and 16,384 GPUs."""
    from pathlib import Path

    from fabricsim.scenario import load_scenario

    scenario = load_scenario(Path(__file__).parent.parent / "examples" / "llama3-24k-h100-roce.yaml")
    fabric, build_s = timed(lambda: fabric_from_scenario(scenario))
    print(f"\nLlama 3 RoCE cluster (24,576 GPUs, fabric built in {build_s:.2f} s)")
    for gpus, dp in ((8192, 64), (16384, 128)):
        result, wall = timed(lambda: train(scenario, fabric, **{**RECIPE, "recompute": "none"}, dp=dp, gpus=gpus))
        print(f"{gpus:>7,} flow    ecmp16 step wall {wall:.2f} s, step {result.step_time_s:.2f} s, "
              f"{result.model_flops_per_s_per_gpu / 1e12:.0f} TFLOP/s per GPU, MFU {result.mfu:.1%}")


if __name__ == "__main__":
    main()
    llama3_fabric()
