"""Collectives on a torus as phases of coflows, and their analytic transfer times.

* ``torus_ring`` all-reduce (the multi-dimensional bucket algorithm TPU pods run): the buffer is split
  into D *colours* (D = dimensions), each colour in two halves that travel opposite ways round every
  ring.  Colour c reduce-scatters along dimension c, then c+1, ... (each stage on the shard the last
  left: S / (2D) shrinking by the ring size each stage), then all-gathers back in reverse.  In every
  stage the D colours use D different dimensions and both directions, so all 2D links of every chip
  are busy: bus bandwidth ~ 2 D x link rate.  Reduce-scatter and all-gather are its two halves.
  Rings follow the chips' coordinates (cosets of each dimension); on a twisted torus the wrap-around
  hop of a logical ring is routed over the twisted wiring (TPU's compiler folds rings across the seam
  instead -- not modelled).
* ``direct`` all-to-all: every chip sends S/n to every other, routed on minimal paths
  (:mod:`fabricsim.netsim.cayley`).  Its time is the busiest arc class's load: the torus's weak point,
  as its bisection grows as n^(2/3) while all-to-all traffic across it grows as n.

Transfer times are the Simple-protocol-like payload time (bytes over the links' payload rate: the
cube's ``payload_efficiency``); latency is per ring step (one ICI hop each) or per path for all-to-all
(:func:`latency_s`).  Seconds and bytes; sizes follow nccl-tests.
"""

from __future__ import annotations

import numpy as np

from fabricsim.collectives.algorithms import padded_size
from fabricsim.collectives.flowlevel import Coflow, Phase
from fabricsim.errors import FabricsimError
from fabricsim.netsim.patterns import all_pairs

TORUS_ALGORITHMS = {
    "all_reduce": ("torus_ring",),
    "reduce_scatter": ("torus_ring",),
    "all_gather": ("torus_ring",),
    "all_to_all": ("direct",),
    "send_recv": ("direct",),
}


def check(op: str, algorithm: str) -> str:
    """The algorithm to run (``auto`` -> the torus's own)."""
    if op not in TORUS_ALGORITHMS:
        raise FabricsimError(f"--op {op!r} on a torus: valid operations are {', '.join(TORUS_ALGORITHMS)}")
    if algorithm == "auto":
        return TORUS_ALGORITHMS[op][0]
    if algorithm not in TORUS_ALGORITHMS[op]:
        raise FabricsimError(f"--algo {algorithm!r} for {op} on a torus: valid algorithms are "
                             f"auto, {', '.join(TORUS_ALGORITHMS[op])}")
    return algorithm


def _stages(op: str, ndims: int) -> list[tuple[str, int]]:
    """(reduce_scatter | all_gather, stage index) in running order."""
    rs = [("reduce_scatter", j) for j in range(ndims)]
    ag = [("all_gather", j) for j in reversed(range(ndims))]
    return {"all_reduce": rs + ag, "reduce_scatter": rs, "all_gather": ag}[op]


def _chunk(S: float, dims: tuple[int, ...], colour: int, stage: int) -> float:
    """Bytes one colour-half holds when it enters ``stage`` (its shard after the earlier stages)."""
    D = len(dims)
    shard = S / (2 * D)
    for j in range(stage):
        shard /= dims[(colour + j) % D]
    return shard


def stage_bytes(op: str, S: float, dims: tuple[int, ...]) -> list[list[tuple[int, float]]]:
    """For every phase: (dimension, bytes each chip sends on one link direction) of every colour."""
    out = []
    D = len(dims)
    for kind, j in _stages(op, D):
        row = []
        for c in range(D):
            d = (c + j) % D
            k = dims[d]
            row.append((d, (k - 1) / k * _chunk(S, dims, c, j)))
        out.append(row)
    return out


