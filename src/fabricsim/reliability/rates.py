"""Component failure model: interruptions per hour of a job, by component class.

A job's interruption rate is a per-job term (software, initialisation, storage: it does not grow with
size) plus, for every component class, a per-unit rate from a published census or field study
(``catalog/data/failures.yaml``) times the units the job's cluster has (:class:`ComponentCounts`, from
a bill of materials, or estimated by :func:`counts_for_gpu_cluster`).  Optical modules and cable
assemblies are counted as bought, and a medium fails in proportion to its catalog ``fit_per_end``
relative to the census's reference medium.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

from fabricsim.catalog import default_catalog
from fabricsim.catalog.failure_schema import FailureRate
from fabricsim.errors import FabricsimError

CLASSES: tuple[str, ...] = (
    "gpu",
    "hbm",
    "scale_up",
    "host",
    "nic",
    "switch",
    "nic_optics",
    "transceiver",
    "cpo_engine",
    "cable",
    "job",
)
"""Component classes of the failure model, in report order."""

NETWORK_CLASSES = ("switch", "nic_optics", "transceiver", "cpo_engine", "cable")

LLAMA3_GPUS = 16_384
LLAMA3_DAYS = 54
LLAMA3_HOURS = LLAMA3_DAYS * 24.0
LLAMA3_UNEXPECTED_INTERRUPTIONS = 419
LLAMA3_PLANNED_INTERRUPTIONS = 47
"""Llama 3 405B census (arXiv 2407.21783, 3.3.4): 466 interruptions in 54 days, 47 planned."""

_MEDIA_GROUPS = ("nic_optics", "switch_optics", "cpo_optics", "cables")


@dataclass(frozen=True)
class ComponentCounts:
    """Units of each component class present in a job's cluster (plain data).

    The media groups map a media catalog name to the number of units bought: ``nic_optics``
    pluggable modules at NIC ends, ``switch_optics`` pluggable modules at switch ends, ``cpo_optics``
    co-packaged engine ports, ``cables`` cable assemblies (DAC, AEC, AOC).
    """

    gpus: int
    hosts: int
    nics: int
    switches: int
    scale_up_switch_chips: int
    jobs: int = 1
    nic_optics: dict[str, int] = field(default_factory=dict)
    switch_optics: dict[str, int] = field(default_factory=dict)
    cpo_optics: dict[str, int] = field(default_factory=dict)
    cables: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("gpus", "hosts", "nics", "switches", "scale_up_switch_chips", "jobs"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0 or not math.isfinite(value):
                raise FabricsimError(
                    f"ComponentCounts.{name}={value!r}: a unit count must be a finite number >= 0."
                )
        for group in _MEDIA_GROUPS:
            for medium, n in getattr(self, group).items():
                if not isinstance(n, (int, float)) or n < 0 or not math.isfinite(n):
                    raise FabricsimError(f"ComponentCounts.{group}[{medium!r}]={n!r}: expected a count >= 0.")

    def weighted(self, group: str, reference: str | None, catalog) -> float:
        """Units of a media group in reference-medium equivalents (units x FIT / reference FIT)."""
        items = getattr(self, group)
        if not reference:
            return float(sum(items.values()))
        ref = catalog.medium(reference).fit_per_end
        if ref <= 0:
            raise FabricsimError(f"reference medium {reference!r} has fit_per_end 0; it cannot scale other media")
        return float(sum(n * catalog.medium(m).fit_per_end / ref for m, n in items.items()))

    def units(self, entry: FailureRate, catalog=None) -> float:
        """Number of units of one failure class's ``unit`` (media groups FIT-weighted)."""
        catalog = catalog or default_catalog()
        plain = {
            "gpu": self.gpus,
            "host": self.hosts,
            "nic": self.nics,
            "switch": self.switches,
            "scale_up_switch_chip": self.scale_up_switch_chips,
            "job": self.jobs,
        }
        if entry.unit in plain:
            return float(plain[entry.unit])
        group = {"nic_optical_module": "nic_optics", "optical_module": "switch_optics",
                 "cpo_engine_port": "cpo_optics", "cable_assembly": "cables"}[entry.unit]
        return self.weighted(group, entry.reference_medium, catalog)


LLAMA3_COUNTS = ComponentCounts(
    gpus=16_384,
    hosts=2_048,
    nics=16_384,
    switches=1_136,
    scale_up_switch_chips=8_192,
    switch_optics={"dsp-400g": 38_144},
    cables={"dac-400g": 16_384},
)
"""Units of the Llama 3 405B job's cluster (catalog/data/failures.yaml header; the Llama 3 RoCE plan)."""


def rate_entries(catalog=None) -> dict[str, FailureRate]:
    """The catalog's failure-rate entries by class (all of :data:`CLASSES` must be present)."""
    catalog = catalog or default_catalog()
    entries = catalog.sections.get("failures", {})
    missing = [c for c in CLASSES if c not in entries]
    if missing:
        raise FabricsimError(
            f"the failures catalog lacks component classes {', '.join(missing)}; "
            f"every class of {', '.join(CLASSES)} needs an entry."
        )
    return {c: entries[c] for c in CLASSES}


def check_class_names(mapping: Mapping[str, object] | None, what: str) -> None:
    """Raise a FabricsimError naming any key of ``mapping`` that is not a component class."""
    if not mapping:
        return
    unknown = [k for k in mapping if k not in CLASSES]
    if unknown:
        raise FabricsimError(
            f"{what}: unknown component class {', '.join(repr(u) for u in unknown)}. "
            f"Valid classes: {', '.join(CLASSES)}."
        )


