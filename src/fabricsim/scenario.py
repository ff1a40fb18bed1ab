"""The scenario: one validated input describing hardware, fabric, layout and economics.

A scenario is YAML (or a dict) turned into :class:`Scenario` by :func:`load_scenario`.
Every field has a default, so ``{}`` is a valid scenario (the built-in default); names
refer to catalog entries and are checked against the catalog, with suggestions.
``--set path=value`` overrides (:func:`apply_overrides`) reach any field.

Units at this edge: link speeds may be written ``400G``/``1.6T`` or in bits/s;
distances are metres; prices US dollars; energy price $/kWh.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from fabricsim.catalog import Catalog, default_catalog
from fabricsim.catalog.loader import unknown_name_message
from fabricsim.errors import FabricsimError, echo, format_validation_error, shorten
from fabricsim.io import parse_yaml, read_yaml_file
from fabricsim.scenario_fabrics import SitesSpec, TorusSpec
from fabricsim.scenario_base import Strict as _Strict
from fabricsim.scenario_workload import WorkloadSpec
from fabricsim.units import parse_bits_per_s

MAX_GPUS = 10_000_000
"""Largest cluster accepted: ten times the largest (1M-GPU) scenario the seeds plan; counts stay exact."""

MAX_RATE_BITS_PER_S = 1e15
"""Fastest link or per-GPU bandwidth accepted (1 Pb/s, ~1,000 times today's 800G-1.6T ports)."""

WEEK_S = 7 * 86400.0
"""Bound on restart, re-warm and swap times: a stop longer than a week is not a restart."""

TRANSPORTS = ("infiniband", "roce", "spectrum-x", "uec", "efa")
LOAD_BALANCING = ("ecmp", "spray", "adaptive", "flowlet")
OPTICS_FAMILIES = ("dsp", "lpo", "lro", "cpo", "xpo", "aoc", "aec", "copper")
TIER_NAMES = ("leaf", "spine", "core")


class ClusterSpec(_Strict):
    gpu: str = Field("h100-sxm", description="catalog name of the accelerator")
    gpus: int = Field(16384, gt=0, le=MAX_GPUS, description="number of accelerators")
    scale_up: str | None = Field(None, description="scale-up system; default: the GPU's usual one")
    nic: str | None = Field(None, description="scale-out NIC; default: the GPU's usual one")
    gpus_per_server: int = Field(
        8, gt=0, le=1024, description="GPUs per host / compute tray (sets the number of rails); default: the scale-up "
        "system's figure (8 for HGX, 4 for an NVL72 compute tray)"
    )
    scale_out_per_gpu: float | None = Field(
        None, description="scale-out bandwidth per GPU in bits/s (or '800G'): each GPU's NIC, shared when gpus_per_nic "
        "> 1; default: the GPU's catalog figure"
    )
    gpus_per_nic: int = Field(
        1, ge=1, le=64, description="GPUs that share one NIC (and its scale_out_per_gpu) behind a PCIe switch: 2 on "
        "A100 HGX boards cabled with 4 HDR NICs for 8 GPUs; 1: every GPU has its own"
    )

    @field_validator("scale_out_per_gpu", mode="before")
    @classmethod
    def _speed(cls, value: Any) -> Any:
        return None if value is None else parse_bits_per_s(value, "cluster.scale_out_per_gpu", MAX_RATE_BITS_PER_S)


class FabricSpec(_Strict):
    switch: str = Field("quantum-2", description="catalog name of the scale-out switch")
    port_speed: float | None = Field(
        None, description="link speed in bits/s (or '400G'); default: NIC bandwidth per plane"
    )
    tiers: Union[Literal["auto"], Literal[1, 2, 3]] = Field("auto", description="switch tiers: auto, 1, 2 or 3")
    oversubscription: list[float] = Field(
        default_factory=lambda: [1.0, 1.0],
        description="downlink:uplink ratio at the leaf, then at the spine (1 = non-blocking)",
    )
    planes: int = Field(1, gt=0, le=64, description="independent parallel fabrics; each GPU's bandwidth is split over them")
    rail_optimized: bool = True
    transport: Literal["infiniband", "roce", "spectrum-x", "uec", "efa"] = Field(
        "infiniband", description="end-to-end transport; efa (AWS SRD) needs an EFA adapter (cluster.nic: efa-p5, "
        "efa-p5en) and an Ethernet switch, and sprays (load_balancing spray)")
    load_balancing: Literal["ecmp", "spray", "adaptive", "flowlet"] | None = Field(
        None, description="default: the transport's usual policy"
    )
    optics: Literal["dsp", "lpo", "lro", "cpo", "xpo", "aoc", "aec", "copper"] = Field(
        "dsp", description="optics family for links too long for copper"
    )
    nic_optics: Literal["dsp", "lpo", "lro", "xpo", "aoc", "aec", "copper"] = Field(
        "dsp", description="family of the NIC-side module when the switch side is CPO"
    )
    copper_in_reach: bool = Field(True, description="use passive copper wherever its reach allows")
    media: dict[Literal["leaf", "spine", "core"], str] = Field(
        default_factory=dict, description="per-tier medium override (catalog names), e.g. {spine: lpo-800g}"
    )
    switches: dict[Literal["leaf", "spine", "core"], str] = Field(
        default_factory=dict, description="per-tier switch override (catalog names); default: fabric.switch"
    )
    link_speeds: dict[Literal["spine", "core"], float] = Field(
        default_factory=dict, description="link speed of the leaf-spine / spine-core tier (e.g. {spine: 800G}); "
        "default: the NIC-leaf link speed"
    )
    downlinks: list[int] = Field(
        default_factory=list, description="down-ports per leaf, then per spine (e.g. [16, 192]: a ToR per rack of "
        "16 GPUs, 192 racks per pod); default: the switch's ports split by the oversubscription"
    )
    rail_only: bool = Field(
        False, description="rail-only: each rail is its own fat-tree, no path between rails (cross-rail traffic "
        "goes over the scale-up fabric); planned by counts only - flow-level routing needs a cross-rail path"
    )

    @field_validator("link_speeds", mode="before")
    @classmethod
    def _tier_speeds(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: parse_bits_per_s(v, f"fabric.link_speeds.{k}", MAX_RATE_BITS_PER_S) for k, v in value.items()}
        return value

    @field_validator("downlinks")
    @classmethod
    def _downlinks(cls, value: list[int]) -> list[int]:
        if len(value) > 2 or any(not 1 <= v <= 100_000 for v in value):
            raise ValueError("give at most two whole numbers from 1 to 100,000: [leaf down-ports] or [leaf, spine]")
        return value
    in_network_reduction: Literal["off", "nvls", "sharp", "nvls+sharp"] | None = Field(
        None, description="in-network reductions the collective library may use: NVLink SHARP (nvls) in the scale-up "
        "switch, SHARP in the scale-out switches; default: what a stock NCCL install uses (nvls where the scale-up "
        "switch reduces; SHARP needs its plugin, so off)"
    )
    flows_per_connection: int = Field(
        1, ge=1, le=64, description="flows (QPs) per connection between two GPUs, each hashed on its own by ECMP "
        "(NCCL_IB_QPS_PER_CONNECTION; Llama 3's E-ECMP used 16)"
    )
    collective_library: str = Field("nccl", max_length=100, description="catalog name of the collective library (cost model)")
    topology: Literal["fat-tree", "torus"] = Field(
        "fat-tree", description="fat-tree (folded Clos of packet switches) or torus (cubes joined by OCS)")
    torus: TorusSpec = Field(default_factory=TorusSpec, description="torus shape, cubes, OCS (topology: torus)")

    @field_validator("port_speed", mode="before")
    @classmethod
    def _speed(cls, value: Any) -> Any:
        return None if value is None else parse_bits_per_s(value, "fabric.port_speed", MAX_RATE_BITS_PER_S)

    @field_validator("oversubscription")
    @classmethod
    def _oversubscription(cls, value: list[float]) -> list[float]:
        if not 1 <= len(value) <= 2:
            raise ValueError("give one ratio per tier above the leaf: [leaf] or [leaf, spine]")
        if any(not 1 <= v <= 1024 for v in value):
            raise ValueError("each ratio is downlinks:uplinks and must be between 1 (non-blocking) and 1024")
        return value


class LayoutSpec(_Strict):
    """Physical layout: how far each tier's links run (sets copper vs optics and reach class)."""

    gpus_per_rack: int | None = Field(None, gt=0, le=MAX_GPUS, description="default: the scale-up system's figure")
    host_to_leaf_m: float = Field(
        20.0, gt=0, le=100_000, description="NIC-to-leaf cable length (ASSUMPTION: leaf in a network rack of the row)"
    )
    leaf_to_spine_m: float = Field(50.0, gt=0, le=100_000, description="ASSUMPTION: spines in the hall's network rows")
    spine_to_core_m: float = Field(300.0, gt=0, le=100_000, description="ASSUMPTION: core across the building")
    rack_units_per_rack: int = Field(42, gt=0, le=1000, description="usable rack units in a switch rack")
    scale_up_rack_to_rack_m: float = Field(
        30.0, gt=0, le=100_000, description="scale-up link between racks of a multi-rack domain (NVL576, UALink "
        "pods), metres (ASSUMPTION: racks of one domain in neighbouring rows)")


class EconomicsSpec(_Strict):
    energy_usd_per_kwh: float = Field(0.08, ge=0, le=100, description="ASSUMPTION: US industrial power price")
    pue: float = Field(1.25, ge=1.0, le=10, description="power usage effectiveness of the facility")
    years: float = Field(4.0, ge=1 / 365, le=100, description="amortisation period (a day to a century)")
    prices: dict[str, float] = Field(
        default_factory=dict, description="price overrides in USD by catalog name (gpu, switch, medium, nic)"
    )

    @field_validator("prices")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for name, price in value.items():
            if not 0 <= price <= 1e12:
                raise ValueError(f"price of {echo(name)} is {price}; prices must be between $0 and $1e12")
        return value


class ReliabilitySpec(_Strict):
    """Run length, checkpointing and job operations (detection, relaunch, initialisation, spares)."""

    days: float = Field(54.0, gt=0, le=3650, description="length of the training run (at most ten years)")
    runs: int = Field(1000, gt=0, le=100_000, description="Monte Carlo runs")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="seed of the Monte Carlo")
    parameters: float = Field(
        405e9, gt=0, le=1e16, description="model parameters for the checkpoint size (the training model's, once set)"
    )
    checkpoint_interval_s: float | None = Field(None, ge=1, description="None: Daly's optimum")
    storage_write_bytes_per_s: float = Field(2e12, ge=1e6, le=1e18, description="Llama 3 paper 3.3.1: 2 TB/s sustained")
    blocking_fraction: float = Field(1.0, ge=0, le=1, description="share of a checkpoint write that pauses training")
    detection_s: float = Field(
        60.0, ge=0, le=WEEK_S, description="failure to detection: ASSUMPTION ~1 min for heartbeat monitoring of production "
        "stacks (Llama 3, MegaScale, ByteRobust); a stock PyTorch NCCL watchdog waits 600 s (torch.distributed "
        "init_process_group: default timeout 10 minutes for NCCL)"
    )
    relaunch_s: float = Field(120.0, ge=0, le=WEEK_S, description="ASSUMPTION: exclude the bad node, reschedule, launch processes")
    init_s_per_1k_gpus: float = Field(
        2.5, ge=0, le=86400, description="communicator / process-group initialisation per 1,000 GPUs: MegaScale (NSDI 2024) "
        "cut 2,048-GPU init from 1,047 s to under 5 s and keeps >10,000 GPUs under 30 s (~2.5 s per 1,000 GPUs); "
        "a stock TCPStore rendezvous took ~510 s per 1,000 GPUs"
    )
    job_restart_s: float | None = Field(
        None, ge=0, le=WEEK_S, description="override of detection + relaunch + initialisation, seconds"
    )
    rewarm_s: float = Field(60.0, ge=0, le=WEEK_S, description="ASSUMPTION: until steps run at full speed")
    spare_hosts: int | None = Field(None, ge=0, le=MAX_GPUS, description="None: unlimited hot spares")
    spare_swap_s: float = Field(120.0, ge=0, le=WEEK_S, description="ASSUMPTION: swap a failed host for a spare")
    planned_per_day: float = Field(47 / 54, ge=0, le=1440, description="planned stops per day (Llama 3: 47 in 54 days)")
    rates: dict[str, float] = Field(default_factory=dict, description="per-unit-hour failure rate overrides by class")
    network_failures_stop_job: bool | None = Field(
        None, description="None: network failures stop the job unless planes or dual-homing carry the traffic; "
        "False: always rerouted (they only slow the step); True: always stop"
    )

    @field_validator("rates")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        for name, rate in value.items():
            if not 0 <= rate <= 1:
                raise ValueError(f"rate of {echo(name)} is {rate}; a failure rate per unit-hour is between 0 and 1")
        return value


