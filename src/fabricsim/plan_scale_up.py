"""The scale-up fabric's bill when its domains are sized from link counts (multi-rack NVLink, UALink):
switch chips from the tiers the radix needs, and the optics of every link copper cannot reach.

Copper inside a rack stays in the system's catalog price (cable cartridges, backplane); the optics are
added part by part (modules at both ends, fibre), as the scale-out plan counts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fabricsim.plan_media import MediaLine, media_lines
from fabricsim.topology.scale_up_fabric import ScaleUpFabric, scale_up_fabric


@dataclass
class ScaleUpBill:
    fabric: ScaleUpFabric
    power_w: float
    capex_usd: float
    lines: list[MediaLine] = field(default_factory=list)


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
        if catalog.medium(media.lower_end).family == "copper":
            continue  # copper inside the system's price
        lines += media_lines(catalog, where, media, links, price)
    chips = fabric.domains * fabric.chips_per_domain
    power = chips * system.switch_chip_power_w + sum(line.power_w for line in lines)
    capex = fabric.domains * price(system.name, system.price_usd) + sum(line.price_usd for line in lines)
    return ScaleUpBill(fabric, power, capex, lines)
