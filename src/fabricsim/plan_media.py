"""The optics and cables of a plan, counted as bought: modules, assemblies, fibre, and what they serve.

For each tier and each end (:class:`fabricsim.topology.media.LinkMedia`):

* ``units``  = parts bought: pluggable modules (or co-packaged engine ports) at an end, or cable
  assemblies; a unit serves ``links_per_unit`` links (a twin-port 800G module serves two 400G links);
* ``ends``   = link ends served (one per link at each end; both ends for an assembly);
* ``modules`` = physical modules: ``units / module_ports`` (an Arista XPO module holds 8 x 1.6T ports;
  a co-packaged optical engine serves several switch ports);
* cables: one per module connector; a connector carries ``links_per_unit / connectors`` links (a
  twin-port 800G 2xDR4 module has two MPO connectors of one 400G link each; an 800G DR8 module carrying
  two 400G links has one MPO-16, split by one breakout cable).  A tier needs ``links / (most links on
  one connector at either end)`` cables - the convention of NVIDIA's SuperPOD reference-architecture
  cable counts - and one per assembly for copper / AOC.

Power and price are per unit (catalog figures, or ``economics.prices`` overrides).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fabricsim.topology.design import FabricDesign

OPTICAL_KINDS = ("dsp", "lpo", "lro", "cpo", "xpo")


@dataclass(frozen=True)
class MediaLine:
    """One kind of part on one tier: how many, what they serve, their power and price."""

    tier: str
    name: str
    kind: str
    units: int  # parts bought: modules at an end, or cable assemblies
    power_w: float
    price_usd: float
    connection_points: float  # failure-prone connection points contributed (per link share x links)
    ends: int = 0  # link ends these units serve
    links_per_unit: int = 1
    modules: int = 0  # physical modules (units / module_ports)
    end: str = ""  # "nic" (NIC-side modules), "switch" (switch-side modules), "assembly" (cables, fibre)


@dataclass(frozen=True)
class TierMedia:
    lines: list[MediaLine]
    cables: int
    modules: int  # optical modules at both ends, or cable assemblies
    fiber_m: float


def media_lines(catalog, tier_name: str, media, n_links: int, price, nic_end: bool = False) -> list[MediaLine]:
    """Parts of ``n_links`` links of ``media`` (a LinkMedia), merged by part, with their fibre; ``nic_end``: the
    first end sits in a NIC (tier 0), ``price(name, catalog_price)`` applies overrides."""
    ends = media.ends()
    lines: list[MediaLine] = []
    for i, (part, per_unit) in enumerate(ends):
        medium = catalog.medium(part)
        units = math.ceil(n_links / per_unit)
        served = n_links if media.upper_end else 2 * n_links
        lines.append(MediaLine(
            tier=tier_name, name=part, kind=medium.kind, units=units, power_w=units * medium.power_w,
            price_usd=units * price(part, medium.price_usd),
            connection_points=n_links * medium.connection_points / len(ends),
            ends=served, links_per_unit=per_unit, modules=math.ceil(units / medium.module_ports),
            end="assembly" if not media.upper_end else "nic" if nic_end and i == 0 else "switch",
        ))
        if media.fiber and i == len(ends) - 1:
            lines.append(MediaLine(tier_name, "fiber", "fiber", n_links, 0.0,
                                   n_links * media.length_m * medium.fiber_price_usd_per_m, 0.0, ends=0,
                                   end="assembly"))
    return _merge(lines)


def tier_media(design: FabricDesign, tier: int, n_links: int, price) -> TierMedia:
    """Parts of ``n_links`` links of tier ``tier`` (0 NIC-leaf); ``price(name, catalog_price)`` applies overrides."""
    catalog = design.scenario.catalog()
    media = design.media[tier]
    ends = media.ends()
    lines = media_lines(catalog, design.tier_names[tier], media, n_links, price, nic_end=tier == 0)
    fiber_m = n_links * media.length_m if media.fiber else 0.0
    parts = [line for line in lines if line.kind != "fiber"]
    if media.fiber:
        per_connector = max(max(1, per_unit // catalog.medium(part).connectors) for part, per_unit in ends)
        cables = math.ceil(n_links / per_connector)
    else:
        cables = parts[0].units
    return TierMedia(lines, cables, sum(line.modules for line in parts), fiber_m)


def _merge(lines: list[MediaLine]) -> list[MediaLine]:
    """One line per part and grouping (both ends of a switch-switch tier often take the same module)."""
    out: dict[tuple[str, int], MediaLine] = {}
    for line in lines:
        key = (line.name, line.links_per_unit, line.end)
        if key in out:
            a = out[key]
            line = MediaLine(a.tier, a.name, a.kind, a.units + line.units, a.power_w + line.power_w,
                             a.price_usd + line.price_usd, a.connection_points + line.connection_points,
                             a.ends + line.ends, a.links_per_unit, a.modules + line.modules, a.end)
        out[key] = line
    return list(out.values())
