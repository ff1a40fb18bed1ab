"""Link and switch failures: mark parts of a fabric down and report the capacity lost.

Routing then avoids dead links: ECMP re-hashes a flow whose path is dead onto live ports (as a
switch removes a dead port from its ECMP group), spraying spreads over the live links of each
trunk, adaptive routing never picks a dead uplink.  A flow with no live path (its own NIC link
is down, or every path is cut) is reported as a partition, never silently dropped.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fabricsim.errors import FabricsimError
from fabricsim.topology.fabric import Fabric

TIER_NAMES = ("NIC-leaf", "leaf-spine", "spine-core")


def fail_links(fabric: Fabric, links) -> Fabric:
    """A copy of ``fabric`` with ``links`` (link ids) down."""
    links = np.atleast_1d(np.asarray(links, dtype=np.int64))
    if links.size and (links.min() < 0 or links.max() >= fabric.n_links):
        raise FabricsimError(f"link ids must be in 0..{fabric.n_links - 1}; got {links.min()}..{links.max()}")
    up = fabric.link_up.copy()
    up[links] = False
    return dataclasses.replace(fabric, link_up=up)


def fail_switches(fabric: Fabric, nodes) -> Fabric:
    """A copy of ``fabric`` with every link of the switches ``nodes`` (node ids) down."""
    nodes = np.atleast_1d(np.asarray(nodes, dtype=np.int64))
    if nodes.size and (nodes.min() < 0 or nodes.max() >= fabric.n_nodes or np.any(fabric.node_tier[nodes] == 0)):
        raise FabricsimError("switch ids must be switch nodes (tier 1-3) of this fabric")
    touching = np.isin(fabric.link_lower, nodes) | np.isin(fabric.link_upper, nodes)
    return fail_links(fabric, np.nonzero(touching)[0])


def random_link_failures(fabric: Fabric, count: int, tier: int = 2, seed: int = 0) -> Fabric:
    """``count`` random links of one tier (1 NIC-leaf, 2 leaf-spine, 3 spine-core) down."""
    candidates = np.nonzero(fabric.link_tier == tier)[0]
    if count > candidates.size:
        raise FabricsimError(f"cannot fail {count} links of tier {tier}: the fabric has {candidates.size}")
    return fail_links(fabric, np.random.default_rng(seed).choice(candidates, size=count, replace=False))


def lost_capacity(fabric: Fabric) -> dict[str, float]:
    """Fraction of each tier's link capacity that is down."""
    out = {}
    for tier, name in enumerate(TIER_NAMES, start=1):
        sel = fabric.link_tier == tier
        if sel.any():
            total = fabric.link_capacity_bits_per_s[sel].sum()
            out[name] = float(fabric.link_capacity_bits_per_s[sel & ~fabric.link_up].sum() / total)
    return out
