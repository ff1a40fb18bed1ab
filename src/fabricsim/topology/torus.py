"""Torus fabrics of cubes joined by optical circuit switches (TPU v4/v5p style), as counts and arrays.

A D-dimensional torus of ``dims`` chips (D = 2 or 3): every chip has a link to its + neighbour in each
dimension (and so 2D links in all).  The torus is cut into cubes of ``block`` chips (one rack): links
between neighbours of one cube are electrical; a link that leaves a cube face (including the
wrap-around) runs over an optical transceiver at each end and through an OCS, which joins the +face of
one cube to the -face of the next.  One OCS serves one (dimension, face position) for every cube
(TPU v4: 3 x 16 = 48 OCS of 2 x 64 = 128 ports in use); with circulators a port carries both
directions of a link end.  Without OCS (``ocs: null``) the faces are cabled statically.

*Twisted* tori (Camara et al.; Cloud TPU v4 "twisted tori"): in a K x K x 2K or K x 2K x 2K torus the
wrap-around of each short dimension (size K) jumps +K along the long dimension(s), so the ring along a
short dimension has 2K chips and the bisection grows.  The chips then form the group Z^D / L with the
lattice L spanned by ``dims[d] e_d - twist[d]``; :func:`normalize` reduces coordinates into it.

Numbering: chip = ravel of its coordinates (C order); link ``chip x D + d`` goes from the chip to its +d
neighbour; arc ``2 link`` runs in +d, ``2 link + 1`` back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fabricsim.catalog.optical_schema import OpticalCircuitSwitch
from fabricsim.catalog.schema import Gpu, Medium, ScaleUpSystem
from fabricsim.errors import FabricsimError
from fabricsim.scenario import Scenario
from fabricsim.topology.design import FIBER_PROPAGATION_S_PER_M


def twist_matrix(dims: tuple[int, ...], twisted: bool) -> np.ndarray:
    """Row d: what wrapping once around dimension d adds to the other coordinates."""
    n = len(dims)
    twist = np.zeros((n, n), dtype=np.int64)
    if not twisted:
        return twist
    short, long_ = min(dims), max(dims)
    if long_ != 2 * short or any(d not in (short, long_) for d in dims) or n < 2:
        raise FabricsimError(f"fabric.torus.twist: a twisted torus is K x K x 2K or K x 2K x 2K (or K x 2K in 2D); "
                             f"dims {list(dims)} are not; set twist: false")
    for d, size in enumerate(dims):
        if size == short:
            for e, other in enumerate(dims):
                if other == long_:
                    twist[d, e] = short
    return twist


def normalize(coords: np.ndarray, dims: tuple[int, ...], twist: np.ndarray) -> np.ndarray:
    """Coordinates reduced into the torus: twisted dimensions carry their wraps into the others first."""
    c = np.array(coords, dtype=np.int64, copy=True)
    sizes = np.asarray(dims, dtype=np.int64)
    order = [d for d in range(len(dims)) if twist[d].any()] + [d for d in range(len(dims)) if not twist[d].any()]
    for d in order:
        carry = np.floor_divide(c[..., d], sizes[d])
        c[..., d] -= carry * sizes[d]
        if twist[d].any():
            c += carry[..., None] * twist[d]
    return c


@dataclass(frozen=True)
class TorusDesign:
    """A torus resolved to catalog parts and counts (no per-link arrays)."""

    scenario: Scenario
    gpu: Gpu
    scale_up: ScaleUpSystem  # the cube
    dims: tuple[int, ...]
    block: tuple[int, ...]
    twisted: bool
    ocs: OpticalCircuitSwitch | None
    optic: Medium  # transceiver at each optical link end
    link_bits_per_s: float
    kind: str = "torus"

    @property
    def ndims(self) -> int:
        return len(self.dims)

    @property
    def chips(self) -> int:
        return math.prod(self.dims)

    @property
    def gpus(self) -> int:
        return self.chips

    @property
    def twist(self) -> np.ndarray:
        return twist_matrix(self.dims, self.twisted)

    @property
    def cubes(self) -> int:
        return self.chips // math.prod(self.block)

    @property
    def links(self) -> int:
        return self.chips * self.ndims

    @property
    def optical_links(self) -> int:
        """Links that leave a cube face (one per line per cube boundary, wrap-around included)."""
        return sum(self.chips // b for b in self.block)

    @property
    def electrical_links(self) -> int:
        return self.links - self.optical_links

    @property
    def transceivers(self) -> int:
        return 2 * self.optical_links

    @property
    def ocs_per_face_position(self) -> int:
        """OCS per (dimension, face position): 2 ports per cube (+ and - face) with circulators, 4 without."""
        ports = 2 * self.cubes * (1 if self.ocs.circulators else 2)
        return math.ceil(ports / self.ocs.ports)

    @property
    def ocs_count(self) -> int:
        if self.ocs is None:
            return 0
        face_positions = sum(math.prod(self.block) // b for b in self.block)
        return face_positions * self.ocs_per_face_position

    @property
    def ocs_ports_used(self) -> int:
        return 0 if self.ocs is None else self.transceivers * (1 if self.ocs.circulators else 2)

    @property
    def hop_latency_s(self) -> float:
        """One electrical ICI hop (the cube's link latency)."""
        return self.scale_up.link_latency_s

    @property
    def optical_hop_latency_s(self) -> float:
        """A hop through the OCS: the link latency plus transceivers and fibre to and from the OCS."""
        fibre = 2 * self.scenario.fabric.torus.cube_to_ocs_m * FIBER_PROPAGATION_S_PER_M
        return self.scale_up.link_latency_s + 2 * self.optic.latency_s + fibre

    @property
    def diameter_hops(self) -> int:
        return sum(size // 2 for size in self.dims)


def _part(catalog, section: str, name: str, field_name: str):
    try:
        return catalog.get(section, name)
    except FabricsimError as exc:
        raise FabricsimError(f"fabric.torus.{field_name}: {exc}") from None


def design_torus(scenario: Scenario, dims: tuple[int, ...] | None = None) -> TorusDesign:
    """Resolve ``fabric.torus`` (or a slice of ``dims`` chips of it) into parts and counts."""
    catalog = scenario.catalog()
    spec = scenario.fabric.torus
    gpu = catalog.gpu(scenario.cluster.gpu)
    cube = catalog.scale_up(scenario.cluster.scale_up or gpu.default_scale_up)
    dims = tuple(int(d) for d in (dims or spec.dims))
    block = tuple(spec.block)
    if len(dims) != len(block) or any(d % b for d, b in zip(dims, block)):
        raise FabricsimError(f"fabric.torus: dims {list(dims)} are not whole cubes of {list(block)}")
    if math.prod(block) != cube.gpus:
        raise FabricsimError(f"fabric.torus.block={list(block)} holds {math.prod(block)} chips but the scale-up "
                             f"system {cube.name} (one cube) holds {cube.gpus}; make them agree")
    chips = math.prod(dims)
    if dims == tuple(spec.dims) and chips != scenario.cluster.gpus:
        raise FabricsimError(f"cluster.gpus={scenario.cluster.gpus:,} but fabric.torus.dims={list(dims)} hold "
                             f"{chips:,} chips; set cluster.gpus: {chips}")
    links = 2 * len(dims)
    link = cube.link_bits_per_s or gpu.scale_up_bits_per_s / links
    if abs(link * links - gpu.scale_up_bits_per_s) > 1e-6 * gpu.scale_up_bits_per_s:
        raise FabricsimError(f"cluster.gpu={gpu.name}: {gpu.scale_up_bits_per_s / 1e12:g} Tb/s of ICI is not {links} links of "
                             f"{link / 1e9:g} Gb/s ({cube.name}.link_bits_per_s); a {len(dims)}D torus needs {links}")
    ocs = _part(catalog, "optical_switches", spec.ocs, "ocs") if spec.ocs else None
    optic = _part(catalog, "media", spec.optics, "optics")
    if optic.bits_per_s < link - 1:
        raise FabricsimError(f"fabric.torus.optics={optic.name} carries {optic.bits_per_s / 1e9:g} Gb/s, less than the "
                             f"{link / 1e9:g} Gb/s ICI link")
    design = TorusDesign(scenario, gpu, cube, dims, block, spec.twist, ocs, optic, link)
    design.twist  # checks the twisted shape
    if ocs is None and spec.twist:
        raise FabricsimError("fabric.torus.twist needs an OCS (fabric.torus.ocs) to rewire the wrap-around links")
    return design


@dataclass
class TorusFabric:
    """Arrays of a torus: chip coordinates, + neighbours, per-link capacity, latency and medium.

    ``kind = "torus"`` tells :func:`fabricsim.netsim.routing.route` to use :mod:`fabricsim.netsim.cayley`."""

    design: TorusDesign
    coords: np.ndarray  # (chips, D)
    plus: np.ndarray  # (chips, D): + neighbour of every chip in every dimension
    minus: np.ndarray  # (chips, D)
    link_optical: np.ndarray  # (chips x D,) bool
    link_capacity_bits_per_s: np.ndarray
    link_latency_s: np.ndarray
    link_up: np.ndarray
    gpu_scale_up_domain: np.ndarray  # cube of every chip
    kind: str = "torus"
    patterns: dict = field(default_factory=dict)  # routing patterns by policy, built on first use

    @property
    def n_links(self) -> int:
        return int(self.link_optical.size)

    def bisection_links(self) -> int:
        """Links crossing the narrowest axis-aligned cut that halves the chips (exact for a regular torus;
        an upper bound on a twisted torus's true bisection)."""
        best = None
        for d, size in enumerate(self.design.dims):
            if size % 2:
                continue
            side = self.coords[:, d] < size // 2
            crossing = sum(int(np.count_nonzero(side != side[self.plus[:, e]])) for e in range(self.design.ndims))
            best = crossing if best is None else min(best, crossing)
        return best or 0

    def index(self, coords: np.ndarray) -> np.ndarray:
        c = normalize(coords, self.design.dims, self.design.twist)
        return np.ravel_multi_index(tuple(np.moveaxis(c, -1, 0)), self.design.dims).astype(np.int64)


def build_torus(design: TorusDesign) -> TorusFabric:
    dims = design.dims
    chips, n = design.chips, design.ndims
    coords = np.stack(np.unravel_index(np.arange(chips), dims), axis=1).astype(np.int64)
    eye = np.eye(n, dtype=np.int64)
    fabric = TorusFabric(design, coords, np.zeros((chips, n), np.int64), np.zeros((chips, n), np.int64),
                         np.zeros(chips * n, bool), np.full(chips * n, design.link_bits_per_s), np.zeros(chips * n),
                         np.ones(chips * n, bool), np.zeros(chips, np.int64))
    for d in range(n):
        fabric.plus[:, d] = fabric.index(coords + eye[d])
        fabric.minus[:, d] = fabric.index(coords - eye[d])
    block = np.asarray(design.block)
    optical = ((coords + 1) % block == 0)  # the + link leaves the cube
    fabric.link_optical = optical.ravel()
    fabric.link_latency_s = np.where(fabric.link_optical, design.optical_hop_latency_s, design.hop_latency_s)
    cube_coords = coords // block
    fabric.gpu_scale_up_domain = np.ravel_multi_index(tuple(cube_coords.T), tuple(np.asarray(dims) // block))
    return fabric
