"""Scale-up domains that span racks (NVL576-class NVLink, UALink pods): switch tiers, and which links
need optics.

Every GPU has ``L = scale_up_bits_per_s / link_bits_per_s`` links, one per *plane* (NVL72: 18 planes of
one 72-port NVLink switch chip each).  A plane joins all G GPUs of the domain:

* one tier when a switch chip has a port per GPU (``switch_ports >= G``): G links per plane;
* else two tiers (scale-up wants one for latency -- seed 002 -- but the radix forbids it): leaves with
  half their ports down and half up (non-blocking), ``ceil(G / (P/2))`` leaves and ``ceil(G / P)``
  spines per plane; every leaf connects to every spine of its plane.

Switch chips are spread evenly over the domain's R racks, so a link whose ends sit in different racks
-- (R-1)/R of the spine links (two tiers) or of the GPU links (one tier) -- runs
``layout.scale_up_rack_to_rack_m`` and takes the scenario's optics family wherever copper does not reach
(seed 004: copper ~2 m at 200G lanes); links inside a rack are copper (``IN_RACK_M``), unless
``fabric.copper_in_reach`` is false.  Units: bits/s, m, W, USD, s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fabricsim.topology.design import FIBER_PROPAGATION_S_PER_M
from fabricsim.topology.media import LinkMedia, choose_link_media

IN_RACK_M = 1.0
"""ASSUMPTION: NVLink cable cartridges / UALink backplane links inside one rack are ~1 m."""


@dataclass(frozen=True)
class ScaleUpFabric:
    """The switch tiers and links of every scale-up domain of a cluster."""

    system: str
    domains: int
    gpus_per_domain: int
    racks_per_domain: int
    planes: int  # links per GPU
    link_bits_per_s: float
    tiers: int
    chips_per_domain: int
    in_rack_links_per_domain: int
    across_rack_links_per_domain: int
    in_rack_media: LinkMedia
    across_rack_media: LinkMedia | None
    added_latency_s: float  # one way, over a one-rack, one-tier domain: switch hops, optics, fibre

    @property
    def optical_links(self) -> int:
        return self.domains * self.across_rack_links_per_domain if self.across_rack_media else 0


def scale_up_fabric(design) -> ScaleUpFabric | None:
    """Tiers and links of the design's scale-up domains; None when the system gives no link speed and
    radix (its catalog figures then stand as they are)."""
    system = design.scale_up
    if not system.link_bits_per_s or not system.switch_ports:
        return None
    scenario = design.scenario
    catalog = scenario.catalog()
    fabric = scenario.fabric
    g, p = system.gpus, system.switch_ports
    planes = max(1, round(design.gpu.scale_up_bits_per_s / system.link_bits_per_s))
    racks = max(1, math.ceil(g / system.gpus_per_rack))
    if p >= g:
        tiers, chips_per_plane, links_per_plane = 1, 1, g
        across = links_per_plane * (racks - 1) // racks
    else:
        leaves, spines = math.ceil(g / (p // 2)), math.ceil(g / p)
        tiers, chips_per_plane = 2, leaves + spines
        links_per_plane = 2 * g  # GPU-leaf (in the rack) + leaf-spine
        across = g * (racks - 1) // racks
    in_rack = links_per_plane - across
    speed = system.link_bits_per_s

    def media(length: float) -> LinkMedia:
        return choose_link_media(catalog, "scale-up", speed, length, fabric.optics, fabric.nic_optics,
                                 fabric.copper_in_reach)

    across_media = media(scenario.layout.scale_up_rack_to_rack_m) if across else None
    in_media = media(IN_RACK_M)
    added = 0.0
    if tiers == 2:
        added += 2 * design.switch_of(0).latency_s  # two more switch hops (leaf -> spine -> leaf)
    if across_media is not None and across_media.upper_end:
        added += sum(catalog.medium(m).latency_s for m in across_media.parts) \
            + scenario.layout.scale_up_rack_to_rack_m * FIBER_PROPAGATION_S_PER_M
    return ScaleUpFabric(system.name, math.ceil(design.gpus / g), g, racks, planes, speed, tiers,
                         planes * chips_per_plane, planes * in_rack, planes * across, in_media, across_media, added)