DEFAULT_NAME = "default: 16,384 H100 on NDR InfiniBand, rail-optimized fat-tree"


class Scenario(_Strict):
    name: str = Field(DEFAULT_NAME, max_length=300, description="title of reports")
    catalog_files: list[str] = Field(default_factory=list, max_length=32, description="extra catalog YAML files")
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)
    fabric: FabricSpec = Field(default_factory=FabricSpec)
    layout: LayoutSpec = Field(default_factory=LayoutSpec)
    economics: EconomicsSpec = Field(default_factory=EconomicsSpec)
    reliability: ReliabilitySpec = Field(default_factory=ReliabilitySpec)
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)
    sites: SitesSpec | None = Field(None, description="several campuses joined by a metro DCI (scale-across)")

    def catalog(self) -> Catalog:
        """The built-in catalog plus ``catalog_files`` (each file read once per process while unchanged)."""
        if not self.catalog_files:
            return default_catalog()
        from fabricsim.catalog.loader import cached_catalog

        return cached_catalog(self.catalog_files)

    @model_validator(mode="after")
    def _gpus_per_server_from_scale_up(self) -> "Scenario":
        """Unless set, GPUs per server come from the scale-up system (an NVL72 compute tray holds 4)."""
        if "gpus_per_server" in self.cluster.model_fields_set:
            return self
        try:
            catalog = self.catalog()
            gpu = catalog.gpu(self.cluster.gpu)
            system = catalog.scale_up(self.cluster.scale_up or gpu.default_scale_up)
        except FabricsimError:
            return self  # unknown names are reported by check_catalog_names
        if system.gpus_per_server != self.cluster.gpus_per_server:
            self.cluster.gpus_per_server = system.gpus_per_server
            self.cluster.model_fields_set.discard("gpus_per_server")
        return self


