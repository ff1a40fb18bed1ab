"""Pick the medium of each tier's links: copper where its reach allows, else the chosen optics.

A link is described by the parts it needs (:class:`LinkMedia`): one cable assembly
(DAC, AEC, AOC) or two optical ends (pluggable modules or co-packaged engines) plus a
fibre of the tier's length.  With co-packaged optics only switch ports are co-packaged;
a NIC end takes the ``nic_optics`` family.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabricsim.catalog import Catalog
from fabricsim.catalog.schema import Medium
from fabricsim.errors import FabricsimError
from fabricsim.units import format_speed_short


@dataclass(frozen=True)
class LinkMedia:
    """What one link of a tier is made of."""

    lower_end: str  # medium at the lower end (NIC or lower switch), or the cable assembly
    upper_end: str | None  # medium at the upper switch end; None for a cable assembly
    length_m: float
    fiber: bool  # True if a separate fibre runs between two optical ends

    @property
    def parts(self) -> list[str]:
        return [self.lower_end] + ([self.upper_end] if self.upper_end else [])

    @property
    def label(self) -> str:
        """'2× dsp-800g', 'dsp-800g + cpo-800g' or 'dac-800g'."""
        if self.upper_end == self.lower_end:
            return f"2× {self.lower_end}"
        return " + ".join(self.parts)


def _candidates(catalog: Catalog, family: str, speed: float) -> list[Medium]:
    return [
        m for m in catalog.sections["media"].values() if m.family == family and abs(m.bits_per_s - speed) < 1.0
    ]


def _pick(catalog: Catalog, family: str, speed: float, length_m: float, field: str) -> Medium | None:
    options = _candidates(catalog, family, speed)
    if not options:
        return None
    reaching = [m for m in options if m.reach_m >= length_m]
    if not reaching:
        longest = max(options, key=lambda m: m.reach_m)
        raise FabricsimError(
            f"{field}: no {family} medium at {format_speed_short(speed)} reaches {length_m:g} m "
            f"({longest.name} reaches {longest.reach_m:g} m); shorten the layout distance, choose another "
            f"family, or name a longer-reach part in fabric.media"
        )
    return min(reaching, key=lambda m: (m.price_usd, m.power_w))


def _available(catalog: Catalog, speed: float) -> str:
    names = sorted(m.name for m in catalog.sections["media"].values() if abs(m.bits_per_s - speed) < 1.0)
    return ", ".join(names) if names else "none"


def choose_link_media(
    catalog: Catalog,
    tier: str,
    speed: float,
    length_m: float,
    optics: str,
    nic_optics: str,
    copper_in_reach: bool,
    override: str | None = None,
) -> LinkMedia:
    """Media for one tier ('leaf' = NIC-leaf links, 'spine' = leaf-spine, 'core' = spine-core)."""
    field = f"fabric.media.{tier}"
    if override is not None:
        medium = catalog.medium(override)
        if abs(medium.bits_per_s - speed) >= 1.0:
            raise FabricsimError(
                f"{field}={override!r} carries {format_speed_short(medium.bits_per_s)} but links run at "
                f"{format_speed_short(speed)}; media at that speed: {_available(catalog, speed)}"
            )
        if medium.reach_m < length_m:
            raise FabricsimError(
                f"{field}={override!r} reaches {medium.reach_m:g} m but this tier's links are {length_m:g} m"
            )
        if not medium.per_end:
            return LinkMedia(medium.name, None, length_m, fiber=False)
        lower = medium.name
        if tier == "leaf" and medium.kind == "cpo":
            lower = _require(catalog, nic_optics, speed, length_m, field).name
        return LinkMedia(lower, medium.name, length_m, fiber=True)

    if copper_in_reach:
        copper = [m for m in _candidates(catalog, "copper", speed) if m.reach_m >= length_m]
        if copper:
            best = min(copper, key=lambda m: m.price_usd)
            return LinkMedia(best.name, None, length_m, fiber=False)
    if optics == "cpo":
        upper = _require(catalog, "cpo", speed, length_m, "fabric.optics")
        lower = _require(catalog, nic_optics, speed, length_m, "fabric.nic_optics") if tier == "leaf" else upper
        return LinkMedia(lower.name, upper.name, length_m, fiber=True)
    medium = _require(catalog, optics, speed, length_m, "fabric.optics")
    if not medium.per_end:
        return LinkMedia(medium.name, None, length_m, fiber=False)
    return LinkMedia(medium.name, medium.name, length_m, fiber=True)


def _require(catalog: Catalog, family: str, speed: float, length_m: float, field: str) -> Medium:
    medium = _pick(catalog, family, speed, length_m, field)
    if medium is None:
        raise FabricsimError(
            f"{field}={family}: the catalog has no {family} medium at {format_speed_short(speed)}; "
            f"media at that speed: {_available(catalog, speed)}"
        )
    return medium
