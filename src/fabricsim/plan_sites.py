"""Bill of materials of a multi-site cluster: every site's fabric plus the DCI between sites.

The DCI lines: coherent modules (one per wavelength end), border switches and the grey optics that
join them to each site's fabric, line terminals per fibre pair and site, in-line amplifiers every span,
and the fibre route (one-off price and yearly upkeep per pair-km).  What the DCI costs per year =
its capex amortised over ``economics.years`` + its energy (IT power x PUE) + upkeep.  Failures: fibre
cuts per year from the route length, and the active parts' failures from their FIT.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from fabricsim.economics import HOURS_PER_YEAR, usd_per_year
from fabricsim.plan import Plan, plan_design
from fabricsim.scenario import Scenario
from fabricsim.topology.media import choose_link_media
from fabricsim.topology.sites import SitesDesign, design_sites


@dataclass(frozen=True)
class DciLine:
    part: str
    kind: str  # coherent optics | border switch | grey optics | terminal | amplifier | fiber
    units: float
    unit: str
    power_w: float
    price_usd: float
    annual_usd: float = 0.0


@dataclass
class SitesPlan:
    scenario: str
    sites: int
    gpus: int
    gpus_per_site: int
    distance_km: float
    one_way_latency_s: float
    dci_capacity_bits_per_s: float  # installed, per direction between neighbouring sites
    wavelengths: int  # per site pair
    fiber_pairs: int  # per site pair
    amplifier_sites: int
    site: Plan  # one site (every site is the same)
    dci_lines: list[DciLine]
    fiber_cuts_per_year: float
    dci_hours_down_per_year: float  # without a surviving route, cross-site traffic stops this long
    active_failures_per_year: float  # modules, terminals, amplifiers
    years: float
    pue: float
    energy_usd_per_kwh: float
    notes: list[str] = field(default_factory=list)

    @property
    def dci_power_w(self) -> float:
        return sum(line.power_w for line in self.dci_lines)

    @property
    def dci_capex_usd(self) -> float:
        return sum(line.price_usd for line in self.dci_lines)

    @property
    def dci_upkeep_usd_per_year(self) -> float:
        return sum(line.annual_usd for line in self.dci_lines)

    @property
    def dci_usd_per_year(self) -> float:
        # the plan carries the scenario's years, pue and energy price
        return usd_per_year(self.dci_capex_usd, self.dci_power_w, self) + self.dci_upkeep_usd_per_year

    @property
    def power_w(self) -> dict[str, float]:
        out = {k: v * self.sites for k, v in self.site.power_w.items()}
        out["dci"] = self.dci_power_w
        return out

    @property
    def capex_usd(self) -> dict[str, float]:
        out = {k: v * self.sites for k, v in self.site.capex_usd.items()}
        out["dci"] = self.dci_capex_usd
        return out

    def dci_share(self, table: dict[str, float]) -> float:
        total = sum(table.values())
        return table["dci"] / total if total else 0.0

    def to_dict(self) -> dict:
        out = asdict(self)
        out["site"] = self.site.to_dict()
        out.update(dci_power_w=self.dci_power_w, dci_capex_usd=self.dci_capex_usd,
                   dci_upkeep_usd_per_year=self.dci_upkeep_usd_per_year, dci_usd_per_year=self.dci_usd_per_year,
                   dci_power_share=self.dci_share(self.power_w), dci_capex_share=self.dci_share(self.capex_usd),
                   power_w=self.power_w, capex_usd=self.capex_usd)
        return out


def dci_lines(design: SitesDesign) -> list[DciLine]:
    """Parts of the DCI over every site pair (prices: catalog or ``economics.prices``)."""
    scenario = design.scenario
    catalog = scenario.catalog()
    price = scenario.economics.prices.get
    dci = design.dci
    optic, terminal, amplifier, fiber = dci.optic, dci.terminal, dci.amplifier, dci.fiber
    border = catalog.switch(dci.border_switch)
    switches = dci.sites * dci.border_switches_per_site
    grey_links = dci.sites * dci.border_ports_per_site // 2
    grey = choose_link_media(catalog, "core", optic.bits_per_s, scenario.layout.spine_to_core_m,
                             scenario.fabric.optics, scenario.fabric.nic_optics, scenario.fabric.copper_in_reach,
                             upper_cage_bits_per_s=border.cage_speed, lower_cage_bits_per_s=border.cage_speed)
    lines = [DciLine(optic.name, "coherent optics", dci.modules, "modules", dci.modules * optic.power_w,
                     dci.modules * price(optic.name, optic.price_usd))]
    lines.append(DciLine(border.name, "border switch", switches, "switches", switches * border.power_w,
                         switches * price(border.name, border.price_usd)))
    for part, links_per_unit in grey.ends():
        medium = catalog.medium(part)
        units = -(-grey_links // links_per_unit)
        lines.append(DciLine(part, "grey optics", units, "units", units * medium.power_w,
                             units * price(part, medium.price_usd)))
    lines.append(DciLine(terminal.name, "terminal", dci.terminals, "terminals", dci.terminals * terminal.power_w,
                         dci.terminals * price(terminal.name, terminal.price_usd), dci.terminals * terminal.annual_usd))
    if dci.amplifiers:
        lines.append(DciLine(amplifier.name, "amplifier", dci.amplifiers, "amplifiers",
                             dci.amplifiers * amplifier.power_w, dci.amplifiers * price(amplifier.name, amplifier.price_usd),
                             dci.amplifiers * amplifier.annual_usd))
    pair_km = dci.fiber_pair_m / 1e3
    lines.append(DciLine(fiber.name, "fiber", pair_km, "fibre pair-km", 0.0, pair_km * price(fiber.name, fiber.price_usd),
                         pair_km * fiber.annual_usd))
    return _merge(lines)


def _merge(lines: list[DciLine]) -> list[DciLine]:
    """One line per part and kind (both ends of a grey link often take the same module)."""
    out: dict[tuple[str, str], DciLine] = {}
    for line in lines:
        key = (line.part, line.kind)
        if key in out:
            a = out[key]
            line = DciLine(a.part, a.kind, a.units + line.units, a.unit, a.power_w + line.power_w,
                           a.price_usd + line.price_usd, a.annual_usd + line.annual_usd)
        out[key] = line
    return list(out.values())


def plan_sites(scenario: Scenario) -> SitesPlan:
    """Plan every site (from counts) and the DCI between them."""
    design = design_sites(scenario)
    dci = design.dci
    site = plan_design(design.site)
    route_m = dci.site_pairs * dci.routes * dci.distance_m
    cuts = route_m * dci.fiber.cuts_per_m_year
    # a cut stops cross-site traffic only when it takes out every route (one route: every cut)
    down_hours = cuts * dci.fiber.repair_hours if dci.routes == 1 else 0.0
    fit_hours = (dci.modules * dci.optic.fit_per_end + dci.terminals * dci.terminal.fit
                 + dci.amplifiers * dci.amplifier.fit) / 1e9
    notes = []
    if dci.routes == 1:
        notes.append("one fibre route: every cut stops cross-site traffic until repaired (sites.routes: 2 for a "
                     "diverse route that keeps half the capacity)")
    economics = scenario.economics
    return SitesPlan(
        scenario=scenario.name, sites=dci.sites, gpus=design.gpus, gpus_per_site=design.gpus_per_site,
        distance_km=dci.distance_m / 1e3, one_way_latency_s=dci.one_way_latency_s,
        dci_capacity_bits_per_s=dci.capacity_bits_per_s, wavelengths=dci.wavelengths, fiber_pairs=dci.fiber_pairs,
        amplifier_sites=dci.amplifier_sites, site=site, dci_lines=dci_lines(design), fiber_cuts_per_year=cuts,
        dci_hours_down_per_year=down_hours, active_failures_per_year=fit_hours * HOURS_PER_YEAR,
        years=economics.years, pue=economics.pue, energy_usd_per_kwh=economics.energy_usd_per_kwh, notes=notes,
    )