def _line_rings(fabric, d: int) -> dict[int, list[tuple[np.ndarray, np.ndarray]]]:
    """For each direction (+1, -1): (sources, destinations) of the logical ring along dimension ``d`` of
    every line of chips (the chips that share all other coordinates), one entry per line."""
    dims, D = fabric.design.dims, fabric.design.ndims
    coords = fabric.coords
    line = np.delete(coords, d, axis=1)
    line_id = np.ravel_multi_index(tuple(line.T), tuple(np.delete(np.asarray(dims), d))) if D > 1 else \
        np.zeros(len(coords), dtype=np.int64)
    order = np.argsort(line_id, kind="stable")
    cuts = np.flatnonzero(np.diff(line_id[order])) + 1
    sources = np.split(np.arange(len(coords))[order], cuts)
    out = {}
    for sign in (1, -1):
        nxt = coords.copy()
        nxt[:, d] = (coords[:, d] + sign) % dims[d]  # the logical ring (untwisted coordinates)
        dst = np.ravel_multi_index(tuple(nxt.T), dims)
        out[sign] = list(zip(sources, np.split(dst[order], cuts)))
    return out


def ring_phases(fabric, op: str, S: float) -> list[Phase]:
    """Phases of the multi-dimensional bidirectional ring on the whole torus ``fabric``."""
    design = fabric.design
    dims, D = design.dims, design.ndims
    rings = {d: _line_rings(fabric, d) for d in range(D) if dims[d] > 1}  # the same in every stage
    phases = []
    for (kind, j), row in zip(_stages(op, D), stage_bytes(op, S, dims)):
        coflows = []
        for c, (d, nbytes) in enumerate(row):
            if dims[d] == 1 or nbytes <= 0:
                continue
            for sign in (1, -1):
                for src_part, dst_part in rings[d][sign]:
                    coflows.append(Coflow(src_part, dst_part, nbytes, channel=2 * c + (sign < 0)))
        phases.append(Phase(f"{kind} stage {j + 1} ({'/'.join('xyz'[(c + j) % D] for c in range(D))} rings, both ways)",
                            coflows))
    return phases


def all_to_all_phase(src_chips: np.ndarray, S: float) -> Phase:
    n = src_chips.size
    src, dst = all_pairs(src_chips)
    return Phase("all_to_all direct (minimal paths)", [Coflow(src, dst, S / n, channel=1, independent=True)])


def payload_bytes_per_s(design) -> float:
    return design.link_bits_per_s / 8.0 * design.scale_up.payload_efficiency


def analytic_transfer(design, op: str, algorithm: str, size_bytes: int, fabric=None, policy: str = "ecmp") -> float:
    """Transfer seconds without simulating flows: every ring stage's busiest colour, or the busiest arc
    class of the all-to-all (needs the torus arrays ``fabric`` for its routing patterns)."""
    n = design.chips
    if n == 1:
        return 0.0
    S = float(padded_size(size_bytes, n))
    rate = payload_bytes_per_s(design)
    if op == "send_recv":
        return S / rate
    if op == "all_to_all":
        if fabric is None:
            raise FabricsimError("the torus all-to-all needs the torus arrays for its routing patterns")
        from fabricsim.netsim.cayley import class_loads

        return float(class_loads(fabric, policy).max()) * S / n / rate
    if design.twisted:
        raise FabricsimError("the analytic ring all-reduce assumes an untwisted torus: use --method flow")
    return sum(max(nbytes for _, nbytes in row) / rate for row in stage_bytes(op, S, design.dims))


def latency_s(design, op: str, algorithm: str) -> float:
    """Per-step latency: a ring step is one ICI hop (the wrap-around through the OCS); an all-to-all waits
    for its longest path.  No per-step software overhead is added (none published for XLA collectives)."""
    dims = design.dims
    if op == "all_to_all" or op == "send_recv":
        return design.diameter_hops * design.hop_latency_s + (design.optical_hop_latency_s - design.hop_latency_s)
    steps = sum(k - 1 for k in dims) * (2 if op == "all_reduce" else 1)
    return steps * design.optical_hop_latency_s
