"""Figures the seeds say must *emerge* from the model, computed and printed (nothing here is a constant).

    python benchmarks/emergent.py
"""

from __future__ import annotations

import numpy as np

from fabricsim.collectives.api import run_collective
from fabricsim.collectives.stragglers import straggler_cost
from fabricsim.netsim.patterns import permutation_throughput as permutation
from fabricsim.scenario import scenario_from_dict
from fabricsim.topology.build import fabric_from_scenario


def main() -> None:
    print("1. Random permutation of elephant flows (one pair per GPU), mean max-min rate / NIC rate")
    print(f"   {'fabric':28s} {'flows/NIC':>9s} {'ecmp':>6s} {'adaptive':>8s} {'spray':>6s} {'ideal':>6s}")
    for gpus in (2048, 4096, 16384):
        fabric = fabric_from_scenario(scenario_from_dict({"cluster": {"gpus": gpus}}))
        for k in (1, 2, 4):
            row = [np.mean([permutation(fabric, p, k, seed) for seed in range(3)]) for p in
                   ("ecmp", "adaptive", "spray", "ideal")]
            label = f"{gpus:,} H100, {fabric.design.shape.tiers}-tier NDR"
            print(f"   {label:28s} {k:>9d} " + " ".join(f"{v:>6.1%}" if i != 1 else f"{v:>8.1%}"
                                                     for i, v in enumerate(row)))

    fabric = fabric_from_scenario(scenario_from_dict({"cluster": {"gpus": 4096}}))
    print("\n2. All-to-all among 4,096 GPUs (many flows per NIC), delivered = ideal time / time")
    for lb in ("ecmp", "spray"):
        r = run_collective(fabric, "all_to_all", "direct", [256 * 2**20], load_balancing=lb).results[0]
        print(f"   {lb:6s} delivered {r.delivered:.1%}  busbw {r.busbw_bytes_per_s / 1e9:.1f} GB/s")

    # SHARP is off in a stock NCCL install (no CollNet plugin): the comparison turns it on explicitly
    fabric = fabric_from_scenario(scenario_from_dict({"cluster": {"gpus": 2048},
                                                      "fabric": {"in_network_reduction": "sharp"}}))
    print("\n3. In-network reduction (SHARP enabled) vs host-based all-reduce, 2,048 H100, 4 GiB, busbw GB/s")
    results = {a: run_collective(fabric, "all_reduce", a, [4 * 2**30], load_balancing="spray").results[0]
               for a in ("ring", "tree", "hierarchical", "in_network")}
    for a, r in results.items():
        print(f"   {a:13s} {r.busbw_bytes_per_s / 1e9:7.1f}")
    best_host = max(results[a].busbw_bytes_per_s for a in ("ring", "tree", "hierarchical"))
    print(f"   in-network / best host-based = {results['in_network'].busbw_bytes_per_s / best_host:.2f}x")

    print("\n4. Stragglers: 10,000 GPUs, one 20 us late")
    arrival = np.zeros(10_000)
    arrival[0] = 20e-6
    print(f"   idle GPU-seconds = {straggler_cost(arrival).idle_gpu_seconds:.4f}")


if __name__ == "__main__":
    main()
