"""Run a collective on a torus scenario, nccl-tests style (time, algbw, busbw per size).

``ranks`` picks a *slice* of whole cubes: with an OCS the slice is wired as its own torus (the OCS
closes its wrap-arounds); without one only the whole torus is a torus.  The slice shape is the most
cube-like factorisation of its cubes.  The transfer is simulated once (flow-level, every ring or flow
routed on the torus, max-min fair) or computed (analytic) and scaled to every size; latency is added
per ring step (:func:`fabricsim.collectives.torus_algorithms.latency_s`).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from fabricsim.collectives.algorithms import padded_size
from fabricsim.collectives.api import CollectiveReport, SizeResult, busbw_factor
from fabricsim.collectives.flowlevel import time_phase
from fabricsim.collectives.timing import REFERENCE_BYTES
from fabricsim.collectives.torus_algorithms import (
    all_to_all_phase, analytic_transfer, check, latency_s, ring_phases,
)
from fabricsim.errors import FabricsimError
from fabricsim.netsim.routing import POLICIES
from fabricsim.topology.torus import build_torus, design_torus

FLOW_ALL_TO_ALL_LIMIT = 1024
"""Above this many chips an all-to-all (n^2 flows) is computed from its routing patterns' arc-class loads,
which is exact for the translation-invariant all-to-all of a whole torus (tests check it against the
flow-level result on smaller tori)."""


def slice_dims(ranks: int, design) -> tuple[int, ...]:
    """The most cube-like shape of ``ranks`` chips made of whole cubes."""
    block = design.block
    per_cube = math.prod(block)
    if ranks % per_cube:
        raise FabricsimError(f"--ranks {ranks:,}: a torus slice is whole cubes of {per_cube} chips "
                             f"({'x'.join(map(str, block))}); use a multiple of {per_cube}")
    cubes = ranks // per_cube
    if cubes > design.cubes:
        raise FabricsimError(f"--ranks {ranks:,} is more than the torus's {design.chips:,} chips")
    best = None
    for shape in itertools.product(range(1, cubes + 1), repeat=len(block)):
        if math.prod(shape) != cubes:
            continue
        dims = tuple(b * s for b, s in zip(block, shape))
        score = (max(dims) / min(dims), dims)
        if best is None or score < best[0]:
            best = (score, dims)
    return best[1]


def torus_for(spec, ranks: int | None):
    """(design, fabric arrays) of the whole torus or of a slice of ``ranks`` chips."""
    design = design_torus(spec)
    if ranks is not None and ranks != design.chips:
        if design.ocs is None:
            raise FabricsimError(f"--ranks {ranks:,}: without an OCS (fabric.torus.ocs) a slice of a static torus is "
                                 f"a mesh, not a torus; time the whole torus ({design.chips:,} chips) or add an OCS")
        design = design_torus(spec, slice_dims(ranks, design))
    return design, build_torus(design)


def transfer(design, fabric, op: str, algorithm: str, method: str, policy: str) -> tuple[float, float, list, str]:
    """(Simple transfer seconds at REFERENCE_BYTES, analytic reference, phase details, method used)."""
    n = design.chips
    notes_method = method
    analytic = None
    if not design.twisted or op in ("all_to_all", "send_recv"):
        analytic = analytic_transfer(design, op, algorithm, REFERENCE_BYTES, fabric, policy)
    if op == "all_to_all" and method == "flow" and n > FLOW_ALL_TO_ALL_LIMIT:
        notes_method = "analytic (arc-class loads of the routing patterns: exact for a whole-torus all-to-all)"
        method = "analytic"
    if method == "analytic":
        if analytic is None:
            raise FabricsimError("a ring all-reduce on a twisted torus is timed flow-level only: use --method flow")
        return analytic, analytic, [], notes_method
    S = float(padded_size(REFERENCE_BYTES, n))
    efficiency = design.scale_up.payload_efficiency
    if op == "send_recv":
        phases = [all_to_all_phase(np.array([0, n // 2]), 2 * S)]
    elif op == "all_to_all":
        phases = [all_to_all_phase(np.arange(n), S)]
    else:
        phases = ring_phases(fabric, op, S)
    details = [time_phase(fabric, p, policy, efficiency, efficiency) for p in phases]
    flow = sum(d.time_s for d in details)
    return flow, analytic if analytic is not None else flow, details, "flow"


def run_torus_collective(spec, op: str = "all_reduce", algorithm: str = "auto", sizes=(2**30,),
                         ranks: int | None = None, method: str = "flow", load_balancing: str | None = None):
    """Time ``op`` on the scenario's torus (or a slice of ``ranks`` chips) at every size."""
    if method not in ("flow", "analytic"):
        raise FabricsimError(f"--method {method!r}: valid methods are flow, analytic")
    for size in sizes:
        if size <= 0:
            raise FabricsimError(f"message size {size} bytes: sizes must be > 0")
    policy = load_balancing or "ecmp"
    if policy not in POLICIES:
        raise FabricsimError(f"--lb {policy!r}: valid policies are {', '.join(POLICIES)} (on a torus: ecmp/flowlet "
                             f"route statically in dimension order, spray/adaptive split over minimal paths)")
    name = check(op, algorithm)
    design, fabric = torus_for(spec, ranks)
    n = design.chips
    actual, ideal, details, used = transfer(design, fabric, op, name, method, policy)
    alpha = latency_s(design, op, name)
    results = []
    for size in sizes:
        padded = padded_size(size, n)
        scale = padded / padded_size(REFERENCE_BYTES, n)
        t, t_ideal = alpha + actual * scale, alpha + ideal * scale
        algbw = padded / t
        results.append(SizeResult(name, "ici", size, padded, t, t_ideal, alpha, algbw, algbw * busbw_factor(op, n),
                                  t_ideal / t, details if size == sizes[-1] else []))
    shape = "x".join(map(str, design.dims)) + (" twisted" if design.twisted else "")
    report = CollectiveReport(op, name, policy, f"torus {shape}", "ici", n, 2 * design.ndims, np.arange(n), results,
                              design.cubes)
    report.notes = [f"{shape} torus of {design.cubes} cubes; transfer {used}"]
    return report
