"""Capex, network share and cost per token as ranges: every price has a low and a high, and the ones that
move the answer most are shown as a tornado.

A plan's capex is linear in its prices: ``sum(quantity x price)`` over the priced items (each GPU model,
the server share, the scale-up fabric, each NIC, each switch model, each medium, fibre).  Each item has
``[low, high]``: the catalog's sourced ``price_range_usd`` where one is cited, else a labelled default
spread - +-15 % around a sourced price, +-30 % around an assumed one.  Energy is an item of the yearly
cost (``economics.energy_usd_per_kwh``, default range below).

* range: every item at its low, every item at its high;
* network share range: network items low and the rest high, then the reverse (the two extremes);
* tornado: each item alone from low to high, the rest at their middle; the five widest swings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fabricsim.economics import HOURS_PER_YEAR, usd_per_year
from fabricsim.plan import NETWORK_CATEGORIES, SCALE_OUT_CATEGORIES, Plan
from fabricsim.scenario import Scenario

SOURCED_SPREAD = 0.15
ASSUMED_SPREAD = 0.30
ENERGY_RANGE_USD_PER_KWH = (0.05, 0.12)
"""US industrial electricity: EIA Electric Power Monthly, average retail price to industry ~8 c/kWh in
2023-2024, state averages from ~5 to ~12 c/kWh (range of state averages, not opened table by table)."""


@dataclass(frozen=True)
class PriceItem:
    label: str  # catalog name and field, e.g. "h100-sxm price"
    category: str  # plan capex category (gpus, servers, scale_up_fabric, nics, switches, optics_and_cables)
    quantity: float
    low: float
    mid: float
    high: float
    basis: str  # where the range comes from


@dataclass(frozen=True)
class Driver:
    label: str
    basis: str
    capex_low_usd: float
    capex_high_usd: float
    network_share_low: float
    network_share_high: float
    usd_per_million_tokens_low: float | None = None
    usd_per_million_tokens_high: float | None = None


@dataclass
class CostRange:
    capex_usd: tuple[float, float, float]  # low, middle, high
    network_capex_share: tuple[float, float, float]  # scale-out + scale-up fabric
    scale_out_capex_share: tuple[float, float, float]  # switches, optics and cables, NICs
    usd_per_million_tokens: tuple[float, float, float] | None
    tornado: list[Driver] = field(default_factory=list)
    items: list[PriceItem] = field(default_factory=list)


def _bounds(entry, field_name: str, mid: float, overridden: bool) -> tuple[float, float, str]:
    if not overridden and field_name in entry.price_range_usd:
        low, high = entry.price_range_usd[field_name]
        cite = entry.sources.get("price_range_usd", entry.source)
        return low, high, f"sourced range: {cite}"
    assumed = field_name in entry.assumptions
    spread = ASSUMED_SPREAD if assumed else SOURCED_SPREAD
    why = "assumed price" if assumed else ("user price" if overridden else "sourced price")
    return mid * (1 - spread), mid * (1 + spread), f"default spread +-{spread:.0%} ({why})"


def price_items(plan: Plan, scenario: Scenario) -> list[PriceItem]:
    """The plan's priced items with quantities and [low, mid, high] prices."""
    catalog = scenario.catalog()
    overrides = scenario.economics.prices
    items: list[PriceItem] = []

    def add(entry, field_name: str, category: str, quantity: float, label: str | None = None) -> None:
        if quantity <= 0:
            return
        overridden = field_name == "price_usd" and entry.name in overrides
        mid = overrides[entry.name] if overridden else getattr(entry, field_name)
        low, high, basis = _bounds(entry, field_name, mid, overridden)
        items.append(PriceItem(label or f"{entry.name} {field_name.replace('_usd', '').replace('_', ' ')}",
                               category, quantity, low, mid, high, basis))

    gpu = catalog.gpu(plan.gpu)
    add(gpu, "price_usd", "gpus", plan.gpus, f"{gpu.name} GPU")
    add(gpu, "server_overhead_price_usd", "servers", plan.gpus, f"{gpu.name} server share")
    add(catalog.scale_up(plan.scale_up), "price_usd", "scale_up_fabric", plan.scale_up_domains,
        f"{plan.scale_up} scale-up fabric")
    add(catalog.nic(plan.nic), "price_usd", "nics", plan.nic_cards, f"{plan.nic} NIC")
    by_switch: dict[str, int] = {}
    for tier in plan.tier_lines:
        by_switch[tier.switch or plan.switch] = by_switch.get(tier.switch or plan.switch, 0) + tier.switches
    for name, n in by_switch.items():
        add(catalog.switch(name), "price_usd", "switches", n, f"{name} switch")
    by_medium: dict[str, int] = {}
    fiber = 0.0
    for line in plan.media_lines:
        if line.kind == "fiber":
            fiber += line.price_usd
        else:
            by_medium[line.name] = by_medium.get(line.name, 0) + line.units
    for name, n in by_medium.items():
        add(catalog.medium(name), "price_usd", "optics_and_cables", n, f"{name}")
    if fiber > 0:
        items.append(PriceItem("fibre", "optics_and_cables", 1.0, fiber * (1 - ASSUMED_SPREAD), fiber,
                               fiber * (1 + ASSUMED_SPREAD), f"default spread +-{ASSUMED_SPREAD:.0%} (assumed $/m)"))
    return items




