"""Pick the parts each tier's links are made of: copper where its reach allows, else the chosen optics.

Parts are counted as they are bought.  A pluggable module sits in a *cage* (a NIC port, or a switch's
front-panel cage) and serves every link that cage carries: a twin-port 800G OSFP in a Quantum-2 or
Spectrum-4 cage serves two 400G links, an 800G module on a ConnectX-8 serves two 400G planes, a 1.6T
module in a Tomahawk 6 cage serves eight 200G links.  So a tier's parts are described per *end*
(:class:`LinkMedia`): which catalog medium, and how many links one unit of it serves.  A cable
assembly (DAC, AEC, AOC) spans both ends; a splitter assembly from a switch cage serves several links.

Co-packaged optics and XPO modules are switch-side only; a NIC end then takes the ``nic_optics`` family.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabricsim.catalog import Catalog
from fabricsim.catalog.schema import Medium
from fabricsim.errors import FabricsimError
from fabricsim.units import format_speed_short

SWITCH_ONLY_FAMILIES = ("cpo", "xpo")
"""Optics that exist only on the switch side: the NIC end of a NIC-leaf link takes ``nic_optics``."""


@dataclass(frozen=True)
class LinkMedia:
    """What one tier's links are made of.

    ``lower_end`` / ``upper_end``: medium at the lower end (NIC or lower switch) and at the upper
    switch; ``upper_end`` is None for a cable assembly (it spans both ends).  ``lower_links`` /
    ``upper_links``: links one unit of that end's medium serves (2 for a twin-port module carrying two
    400G links).
    """

    lower_end: str
    upper_end: str | None
    length_m: float
    fiber: bool  # True if a separate fibre runs between two optical ends
    lower_links: int = 1
    upper_links: int = 1

    @property
    def parts(self) -> list[str]:
        return [self.lower_end] + ([self.upper_end] if self.upper_end else [])

    def ends(self) -> list[tuple[str, int]]:
        """(medium, links per unit) of each end; one entry for a cable assembly."""
        out = [(self.lower_end, self.lower_links)]
        if self.upper_end:
            out.append((self.upper_end, self.upper_links))
        return out

    @property
    def label(self) -> str:
        """'2× dsp-800g', 'dsp-400g + dsp-800g (2 links)' or 'dac-800g (2 links)'."""
        def part(name: str, links: int) -> str:
            return f"{name} ({links} links)" if links > 1 else name

        if self.upper_end == self.lower_end and self.lower_links == self.upper_links:
            return f"2× {part(self.lower_end, self.lower_links)}"
        return " + ".join(part(n, k) for n, k in self.ends())


def _candidates(catalog: Catalog, family: str, speed: float, link_speed: float = 0.0) -> list[Medium]:
    """Media of ``family`` whose units run at ``speed`` and whose ports carry a ``link_speed`` link."""
    return [
        m for m in catalog.sections["media"].values()
        if m.family == family and abs(m.bits_per_s - speed) < 1.0 and m.max_link_speed >= link_speed - 1.0
    ]


def _links_per_unit(unit_speed: float, link_speed: float) -> int:
    ratio = unit_speed / link_speed
    return int(round(ratio)) if ratio >= 1 and abs(ratio - round(ratio)) < 1e-9 else 0


def _pick(catalog: Catalog, family: str, speeds: list[float], link_speed: float, length_m: float,
          field: str) -> tuple[Medium, int] | None:
    """Cheapest medium of ``family`` at the first of ``speeds`` that has one reaching ``length_m``.

    ``speeds``: the cage speed first (a module filling the cage), then the link speed."""
    seen: list[Medium] = []
    for speed in dict.fromkeys(speeds):
        links = _links_per_unit(speed, link_speed)
        if not links:
            continue
        options = _candidates(catalog, family, speed, link_speed)
        seen += options
        reaching = [m for m in options if m.reach_m >= length_m]
        if reaching:
            return min(reaching, key=lambda m: (m.price_usd, m.power_w)), links
    if seen:
        longest = max(seen, key=lambda m: m.reach_m)
        raise FabricsimError(
            f"{field}: no {family} medium at {format_speed_short(link_speed)} reaches {length_m:g} m "
            f"({longest.name} reaches {longest.reach_m:g} m); shorten the layout distance, choose another "
            f"family, or name a longer-reach part in fabric.media"
        )
    return None


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
    lower_cage_bits_per_s: float | None = None,
    upper_cage_bits_per_s: float | None = None,
) -> LinkMedia:
    """Parts of one tier ('leaf' = NIC-leaf links, 'spine' = leaf-spine, 'core' = spine-core).

    ``lower_cage_bits_per_s``: the NIC port (leaf tier) or the lower switch's cage; ``upper_...``: the
    upper switch's cage.  Default: the link speed (one link per module)."""
    field = f"fabric.media.{tier}"
    lower_cage = lower_cage_bits_per_s or speed
    upper_cage = upper_cage_bits_per_s or speed

    def optical(lower_family: str, upper_family: str, lower_field: str, upper_field: str) -> LinkMedia:
        lower = _require(catalog, lower_family, [lower_cage, speed], speed, length_m, lower_field)
        upper = _require(catalog, upper_family, [upper_cage, speed], speed, length_m, upper_field)
        return LinkMedia(lower[0].name, upper[0].name, length_m, True, lower[1], upper[1])

    def assembly(medium: Medium) -> LinkMedia:
        links = _links_per_unit(medium.bits_per_s, speed)
        return LinkMedia(medium.name, None, length_m, False, links, links)

    if override is not None:
        medium = catalog.medium(override)
        links = _links_per_unit(medium.bits_per_s, speed)
        if not links or medium.max_link_speed < speed - 1.0:
            raise FabricsimError(
                f"{field}={override!r} carries {format_speed_short(medium.bits_per_s)}, not a whole number of "
                f"{format_speed_short(speed)} links; media at that speed: {_available(catalog, speed)}"
            )
        if medium.reach_m < length_m:
            raise FabricsimError(
                f"{field}={override!r} reaches {medium.reach_m:g} m but this tier's links are {length_m:g} m"
            )
        if not medium.per_end:
            return assembly(medium)
        upper = (medium, links)
        if medium.bits_per_s > upper_cage + 1:
            raise FabricsimError(f"{field}={override!r} ({format_speed_short(medium.bits_per_s)}) does not fit the "
                                 f"upper switch's {format_speed_short(upper_cage)} cages")
        nic_cannot_take_it = tier == "leaf" and medium.family in SWITCH_ONLY_FAMILIES
        if medium.bits_per_s <= lower_cage + 1 and not nic_cannot_take_it:
            lower = upper
        else:
            family = nic_optics if nic_cannot_take_it else medium.family
            lower = _require(catalog, family, [lower_cage, speed], speed, length_m, field)
        return LinkMedia(lower[0].name, upper[0].name, length_m, True, lower[1], upper[1])

    if copper_in_reach:
        for unit_speed in dict.fromkeys([upper_cage, speed]):
            reaching = [m for m in _candidates(catalog, "copper", unit_speed, speed) if m.reach_m >= length_m]
            if reaching and _links_per_unit(unit_speed, speed):
                return assembly(min(reaching, key=lambda m: m.price_usd))
    medium = _require(catalog, optics, [upper_cage, speed], speed, length_m, "fabric.optics")[0]
    if not medium.per_end:
        return assembly(medium)
    nic_end = tier == "leaf" and optics in SWITCH_ONLY_FAMILIES
    return optical(nic_optics if nic_end else optics, optics, "fabric.nic_optics" if nic_end else "fabric.optics",
                   "fabric.optics")


def _require(catalog: Catalog, family: str, speeds: list[float], link_speed: float, length_m: float,
             field: str) -> tuple[Medium, int]:
    picked = _pick(catalog, family, speeds, link_speed, length_m, field)
    if picked is None:
        raise FabricsimError(
            f"{field}={family}: the catalog has no {family} medium at {format_speed_short(link_speed)}; "
            f"media at that speed: {_available(catalog, link_speed)}"
        )
    return picked
