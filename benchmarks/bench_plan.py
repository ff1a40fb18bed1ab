"""Planning speed: count-only plans up to 1M GPUs, materialised fabrics up to 131k GPUs.

    python benchmarks/bench_plan.py
Each materialised case runs in a fresh process so its peak memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time


def _scenario(gpus):
    from fabricsim.scenario import scenario_from_dict

    return scenario_from_dict({"cluster": {"gpus": gpus}, "fabric": {"tiers": 3}})


def _materialise(gpus, queue):
    from fabricsim.plan import plan_design
    from fabricsim.scenario import scenario_from_dict
    from fabricsim.topology.build import build_fabric
    from fabricsim.topology.design import design_fabric

    if gpus > 65536:  # beyond Quantum-2's 3-tier reach: 400G on Tomahawk 5 (128 ports)
        scenario = scenario_from_dict({"cluster": {"gpus": gpus}, "fabric": {"switch": "tomahawk5", "transport": "roce"}})
    else:
        scenario = _scenario(gpus)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    design = design_fabric(scenario)
    fabric = build_fabric(design)
    t1 = time.perf_counter()
    plan = plan_design(design, fabric)
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((t1 - t0, t2 - t1, peak, peak - base, fabric.n_links, fabric.nbytes() / 2**20, plan.switches))


def main() -> None:
    import functools

    from fabricsim.plan import plan_scenario

    global print
    print = functools.partial(print, flush=True)  # noqa: A001

    print("count-only plans (arithmetic, no link arrays)")
    print(f"{'GPUs':>10s} {'tiers':>5s} {'switches':>9s} {'time ms':>8s}")
    for gpus in (1024, 8192, 32768, 131072, 1_048_576):
        scenario = _scenario(gpus) if gpus <= 65536 else _big(gpus)
        plan_scenario(scenario, materialise=False)  # warm caches
        t0 = time.perf_counter()
        plan = plan_scenario(scenario, materialise=False)
        dt = (time.perf_counter() - t0) * 1e3
        print(f"{gpus:>10,} {plan.tiers:>5d} {plan.switches:>9,} {dt:>8.1f}")

    print("\nmaterialised fabrics (Quantum-2, 3 tiers; 131k on Tomahawk 5 at 400G, RoCE)")
    print(f"{'GPUs':>10s} {'build s':>8s} {'count s':>8s} {'peak MiB':>9s} {'links':>10s} {'arrays MiB':>10s}")
    ctx = mp.get_context("spawn")
    for gpus in (1024, 8192, 32768, 131072):
        queue = ctx.Queue()
        proc = ctx.Process(target=_materialise, args=(gpus, queue))
        proc.start()
        build, count, peak, _, links, array_mib, _ = queue.get()
        proc.join()
        print(f"{gpus:>10,} {build:>8.2f} {count:>8.2f} {peak:>9.0f} {links:>10,} {array_mib:>10.1f}")


def _big(gpus):
    from fabricsim.scenario import scenario_from_dict

    return scenario_from_dict({"cluster": {"gpus": gpus, "gpu": "gb300"},
                               "fabric": {"switch": "tomahawk6", "transport": "roce", "planes": 4}})


if __name__ == "__main__":
    main()