def _capex(items: list[PriceItem], pick, network=NETWORK_CATEGORIES) -> tuple[float, float]:
    """(capex, network capex) with each item's price chosen by ``pick(item)``."""
    total = net = 0.0
    for item in items:
        value = item.quantity * pick(item)
        total += value
        if item.category in network:
            net += value
    return total, net


def cost_range(plan: Plan, scenario: Scenario, tokens_per_s: float | None = None, goodput: float = 1.0,
               top: int = 5) -> CostRange:
    """Capex, network capex share and (given a throughput) $ per million tokens as low / middle / high,
    with the ``top`` price drivers."""
    items = price_items(plan, scenario)
    economics = scenario.economics
    it_power_w = sum(plan.power_w.values())
    energy_mid = economics.energy_usd_per_kwh
    energy_low = min(ENERGY_RANGE_USD_PER_KWH[0], energy_mid)
    energy_high = max(ENERGY_RANGE_USD_PER_KWH[1], energy_mid)

    def per_million(capex: float, energy_price: float) -> float | None:
        if not tokens_per_s or tokens_per_s <= 0 or goodput <= 0:
            return None
        yearly = usd_per_year(capex, it_power_w, economics, energy_price)
        return yearly / (HOURS_PER_YEAR * 3600) / (tokens_per_s * goodput) * 1e6

    mid = _capex(items, lambda i: i.mid)
    low = _capex(items, lambda i: i.low)
    high = _capex(items, lambda i: i.high)
    net_low = _capex(items, lambda i: i.low if i.category in NETWORK_CATEGORIES else i.high)
    net_high = _capex(items, lambda i: i.high if i.category in NETWORK_CATEGORIES else i.low)
    share = lambda pair: pair[1] / pair[0] if pair[0] else 0.0  # noqa: E731
    out_mid = _capex(items, lambda i: i.mid, SCALE_OUT_CATEGORIES)
    out_low = _capex(items, lambda i: i.low if i.category in SCALE_OUT_CATEGORIES else i.high, SCALE_OUT_CATEGORIES)
    out_high = _capex(items, lambda i: i.high if i.category in SCALE_OUT_CATEGORIES else i.low, SCALE_OUT_CATEGORIES)
    tokens = None
    if per_million(mid[0], energy_mid) is not None:
        tokens = (per_million(low[0], energy_low), per_million(mid[0], energy_mid), per_million(high[0], energy_high))

    drivers = []
    for item in items:
        lo = _capex(items, lambda i, it=item: it.low if i is it else i.mid)
        hi = _capex(items, lambda i, it=item: it.high if i is it else i.mid)
        drivers.append(Driver(item.label, item.basis, lo[0], hi[0], share(lo), share(hi),
                              per_million(lo[0], energy_mid), per_million(hi[0], energy_mid)))
    if tokens is not None:
        drivers.append(Driver("energy price", f"${energy_low:.2f}-{energy_high:.2f}/kWh (EIA US industrial range)",
                              mid[0], mid[0], share(mid), share(mid), per_million(mid[0], energy_low),
                              per_million(mid[0], energy_high)))
        drivers.sort(key=lambda d: -(d.usd_per_million_tokens_high - d.usd_per_million_tokens_low))
    else:
        drivers.sort(key=lambda d: -(d.capex_high_usd - d.capex_low_usd))
    return CostRange((low[0], mid[0], high[0]), (share(net_low), share(mid), share(net_high)),
                     (share(out_low), share(out_mid), share(out_high)), tokens, drivers[:top], items)
