"""Spine-free scale-out (Google Jupiter style): aggregation blocks joined directly through OCS.

A three-tier fat-tree's *pods* (leaves + their spines) are Jupiter's aggregation blocks, its *core* tier is
the spine layer.  Direct connect removes the core switches and the transceivers at their end of every
spine-core link: each block's uplinks go straight into an OCS (one port per uplink with circulators),
which patches them to other blocks' uplinks -- ``U / (B - 1)`` links between every pair of B blocks
for U uplinks per block (topology engineering can skew that to the traffic).  The blocks' own
uplink transceivers and the fibre to the OCS racks stay.

Throughput, from the hose model of each block: uniform block-to-block traffic fits in the direct links
(each block spreads U links over B - 1 peers), as it does in the Clos; traffic between one pair of
blocks gets only ``1 / (B - 1)`` of a block's uplinks directly, and about half of them when other blocks
forward it one more hop (Valiant-style transit, what Jupiter's traffic engineering does for 40% of
its traffic).  Costs and powers: the scale-out plan's switches and optics (NICs excluded), catalog parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fabricsim.errors import FabricsimError
from fabricsim.plan import plan_scenario


@dataclass(frozen=True)
class SpineFreeComparison:
    blocks: int
    uplinks_per_block: int
    core_switches_removed: int
    core_side_modules_removed: int
    ocs: str
    ocs_count: int
    clos_capex_usd: float  # scale-out switches + optics
    clos_power_w: float
    direct_capex_usd: float
    direct_power_w: float
    direct_links_per_block_pair: float
    pair_share_direct: float  # of a block's uplink capacity, between one pair of blocks, direct paths only
    pair_share_with_transit: float
    notes: list[str] = field(default_factory=list)

    @property
    def capex_saving(self) -> float:
        return 1.0 - self.direct_capex_usd / self.clos_capex_usd

    @property
    def power_saving(self) -> float:
        return 1.0 - self.direct_power_w / self.clos_power_w


def spine_free_comparison(scenario, plan=None, ocs_name: str = "palomar-136") -> SpineFreeComparison:
    """The scenario's 3-tier fat-tree with and without its core tier (blocks joined through OCS); ``plan``: the
    scenario's plan when the caller has it already."""
    plan = plan_scenario(scenario, materialise=False) if plan is None else plan
    if plan.tiers < 3:
        raise FabricsimError(f"a spine-free (direct-connect) fabric joins aggregation blocks, the pods of a 3-tier "
                             f"fat-tree; this one has {plan.tiers} tier(s): use more GPUs or fabric.tiers: 3")
    catalog = scenario.catalog()
    ocs = catalog.get("optical_switches", ocs_name)
    price = scenario.economics.prices.get
    core = next(t for t in plan.tier_lines if t.tier == "core")
    uplinks = core.links  # spine-core links, all planes
    blocks = plan.pods * plan.planes
    core_switch = catalog.switch(core.switch)
    core_lines = [m for m in plan.media_lines if m.tier == "core" and m.kind != "fiber"]
    # the core-side end of every spine-core link goes away: half the units of a link's two ends
    removed_power = sum(m.power_w for m in core_lines) / 2
    removed_price = sum(m.price_usd for m in core_lines) / 2
    removed_modules = sum(m.modules for m in core_lines) // 2
    ports = uplinks * (1 if ocs.circulators else 2)
    ocs_count = math.ceil(ports / ocs.ports)
    clos_capex = plan.capex_usd["switches"] + plan.capex_usd["optics_and_cables"]
    clos_power = plan.power_w["switches"] + plan.power_w["optics_and_cables"]
    direct_capex = (clos_capex - core.switches * price(core_switch.name, core_switch.price_usd) - removed_price
                    + ocs_count * price(ocs.name, ocs.price_usd))
    direct_power = clos_power - core.switches * core_switch.power_w - removed_power + ocs_count * ocs.power_w
    per_block = uplinks // blocks
    pair = 1.0 / max(1, plan.pods - 1)
    return SpineFreeComparison(
        blocks=blocks, uplinks_per_block=per_block, core_switches_removed=core.switches,
        core_side_modules_removed=removed_modules, ocs=ocs.name, ocs_count=ocs_count, clos_capex_usd=clos_capex,
        clos_power_w=clos_power, direct_capex_usd=direct_capex, direct_power_w=direct_power,
        direct_links_per_block_pair=per_block / max(1, plan.pods - 1), pair_share_direct=pair,
        pair_share_with_transit=min(1.0, 0.5 + pair / 2),
        notes=[f"{plan.pods} aggregation blocks per plane x {plan.planes} plane(s); uniform block-to-block traffic "
               f"fits the direct links as it fits the Clos"])
