"""Collectives as phases of coflows, timed on the fabric by the flow-level simulator.

A *coflow* is a set of edges (GPU -> GPU flows) that advance in lockstep at one common
rate, as the hops of a pipelined NCCL ring or tree channel do: every chunk must cross every
hop, and buffers between hops are small, so the slowest hop sets the rate of all.  Its rate
is found by max-min fairness over *coflows*: the incidence row of a coflow is the sum of its
edges' rows (a link crossed by three hops of one ring carries three times the ring's rate).
Different channels, trees and rails are different coflows and share links max-min fairly.

Phase time = max over its coflows of (bytes per edge x 8 / rate + steps x per-step latency).
The collective's time is the sum of its phases (hierarchical algorithms run their phases one
after another; NCCL overlaps them partly, so this is conservative).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from fabricsim.netsim.fluid import simulate_flows
from fabricsim.netsim.maxmin import max_min_rates
from fabricsim.netsim.routing import Routed, describe_arc, route
from fabricsim.topology.fabric import Fabric


@dataclass
class Coflow:
    src: np.ndarray  # GPU of each edge
    dst: np.ndarray
    bytes_per_edge: float  # bytes each edge carries during the phase
    steps: int  # sequential latency-bound steps (alpha term)
    channel: int = 0  # distinguishes parallel flows between the same GPUs (ECMP hashes them apart)
    independent: bool = False  # True: each edge is its own flow (all-to-all, send/recv), not lockstep
    extra_arcs: np.ndarray | None = None  # arcs used besides the edges' paths (in-network reduction)
    extra_weights: np.ndarray | None = None


@dataclass
class Phase:
    name: str
    coflows: list[Coflow]


@dataclass
class PhaseResult:
    name: str
    time_s: float
    latency_time_s: float
    flows: int
    slowest_rate_bits_per_s: float
    fastest_rate_bits_per_s: float
    method: str
    busiest_arcs: list[tuple[str, float]] = field(default_factory=list)  # (label, utilisation at start)


FLUID_EPSILON = 1e-2
"""Relative batching tolerance of the fluid loop: completions within 1% of the next are taken
together (error bound in :mod:`fabricsim.netsim.fluid`; the epsilon DESIGN.md measures); it keeps all-to-all phases with
many distinct rates to a few thousand events."""

MAX_FLUID_ROWS = 400_000
"""Above this many independent flows a phase is timed by its link-load bound (see time_phase)."""


def coflow_incidence(routed: Routed, edge_row: np.ndarray, n_rows: int) -> sp.csr_matrix:
    """Sum the incidence rows of the edges that share a simulation row: (rows x arcs)."""
    n_edges = edge_row.size
    group = sp.csr_matrix((np.ones(n_edges), (edge_row, np.arange(n_edges))), shape=(n_rows, n_edges))
    return (group @ routed.incidence).tocsr()


def _rows(coflows: list[Coflow]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edge arrays and the simulation row of each edge (one row per lockstep coflow or per independent edge)."""
    src = np.concatenate([c.src for c in coflows])
    dst = np.concatenate([c.dst for c in coflows])
    channel = np.concatenate([np.full(c.src.size, c.channel) for c in coflows])
    row, next_row = [], 0
    for c in coflows:
        if c.independent:
            row.append(next_row + np.arange(c.src.size))
            next_row += c.src.size
        else:
            row.append(np.full(c.src.size, next_row))
            next_row += 1
    return src, dst, channel, np.concatenate(row)