SECTIONS_CHECKED = {
    ("fabric", "collective_library"): "collective_libraries",
    ("cluster", "gpu"): "gpus",
    ("cluster", "scale_up"): "scale_up",
    ("cluster", "nic"): "nics",
    ("fabric", "switch"): "switches",
}


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that owns the field at ``loc`` (for typo suggestions)."""
    model: type[BaseModel] = Scenario
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return None
    return model


def _explain(exc: ValidationError, where: str) -> str:
    message = format_validation_error(exc, where=where)
    hints = []
    for err in exc.errors():
        if err["type"] == "extra_forbidden":
            model = _model_at(err["loc"])
            if model is not None:
                valid = sorted(model.model_fields)
                close = difflib.get_close_matches(str(err["loc"][-1])[:100], valid, n=1, cutoff=0.5)
                loc = ".".join(shorten(str(p), 40) for p in err["loc"])
                hint = f" did you mean {close[0]!r}?" if close else ""
                hints.append(f"{loc} is not a field;{hint} valid fields here: {', '.join(valid)}")
    return message + (". " + "; ".join(hints[:3]) if hints else "")


def scenario_from_dict(data: dict | None, where: str = "scenario") -> Scenario:
    """Validate a scenario dict and check its catalog names."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise FabricsimError(f"{where}: expected a mapping of sections (cluster, fabric...), got {type(data).__name__}")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise FabricsimError(_explain(exc, where)) from None
    except RecursionError:
        raise FabricsimError(f"{where}: nested too deeply") from None
    check_catalog_names(scenario)
    if "name" not in data and data:  # an unnamed scenario that is not the default is titled by its content
        scenario = scenario.model_copy(update={"name": describe(scenario)})
    return scenario


