"""Bill of materials of a torus pod joined by OCS, and a fat-tree of the same chips beside it.

Counted from :class:`fabricsim.topology.torus.TorusDesign`: chips, hosts, cubes (racks), electrical
links inside cubes, optical links across faces (a transceiver at each end, fibre to and from the OCS
racks), OCS (one per dimension and face position).  Power and capex keep the categories of the
fat-tree plan (``gpus``, ``servers``, ``scale_up_fabric`` = in-cube copper, ``optics_and_cables``,
``switches`` = OCS, ``nics`` = the hosts' data-centre NICs), so the shares compare directly.  The
OCS share (OCS + the optical parts they need) is what the TPU v4 paper reports (<5% of cost, <3% of
power).

:func:`compare_with_fat_tree` plans the same chips on a packet-switched fat-tree giving every chip the
same injection bandwidth (its ICI bandwidth on 400G NIC ports), and times the same all-reduce and
all-to-all on both (analytic).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from fabricsim.plan import NETWORK_CATEGORIES
from fabricsim.scenario import Scenario
from fabricsim.topology.torus import TorusDesign, build_torus, design_torus

OCS_PARTS = ("switches", "optics_and_cables")


@dataclass
class TorusPlan:
    scenario: str
    gpu: str
    cube: str
    chips: int
    dims: tuple[int, ...]
    block: tuple[int, ...]
    twisted: bool
    cubes: int
    hosts: int
    racks: int
    link_bits_per_s: float
    electrical_links: int
    optical_links: int
    transceivers: int
    transceiver: str
    ocs: str | None
    ocs_count: int
    ocs_ports_used: int
    ocs_ports_available: int
    ocs_reconfiguration_s: float
    fiber_m: float
    bisection_bits_per_s: float
    diameter_hops: int
    power_w: dict[str, float]
    capex_usd: dict[str, float]
    notes: list[str] = field(default_factory=list)

    def share(self, table: dict[str, float], keys=OCS_PARTS) -> float:
        total = sum(table.values())
        return sum(table.get(k, 0.0) for k in keys) / total if total else 0.0

    @property
    def ocs_capex_share(self) -> float:
        """OCS and the optical components they need (transceivers, fibre) over the whole system."""
        return self.share(self.capex_usd)

    @property
    def ocs_power_share(self) -> float:
        return self.share(self.power_w)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(ocs_capex_share=self.ocs_capex_share, ocs_power_share=self.ocs_power_share,
                   network_capex_share=self.share(self.capex_usd, NETWORK_CATEGORIES),
                   network_power_share=self.share(self.power_w, NETWORK_CATEGORIES))
        return out


def plan_torus_design(design: TorusDesign) -> TorusPlan:
    scenario = design.scenario
    catalog = scenario.catalog()
    price = lambda name, value: scenario.economics.prices.get(name, value)  # noqa: E731
    gpu, cube, optic, ocs = design.gpu, design.scale_up, design.optic, design.ocs
    nic = catalog.nic(scenario.cluster.nic or gpu.default_nic)
    chips = design.chips
    hosts = math.ceil(chips / cube.gpus_per_server)
    fiber_m = design.optical_links * 2 * scenario.fabric.torus.cube_to_ocs_m if ocs else \
        design.optical_links * scenario.fabric.torus.cube_to_ocs_m
    nic_cards = math.ceil(chips * gpu.scale_out_bits_per_s / (nic.ports * nic.port_bits_per_s) - 1e-9)
    power = {
        "gpus": chips * gpu.power_w,
        "servers": chips * gpu.server_overhead_power_w,
        "scale_up_fabric": design.cubes * cube.switch_chips * cube.switch_chip_power_w,
        "nics": nic_cards * nic.power_w,
        "switches": design.ocs_count * (ocs.power_w if ocs else 0.0),
        "optics_and_cables": design.transceivers * optic.power_w,
    }
    capex = {
        "gpus": chips * price(gpu.name, gpu.price_usd),
        "servers": chips * gpu.server_overhead_price_usd,
        "scale_up_fabric": design.cubes * price(cube.name, cube.price_usd),
        "nics": nic_cards * price(nic.name, nic.price_usd),
        "switches": design.ocs_count * (price(ocs.name, ocs.price_usd) if ocs else 0.0),
        "optics_and_cables": design.transceivers * price(optic.name, optic.price_usd)
        + fiber_m * optic.fiber_price_usd_per_m,
    }
    fabric = build_torus(design)
    notes = []
    if ocs is None:
        notes.append("no OCS: cube faces cabled statically; a slice smaller than the pod is a mesh, and a failed cube "
                     "cannot be swapped for another")
    return TorusPlan(
        scenario=scenario.name, gpu=gpu.name, cube=cube.name, chips=chips, dims=design.dims, block=design.block,
        twisted=design.twisted, cubes=design.cubes, hosts=hosts,
        racks=math.ceil(chips / cube.gpus_per_rack), link_bits_per_s=design.link_bits_per_s,
        electrical_links=design.electrical_links, optical_links=design.optical_links,
        transceivers=design.transceivers, transceiver=optic.name, ocs=ocs.name if ocs else None,
        ocs_count=design.ocs_count, ocs_ports_used=design.ocs_ports_used,
        ocs_ports_available=design.ocs_count * (ocs.ports if ocs else 0),
        ocs_reconfiguration_s=ocs.reconfiguration_s if ocs else 0.0, fiber_m=fiber_m,
        bisection_bits_per_s=fabric.bisection_links() * design.link_bits_per_s,
        diameter_hops=design.diameter_hops, power_w=power, capex_usd=capex, notes=notes,
    )


def plan_torus(scenario: Scenario) -> TorusPlan:
    return plan_torus_design(design_torus(scenario))


@dataclass
class FatTreeComparison:
    """The same chips on a torus with OCS and on a fat-tree of packet switches."""

    fat_tree_scenario: dict
    fat_tree_summary: str
    rows: list[dict]  # {metric, torus, fat_tree, unit}
    error: str = ""


def fat_tree_variant(scenario: Scenario, switch: str = "tomahawk5") -> Scenario:
    """The scenario's chips on a non-blocking fat-tree: every chip's ICI bandwidth on 400G NIC ports."""
    from fabricsim.scenario import scenario_from_dict

    catalog = scenario.catalog()
    gpu = catalog.gpu(scenario.cluster.gpu)
    data = scenario.model_dump(exclude={"fabric", "cluster", "sites"})
    data["cluster"] = {"gpu": gpu.name, "gpus": scenario.cluster.gpus, "scale_up": "single-chip",
                       "gpus_per_server": 4, "nic": "connectx-7", "scale_out_per_gpu": gpu.scale_up_bits_per_s}
    data["fabric"] = {"switch": switch, "transport": "roce", "load_balancing": "spray", "port_speed": 4.0e11}
    return scenario_from_dict(data, where="fat-tree comparison")


def compare_with_fat_tree(scenario: Scenario, plan: TorusPlan, size_bytes: int = 2**30) -> FatTreeComparison:
    """Network capex and power, all-reduce and all-to-all of ``size_bytes`` on both fabrics."""
    from fabricsim.collectives.api import run_collective
    from fabricsim.collectives.torus_api import run_torus_collective
    from fabricsim.errors import FabricsimError
    from fabricsim.plan import plan_design
    from fabricsim.topology.design import design_fabric

    try:
        variant = fat_tree_variant(scenario)
        design = design_fabric(variant)
        fat = plan_design(design)
        fat_ar = run_collective(design, "all_reduce", "auto", [size_bytes], method="analytic").results[0]
        fat_a2a = run_collective(design, "all_to_all", "direct", [size_bytes], method="analytic").results[0]
    except FabricsimError as exc:
        return FatTreeComparison({}, "", [], error=str(exc))
    torus_ar = run_torus_collective(scenario, "all_reduce", "auto", [size_bytes], method="analytic"
                                    if not plan.twisted else "flow").results[0]
    torus_a2a = run_torus_collective(scenario, "all_to_all", "auto", [size_bytes], method="analytic").results[0]

    def net(table, keys):
        return sum(table.get(k, 0.0) for k in keys)

    fat_keys = NETWORK_CATEGORIES
    torus_keys = ("switches", "optics_and_cables", "scale_up_fabric")  # a torus has no scale-out NICs
    rows = [
        {"metric": "network capex", "torus": net(plan.capex_usd, torus_keys), "fat_tree": net(fat.capex_usd, fat_keys),
         "unit": "usd"},
        {"metric": "network power", "torus": net(plan.power_w, torus_keys), "fat_tree": net(fat.power_w, fat_keys),
         "unit": "w"},
        {"metric": "network share of capex", "torus": plan.share(plan.capex_usd, torus_keys),
         "fat_tree": fat.network_share(fat.capex_usd), "unit": "share"},
        {"metric": "network share of power", "torus": plan.share(plan.power_w, torus_keys),
         "fat_tree": fat.network_share(fat.power_w), "unit": "share"},
        {"metric": "bisection (one direction)", "torus": plan.bisection_bits_per_s,
         "fat_tree": fat.bisection_bits_per_s, "unit": "bits/s"},
        {"metric": f"all-reduce {size_bytes / 2**30:g} GiB", "torus": torus_ar.time_s, "fat_tree": fat_ar.time_s,
         "unit": "s"},
        {"metric": f"all-to-all {size_bytes / 2**30:g} GiB per chip", "torus": torus_a2a.time_s,
         "fat_tree": fat_a2a.time_s, "unit": "s"},
    ]
    summary = (f"{fat.tiers}-tier fat-tree of {fat.switches:,} {fat.switch} switches, "
               f"{fat.nic_ports // fat.gpus} x 400G NIC ports per chip, {fat.optical_modules:,} optical modules")
    return FatTreeComparison(variant.model_dump(include={"cluster", "fabric"}), summary, rows)
