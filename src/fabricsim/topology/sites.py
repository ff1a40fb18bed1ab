"""Several sites, each with its own fat-tree, joined by a dense-WDM metro link (scale-across).

Per pair of neighbouring sites (2 sites: one pair; more: a ring of sites):

* ``wavelengths`` = capacity / coherent module rate, each with a module at both ends;
* a fibre pair carries ``band / channel spacing`` wavelengths (C-band: 32 x 800ZR, 64 x 400ZR), so
  ``fiber_pairs`` per route; the capacity is spread over ``routes`` diverse routes;
* every fibre pair has a line terminal at both sites and an in-line amplifier every span
  (``ceil(distance / span) - 1`` amplifier sites);
* the wavelengths land on border switches at each site (the site fabric's top-tier switch model), whose
  other half of ports faces the site's fabric through grey optics;
* one-way latency = fibre propagation (~5 us/km: light in glass at ~2e8 m/s) + the modules' DSP/FEC.

The design holds counts only; :class:`DciFabric` is the array form the flow-level simulator routes on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fabricsim.catalog.optical_schema import CoherentOptic, LinePart
from fabricsim.errors import FabricsimError
from fabricsim.scenario import Scenario
from fabricsim.topology.design import FIBER_PROPAGATION_S_PER_M, FabricDesign, design_fabric
from fabricsim.units import format_speed_short


@dataclass(frozen=True)
class DciDesign:
    """The metro link between neighbouring sites, resolved to catalog parts and counts."""

    sites: int
    site_pairs: int  # links between neighbouring sites (1 for two sites, a ring for more)
    distance_m: float
    requested_bits_per_s: float
    optic: CoherentOptic
    terminal: LinePart
    amplifier: LinePart
    fiber: LinePart
    routes: int
    wavelengths: int  # per site pair (a wavelength is full duplex: a module at each end)
    channels_per_fiber_pair: int
    fiber_pairs: int  # per site pair, all routes
    amplifier_sites: int  # in-line amplifier sites along one route
    border_switch: str
    border_switches_per_site: int
    border_ports_per_site: int  # coherent ports + ports facing the site fabric

    @property
    def capacity_bits_per_s(self) -> float:
        """Installed capacity per direction between two neighbouring sites."""
        return self.wavelengths * self.optic.bits_per_s

    @property
    def one_way_latency_s(self) -> float:
        """Fibre propagation plus the coherent modules' DSP/FEC at both ends."""
        return self.distance_m * FIBER_PROPAGATION_S_PER_M + 2 * self.optic.latency_s

    @property
    def amplifiers(self) -> int:
        """In-line amplifiers over every fibre pair of every site pair."""
        return self.site_pairs * self.fiber_pairs * self.amplifier_sites

    @property
    def terminals(self) -> int:
        return 2 * self.site_pairs * self.fiber_pairs

    @property
    def modules(self) -> int:
        return 2 * self.site_pairs * self.wavelengths

    @property
    def fiber_pair_m(self) -> float:
        return self.site_pairs * self.fiber_pairs * self.distance_m


@dataclass(frozen=True)
class SitesDesign:
    """Every site's fat-tree (identical) and the DCI between them."""

    scenario: Scenario
    site: FabricDesign
    dci: DciDesign

    @property
    def sites(self) -> int:
        return self.dci.sites

    @property
    def gpus(self) -> int:
        return self.site.gpus * self.dci.sites

    @property
    def gpus_per_site(self) -> int:
        return self.site.gpus


