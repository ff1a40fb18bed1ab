"""How much a rerouted fabric failure slows the job, measured with the flow-level simulator.

When link, optic and switch failures do not stop the job (the fabric reroutes around them), the
step slows by the factor the collectives slow (the worse of a data-parallel all-reduce and a
point-to-point exchange across the spines).  It is measured here: the same collective on the
healthy fabric and with one failed leaf-spine link (transceiver/cable class) or one failed spine
switch (switch class).  Using the collective's slowdown for the whole step is an upper bound
(compute does not slow), stated as such until the training-step model supplies the comm share.
"""

from __future__ import annotations

import numpy as np

from fabricsim.collectives.api import run_collective
from fabricsim.netsim.failures import fail_links, fail_switches
from fabricsim.topology.fabric import TIER_SPINE, Fabric


def degraded_factors(fabric: Fabric, size_bytes: int = 2**30, seed: int = 0) -> dict[str, float]:
    """Slowdown after one failure per class: the larger of the cluster-wide all-reduce's (fastest
    host-based algorithm) and a send/recv exchange's among up to 1,024 scattered GPUs (elephant flows
    across the spines, as between pipeline stages of a fragmented job)."""
    if fabric.design.shape.tiers < 2:
        return {}

    ranks = min(1024, fabric.design.gpus)

    def cost(f: Fabric) -> np.ndarray:
        all_reduce = min(run_collective(f, "all_reduce", a, [size_bytes], seed=seed).results[0].time_s
                         for a in ("tree", "hierarchical"))
        pipeline = run_collective(f, "send_recv", "direct", [size_bytes // 4], ranks=ranks, placement="random",
                                  seed=seed).results[0].time_s
        return np.array([all_reduce, pipeline])

    healthy = cost(fabric)

    def best(f: Fabric) -> float:
        return float(np.max(cost(f) / healthy))

    rng = np.random.default_rng(seed)
    link = int(rng.choice(np.nonzero(fabric.link_tier == 2)[0]))
    link_factor = best(fail_links(fabric, [link]))
    spines = np.nonzero(fabric.node_tier == TIER_SPINE)[0]
    switch_factor = best(fail_switches(fabric, [int(rng.choice(spines))]))
    return {"transceiver": max(1.0, link_factor), "cable": max(1.0, link_factor), "switch": max(1.0, switch_factor)}
