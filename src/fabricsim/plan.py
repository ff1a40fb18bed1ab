"""Bill of materials of a cluster's network: switches, ports, links, optics and cables, power, capex.

Two paths give the same plan: from the design's arithmetic counts (any size, 1M+ GPUs in
milliseconds) or from a materialised :class:`~fabricsim.topology.fabric.Fabric` (counted
from its arrays).  Tests hold them equal.  Power is nameplate/typical power of each part;
capex is the catalog price (or ``economics.prices`` overrides).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from fabricsim.errors import FabricsimError
from fabricsim.plan_media import OPTICAL_KINDS, MediaLine, tier_media
from fabricsim.scenario import OPTICS_FAMILIES, Scenario
from fabricsim.topology.design import FabricDesign, design_fabric, scale_up_domains
from fabricsim.topology.fabric import Fabric

SCALE_OUT_CATEGORIES = ("switches", "optics_and_cables", "nics")
"""Bill-of-materials categories of the scale-out network (keys of ``Plan.capex_usd`` and ``Plan.power_w``)."""
NETWORK_CATEGORIES = SCALE_OUT_CATEGORIES + ("scale_up_fabric",)
"""Every network category: scale-out plus the scale-up (NVLink) fabric."""


@dataclass(frozen=True)
class TierLine:
    tier: str
    switches: int
    ports_available: int
    ports_used: int
    links: int
    link_length_m: float
    media: str
    switch: str = ""  # switch model of this tier
    link_bits_per_s: float = 0.0  # speed of the links below this tier
    down_ports: int = 0  # ports each switch of this tier faces down
    up_ports: int = 0  # ports each switch faces up (0 at the top tier)
    up_link_bits_per_s: float = 0.0  # speed of its up-ports
    cables: int = 0  # one per logical port (NVIDIA RA convention; a NIC port split over planes: one)
    modules: int = 0  # optical modules at both ends (or cable assemblies) of this tier's links

    @property
    def oversubscription(self) -> float:
        """Down:up bandwidth ratio of one switch of this tier (1 = non-blocking; 0 at the top tier)."""
        up = self.up_ports * self.up_link_bits_per_s
        return self.down_ports * self.link_bits_per_s / up if up else 0.0

@dataclass
class Plan:
    scenario: str
    gpu: str
    switch: str
    nic: str
    scale_up: str
    gpus: int
    servers: int
    scale_up_domains: int
    gpu_racks: int
    nic_cards: int
    nic_ports: int
    tiers: int
    planes: int  # fabric copies counted (rails x planes for a rail-only fabric)
    link_bits_per_s: float
    radix: int
    max_gpus_at_these_tiers: int
    tier_lines: list[TierLine]
    media_lines: list[MediaLine]
    fiber_m: float
    pods: int  # groups of leaves under one set of spines (1 with 2 tiers, 0 with 1)
    gpus_per_pod: int
    gpus_per_segment: int  # GPUs under one leaf (a rail-optimized segment: one leaf per rail)
    switch_racks: int
    bisection_bits_per_s: float
    switch_hops_worst: int
    power_w: dict[str, float]
    capex_usd: dict[str, float]
    counted_from: str
    notes: list[str] = field(default_factory=list)
    scale_up_lines: list[MediaLine] = field(default_factory=list)  # optics of scale-up links copper cannot reach
    scale_up_tiers: int = 1
    scale_up_chips: int = 0  # scale-up switch chips, all domains (0: the catalog's count, not sized from links)
    scale_up_added_latency_s: float = 0.0  # one way, over a one-rack one-tier domain
    gpu_planes: int = 1  # independent paths per GPU (fabric.planes): 2+ and a single failure only slows the job
    rail_only: bool = False

    @property
    def switches(self) -> int:
        return sum(t.switches for t in self.tier_lines)

    @property
    def optical_ends(self) -> int:
        """Link ends that are optical (two per optical link)."""
        return sum(m.ends for m in self.media_lines if m.kind in OPTICAL_KINDS)

    @property
    def optical_modules(self) -> int:
        """Physical optical modules (a twin-port module serving two links counts once)."""
        return sum(m.modules for m in self.media_lines if m.kind in OPTICAL_KINDS)

    def network_share(self, table: dict[str, float], include_scale_up: bool = True) -> float:
        keys = NETWORK_CATEGORIES if include_scale_up else SCALE_OUT_CATEGORIES
        total = sum(table.values())
        return sum(table.get(k, 0.0) for k in keys) / total if total else 0.0

    def to_dict(self) -> dict:
        out = asdict(self)
        out["switches_total"] = self.switches
        out["optical_ends"] = self.optical_ends
        out["optical_modules"] = self.optical_modules
        out["network_power_share"] = self.network_share(self.power_w)
        out["scale_out_power_share"] = self.network_share(self.power_w, include_scale_up=False)
        out["network_capex_share"] = self.network_share(self.capex_usd)
        out["scale_out_capex_share"] = self.network_share(self.capex_usd, include_scale_up=False)
        return out


def _price(scenario: Scenario, name: str, catalog_price: float) -> float:
    return scenario.economics.prices.get(name, catalog_price)


def plan_design(design: FabricDesign, fabric: Fabric | None = None) -> Plan:
    """Bill of materials from the design's counts, or from a materialised fabric's arrays."""
    scenario, shape = design.scenario, design.shape
    planes = design.planes
    if fabric is None:
        switches = [c * planes for c in shape.switches_per_tier]
        links = [c * planes for c in shape.links_per_tier]
        ports_used = [c * planes for c in shape.ports_used_per_tier()]
        counted_from = "arithmetic counts"
    else:
        switches = [int(x) for x in fabric.switches_per_tier()]
        links = [int(x) for x in fabric.links_per_tier()]
        ports_used = [int(x) for x in fabric.ports_used_per_tier()]
        counted_from = "materialised fabric arrays"
    radix = shape.radix
    names = design.tier_names
    ports_available = [c * planes for c in shape.ports_available_per_tier()]
    priced = lambda name, catalog_price: _price(scenario, name, catalog_price)  # noqa: E731
    bills = [tier_media(design, t, links[t], priced) for t in range(shape.tiers)]
    tier_lines = [
        TierLine(
            tier=names[t],
            switches=switches[t],
            ports_available=ports_available[t],
            ports_used=ports_used[t],
            links=links[t],
            link_length_m=design.media[t].length_m,
            media=design.media[t].label,
            switch=design.switch_of(t).name,
            link_bits_per_s=design.link_speed(t),
            down_ports=(shape.leaf_down, shape.spine_down, shape.ports_per_switch[2])[t],
            up_ports=(shape.leaf_up, shape.spine_up, 0)[t],
            up_link_bits_per_s=design.link_speed(t + 1) if t + 1 < shape.tiers else 0.0,
            cables=bills[t].cables,
            modules=bills[t].modules,
        )
        for t in range(shape.tiers)
    ]
    for line in tier_lines:
        if line.ports_used > line.ports_available:
            raise AssertionError(f"{line.tier}: {line.ports_used} ports used > {line.ports_available} available")
    media_lines = [line for bill in bills for line in bill.lines]
    fiber_m = sum(bill.fiber_m for bill in bills)

    gpu, nic, switch, scale_up = design.gpu, design.nic, design.switch, design.scale_up
    gpus = design.gpus
    domains = scale_up_domains(gpus, scale_up)
    nic_cards = math.ceil(gpus * design.nics_per_gpu - 1e-9)
    nic_ports = int(round(gpus * design.nic_ports_per_gpu))
    tier_switch = [design.switch_of(t) for t in range(shape.tiers)]
    power = {
        "gpus": gpus * gpu.power_w,
        "servers": gpus * gpu.server_overhead_power_w,
        "scale_up_fabric": domains * scale_up.switch_chips * scale_up.switch_chip_power_w,
        "nics": nic_cards * nic.power_w,
        "switches": sum(n * sw.power_w for n, sw in zip(switches, tier_switch)),
        "optics_and_cables": sum(m.power_w for m in media_lines),
    }
    capex = {
        "gpus": gpus * _price(scenario, gpu.name, gpu.price_usd),
        "servers": gpus * gpu.server_overhead_price_usd,
        "scale_up_fabric": domains * _price(scenario, scale_up.name, scale_up.price_usd),
        "nics": nic_cards * _price(scenario, nic.name, nic.price_usd),
        "switches": sum(n * _price(scenario, sw.name, sw.price_usd) for n, sw in zip(switches, tier_switch)),
        "optics_and_cables": sum(m.price_usd for m in media_lines),
    }
    from fabricsim.plan_scale_up import scale_up_bill  # domains sized from links: tiers and optics across racks

    scale_up_parts = scale_up_bill(design, lambda name, value: _price(scenario, name, value))
    if scale_up_parts is not None:
        power["scale_up_fabric"], capex["scale_up_fabric"] = scale_up_parts.power_w, scale_up_parts.capex_usd
    narrowest = min(
        [shape.endpoints * design.link_speed(0)]
        + ([shape.leaves * shape.leaf_up * design.link_speed(1)] if shape.tiers >= 2 else [])
        + ([shape.spines * shape.spine_up * design.link_speed(2)] if shape.tiers >= 3 else [])
    )
    return Plan(
        scenario=scenario.name,
        gpu=gpu.name,
        switch=switch.name,
        nic=nic.name,
        scale_up=scale_up.name,
        gpus=gpus,
        servers=math.ceil(gpus / design.gpus_per_server),
        scale_up_domains=domains,
        gpu_racks=math.ceil(gpus / design.gpus_per_rack),
        nic_cards=nic_cards,
        nic_ports=nic_ports,
        tiers=shape.tiers,
        planes=planes,
        link_bits_per_s=design.link_bits_per_s,
        radix=radix,
        max_gpus_at_these_tiers=design.gpus_behind(shape.max_endpoints)
        * (design.gpus_per_server // design.gpus_per_nic if design.rail_only else 1),  # rail-only: a fat-tree per rail
        tier_lines=tier_lines,
        media_lines=media_lines,
        fiber_m=fiber_m,
        pods=shape.pods,
        gpus_per_pod=(min(gpus, design.gpus_behind(shape.spine_down * shape.leaf_down))
                      if shape.tiers == 3 else gpus if shape.tiers == 2 else 0),
        gpus_per_segment=min(gpus, shape.leaf_down // design.ports_per_nic_per_plane
                             * (design.gpus_per_server if shape.rail_optimized and shape.rails > 1
                                else design.gpus_per_nic)),
        switch_racks=math.ceil(sum(n * sw.rack_units for n, sw in zip(switches, tier_switch))
                               / scenario.layout.rack_units_per_rack),
        bisection_bits_per_s=planes * narrowest / 2,
        switch_hops_worst=shape.switch_hops_worst,
        power_w=power,
        capex_usd=capex,
        counted_from=counted_from,
        gpu_planes=scenario.fabric.planes,
        rail_only=design.rail_only,
        **({} if scale_up_parts is None else dict(
            scale_up_lines=scale_up_parts.lines, scale_up_tiers=scale_up_parts.fabric.tiers,
            scale_up_chips=scale_up_parts.fabric.domains * scale_up_parts.fabric.chips_per_domain,
            scale_up_added_latency_s=scale_up_parts.fabric.added_latency_s)),
    )


def plan_scenario(scenario: Scenario, materialise: bool | None = None) -> Plan:
    """Plan a scenario; materialise the fabric arrays unless it is very large (>= 1M GPUs)."""
    design = design_fabric(scenario)
    if materialise is None:
        materialise = design.gpus < 1_000_000 and not design.rail_only
    if not materialise:
        return plan_design(design)
    from fabricsim.topology.build import build_fabric

    return plan_design(design, build_fabric(design))


@dataclass(frozen=True)
class OpticsOption:
    family: str
    optics_power_w: float
    optics_capex_usd: float
    optical_ends: int
    optical_modules: int
    connection_points: float
    network_power_w: float
    network_power_share: float
    media: str
    error: str = ""


def plans_per_optics_family(scenario: Scenario, families: tuple[str, ...]):
    """Yield (family, scenario variant, plan or None, error or None) for the same fabric with each optics family.

    A family the fabric cannot use (e.g. a reach it cannot cover) yields its error instead of a plan."""
    for family in families:
        if family not in OPTICS_FAMILIES:
            raise FabricsimError(f"optics family {family!r}: valid families are {', '.join(OPTICS_FAMILIES)}")
        variant = scenario.model_copy(update={"fabric": scenario.fabric.model_copy(update={"optics": family})})
        try:
            yield family, variant, plan_design(design_fabric(variant)), None
        except FabricsimError as exc:
            yield family, variant, None, str(exc)


def compare_optics(scenario: Scenario, families: tuple[str, ...] = ("dsp", "lpo", "lro", "cpo", "xpo")) -> list[OpticsOption]:
    """The same fabric with each optics family: power, price and failure-prone connection points."""
    out = []
    for family, _variant, plan, error in plans_per_optics_family(scenario, families):
        if plan is None:
            out.append(OpticsOption(family, 0, 0, 0, 0, 0, 0, 0, "", error=error))
            continue
        net_power = sum(plan.power_w[k] for k in NETWORK_CATEGORIES)
        out.append(
            OpticsOption(
                family=family,
                optics_power_w=plan.power_w["optics_and_cables"],
                optics_capex_usd=plan.capex_usd["optics_and_cables"],
                optical_ends=plan.optical_ends,
                optical_modules=plan.optical_modules,
                connection_points=sum(m.connection_points for m in plan.media_lines),
                network_power_w=net_power,
                network_power_share=plan.network_share(plan.power_w),
                media=", ".join(dict.fromkeys(m.name for m in plan.media_lines if m.kind != "fiber")),
            )
        )
    return out
