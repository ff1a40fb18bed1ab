"""Traffic patterns: every pair of a group (all-to-all), and synthetic ones for measuring a fabric's
delivered bandwidth."""

from __future__ import annotations

import numpy as np

from fabricsim.netsim.maxmin import max_min_rates
from fabricsim.netsim.routing import route
from fabricsim.topology.fabric import Fabric


def all_pairs(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sources, destinations) of every ordered pair of distinct members of every row of ``groups``
    (G x n, or one group of n): row by row, source by source, destinations in member order."""
    groups = np.atleast_2d(np.asarray(groups))
    g, n = groups.shape
    src = np.repeat(groups, n - 1, axis=1).ravel()
    dst = np.broadcast_to(groups[:, None, :], (g, n, n))[:, ~np.eye(n, dtype=bool)].ravel()
    return src, dst


def permutation_throughput(fabric: Fabric, policy: str, flows_per_pair: int = 1, seed: int = 0) -> float:
    """Mean max-min rate of a random permutation (one long-lived pair per GPU, all over the scale-out
    fabric), as a share of the link rate.  ``flows_per_pair`` parallel flows (QPs) per pair are hashed
    independently and their rates summed.  1.0 = every NIC runs at line rate."""
    rng = np.random.default_rng(seed)
    src = np.arange(fabric.design.gpus)
    dst = rng.permutation(src)
    keep = src != dst
    s, d = np.repeat(src[keep], flows_per_pair), np.repeat(dst[keep], flows_per_pair)
    channel = np.tile(np.arange(flows_per_pair), int(keep.sum()))
    routed = route(fabric, s, d, policy, seed=seed, flow_id=channel, use_scale_up=False)
    rates = max_min_rates(routed.incidence, routed.capacity_bits_per_s).reshape(-1, flows_per_pair).sum(axis=1)
    return float(np.mean(rates / fabric.design.link_bits_per_s))