def per_unit_rates(rates: Mapping[str, float] | None = None, catalog=None) -> dict[str, float]:
    """Failures per unit-hour by class: catalog values, overridden by ``rates``.

    Overrides must name known classes and be finite and > 0 (to switch a class off, give it
    zero units, not a zero rate).
    """
    check_class_names(rates, "rate overrides")
    out = {c: e.rate_per_unit_hour for c, e in rate_entries(catalog).items()}
    for name, value in (rates or {}).items():
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise FabricsimError(f"rate override {name}={value!r}: expected a number (failures per unit-hour).") from None
        if not math.isfinite(value) or value <= 0:
            raise FabricsimError(
                f"rate override {name}={value!r}: a failure rate must be a finite number > 0 failures "
                f"per unit-hour (e.g. {out[name]:.3g} from the catalog). To remove a class, set its "
                f"unit count to 0 instead."
            )
        out[name] = value
    return out


def failure_rates(counts: ComponentCounts, rates: Mapping[str, float] | None = None, catalog=None) -> dict[str, float]:
    """Failures per hour by component class for a job (stopping or degrading)."""
    catalog = catalog or default_catalog()
    per_unit = per_unit_rates(rates, catalog)
    entries = rate_entries(catalog)
    return {c: per_unit[c] * counts.units(entries[c], catalog) for c in CLASSES}


def stopping_rate(counts: ComponentCounts, rates=None, stops_job: Mapping[str, bool] | None = None, catalog=None) -> float:
    """Job-stopping failures per hour (classes whose ``stops_job`` is true, after overrides)."""
    check_class_names(stops_job, "stops_job overrides")
    entries = rate_entries(catalog)
    by_class = failure_rates(counts, rates, catalog)
    stops = {c: (stops_job or {}).get(c, entries[c].stops_job) for c in CLASSES}
    return sum(r for c, r in by_class.items() if stops[c])


def mean_time_between_interruptions(counts: ComponentCounts, rates=None, stops_job=None, catalog=None) -> float:
    """Mean time between job interruptions, seconds (only classes that stop the job)."""
    lam = stopping_rate(counts, rates, stops_job, catalog)
    if lam <= 0:
        return math.inf
    return 3600.0 / lam


def fat_tree_tiers(endpoints: int, radix: int) -> int:
    """Fewest switch tiers of a full-bisection fat-tree of ``radix``-port switches for ``endpoints``."""
    if radix < 4 or radix % 2:
        raise FabricsimError(f"switch radix={radix!r}: expected an even number of ports >= 4.")
    tiers = 1
    while (radix if tiers == 1 else 2 * (radix // 2) ** tiers) < endpoints:
        tiers += 1
    return tiers


def counts_for_gpu_cluster(
    gpus: int,
    gpus_per_host: int = 8,
    nics_per_gpu: int = 1,
    switch_radix: int = 128,
    scale_up_switch_chips_per_host: int = 4,
    nic_leaf_medium: str = "dac-400g",
    fabric_medium: str = "dsp-400g",
    tiers: int | None = None,
    catalog=None,
) -> ComponentCounts:
    """Estimate unit counts of a single-plane, full-bisection fat-tree cluster without a plan.

    For curves of "interruption interval vs cluster size".  A ``t``-tier fat-tree of radix-``k``
    switches over ``N`` NIC ports has ``2N/k`` switches in each lower tier and ``N/k`` at the top,
    and ``N`` links per tier.  The NIC-leaf tier uses ``nic_leaf_medium`` (copper by default, as the
    Llama 3 racks); every higher tier uses ``fabric_medium`` (one module per link end).
    """
    catalog = catalog or default_catalog()
    if not isinstance(gpus, int) or gpus <= 0:
        raise FabricsimError(f"gpus={gpus!r}: expected a positive whole number of GPUs.")
    if gpus_per_host <= 0:
        raise FabricsimError(f"gpus_per_host={gpus_per_host!r}: expected a positive number.")
    hosts = math.ceil(gpus / gpus_per_host)
    nics = gpus * nics_per_gpu
    tiers = tiers or fat_tree_tiers(nics, switch_radix)
    if tiers == 1:
        switches = math.ceil(nics / switch_radix)
    else:
        lower = math.ceil(2 * nics / switch_radix)
        switches = (tiers - 1) * lower + math.ceil(nics / switch_radix)
    fabric_links = nics * (tiers - 1)
    leaf = catalog.medium(nic_leaf_medium)
    fab = catalog.medium(fabric_medium)
    nic_optics: dict[str, int] = {}
    switch_optics: dict[str, int] = {}
    cpo_optics: dict[str, int] = {}
    cables: dict[str, int] = {}

    def add(group: dict, name: str, n: int) -> None:
        group[name] = group.get(name, 0) + n

    if leaf.per_end:
        add(nic_optics, nic_leaf_medium, nics)
        add(cpo_optics if leaf.kind == "cpo" else switch_optics, nic_leaf_medium, nics)
    else:
        add(cables, nic_leaf_medium, nics)
    if fabric_links:
        if fab.per_end:
            add(cpo_optics if fab.kind == "cpo" else switch_optics, fabric_medium, 2 * fabric_links)
        else:
            add(cables, fabric_medium, fabric_links)
    return ComponentCounts(
        gpus=gpus,
        hosts=hosts,
        nics=nics,
        switches=switches,
        scale_up_switch_chips=hosts * scale_up_switch_chips_per_host,
        nic_optics=nic_optics,
        switch_optics=switch_optics,
        cpo_optics=cpo_optics,
        cables=cables,
    )


def interruptions_per_day(counts: ComponentCounts, rates=None, stops_job=None, catalog=None) -> float:
    """Job-stopping interruptions per day."""
    return 24.0 * stopping_rate(counts, rates, stops_job, catalog)