def time_phase(
    fabric: Fabric,
    phase: Phase,
    policy: str,
    efficiency: float,
    scale_up_efficiency: float = 1.0,
    seed: int = 0,
    step_overhead_s: float = 0.0,
    epsilon: float = FLUID_EPSILON,
) -> PhaseResult:
    """Time one phase: route every edge, share links max-min among rows, run the fluid loop.

    A lockstep coflow is one row (the sum of its edges' paths) moving ``bytes_per_edge``; an
    independent edge is its own row.  Rows finish at their fluid completion time plus
    ``steps x (path latency + step_overhead_s)``.  With more than ``MAX_FLUID_ROWS`` rows the
    phase time is the link-load bound max_l(bytes_l / capacity_l) plus the latency term, which
    equals the fluid result when the busiest links are shared evenly (tests check this).
    """
    coflows = [c for c in phase.coflows if c.src.size or c.extra_arcs is not None]
    if not coflows:
        return PhaseResult(phase.name, 0.0, 0.0, 0, 0.0, 0.0, "empty")  # no flows: no rates (finite in reports)
    n_independent = sum(c.src.size for c in coflows if c.independent)
    if n_independent > MAX_FLUID_ROWS and not any(c.extra_arcs is not None for c in coflows):
        return _link_load_phase(fabric, phase.name, coflows, policy, efficiency, scale_up_efficiency, seed,
                                step_overhead_s)
    src, dst, channel, row = _rows(coflows)
    n_rows = int(row.max()) + 1 if row.size else 0
    routed = route(fabric, src, dst, policy, seed=seed, flow_id=channel)
    extra = [(c, i) for i, c in enumerate(coflows) if c.extra_arcs is not None]
    n_rows += len(extra)
    matrix = coflow_incidence(routed, row, n_rows)
    sizes = np.concatenate([np.zeros(0)] + [np.full(1 if not c.independent else c.src.size, c.bytes_per_edge)
                            for c in coflows if c.src.size])
    steps = np.concatenate([np.zeros(0)] + [np.full(1 if not c.independent else c.src.size, c.steps)
                            for c in coflows if c.src.size])
    edge_latency = np.zeros(n_rows)
    np.maximum.at(edge_latency, row, routed.latency_s)
    if extra:
        base = n_rows - len(extra)
        rows = np.concatenate([np.full(c.extra_arcs.size, base + k) for k, (c, _) in enumerate(extra)])
        cols = np.concatenate([c.extra_arcs for c, _ in extra])
        vals = np.concatenate([c.extra_weights if c.extra_weights is not None else np.ones(c.extra_arcs.size)
                               for c, _ in extra])
        matrix = (matrix + sp.csr_matrix((vals, (rows, cols)), shape=matrix.shape)).tocsr()
        sizes = np.concatenate([sizes, [c.bytes_per_edge for c, _ in extra]])
        steps = np.concatenate([steps, [c.steps for c, _ in extra]])
        edge_latency[base:] = 2 * fabric.design.shape.tiers * float(routed.latency_s.max(initial=0.0))
    capacity = routed.capacity_bits_per_s * np.where(routed.arc_block == 3, scale_up_efficiency, efficiency)
    latency = steps * (edge_latency + step_overhead_s)
    rates = max_min_rates(matrix, capacity)  # exact, for the busiest-links report
    result = simulate_flows(matrix, capacity, sizes, latency_s=latency, epsilon=epsilon)
    finish = np.asarray(result.finish_s)
    method = "fluid max-min"
    worst = int(np.argmax(finish))
    load = matrix.T @ rates
    utilisation = np.divide(load, capacity, out=np.zeros_like(load), where=capacity > 0)
    top = np.argsort(utilisation)[::-1][:5]
    busiest = [(describe_arc(fabric, routed, int(a)), float(utilisation[a])) for a in top if utilisation[a] > 0]
    return PhaseResult(
        name=phase.name,
        time_s=float(finish[worst]),
        latency_time_s=float(latency[worst]),
        flows=n_rows,
        slowest_rate_bits_per_s=float(rates.min()),
        fastest_rate_bits_per_s=float(rates.max()),
        method=method,
        busiest_arcs=busiest,
    )


CHUNK_EDGES = 1_000_000


def _link_load_phase(fabric, name, coflows, policy, efficiency, scale_up_efficiency, seed, step_overhead_s):
    """Phase time of very many independent flows from link loads, routed in chunks (bounded memory).

    time = max over arcs of (bits crossing the arc / capacity) + the longest latency term: the
    finish time of the last flow when every busiest link stays busy until the end, which is what
    max-min sharing gives when the busiest links carry evenly sized flows (all-to-all).
    """
    load = None
    worst_latency = 0.0
    capacity = None
    flows = 0
    for c in coflows:
        for lo in range(0, c.src.size, CHUNK_EDGES):
            src, dst = c.src[lo : lo + CHUNK_EDGES], c.dst[lo : lo + CHUNK_EDGES]
            routed = route(fabric, src, dst, policy, seed=seed, flow_id=np.full(src.size, c.channel))
            if load is None:
                load = np.zeros(routed.n_arcs)
                capacity = routed.capacity_bits_per_s * np.where(routed.arc_block == 3, scale_up_efficiency, efficiency)
                first = routed
            load += routed.incidence.T @ np.full(src.size, c.bytes_per_edge * 8.0)
            worst_latency = max(worst_latency, c.steps * (float(routed.latency_s.max(initial=0.0)) + step_overhead_s))
            flows += src.size
    utilisation_time = np.divide(load, capacity, out=np.zeros_like(load), where=capacity > 0)
    top = np.argsort(utilisation_time)[::-1][:5]
    peak = float(utilisation_time[top[0]])
    busiest = [(describe_arc(fabric, first, int(a)), float(utilisation_time[a] / peak)) for a in top if peak > 0]
    return PhaseResult(name, peak + worst_latency, worst_latency, flows, np.nan, np.nan, "link-load bound", busiest)