def site_scenario(scenario: Scenario) -> Scenario:
    """The scenario of one site: its share of the GPUs, no ``sites`` section."""
    spec = scenario.sites
    gpus = scenario.cluster.gpus
    if gpus % spec.count:
        raise FabricsimError(f"cluster.gpus={gpus:,} does not split evenly over sites.count={spec.count}; use a "
                             f"multiple of {spec.count}")
    cluster = scenario.cluster.model_copy(update={"gpus": gpus // spec.count})
    return scenario.model_copy(update={"cluster": cluster, "sites": None})


def _part(catalog, section: str, name: str, field_name: str, role: str | None = None):
    try:
        entry = catalog.get(section, name)
    except FabricsimError as exc:
        raise FabricsimError(f"sites.{field_name}: {exc}") from None
    if role and entry.role != role:
        raise FabricsimError(f"sites.{field_name}={name!r} is a {entry.role}, not a {role}; "
                             f"choose one of {', '.join(n for n, e in catalog.sections[section].items() if e.role == role)}")
    return entry


def design_dci(scenario: Scenario, site: FabricDesign) -> DciDesign:
    """Resolve ``sites`` into parts and counts."""
    spec = scenario.sites
    catalog = scenario.catalog()
    optic = _part(catalog, "dci_optics", spec.optics, "optics")
    terminal = _part(catalog, "line_systems", spec.terminal, "terminal", "terminal")
    amplifier = _part(catalog, "line_systems", spec.amplifier, "amplifier", "amplifier")
    fiber = _part(catalog, "line_systems", spec.fiber, "fiber", "fiber")
    distance = spec.distance_km * 1e3
    if distance > optic.reach_m * max(1, math.ceil(distance / amplifier.span_m)):
        raise FabricsimError(f"sites.distance_km={spec.distance_km:g}: {optic.name} closes {optic.reach_m / 1e3:g} km "
                             f"spans; with an amplifier every {amplifier.span_m / 1e3:g} km that cannot be reached")
    channels = int(terminal.band_hz // optic.channel_spacing_hz)
    if channels < 1:
        raise FabricsimError(f"sites.optics={optic.name}: its {optic.channel_spacing_hz / 1e9:g} GHz channel does not "
                             f"fit the terminal's {terminal.band_hz / 1e12:g} THz band")
    wavelengths = math.ceil(spec.dci_bits_per_s / optic.bits_per_s - 1e-9)
    wavelengths = spec.routes * math.ceil(wavelengths / spec.routes)
    fiber_pairs = spec.routes * math.ceil(wavelengths / spec.routes / channels)
    border = site.switch_of(site.shape.tiers - 1)
    radix = border.radix(optic.bits_per_s)
    if radix == 0:
        raise FabricsimError(
            f"sites.optics={optic.name} runs at {format_speed_short(optic.bits_per_s)}, but the border switch "
            f"{border.name} (the site's top tier) has no such ports ({', '.join(format_speed_short(s) for s in border.port_speeds)}); "
            f"choose a coherent module at one of those speeds")
    pairs = 1 if spec.count == 2 else spec.count
    neighbours = 1 if spec.count == 2 else 2
    ports = 2 * neighbours * wavelengths  # half coherent, half facing the site fabric
    return DciDesign(
        sites=spec.count, site_pairs=pairs, distance_m=distance, requested_bits_per_s=spec.dci_bits_per_s,
        optic=optic, terminal=terminal, amplifier=amplifier, fiber=fiber, routes=spec.routes,
        wavelengths=wavelengths, channels_per_fiber_pair=channels, fiber_pairs=fiber_pairs,
        amplifier_sites=max(0, math.ceil(distance / amplifier.span_m - 1e-9) - 1),
        border_switch=border.name, border_switches_per_site=math.ceil(ports / radix), border_ports_per_site=ports,
    )


def design_sites(scenario: Scenario) -> SitesDesign:
    if scenario.sites is None:
        raise FabricsimError("this scenario has no sites section (add sites: {count: 2, distance_km: 80})")
    site = design_fabric(site_scenario(scenario))
    return SitesDesign(scenario, site, design_dci(scenario, site))


@dataclass
class DciFabric:
    """What the flow-level simulator routes cross-site flows on: every GPU's NIC (up, down), the
    wavelengths between neighbouring sites (each direction), and a private window arc per flow.

    ``kind = "dci"`` tells :func:`fabricsim.netsim.routing.route` to use :mod:`fabricsim.netsim.dci`."""

    design: SitesDesign
    nic_bits_per_s: float
    wavelength_bits_per_s: float
    wavelengths: int  # per site pair
    round_trip_s: float
    window_bytes: float
    kind: str = "dci"
    gpu_site: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def gpus(self) -> int:
        return self.design.gpus

    @property
    def window_bits_per_s(self) -> float:
        """Most one connection carries across: window / round trip."""
        return self.window_bytes * 8.0 / self.round_trip_s


def build_dci_fabric(design: SitesDesign, window_bytes: float) -> DciFabric:
    gpus = np.arange(design.gpus, dtype=np.int64)
    return DciFabric(design, design.site.scale_out_bits_per_s, design.dci.optic.bits_per_s, design.dci.wavelengths,
                     2 * design.dci.one_way_latency_s, window_bytes, gpu_site=gpus // design.gpus_per_site)
