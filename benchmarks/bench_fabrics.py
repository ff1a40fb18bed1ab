"""Timings of the fabrics beyond one fat-tree: torus routing patterns and collectives, the multi-site
training step and its DCI bandwidth search, the spine-free comparison.  Prints seconds; not a test."""

from __future__ import annotations

import math
import time

from fabricsim.collectives.torus_api import run_torus_collective
from fabricsim.netsim.cayley import build_patterns
from fabricsim.plan_ocs_spine import spine_free_comparison
from fabricsim.scenario import load_scenario, scenario_from_dict
from fabricsim.topology.torus import build_torus, design_torus
from fabricsim.workload import model_entry
from fabricsim.workload.multisite import train_across_sites


def timed(label: str, func):
    start = time.perf_counter()
    out = func()
    print(f"{label:60s} {time.perf_counter() - start:8.3f} s")
    return out


def main() -> None:
    for dims in ([8, 8, 8], [16, 16, 16], [16, 16, 24]):
        scenario = scenario_from_dict({"cluster": {"gpu": "tpu-v4", "gpus": math.prod(dims)},
                                       "fabric": {"topology": "torus", "torus": {"dims": dims}}})
        fabric = timed(f"build torus {dims}", lambda: build_torus(design_torus(scenario)))
        timed(f"  static patterns {dims}", lambda: build_patterns(fabric, True))
        timed(f"  minimal-split patterns {dims}", lambda: build_patterns(fabric, False))
        timed(f"  all-reduce 1 GiB flow-level {dims}",
              lambda: run_torus_collective(scenario, "all_reduce", sizes=[2**30], method="flow"))
        timed(f"  all-to-all 1 GiB {dims}", lambda: run_torus_collective(scenario, "all_to_all", sizes=[2**30]))
    scenario = load_scenario("examples/two-sites-100k-b200.yaml")
    spec = scenario.workload.train
    model = model_entry(scenario, spec.model, "m")
    timed("two sites x 50k B200: one step (flow-level inside sites)",
          lambda: train_across_sites(scenario, spec, model))
    timed("  + single-site reference and DCI search for 1% / 5%",
          lambda: train_across_sites(scenario, spec, model, compare=True))
    timed("spine-free comparison, 100k B200 3-tier",
          lambda: spine_free_comparison(load_scenario("examples/100k-b200-tomahawk6-lpo.yaml")))


if __name__ == "__main__":
    main()