def check_catalog_names(scenario: Scenario) -> None:
    catalog = scenario.catalog()
    for (section_name, field), catalog_section in SECTIONS_CHECKED.items():
        value = getattr(getattr(scenario, section_name), field)
        if value is not None and value not in catalog.sections[catalog_section]:
            raise FabricsimError(
                f"{section_name}.{field}: "
                + unknown_name_message(catalog_section, value, catalog.sections[catalog_section])
            )
    for tier, switch in scenario.fabric.switches.items():
        if switch not in catalog.sections["switches"]:
            raise FabricsimError(
                f"fabric.switches.{tier}: " + unknown_name_message("switches", switch, catalog.sections["switches"])
            )
    for tier, medium in scenario.fabric.media.items():
        if medium not in catalog.sections["media"]:
            raise FabricsimError(
                f"fabric.media.{tier}: " + unknown_name_message("media", medium, catalog.sections["media"])
            )


MAX_OVERRIDES = 100


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``path=value`` strings (value parsed as YAML) to a scenario dict; returns a copy."""
    data = copy.deepcopy(data or {})
    if len(overrides) > MAX_OVERRIDES:
        raise FabricsimError(f"--set given {len(overrides)} times; at most {MAX_OVERRIDES}")
    for item in overrides:
        if "=" not in item:
            raise FabricsimError(f"--set {echo(item)}: expected path=value, e.g. --set fabric.optics=cpo")
        path, raw = item.split("=", 1)
        keys = [k for k in path.strip().split(".") if k]
        if not keys:
            raise FabricsimError(f"--set {echo(item)}: empty path")
        if len(keys) > 8:
            raise FabricsimError(f"--set {echo(path)}: a field path has at most 8 parts")
        try:
            value = parse_yaml(raw, f"--set {shorten(path, 60)}")
        except FabricsimError:
            value = raw  # not YAML: the text itself (validation says whether it fits the field)
        set_field(data, keys, value, f"--set {echo(item)}")
    return data


def set_field(data: dict, keys: list[str], value, what: str) -> None:
    """Set ``data[k0][k1]...[kn] = value`` in place, creating sections as needed (``what`` names the
    setting in errors: '--set ...', 'sweep axis ...')."""
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            raise FabricsimError(f"{what}: {echo(key)} is a value, not a section")
        node = child
    node[keys[-1]] = value


def describe(scenario: Scenario) -> str:
    """A title from the scenario's content: '64 × h100-sxm on quantum-2 (infiniband)'."""
    return (f"{scenario.cluster.gpus:,} × {scenario.cluster.gpu} on {scenario.fabric.switch} "
            f"({scenario.fabric.transport})")


