"""Collective simulation speed: wall time and peak memory per case, each in a fresh process.

    python benchmarks/bench_collectives.py            # the issue's targets and the scaling table
    python benchmarks/bench_collectives.py --quick    # smaller sizes only
"""

from __future__ import annotations

import argparse
import builtins
import functools
import multiprocessing as mp
import resource
import time


def _case(args, queue):
    op, algo, gpus, ranks, lb, size = args
    from fabricsim.collectives.api import run_collective
    from fabricsim.scenario import scenario_from_dict
    from fabricsim.topology.build import fabric_from_scenario

    t0 = time.perf_counter()
    fabric_spec = {"switch": "quantum-2"} if gpus <= 65536 else {"switch": "tomahawk5", "transport": "roce"}
    try:
        fabric = fabric_from_scenario(scenario_from_dict({"cluster": {"gpus": gpus}, "fabric": fabric_spec}))
        t1 = time.perf_counter()
        report = run_collective(fabric, op, algo, [size], ranks=ranks, load_balancing=lb)
        t2 = time.perf_counter()
    except Exception as exc:  # report and go on with the other cases
        queue.put(exc)
        return
    r = report.results[0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((t1 - t0, t2 - t1, peak, r.busbw_bytes_per_s / 1e9, r.delivered, fabric.design.shape.tiers,
               sorted({p.method for p in r.phases})))


def run(args):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_case, args=(args, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def main() -> None:
    print = functools.partial(builtins.print, flush=True)  # noqa: A001
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    opts = parser.parse_args()
    GiB = 2**30
    header = f"{'case':58s} {'build s':>8s} {'simulate s':>10s} {'peak MiB':>9s} {'busbw GB/s':>10s} {'delivered':>9s}  method"
    print(header)
    print("-" * len(header))
    cases = [
        ("all_reduce", "ring", 32768, None, "ecmp", GiB),
        ("all_to_all", "direct", 4096, None, "ecmp", 256 * 2**20),
        ("all_to_all", "direct", 4096, None, "spray", 256 * 2**20),
    ]
    scaling = [1024, 4096, 16384, 32768] + ([] if opts.quick else [131072])
    for gpus in scaling:
        for algo in ("ring", "hierarchical"):
            cases.append(("all_reduce", algo, gpus, None, "ecmp", GiB))
    if opts.quick:
        cases = [c for c in cases if c[2] <= 4096]
    for case in cases:
        op, algo, gpus, ranks, lb, size = case
        out = run(case)
        if isinstance(out, Exception):
            print(f"{op} {algo} {gpus:,} GPUs: {out}")
            continue
        build, sim, peak, busbw, delivered, tiers, method = out
        label = f"{op} {algo} {gpus:,} GPUs ({tiers}-tier) {lb} {size / 2**20:,.0f} MiB"
        print(f"{label:58s} {build:8.2f} {sim:10.2f} {peak:9.0f} {busbw:10.1f} {delivered:9.1%}  {','.join(method)}")


if __name__ == "__main__":
    main()
