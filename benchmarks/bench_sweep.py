"""Sweep throughput: a 10,000-point plan-only sweep and a 200-point flow-level training sweep, on the
local engine and through Ray on a local instance (wall time, points/s, Ray's overhead).

    python benchmarks/bench_sweep.py            # both sweeps, both engines
    python benchmarks/bench_sweep.py --quick    # 1,000 plan points, 20 training points
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from fabricsim.explore import run_sweep


def plan_sweep(points: int) -> dict:
    sizes = [1024 * 2**k for k in range(10)]  # 1k .. 512k GPUs
    optics = ["dsp", "lpo", "lro", "cpo", "xpo"]
    switches = [{"switch": "tomahawk5"}, {"switch": "tomahawk6"}]
    planes = [1, 2, 4, 8]
    over = [[1, 1], [2, 1], [3, 1], [3, 3], [7, 1]]
    grid = {"cluster.gpus": sizes, "fabric.optics": optics, "fabric.switch": [s["switch"] for s in switches],
            "fabric.planes": planes, "fabric.oversubscription": over, "economics.years": [3, 4, 5, 6, 7]}
    n = 1
    for values in grid.values():
        n *= len(values)
    while n > points:  # trim the last axis until the count fits
        key = list(grid)[-1]
        if len(grid[key]) == 1:
            grid.pop(key)
        else:
            grid[key] = grid[key][:-1]
        n = 1
        for values in grid.values():
            n *= len(values)
    return {"name": "plan sweep", "base": {"cluster": {"gpu": "b200", "nic": "connectx-8", "scale_out_per_gpu": "800G"},
                                           "fabric": {"transport": "roce"}},
            "measure": ["plan", "economics"], "grid": grid}


def training_sweep(points: int) -> dict:
    sizes = [8192, 16384, 32768]
    return {"name": "training sweep", "base": {"cluster": {"gpus": 8192},
                                               "workload": {"train": {"model": "llama3-70b", "tp": 8, "pp": 4,
                                                                      "seq": 4096}}},
            "measure": ["plan", "economics", "training"], "options": {"communication": "flow"},
            "zip": [{"cluster.gpus": sizes, "workload.train.dp": [s // 32 for s in sizes],
                     "workload.train.global_batch": [s // 16 for s in sizes]}],
            "samples": {"n": max(1, points // len(sizes)), "method": "lhs",
                        "ranges": {"economics.energy_usd_per_kwh": [0.04, 0.15]}}}


def run(spec: dict, engine: str) -> tuple[float, object]:
    folder = Path(tempfile.mkdtemp())
    try:
        path = folder / "sweep.yaml"
        path.write_text(yaml.safe_dump(spec))
        t0 = time.perf_counter()
        result = run_sweep(path, out=folder / "out", engine=engine, batch_size=256 if "plan" in spec["name"] else 4)
        return time.perf_counter() - t0, result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--engines", default="local,ray")
    args = parser.parse_args()
    plan_points, train_points = (1000, 21) if args.quick else (10_000, 201)
    print(f"{'sweep':<16} {'engine':<6} {'points':>7} {'failed':>6} {'wall s':>8} {'points/s':>9}")
    for name, spec in (("plan-only", plan_sweep(plan_points)), ("training", training_sweep(train_points))):
        for engine in args.engines.split(","):
            wall, result = run(spec, engine)
            print(f"{name:<16} {engine:<6} {result.ran:>7,} {result.failed:>6} {wall:>8.1f} {result.ran / wall:>9.1f}")


if __name__ == "__main__":
    main()
