"""Schemas of the optical parts that join cubes, pods and sites: optical circuit switches, coherent
DCI optics and the line systems (amplifiers, terminals, fibre routes) that carry them.

* ``optical_switches`` (:class:`OpticalCircuitSwitch`): a MEMS optical circuit switch (Google Palomar
  class).  Data-rate agnostic: it holds a light path from one port to another; it neither buffers nor
  inspects packets.  With circulators a single port carries both directions of a link end.
* ``dci_optics`` (:class:`CoherentOptic`): a pluggable coherent module (400ZR / 800ZR class), one per
  link end, one DWDM wavelength each.
* ``line_systems`` (:class:`LinePart`): what a wavelength needs between two sites -- a terminal per
  fibre pair at each end (multiplexer, booster and pre-amplifier), an in-line amplifier every span, and
  the fibre route itself (price per pair-km, yearly upkeep, cut rate).

SI units as everywhere in the catalog: bits/s, W, m, s, Hz, USD, dB.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fabricsim.catalog.schema import Entry


class OpticalCircuitSwitch(Entry):
    """An optical circuit switch: ``ports`` light paths it can terminate, passive once set."""

    ports: int = Field(gt=1, description="optical ports (a circuit joins two ports)")
    power_w: float = Field(ge=0, description="whole switch: mirror drivers, control, cameras")
    price_usd: float = Field(ge=0, description="whole switch")
    reconfiguration_s: float = Field(gt=0, description="time to steer mirrors to a new permutation")
    insertion_loss_db: float = Field(ge=0, description="optical loss a circuit adds to the link budget")
    rack_units: float = Field(gt=0)
    circulators: bool = Field(
        True, description="True: a circulator per port, so one port carries both directions of a link end "
        "(Apollo); False: one port per direction")
    fit: float = Field(ge=0, default=0.0, description="failures per 1e9 switch-hours")


class CoherentOptic(Entry):
    """A pluggable coherent DWDM module at one end of a long link (a wavelength)."""

    bits_per_s: float = Field(gt=0, description="client rate of one module (one wavelength)")
    reach_m: float = Field(gt=0, description="longest amplified single span it closes")
    power_w: float = Field(ge=0, description="per module (one end)")
    price_usd: float = Field(ge=0, description="per module (one end)")
    channel_spacing_hz: float = Field(gt=0, description="DWDM grid slot one wavelength occupies")
    latency_s: float = Field(ge=0, default=0.0, description="DSP and FEC latency added per end")
    fit_per_end: float = Field(ge=0, default=0.0, description="failures per 1e9 module-hours")


class LinePart(Entry):
    """A line-system part between two sites, or the fibre route itself."""

    role: Literal["terminal", "amplifier", "fiber"] = Field(
        description="terminal: per fibre pair at each site (mux/demux, booster, pre-amp); amplifier: in-line "
        "amplifier per fibre pair per span; fiber: the route (prices per fibre pair and km)")
    power_w: float = Field(ge=0, default=0.0, description="per unit (per fibre pair for terminals and amplifiers)")
    price_usd: float = Field(ge=0, default=0.0, description="per unit; for fiber: one-off price per fibre pair-km")
    annual_usd: float = Field(ge=0, default=0.0, description="yearly upkeep per unit; for fiber: per fibre pair-km")
    span_m: float | None = Field(None, gt=0, description="amplifier: longest span it bridges")
    band_hz: float | None = Field(None, gt=0, description="terminal: optical bandwidth it multiplexes (C-band)")
    fiber_loss_db_per_m: float | None = Field(None, gt=0, description="fiber: attenuation")
    cuts_per_m_year: float = Field(ge=0, default=0.0, description="fiber: cuts per route-metre per year")
    repair_hours: float = Field(ge=0, default=0.0, description="time to restore the unit after a failure")
    fit: float = Field(ge=0, default=0.0, description="failures per 1e9 unit-hours (active parts)")
