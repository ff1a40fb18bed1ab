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

Tiers may differ (:class:`PortBudget`): another switch model per tier (a ToR under a deep-buffer
chassis), another link speed above the leaf (400G to the NICs, 800G leaf-spine), and explicit
down-port counts (a ToR per rack of 16 GPUs, 192 racks per pod).  A switch's down and up ports
then share its capacity in bits/s: ``down x speed_down + up x speed_up <= capacity`` with
``down x speed_down <= oversubscription x up x speed_up``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fabricsim.errors import FabricsimError


def split_ports(radix: int, oversubscription: float) -> tuple[int, int]:
    """(down, up) ports of a switch with ``down:up <= oversubscription``."""
    up = math.ceil(radix / (1.0 + oversubscription))
    return radix - up, up


@dataclass(frozen=True)
class PortBudget:
    """The ports one switch of a tier can offer: ``capacity_bits_per_s`` shared by ports facing down
    at ``down_bits_per_s`` and ports facing up at ``up_bits_per_s`` (at most ``max_down`` / ``max_up``
    of each, the switch's port count at that speed).  ``field`` names the scenario field for errors."""

    capacity_bits_per_s: float
    down_bits_per_s: float
    up_bits_per_s: float
    max_down: int
    max_up: int
    field: str = "fabric"

    @classmethod
    def uniform(cls, radix: int) -> "PortBudget":
        """``radix`` ports of one speed (the textbook case)."""
        return cls(float(radix), 1.0, 1.0, radix, radix)

    def split(self, oversubscription: float, downlinks: int | None = None) -> tuple[int, int, int]:
        """(down, up, ports available) for a switch that has a tier above it."""
        s_d, s_u = self.down_bits_per_s, self.up_bits_per_s
        capacity = min(self.capacity_bits_per_s, self.max_down * s_d + 1e-6 * s_d)
        if downlinks is None:
            up = math.ceil(capacity / (s_u * (1.0 + oversubscription)) - 1e-9)
            up = min(up, self.max_up)
            down = min(int(math.floor((capacity - up * s_u) / s_d + 1e-9)), self.max_down)
        else:
            down = int(downlinks)
            up = math.ceil(down * s_d / (oversubscription * s_u) - 1e-9)
            if down < 1 or down > self.max_down or up > self.max_up or down * s_d + up * s_u > capacity * (1 + 1e-9):
                raise FabricsimError(
                    f"{self.field}: {down} down-ports need {up} up-ports at oversubscription {oversubscription:g}, "
                    f"{down} x {s_d / 1e9:g}G + {up} x {s_u / 1e9:g}G = {(down * s_d + up * s_u) / 1e12:g} Tb/s, "
                    f"more than the switch's {capacity / 1e12:g} Tb/s ({self.max_down} ports at {s_d / 1e9:g}G); "
                    f"use fewer down-ports, a larger oversubscription or a larger switch"
                )
        if down < 1 or up < 1:
            raise FabricsimError(f"{self.field}: this switch cannot split its ports into down and up ports "
                                 f"at oversubscription {oversubscription:g}")
        available = down + int(math.floor((capacity - down * s_d) / s_u + 1e-9))
        return down, up, available


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
    ports_per_switch: tuple[int, int, int]  # ports each switch of a tier offers at its speeds
    max_endpoints_at_tiers: int  # endpoints these switches could connect with this many tiers

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
        ports = self.ports_per_switch
        return self.leaves * ports[0], self.spines * ports[1], self.cores * ports[2]

    @property
    def max_endpoints(self) -> int:
        return self.max_endpoints_at_tiers

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
    endpoints_per_gpu: float = 1.0,
    budgets: tuple[PortBudget, PortBudget, PortBudget] | None = None,
    downlinks: tuple[int | None, int | None] = (None, None),
) -> FatTreeShape:
    """Size one plane of a fat-tree for ``endpoints`` NIC ports.

    ``radix`` is the leaf's port count at the host link speed.  ``budgets`` (leaf, spine, core)
    describe tiers whose switches or link speeds differ (default: ``radix`` ports of one speed
    everywhere); ``downlinks`` fixes the down-ports of a leaf / spine (default: the capacity split
    by the oversubscription).  ``endpoints_per_gpu`` (fractional where GPUs share a NIC) only converts
    limits into GPUs for error messages.
    """
    if endpoints <= 0:
        raise FabricsimError(f"cluster.gpus: need at least one GPU, got {endpoints} endpoints")
    if radix < 2:
        raise FabricsimError(f"switch radix {radix} at this port speed is too small to build a fabric")
    over = tuple(oversubscription) + (1.0,) * (2 - len(oversubscription))
    budgets = budgets or (PortBudget.uniform(radix),) * 3
    down_fixed = tuple(downlinks) + (None,) * (2 - len(downlinks))
    leaf_down, leaf_up, leaf_ports = budgets[0].split(over[0], down_fixed[0])
    spine_down, spine_up, spine_ports = budgets[1].split(over[1], down_fixed[1])
    top = [budgets[0].max_down, budgets[1].max_down, budgets[2].max_down]  # all ports down at the top tier
    rails = rails if rail_optimized else 1

    def leaves_for(t: int) -> int:
        if t == 1:
            return 1
        if rail_optimized and rails > 1:
            servers = math.ceil(endpoints / rails)
            return rails * math.ceil(servers / leaf_down)
        return math.ceil(endpoints / leaf_down)

    def limit(t: int) -> int:
        if t == 1:
            return down_fixed[0] or top[0]
        if t == 2:
            return top[1] * leaf_down
        return top[2] * spine_down * leaf_down

    def fits(t: int) -> bool:
        if t == 1:
            return endpoints <= limit(1)
        if t == 2:
            return leaves_for(2) <= top[1]
        return math.ceil(leaves_for(3) / spine_down) <= top[2]

    if tiers == "auto":
        chosen = next((t for t in (1, 2, 3) if fits(t)), None)
        if chosen is None:
            most = int(limit(3) / endpoints_per_gpu + 1e-9)
            raise FabricsimError(
                f"no fat-tree of 1-3 tiers connects {round(endpoints / endpoints_per_gpu):,} GPUs with radix "
                f"{radix} (maximum {most:,} GPUs with 3 tiers); use a higher-radix switch, a lower port "
                f"speed (more ports), or more fabric.planes"
            )
        tiers = chosen
    if tiers not in (1, 2, 3):
        raise FabricsimError(f"fabric.tiers={tiers!r}: valid values are auto, 1, 2, 3")
    if not fits(tiers):
        most = int(limit(tiers) / endpoints_per_gpu + 1e-9)
        better = next((t for t in (1, 2, 3) if fits(t)), None)
        fix = f"use tiers={better} or tiers=auto" if better else "use a higher-radix switch or more planes"
        raise FabricsimError(
            f"fabric.tiers={tiers} cannot connect {round(endpoints / endpoints_per_gpu):,} GPUs with radix "
            f"{radix}; maximum is {most:,}; {fix}"
        )
    leaves = leaves_for(tiers)
    spines = cores = pods = spines_per_pod = 0
    bundle_leaf = bundle_spine = cores_per_group = 0
    if tiers == 1:
        leaf_down, leaf_up = top[0], 0
        leaf_ports = top[0]
        spine_down = spine_up = spine_ports = 0
        core_ports = 0
    elif tiers == 2:
        bundle_leaf = _largest_divisor_at_most(leaf_up, top[1] / leaves)
        spines = leaf_up // bundle_leaf
        spines_per_pod, pods = spines, 1
        spine_down, spine_up = top[1], 0
        spine_ports, core_ports = top[1], 0
    else:
        pods = math.ceil(leaves / spine_down)
        bundle_leaf = 1
        spines_per_pod = leaf_up
        spines = pods * spines_per_pod
        bundle_spine = _largest_divisor_at_most(spine_up, top[2] / pods)
        cores_per_group = spine_up // bundle_spine
        cores = spines_per_pod * cores_per_group
        core_ports = top[2]
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
        ports_per_switch=(leaf_ports, spine_ports, core_ports),
        max_endpoints_at_tiers=limit(int(tiers)),
    )
