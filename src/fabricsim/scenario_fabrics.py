"""Scenario sections for the fabrics beyond one fat-tree: several sites joined by a metro DCI, and
torus fabrics whose cubes are joined through optical circuit switches.

    sites: {count: 2, distance_km: 80, dci_bits_per_s: 51.2T, optics: zr-800g}
    fabric: {topology: torus, torus: {dims: [16, 16, 16], block: [4, 4, 4], ocs: palomar-136}}

``cluster.gpus`` counts every GPU of every site; each site holds an equal share and its own copy of
the ``fabric`` section.  Units at this edge: km, bits/s (``400G`` style accepted); SI inside.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from fabricsim.scenario_base import Strict as _Strict
from fabricsim.units import parse_bits_per_s


class SitesSpec(_Strict):
    """Campuses joined by a dense-WDM metro link (scale-across)."""

    count: int = Field(2, ge=2, le=16, description="sites; each holds cluster.gpus / count GPUs and its own fabric")
    distance_km: float = Field(80.0, gt=0, le=5000, description="fibre route length between neighbouring sites, km")
    dci_bits_per_s: float = Field(
        51.2e12, gt=0, description="capacity between neighbouring sites per direction (bits/s or '51.2T')")
    optics: str = Field("zr-800g", description="coherent pluggable per wavelength end (catalog dci_optics)")
    terminal: str = Field("c-band-terminal", description="line terminal per fibre pair and site (catalog line_systems)")
    amplifier: str = Field("edfa-ila", description="in-line amplifier per fibre pair and span (catalog line_systems)")
    fiber: str = Field("dark-fiber", description="fibre route (catalog line_systems)")
    routes: int = Field(1, ge=1, le=4, description="diverse fibre routes the capacity is spread over (2: a cut halves it)")
    load_balancing: Literal["ecmp", "spray"] = Field(
        "ecmp", description="how cross-site flows use the wavelengths: per-flow hashing or per-packet spraying")
    window_bytes: float | None = Field(
        None, ge=1, le=2**40, description="bytes one connection keeps in flight across the DCI; default: the collective "
        "library's Simple buffer (NCCL_BUFFSIZE 4 MiB), which caps a connection at window / round-trip time")

    @field_validator("dci_bits_per_s", mode="before")
    @classmethod
    def _speed(cls, value: Any) -> Any:
        return parse_bits_per_s(value, "sites.dci_bits_per_s", 1e18)


class TorusSpec(_Strict):
    """A 2D/3D torus of chips, cut into cubes wired electrically inside and optically (OCS) across."""

    dims: list[int] = Field(default_factory=lambda: [16, 16, 16], description="chips per dimension of the torus")
    block: list[int] = Field(default_factory=lambda: [4, 4, 4], description="chips per dimension of one cube (rack)")
    twist: bool = Field(False, description="twisted torus: the longest dimension's wrap-around shifts the others by "
                                           "half (k x k x 2k, k x 2k x 2k shapes)")
    ocs: str | None = Field("palomar-136", description="optical circuit switch joining cube faces (catalog "
                                                      "optical_switches); null: faces wired statically")
    optics: str = Field("dsp-400g", description="transceiver at each optical link end (catalog media)")
    cube_to_ocs_m: float = Field(50.0, gt=0, le=100_000, description="fibre from a cube face to the OCS racks, metres")

    @field_validator("dims", "block")
    @classmethod
    def _shape(cls, value: list[int]) -> list[int]:
        if len(value) not in (2, 3) or any(not 1 <= v <= 4096 for v in value):
            raise ValueError("give 2 or 3 whole numbers from 1 to 4,096, e.g. [16, 16, 16]")
        return value

    @model_validator(mode="after")
    def _fits(self) -> "TorusSpec":
        if len(self.dims) != len(self.block):
            raise ValueError(f"dims {self.dims} and block {self.block} need the same number of dimensions")
        bad = [f"{d} by {b}" for d, b in zip(self.dims, self.block) if d % b]
        if bad:
            raise ValueError(f"each dimension must be a whole number of cubes; {', '.join(bad)} is not")
        return self
