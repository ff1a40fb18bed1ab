"""Cost of ownership and the bandwidth tax.

* capex from the plan's bill of materials (catalog prices or ``economics.prices`` overrides),
  amortised linearly over ``economics.years``;
* energy = IT power x PUE x hours x $/kWh (nameplate/typical power, running all year: an upper
  bound on energy, stated as such);
* $/GPU-hour = (amortisation + energy) per year / (GPUs x hours per year);
* $/million tokens trained from a training throughput (tokens/s);
* the *bandwidth tax*: the yearly value of the GPU time a better fabric gives back.  If a step
  takes ``t_slow`` on one fabric and ``t_fast`` on another, the slow fabric wastes
  ``1 - t_fast / t_slow`` of every GPU-hour, worth that share of the cluster's yearly cost.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabricsim.errors import FabricsimError
from fabricsim.plan import NETWORK_CATEGORIES, Plan
from fabricsim.scenario import EconomicsSpec

HOURS_PER_YEAR = 8766.0  # 365.25 days


def energy_usd_per_year(it_power_w: float, economics, usd_per_kwh: float | None = None) -> float:
    """Facility energy bill per year for ``it_power_w`` watts of IT load (the PUE applied), USD; ``economics``:
    an EconomicsSpec (or anything with ``pue`` and ``energy_usd_per_kwh``), ``usd_per_kwh``: another price."""
    price = economics.energy_usd_per_kwh if usd_per_kwh is None else usd_per_kwh
    return it_power_w * economics.pue / 1e3 * HOURS_PER_YEAR * price


def usd_per_year(capex_usd: float, it_power_w: float, economics, usd_per_kwh: float | None = None) -> float:
    """Capex amortised over ``economics.years`` plus the energy bill of ``it_power_w``, USD per year."""
    return capex_usd / economics.years + energy_usd_per_year(it_power_w, economics, usd_per_kwh)


@dataclass(frozen=True)
class Tco:
    capex_usd: float
    network_capex_usd: float
    it_power_w: float
    network_power_w: float
    facility_power_w: float  # IT x PUE
    amortisation_usd_per_year: float
    energy_usd_per_year: float
    usd_per_gpu_hour: float
    gpus: int
    years: float

    @property
    def usd_per_year(self) -> float:
        return self.amortisation_usd_per_year + self.energy_usd_per_year

    @property
    def network_capex_share(self) -> float:
        return self.network_capex_usd / self.capex_usd if self.capex_usd else 0.0

    @property
    def network_power_share(self) -> float:
        return self.network_power_w / self.it_power_w if self.it_power_w else 0.0


def total_cost_of_ownership(plan: Plan, economics: EconomicsSpec) -> Tco:
    """Yearly cost of the cluster the plan describes."""
    capex = sum(plan.capex_usd.values())
    network_capex = sum(plan.capex_usd.get(k, 0.0) for k in NETWORK_CATEGORIES)
    it_power = sum(plan.power_w.values())
    network_power = sum(plan.power_w.get(k, 0.0) for k in NETWORK_CATEGORIES)
    facility = it_power * economics.pue
    amortisation = capex / economics.years
    energy = energy_usd_per_year(it_power, economics)
    per_gpu_hour = (amortisation + energy) / (plan.gpus * HOURS_PER_YEAR)
    return Tco(capex, network_capex, it_power, network_power, facility, amortisation, energy, per_gpu_hour,
               plan.gpus, economics.years)


def usd_per_million_tokens(tco: Tco, tokens_per_s: float) -> float:
    """Training cost of a million tokens at a cluster-wide throughput ``tokens_per_s``."""
    if tokens_per_s <= 0:
        raise FabricsimError(f"tokens per second must be > 0, got {tokens_per_s}")
    usd_per_s = tco.usd_per_year / (HOURS_PER_YEAR * 3600)
    return usd_per_s / tokens_per_s * 1e6


@dataclass(frozen=True)
class BandwidthTax:
    slow_step_s: float
    fast_step_s: float
    wasted_share: float  # of every GPU-hour on the slow fabric
    usd_per_year: float  # value of that GPU time
    gpu_hours_per_year: float


def bandwidth_tax(tco: Tco, slow_step_s: float, fast_step_s: float) -> BandwidthTax:
    """Yearly value of running steps in ``fast_step_s`` instead of ``slow_step_s`` on the same cluster."""
    if slow_step_s <= 0 or fast_step_s <= 0:
        raise FabricsimError("step times must be > 0 seconds")
    share = max(0.0, 1.0 - fast_step_s / slow_step_s)
    return BandwidthTax(slow_step_s, fast_step_s, share, share * tco.usd_per_year,
                        share * tco.gpus * HOURS_PER_YEAR)
