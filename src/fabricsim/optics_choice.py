"""The same fabric with each optics family, judged by what it costs to run: failures, repair time,
blast radius, goodput, and dollars per year - not only watts.

For each family (DSP, LPO, LRO, CPO, XPO pluggables or co-packaged engines) the scenario is planned
again, its reliability assessed (analytic expected goodput, no Monte Carlo) and its cost of ownership
computed.  The yearly cost of the choice is the optics' amortised capex and energy plus the GPU time the
failures waste: ``(1 - goodput) x`` the cluster's yearly cost.

* repair time: a pluggable swaps in minutes (field dispatch included ~1 h); a co-packaged engine fault
  replaces the whole switch (hours) - seed 000_3aeaf96e063beb99.txt;
* blast radius: links a single optics failure takes down (a twin-port module 2, a 1.6T module split
  into eight 200G ports 8, a CPO engine all the ports it serves).
"""

from __future__ import annotations

from dataclasses import dataclass

from fabricsim.economics import total_cost_of_ownership, usd_per_year
from fabricsim.plan import plans_per_optics_family
from fabricsim.reliability.from_plan import assess
from fabricsim.reliability.rates import rate_entries
from fabricsim.scenario import Scenario

OPTICS_CLASSES = ("nic_optics", "transceiver", "cpo_engine")
SWITCH_SIDE = ("transceiver", "cpo_engine")
"""The family choice is a switch-side choice (NIC ends stay pluggable): repair and blast radius are
reported for switch-side optics."""


@dataclass(frozen=True)
class OpticsReliability:
    family: str
    modules: int
    optics_failures_per_month: float
    interruptions_per_day: float  # every class, as the job sees them on this fabric
    mean_repair_hours: float  # of a switch-side optics failure
    links_per_failure: float  # mean links one switch-side optics failure takes down
    expected_goodput: float
    optics_capex_usd: float
    optics_power_w: float
    optics_usd_per_year: float  # amortised capex + energy of the optics
    lost_goodput_usd_per_year: float
    total_usd_per_year: float  # optics + lost goodput
    error: str = ""


def _blast_radius(plan, catalog) -> float:
    """Rate-weighted links one optics failure takes down."""
    weight = radius = 0.0
    for line in plan.media_lines:
        if line.kind not in ("dsp", "lpo", "lro", "cpo", "xpo") or line.end == "nic":
            continue
        medium = catalog.medium(line.name)
        failures = line.units * medium.fit_per_end
        # a pluggable takes its own links down; a CPO engine or an XPO module every port it serves
        links = line.links_per_unit * (medium.module_ports if line.kind in ("cpo", "xpo") else 1)
        weight += failures
        radius += failures * links
    return radius / weight if weight else 0.0


def compare_optics_reliability(scenario: Scenario, families: tuple[str, ...] = ("dsp", "lpo", "lro", "cpo", "xpo")
                               ) -> list[OpticsReliability]:
    """Each optics family on the scenario's fabric: failures, repair, blast radius, goodput and cost."""
    out = []
    entries = rate_entries(scenario.catalog())
    for family, variant, plan, error in plans_per_optics_family(scenario, families):
        if plan is None:
            out.append(OpticsReliability(family, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, error=error))
            continue
        result = assess(plan, variant, monte_carlo=False)
        per_hour = result.interruptions_per_hour_by_class
        optics_rate = sum(per_hour[c] for c in OPTICS_CLASSES)
        switch_side = sum(per_hour[c] for c in SWITCH_SIDE)
        repair = (sum(per_hour[c] * entries[c].repair_hours for c in SWITCH_SIDE) / switch_side
                  if switch_side else 0.0)
        stops = result.stops_job or {}
        tco = total_cost_of_ownership(plan, variant.economics)
        optics_capex = plan.capex_usd["optics_and_cables"]
        optics_power = plan.power_w["optics_and_cables"]
        optics_year = usd_per_year(optics_capex, optics_power, variant.economics)
        lost = (1.0 - result.expected_goodput) * tco.usd_per_year
        out.append(OpticsReliability(
            family=family,
            modules=plan.optical_modules,
            optics_failures_per_month=720.0 * optics_rate,
            interruptions_per_day=24.0 * sum(r for c, r in per_hour.items() if stops.get(c, True)),
            mean_repair_hours=repair,
            links_per_failure=_blast_radius(plan, variant.catalog()),
            expected_goodput=result.expected_goodput,
            optics_capex_usd=optics_capex,
            optics_power_w=optics_power,
            optics_usd_per_year=optics_year,
            lost_goodput_usd_per_year=lost,
            total_usd_per_year=optics_year + lost,
        ))
    return out
