"""Resolve a scenario against the catalog into a fabric design: parts, link speed, shape, media.

The design holds counts only; :func:`fabricsim.topology.build.build_fabric` materialises
it into arrays.  Everything a user may get wrong (a NIC speed no switch port serves, a
transport the switch does not speak, a radix too small for the tiers) is caught here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fabricsim.catalog import Catalog
from fabricsim.catalog.schema import Gpu, Nic, ScaleUpSystem, Switch
from fabricsim.errors import FabricsimError
from fabricsim.scenario import TIER_NAMES, Scenario
from fabricsim.topology.fat_tree import FatTreeShape, PortBudget, size_fat_tree
from fabricsim.topology.media import LinkMedia, choose_link_media
from fabricsim.topology.transport_parts import DEFAULT_LOAD_BALANCING, check_parts
from fabricsim.units import format_speed_short

FIBER_PROPAGATION_S_PER_M = 1.0 / 2.0e8  # light in glass / signal in copper, ~5 ns per metre


@dataclass(frozen=True)
class FabricDesign:
    """A scale-out fabric resolved to catalog parts and counts (no per-link arrays)."""

    scenario: Scenario
    gpu: Gpu
    nic: Nic
    switch: Switch
    scale_up: ScaleUpSystem
    gpus: int
    scale_out_bits_per_s: float  # NIC bandwidth per GPU (a shared NIC's divided among its GPUs), per direction
    link_bits_per_s: float
    ports_per_nic_per_plane: int  # switch ports of one NIC (one GPU's, or a shared NIC's) in each plane
    planes: int
    shape: FatTreeShape
    media: tuple[LinkMedia, ...]  # per tier present: leaf, spine, core
    load_balancing: str
    gpus_per_rack: int
    tier_switches: tuple[Switch, ...] = ()  # switch model of each tier present (leaf, spine, core)
    tier_link_bits_per_s: tuple[float, ...] = ()  # link speed below each tier present: NIC-leaf, leaf-spine, spine-core
    rail_only: bool = False  # each rail its own fat-tree: ``planes`` counts rails x fabric.planes
    gpus_per_nic: int = 1  # GPUs sharing one NIC (cluster.gpus_per_nic)

    def switch_of(self, tier_index: int) -> Switch:
        """Switch model of tier ``tier_index`` (0 leaf, 1 spine, 2 core)."""
        return self.tier_switches[tier_index] if self.tier_switches else self.switch

    def link_speed(self, tier_index: int) -> float:
        """Link speed of tier ``tier_index`` (0 NIC-leaf, 1 leaf-spine, 2 spine-core), bits/s."""
        return self.tier_link_bits_per_s[tier_index] if self.tier_link_bits_per_s else self.link_bits_per_s

    @property
    def gpus_per_server(self) -> int:
        return self.scenario.cluster.gpus_per_server

    @property
    def nics_per_gpu(self) -> float:
        """NIC cards per GPU: whole cards per NIC attachment (e.g. 1 ConnectX-7 per H100, even run below its
        port speed; 1.6 Tb/s over single-port 800G cards = 2), divided among the GPUs that share it (0.5 where
        two A100s share an HDR NIC)."""
        return math.ceil(self._nic_ports_per_attachment / self.nic.ports - 1e-9) / self.gpus_per_nic

    @property
    def nic_bits_per_s(self) -> float:
        """Scale-out bandwidth of one NIC attachment (a GPU's own, or the one ``gpus_per_nic`` GPUs share),
        per direction."""
        return self.scale_out_bits_per_s * self.gpus_per_nic

    @property
    def endpoints_per_gpu(self) -> float:
        """Switch ports (endpoints) per GPU in each plane: fractional where GPUs share a NIC."""
        return self.ports_per_nic_per_plane / self.gpus_per_nic

    def gpus_behind(self, endpoints: int) -> int:
        """GPUs that ``endpoints`` switch ports of one plane serve (whole GPUs)."""
        return endpoints * self.gpus_per_nic // self.ports_per_nic_per_plane

    def endpoints_of(self, gpus, port=0):
        """Endpoint index (within a plane) of port ``port`` of the NIC each of ``gpus`` sends through."""
        return gpus // self.gpus_per_nic * self.ports_per_nic_per_plane + port

    @property
    def nic_ports_per_gpu(self) -> float:
        """NIC ports cabled per GPU (a port run below its speed is still a port)."""
        return self._nic_ports_per_attachment / self.gpus_per_nic

    @property
    def _nic_ports_per_attachment(self) -> int:
        return math.ceil(self.nic_bits_per_s / self.nic.port_bits_per_s - 1e-9)

    @property
    def endpoints_per_plane(self) -> int:
        return self.gpus // self.gpus_per_nic * self.ports_per_nic_per_plane

    @property
    def tier_names(self) -> tuple[str, ...]:
        return TIER_NAMES[: self.shape.tiers]

    def link_latency_s(self, tier_index: int) -> float:
        """Propagation plus media (DSP) latency of one link of a tier, seconds."""
        media = self.media[tier_index]
        catalog = self.scenario.catalog()
        extra = sum(catalog.medium(part).latency_s for part in media.parts)
        return media.length_m * FIBER_PROPAGATION_S_PER_M + extra

    def hop_latency_s(self, tier: int) -> float:
        """One-way latency of a rail-aligned hop that climbs to ``tier`` (1 leaf, 2 spine, 3 core) and back
        down: every link and switch below the top twice, the top switch once; tier 0 is a scale-up link.
        Seconds."""
        if tier <= 0:
            return self.scale_up.link_latency_s
        links = sum(self.link_latency_s(t) for t in range(tier))
        switches = sum(self.switch_of(t).latency_s for t in range(tier - 1))
        return 2 * (links + switches) + self.switch_of(tier - 1).latency_s


def resolve_link_speed(
    per_gpu_bits_per_s: float, nic: Nic, switch: Switch, planes: int, requested: float | None
) -> tuple[float, int]:
    """(link speed bits/s, endpoints per GPU per plane) for this NIC bandwidth/switch/plane choice."""
    per_plane = per_gpu_bits_per_s / planes
    nic_port = nic.port_bits_per_s

    def serves(speed: float) -> bool:
        return (
            speed <= per_plane + 1
            and speed <= nic_port + 1
            and _divides(speed, nic_port)
            and _divides(speed, per_plane)
        )

    if requested is not None:
        if switch.radix(requested) == 0:
            raise FabricsimError(
                f"fabric.port_speed={format_speed_short(requested)}: {switch.name} has no ports at that speed; "
                f"its port speeds are {', '.join(format_speed_short(s) for s in switch.port_speeds)}"
            )
        if not serves(requested):
            raise FabricsimError(
                f"fabric.port_speed={format_speed_short(requested)} does not divide the {nic.name} port "
                f"({format_speed_short(nic_port)}) and the GPU's {format_speed_short(per_plane)} per plane"
            )
        speed = requested
    else:
        options = [s for s in switch.port_speeds if serves(s)]
        if not options:
            raise FabricsimError(
                f"{nic.name} ports run at {format_speed_short(nic_port)} ({format_speed_short(per_plane)} per GPU "
                f"per plane with fabric.planes={planes}), but {switch.name} offers "
                f"{', '.join(format_speed_short(s) for s in switch.port_speeds)} ports and no breakout of the NIC "
                f"port matches; choose another switch or NIC, or change fabric.planes"
            )
        speed = max(options)
    return speed, int(round(per_plane / speed))


def _divides(part: float, whole: float) -> bool:
    ratio = whole / part
    return abs(ratio - round(ratio)) < 1e-9 and round(ratio) >= 1


def _tier_speeds(fabric, host_speed: float, switches: list[Switch]) -> list[float]:
    """Link speed of each tier (NIC-leaf, leaf-spine, spine-core), checked against the switches' ports."""
    spine = fabric.link_speeds.get("spine", host_speed)
    core = fabric.link_speeds.get("core", spine)
    speeds = [host_speed, spine, core]
    for t, speed in ((1, spine), (2, core)):
        for side, switch in ((TIER_NAMES[t - 1], switches[t - 1]), (TIER_NAMES[t], switches[t])):
            if switch.radix(speed) == 0:
                raise FabricsimError(
                    f"fabric.link_speeds.{TIER_NAMES[t]}={format_speed_short(speed)}: the {side} switch {switch.name} "
                    f"has no ports at that speed; its port speeds are "
                    f"{', '.join(format_speed_short(x) for x in switch.port_speeds)}"
                )
    return speeds


def _budgets(switches: list[Switch], speeds: list[float]) -> tuple[PortBudget, PortBudget, PortBudget]:
    out = []
    for t, switch in enumerate(switches):
        down = speeds[t]
        up = speeds[t + 1] if t < 2 else speeds[t]
        out.append(PortBudget(switch.capacity_bits_per_s, down, up, switch.radix(down), switch.radix(up),
                              field=f"fabric.downlinks ({TIER_NAMES[t]} {switch.name})"))
    return tuple(out)


def design_fabric(scenario: Scenario) -> FabricDesign:
    """Resolve the scenario's scale-out fabric into parts, link speed, fat-tree shape and media."""
    catalog: Catalog = scenario.catalog()
    cluster, fabric, layout = scenario.cluster, scenario.fabric, scenario.layout
    gpu = catalog.gpu(cluster.gpu)
    nic = catalog.nic(cluster.nic or gpu.default_nic)
    switch = catalog.switch(fabric.switches.get("leaf", fabric.switch))
    switches = [switch] + [catalog.switch(fabric.switches.get(t, fabric.switch)) for t in TIER_NAMES[1:]]
    scale_up = catalog.scale_up(cluster.scale_up or gpu.default_scale_up)
    check_parts(catalog, fabric, gpu, nic, switches)
    nic_bandwidth = cluster.scale_out_per_gpu or nic.per_gpu_bits_per_s or gpu.scale_out_bits_per_s
    sharing = _check_sharing(cluster)
    speed, per_nic = resolve_link_speed(nic_bandwidth, nic, switch, fabric.planes, fabric.port_speed)
    speeds = _tier_speeds(fabric, speed, switches)
    endpoints = cluster.gpus // sharing * per_nic
    planes = fabric.planes
    nics_per_server = cluster.gpus_per_server // sharing
    if fabric.rail_only:
        # rail r of every server on its own fat-tree: one endpoint per server (per NIC port) in each
        if cluster.gpus % cluster.gpus_per_server:
            raise FabricsimError(f"fabric.rail_only: cluster.gpus={cluster.gpus:,} is not a whole number of "
                                 f"{cluster.gpus_per_server}-GPU servers; each rail needs one GPU of every server")
        endpoints, planes = cluster.gpus // cluster.gpus_per_server * per_nic, fabric.planes * nics_per_server
    downlinks = tuple(fabric.downlinks) + (None,) * (2 - len(fabric.downlinks))
    shape = size_fat_tree(
        endpoints,
        switch.radix(speed),
        fabric.tiers,
        tuple(fabric.oversubscription),
        rails=1 if fabric.rail_only else nics_per_server * per_nic,
        rail_optimized=fabric.rail_optimized and not fabric.rail_only,
        planes=planes,
        endpoints_per_gpu=per_nic / sharing,
        budgets=_budgets(switches, speeds),
        downlinks=downlinks,
    )
    lengths = (layout.host_to_leaf_m, layout.leaf_to_spine_m, layout.spine_to_core_m)
    media = tuple(
        choose_link_media(
            catalog,
            TIER_NAMES[t],
            speeds[t],
            lengths[t],
            fabric.optics,
            fabric.nic_optics,
            fabric.copper_in_reach,
            fabric.media.get(TIER_NAMES[t]),
            lower_cage_bits_per_s=nic.port_bits_per_s if t == 0 else switches[t - 1].cage_speed,
            upper_cage_bits_per_s=switches[t].cage_speed,
        )
        for t in range(shape.tiers)
    )
    return FabricDesign(
        scenario=scenario,
        gpu=gpu,
        nic=nic,
        switch=switch,
        scale_up=scale_up,
        gpus=cluster.gpus,
        scale_out_bits_per_s=nic_bandwidth / sharing,
        link_bits_per_s=speed,
        ports_per_nic_per_plane=per_nic,
        planes=planes,
        shape=shape,
        media=media,
        load_balancing=fabric.load_balancing or DEFAULT_LOAD_BALANCING[fabric.transport],
        gpus_per_rack=layout.gpus_per_rack or scale_up.gpus_per_rack,
        tier_switches=tuple(switches[: shape.tiers]),
        tier_link_bits_per_s=tuple(speeds[: shape.tiers]),
        rail_only=fabric.rail_only,
        gpus_per_nic=sharing,
    )


def _check_sharing(cluster) -> int:
    """``cluster.gpus_per_nic``, checked: a shared NIC serves GPUs of one server, and every GPU has one."""
    sharing = cluster.gpus_per_nic
    if cluster.gpus_per_server % sharing or cluster.gpus % sharing:
        valid = [d for d in range(1, cluster.gpus_per_server + 1) if cluster.gpus_per_server % d == 0]
        raise FabricsimError(
            f"cluster.gpus_per_nic={sharing}: the GPUs sharing a NIC sit in one server, so it must divide "
            f"cluster.gpus_per_server={cluster.gpus_per_server} and cluster.gpus={cluster.gpus:,}; valid: "
            f"{', '.join(map(str, valid))}")
    return sharing


def scale_up_domains(gpus: int, scale_up: ScaleUpSystem) -> int:
    return math.ceil(gpus / scale_up.gpus)
