"""The scale-up fabric's bill when its domains are sized from link counts (multi-rack NVLink, UALink):
switch chips from the tiers the radix needs, and the optics of every link copper cannot reach.

Copper inside a rack stays in the system's catalog price (cable cartridges, backplane); the optics are
added part by part (modules at both ends, fibre), as the scale-out plan counts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fabricsim.plan_media import MediaLine
from fabricsim.topology.scale_up_fabric import ScaleUpFabric, media_units, scale_up_fabric


@dataclass
class ScaleUpBill:
    fabric: ScaleUpFabric
    power_w: float
    capex_usd: float
    lines: list[MediaLine] = field(default_factory=list)

    @property
    def optics_power_w(self) -> float:
        return sum(line.power_w for line in self.lines)


def scale_up_bill(design, price) -> ScaleUpBill | None:
    """Switch chips and optics of every scale-up domain; ``price(name, catalog_price)`` applies overrides.
    None when the scale-up system is not sized from links (its catalog figures stand)."""
    fabric = scale_up_fabric(design)
    if fabric is None:
        return None
    catalog = design.scenario.catalog()
    system = design.scale_up
    lines: list[MediaLine] = []
    for where, media, per_domain in (("scale-up in rack", fabric.in_rack_media, fabric.in_rack_links_per_domain),
                                     ("scale-up across racks", fabric.across_rack_media,
                                      fabric.across_rack_links_per_domain)):
        if media is None or per_domain == 0:
            continue
        links = fabric.domains * per_domain
        first = catalog.medium(media.lower_end)
        if first.family == "copper":
            continue  # copper inside the system's price
        for part, units in media_units(media, links):
            medium = catalog.medium(part)
            lines.append(MediaLine(where, part, medium.kind, units, units * medium.power_w,
                                   units * price(part, medium.price_usd),
                                   links * medium.connection_points / len(media.ends()),
                                   ends=links, modules=-(-units // medium.module_ports), end="assembly"
                                   if not media.upper_end else "switch"))
        if media.fiber:
            lines.append(MediaLine(where, "fiber", "fiber", links, 0.0,
                                   links * media.length_m * catalog.medium(media.upper_end).fiber_price_usd_per_m,
                                   0.0, end="assembly"))
    merged: dict[tuple[str, str], MediaLine] = {}
    for line in lines:  # both ends of a link often take the same module
        key = (line.tier, line.name)
        if key in merged:
            a = merged[key]
            line = MediaLine(a.tier, a.name, a.kind, a.units + line.units, a.power_w + line.power_w,
                             a.price_usd + line.price_usd, a.connection_points, a.ends + line.ends, a.links_per_unit,
                             a.modules + line.modules, a.end)
        merged[key] = line
    lines = list(merged.values())
    chips = fabric.domains * fabric.chips_per_domain
    power = chips * system.switch_chip_power_w + sum(line.power_w for line in lines)
    capex = fabric.domains * price(system.name, system.price_usd) + sum(line.price_usd for line in lines)
    return ScaleUpBill(fabric, power, capex, lines)
