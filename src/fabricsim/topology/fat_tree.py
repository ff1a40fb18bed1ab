"""Fat-tree (folded Clos) sizing by arithmetic: how many switches, ports and links per tier.

Vocabulary (per plane; planes are identical copies):

* radix ``R``: switch ports at the link speed.
* leaf (tier 1): ``leaf_down`` ports to endpoints (NIC ports), ``leaf_up`` to spines;
  ``leaf_down : leaf_up`` is the leaf oversubscription.
* 2 tiers: every spine port faces down; leaf ``l`` sends ``bundle_leaf`` parallel links to
  each of ``leaf_up / bundle_leaf`` spines.  At most ``R`` leaves.
* 3 tiers: a *pod* is ``spine_down`` leaves and ``spines_per_pod = leaf_up`` spines
  (aggregation switches); spine ``j`` of every pod belongs to core group ``j`` and sends
  ``bundle_spine`` parallel links to each of its group's ``cores_per_group`` cores.
  At most ``R`` pods.

For the textbook k-ary fat-tree (R = k, non-blocking) this gives k/2 down and k/2 up per
switch, k^2/2 hosts with 2 tiers, k^3/4 hosts and 5k^2/4 switches with 3 tiers.  When a
cluster is smaller than the tier's maximum, upper switches are thinned and the freed
ports become parallel links (bundles), keeping every path equal-cost; idle ports are
counted.  Rail-optimized placement assigns each rail of a group of ``leaf_down`` servers
its own leaf, so leaves = rails x ceil(servers / leaf_down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fabricsim.errors import FabricsimError


def split_ports(radix: int, oversubscription: float) -> tuple[int, int]:
    """(down, up) ports of a switch with ``down:up <= oversubscription``."""
    up = math.ceil(radix / (1.0 + oversubscription))
    return radix - up, up


def max_endpoints(radix: int, tiers: int, oversubscription: tuple[float, float] = (1.0, 1.0)) -> int:
    """Largest number of endpoints (NIC ports per plane) a fat-tree of ``tiers`` can connect."""
    if tiers == 1:
        return radix
    leaf_down, _ = split_ports(radix, oversubscription[0])
    if tiers == 2:
        return radix * leaf_down
    spine_down, _ = split_ports(radix, oversubscription[1] if len(oversubscription) > 1 else 1.0)
    return radix * spine_down * leaf_down


def _largest_divisor_at_most(n: int, limit: float) -> int:
    """Largest divisor of ``n`` that is <= ``limit`` (at least 1)."""
    best = 1
    for d in range(1, n + 1):
        if n % d == 0 and d <= limit:
            best = d
    return best


@dataclass(frozen=True)
class FatTreeShape:
    """Counts of one plane of a fat-tree (multiply switch and link counts by ``planes``)."""

    endpoints: int
    radix: int
    tiers: int
    planes: int
    rails: int  # endpoints per server per plane (1 if not rail-optimized)
    rail_optimized: bool
    leaf_down: int
    leaf_up: int
    spine_down: int
    spine_up: int
    leaves: int
    spines: int
    cores: int
    pods: int
    spines_per_pod: int
    bundle_leaf: int  # parallel links leaf -> one spine
    bundle_spine: int  # parallel links spine -> one core
    cores_per_group: int

    # --- links per plane -------------------------------------------------
    @property
    def links_per_tier(self) -> tuple[int, int, int]:
        """Links per plane: (endpoint-leaf, leaf-spine, spine-core)."""
        leaf_spine = self.leaves * self.leaf_up if self.tiers >= 2 else 0
        spine_core = self.spines * self.spine_up if self.tiers >= 3 else 0
        return self.endpoints, leaf_spine, spine_core

    @property
    def switches_per_tier(self) -> tuple[int, int, int]:
        return self.leaves, self.spines, self.cores

    def ports_used_per_tier(self) -> tuple[int, int, int]:
        """Switch ports cabled per plane, by tier of the switch."""
        host, leaf_spine, spine_core = self.links_per_tier
        return host + leaf_spine, leaf_spine + spine_core, spine_core

    def ports_available_per_tier(self) -> tuple[int, int, int]:
        return self.leaves * self.radix, self.spines * self.radix, self.cores * self.radix

    @property
    def max_endpoints(self) -> int:
        return max_endpoints(self.radix, self.tiers, self._oversubscription())

    def _oversubscription(self) -> tuple[float, float]:
        leaf = self.leaf_down / self.leaf_up if self.leaf_up else 1.0
        spine = self.spine_down / self.spine_up if self.spine_up else 1.0
        return leaf, spine

    @property
    def switch_hops_worst(self) -> int:
        """Switches crossed by the longest shortest path (up to the top tier and down)."""
        return 2 * self.tiers - 1

    def leaf_of_endpoint_formula(self) -> str:
        return "rail-optimized" if self.rail_optimized else "contiguous"


def size_fat_tree(
    endpoints: int,
    radix: int,
    tiers: int | str = "auto",
    oversubscription: tuple[float, ...] = (1.0, 1.0),
    rails: int = 1,
    rail_optimized: bool = True,
    planes: int = 1,
    endpoints_per_gpu: int = 1,
) -> FatTreeShape:
    """Size one plane of a fat-tree for ``endpoints`` NIC ports.

    ``endpoints_per_gpu`` only converts limits into GPUs for error messages.
    """
    if endpoints <= 0:
        raise FabricsimError(f"cluster.gpus: need at least one GPU, got {endpoints} endpoints")
    if radix < 2:
        raise FabricsimError(f"switch radix {radix} at this port speed is too small to build a fabric")
    over = tuple(oversubscription) + (1.0,) * (2 - len(oversubscription))
    leaf_down, leaf_up = split_ports(radix, over[0])
    spine_down, spine_up = split_ports(radix, over[1])
    rails = rails if rail_optimized else 1

    def leaves_for(t: int) -> int:
        if t == 1:
            return 1
        if rail_optimized and rails > 1:
            servers = math.ceil(endpoints / rails)
            return rails * math.ceil(servers / leaf_down)
        return math.ceil(endpoints / leaf_down)

    def fits(t: int) -> bool:
        if t == 1:
            return endpoints <= radix
        if t == 2:
            return leaves_for(2) <= radix
        return math.ceil(leaves_for(3) / spine_down) <= radix

    if tiers == "auto":
        chosen = next((t for t in (1, 2, 3) if fits(t)), None)
        if chosen is None:
            limit = max_endpoints(radix, 3, over) // endpoints_per_gpu
            raise FabricsimError(
                f"no fat-tree of 1-3 tiers connects {endpoints // endpoints_per_gpu:,} GPUs with radix "
                f"{radix} (maximum {limit:,} GPUs with 3 tiers); use a higher-radix switch, a lower port "
                f"speed (more ports), or more fabric.planes"
            )
        tiers = chosen
    if tiers not in (1, 2, 3):
        raise FabricsimError(f"fabric.tiers={tiers!r}: valid values are auto, 1, 2, 3")
    if not fits(tiers):
        limit = max_endpoints(radix, tiers, over) // endpoints_per_gpu
        better = next((t for t in (1, 2, 3) if fits(t)), None)
        fix = f"use tiers={better} or tiers=auto" if better else "use a higher-radix switch or more planes"
        raise FabricsimError(
            f"fabric.tiers={tiers} cannot connect {endpoints // endpoints_per_gpu:,} GPUs with radix "
            f"{radix}; maximum is {limit:,}; {fix}"
        )
    leaves = leaves_for(tiers)
    spines = cores = pods = spines_per_pod = 0
    bundle_leaf = bundle_spine = cores_per_group = 0
    if tiers == 1:
        leaf_down, leaf_up = radix, 0
        spine_down = spine_up = 0
    elif tiers == 2:
        bundle_leaf = _largest_divisor_at_most(leaf_up, radix / leaves)
        spines = leaf_up // bundle_leaf
        spines_per_pod, pods = spines, 1
        spine_down, spine_up = radix, 0
    else:
        pods = math.ceil(leaves / spine_down)
        bundle_leaf = 1
        spines_per_pod = leaf_up
        spines = pods * spines_per_pod
        bundle_spine = _largest_divisor_at_most(spine_up, radix / pods)
        cores_per_group = spine_up // bundle_spine
        cores = spines_per_pod * cores_per_group
    return FatTreeShape(
        endpoints=endpoints,
        radix=radix,
        tiers=int(tiers),
        planes=planes,
        rails=rails,
        rail_optimized=rail_optimized,
        leaf_down=leaf_down,
        leaf_up=leaf_up,
        spine_down=spine_down,
        spine_up=spine_up,
        leaves=leaves,
        spines=spines,
        cores=cores,
        pods=pods,
        spines_per_pod=spines_per_pod,
        bundle_leaf=bundle_leaf,
        bundle_spine=bundle_spine,
        cores_per_group=cores_per_group,
    )