def _title(data: dict, overrides: list[str]) -> str | None:
    """The title of a named scenario changed by ``--set`` (None: its name still describes it): the
    changes are appended, so a title never claims a cluster the run did not simulate.  (An unnamed
    scenario is titled by its content in :func:`scenario_from_dict`.)"""
    name = data.get("name")
    if isinstance(name, str) and overrides and not any(o.split("=", 1)[0].strip() == "name" for o in overrides):
        return shorten(f"{name} (with {', '.join(overrides)})", 300)
    return None


def load_scenario(path: str | Path | None = None, overrides: list[str] = ()) -> Scenario:
    """Read a scenario file (None = built-in default) and apply ``--set`` overrides."""
    data: dict = {}
    where = "the built-in default scenario"
    if path is not None:
        raw = read_yaml_file(path, "scenario file")
        where = shorten(str(path), 160)
        if raw is not None and not isinstance(raw, dict):
            raise FabricsimError(f"{where}: a scenario file must be a mapping (cluster:, fabric:...)")
        data = raw or {}
    overrides = list(overrides)
    title = _title(data, overrides)
    if overrides:
        data = apply_overrides(data, overrides)
        where += " with --set " + shorten(" ".join(overrides), 200)
    scenario = scenario_from_dict(data, where=where)
    if title is not None:
        scenario = scenario.model_copy(update={"name": title})
    return scenario
