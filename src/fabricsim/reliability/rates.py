"""Component failure model: interruptions per hour of a cluster, by component class.

Per-unit rates come from the ``failures`` catalog section (calibrated on the Llama 3 405B census,
see ``catalog/data/failures.yaml``); the caller supplies how many units of each class the cluster
has (:class:`ComponentCounts`, from a bill of materials, or estimated by
:func:`counts_for_gpu_cluster`).  Link media fail in proportion to their failure-prone
connection points per link (model assumption, seed 004: pluggable 6, CPO 1).
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
    "transceiver",
    "cable",
    "software",
)
"""Component classes of the failure model, in report order."""

NETWORK_CLASSES = ("switch", "transceiver", "cable")

LLAMA3_GPUS = 16_384
LLAMA3_DAYS = 54
LLAMA3_HOURS = LLAMA3_DAYS * 24.0
LLAMA3_UNEXPECTED_INTERRUPTIONS = 419
LLAMA3_PLANNED_INTERRUPTIONS = 47
"""Llama 3 405B census (arXiv 2407.21783, 3.3.4): 466 interruptions in 54 days, 47 planned."""


@dataclass(frozen=True)
class ComponentCounts:
    """Units of each component class present in a cluster (plain data).

    ``optical_ends``: medium name -> (number of optical ends, connection points per link);
    a link has two ends.  ``cables``: medium name -> (number of assemblies, connection points
    per assembly) for DAC / AEC / AOC.
    """

    gpus: int
    hosts: int
    nics: int
    switches: int
    scale_up_switch_chips: int
    optical_ends: dict[str, tuple[int, int]] = field(default_factory=dict)
    cables: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("gpus", "hosts", "nics", "switches", "scale_up_switch_chips"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0 or not math.isfinite(value):
                raise FabricsimError(
                    f"ComponentCounts.{name}={value!r}: a unit count must be a finite number >= 0."
                )
        for group in ("optical_ends", "cables"):
            for medium, pair in getattr(self, group).items():
                if len(pair) != 2 or pair[0] < 0 or pair[1] < 0:
                    raise FabricsimError(
                        f"ComponentCounts.{group}[{medium!r}]={pair!r}: expected (count >= 0, "
                        f"connection_points >= 0)."
                    )

    def optical_connection_points(self) -> float:
        """Failure-prone connection points over all optical links (ends / 2 x points per link)."""
        return sum(ends / 2.0 * cp for ends, cp in self.optical_ends.values())

    def cable_connection_points(self) -> float:
        return float(sum(n * cp for n, cp in self.cables.values()))

    def units(self, unit: str) -> float:
        """Number of units of one catalog ``unit`` kind (see FailureRate.unit)."""
        table = {
            "gpu": self.gpus,
            "host": self.hosts,
            "nic": self.nics,
            "switch": self.switches,
            "scale_up_switch_chip": self.scale_up_switch_chips,
            "optical_connection_point": self.optical_connection_points(),
            "cable_connection_point": self.cable_connection_points(),
        }
        return float(table[unit])


LLAMA3_COUNTS = ComponentCounts(
    gpus=16_384,
    hosts=2_048,
    nics=16_384,
    switches=1_354,
    scale_up_switch_chips=8_192,
    optical_ends={"dsp-400g": (37_450, 6)},
    cables={"dac-400g": (16_384, 2)},
)
"""Units of the Llama 3 405B job's cluster, as assumed in catalog/data/failures.yaml."""


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
    """Interruptions (or degradations) per hour by component class for a cluster."""
    per_unit = per_unit_rates(rates, catalog)
    entries = rate_entries(catalog)
    return {c: per_unit[c] * counts.units(entries[c].unit) for c in CLASSES}


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


def _medium_points(name: str, catalog) -> int:
    return int(catalog.medium(name).connection_points)


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
    """Estimate unit counts of a single-plane, full-bisection 400G fat-tree cluster.

    No bill of materials needed: for curves of "interruption interval vs cluster size".
    A ``t``-tier fat-tree of radix-``k`` switches over ``N`` NIC ports has ``2N/k`` switches in
    each lower tier and ``N/k`` at the top, and ``N`` links per tier.  The NIC-leaf tier uses
    ``nic_leaf_medium`` (copper by default, as the Llama 3 racks); every higher tier uses
    ``fabric_medium`` (two pluggable ends per link).  Connection points come from the media
    catalog.  Defaults: 8-GPU hosts, 4 NVSwitch chips per host (HGX H100), 128 x 400G switches (51.2 Tb/s ASICs).
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
    leaf_medium = catalog.medium(nic_leaf_medium)
    optical: dict[str, tuple[int, int]] = {}
    cables: dict[str, tuple[int, int]] = {}
    if leaf_medium.per_end:
        optical[nic_leaf_medium] = (2 * nics, leaf_medium.connection_points)
    else:
        cables[nic_leaf_medium] = (nics, leaf_medium.connection_points)
    if fabric_links:
        fab = catalog.medium(fabric_medium)
        if fab.per_end:
            ends, cp = optical.get(fabric_medium, (0, fab.connection_points))
            optical[fabric_medium] = (ends + 2 * fabric_links, cp)
        else:
            n, cp = cables.get(fabric_medium, (0, fab.connection_points))
            cables[fabric_medium] = (n + fabric_links, cp)
    return ComponentCounts(
        gpus=gpus,
        hosts=hosts,
        nics=nics,
        switches=switches,
        scale_up_switch_chips=hosts * scale_up_switch_chips_per_host,
        optical_ends=optical,
        cables=cables,
    )


def interruptions_per_day(counts: ComponentCounts, rates=None, stops_job=None, catalog=None) -> float:
    """Job-stopping interruptions per day."""
    return 24.0 * stopping_rate(counts, rates, stops_job, catalog)
