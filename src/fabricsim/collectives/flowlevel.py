"""Collectives as phases of coflows, timed on the fabric by the flow-level simulator.

A *coflow* is a set of edges (GPU -> GPU flows) that advance in lockstep at one common
rate, as the hops of a pipelined NCCL ring or tree channel do: every chunk must cross every
hop, and buffers between hops are small, so the slowest hop sets the rate of all.  Its rate
is found by max-min fairness over *coflows*: the incidence row of a coflow is the sum of its
edges' rows (a link crossed by three hops of one ring carries three times the ring's rate).
Different channels, trees and rails are different coflows and share links max-min fairly.

Phase time = the last coflow's fluid completion (bytes per edge x 8 / rate, rates re-shared as
coflows finish).  This is the *transfer* time of the Simple protocol; the library's latencies and
protocols are applied on top by :mod:`fabricsim.collectives.nccl_model`.  A collective's transfer
time is the sum of its phases.
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
    channel: int = 0  # distinguishes parallel flows between the same GPUs (ECMP hashes them apart)
    independent: bool = False  # True: each edge is its own flow (all-to-all, send/recv), not lockstep
    extra_arcs: np.ndarray | None = None  # arcs used besides the edges' paths (in-network reduction)
    extra_weights: np.ndarray | None = None
    connections: int = 1  # connections per edge (duplicated channels), each hashed on its own by ECMP


@dataclass
class Phase:
    name: str
    coflows: list[Coflow]


@dataclass
class PhaseResult:
    name: str
    time_s: float  # transfer time of the phase (no latency: the library's cost model adds it)
    flows: int
    slowest_rate_bits_per_s: float | None  # None: not computed (no flows, or the link-load bound)
    fastest_rate_bits_per_s: float | None
    method: str
    busiest_arcs: list[tuple[str, float]] = field(default_factory=list)  # (label, utilisation at start)


FLUID_EPSILON = 1e-2
"""Relative batching tolerance of the fluid loop: completions within 1% of the next are taken
together (error bound in :mod:`fabricsim.netsim.fluid`; the epsilon DESIGN.md measures); it keeps all-to-all phases with
many distinct rates to a few thousand events."""

MAX_FLUID_ROWS = 400_000
"""Above this many independent flows a phase is timed by its link-load bound (see time_phase)."""


def coflow_incidence(routed: Routed, edge_row: np.ndarray, n_rows: int, weight: np.ndarray | None = None) -> sp.csr_matrix:
    """Sum the incidence rows of the edges that share a simulation row: (rows x arcs)."""
    n_edges = edge_row.size
    w = np.ones(n_edges) if weight is None else weight
    group = sp.csr_matrix((w, (edge_row, np.arange(n_edges))), shape=(n_rows, n_edges))
    return (group @ routed.incidence).tocsr()


def _rows(coflows: list[Coflow], hashes: int) -> tuple[np.ndarray, ...]:
    """Edge arrays (each edge repeated once per ECMP hash it gets: connections x ``hashes``), the hash
    id of each, its weight (1 / repeats) and its simulation row (one per lockstep coflow or per
    independent edge).  Vectorised over coflows (training merges thousands of groups)."""
    n = np.array([c.src.size for c in coflows], dtype=np.int64)
    q = np.array([max(1, c.connections * hashes) for c in coflows], dtype=np.int64)
    independent = np.array([c.independent for c in coflows], dtype=bool)
    channel = np.array([c.channel for c in coflows], dtype=np.int64)
    rows_per = np.where(independent, n, 1)
    row_start = np.r_[0, np.cumsum(rows_per)[:-1]]
    edge_coflow = np.repeat(np.arange(n.size), n)
    edge_index = np.arange(edge_coflow.size) - np.repeat(np.r_[0, np.cumsum(n)[:-1]], n)
    edge_row = row_start[edge_coflow] + np.where(independent[edge_coflow], edge_index, 0)
    reps = q[edge_coflow]
    src = np.repeat(np.concatenate([c.src for c in coflows]), reps)
    dst = np.repeat(np.concatenate([c.dst for c in coflows]), reps)
    within = np.arange(reps.sum()) - np.repeat(np.r_[0, np.cumsum(reps)[:-1]], reps)
    flow_id = np.repeat(channel[edge_coflow] * 4096, reps) + within
    return src, dst, flow_id, np.repeat(1.0 / reps, reps), np.repeat(edge_row, reps)


def _sizes(coflows: list[Coflow]) -> np.ndarray:
    """Bytes of every simulation row, in the order of :func:`_rows`."""
    rows_per = np.array([c.src.size if c.independent else 1 for c in coflows], dtype=np.int64)
    return np.repeat(np.array([c.bytes_per_edge for c in coflows], dtype=float), rows_per)


def _hashes(fabric: Fabric, policy: str) -> int:
    """ECMP hashes per connection: the fabric's flows (QPs) per connection; other policies need one."""
    if policy != "ecmp":
        return 0
    return int(getattr(fabric.design.scenario.fabric, "flows_per_connection", 1) or 1)


def time_phase(
    fabric: Fabric,
    phase: Phase,
    policy: str,
    efficiency: float,
    scale_up_efficiency: float = 1.0,
    seed: int = 0,
    epsilon: float = FLUID_EPSILON,
) -> PhaseResult:
    """Transfer time of one phase: route every edge, share links max-min among rows, run the fluid loop.

    A lockstep coflow is one row (the sum of its edges' paths) moving ``bytes_per_edge``; an
    independent edge is its own row.  Under ECMP every edge is split over its connections x the
    fabric's flows per connection, each hashed on its own (weights 1 / count).  With more than
    ``MAX_FLUID_ROWS`` rows the phase time is the link-load bound max_l(bytes_l / capacity_l), which
    equals the fluid result when the busiest links are shared evenly (tests check this).
    """
    coflows = [c for c in phase.coflows if c.src.size or c.extra_arcs is not None]
    if not coflows:
        return PhaseResult(phase.name, 0.0, 0, None, None, "empty")
    n_independent = sum(c.src.size for c in coflows if c.independent)
    if n_independent > MAX_FLUID_ROWS and not any(c.extra_arcs is not None for c in coflows):
        return _link_load_phase(fabric, phase.name, coflows, policy, efficiency, scale_up_efficiency, seed)
    with_edges = [c for c in coflows if c.src.size]
    extra = [c for c in coflows if c.extra_arcs is not None]
    src, dst, flow_id, weight, row = _rows(with_edges, _hashes(fabric, policy)) if with_edges else (
        np.zeros(0, dtype=np.int64),) * 5
    n_rows = (int(row.max()) + 1 if row.size else 0)
    routed = route(fabric, src, dst, policy, seed=seed, flow_id=flow_id)
    base = n_rows
    n_rows += len(extra)
    matrix = coflow_incidence(routed, row.astype(np.int64), n_rows, weight.astype(float))
    sizes = [_sizes(with_edges)] if with_edges else []
    if extra:
        rows = np.concatenate([np.full(c.extra_arcs.size, base + k) for k, c in enumerate(extra)])
        cols = np.concatenate([c.extra_arcs for c in extra])
        vals = np.concatenate([c.extra_weights if c.extra_weights is not None else np.ones(c.extra_arcs.size)
                               for c in extra])
        matrix = (matrix + sp.csr_matrix((vals, (rows, cols)), shape=matrix.shape)).tocsr()
        sizes.append(np.array([c.bytes_per_edge for c in extra]))
    sizes = np.concatenate(sizes)
    capacity = routed.capacity_bits_per_s * np.where(routed.arc_block == 3, scale_up_efficiency, efficiency)
    rates = max_min_rates(matrix, capacity)  # exact, for the busiest-links report
    result = simulate_flows(matrix, capacity, sizes, epsilon=epsilon)
    finish = np.asarray(result.finish_s)
    load = matrix.T @ rates
    utilisation = np.divide(load, capacity, out=np.zeros_like(load), where=capacity > 0)
    top = np.argsort(utilisation)[::-1][:5]
    busiest = [(describe_arc(fabric, routed, int(a)), float(utilisation[a])) for a in top if utilisation[a] > 0]
    return PhaseResult(
        name=phase.name,
        time_s=float(finish.max()),
        flows=n_rows,
        slowest_rate_bits_per_s=float(rates.min()),
        fastest_rate_bits_per_s=float(rates.max()),
        method="fluid max-min",
        busiest_arcs=busiest,
    )


CHUNK_EDGES = 1_000_000


def _link_load_phase(fabric, name, coflows, policy, efficiency, scale_up_efficiency, seed):
    """Phase time of very many independent flows from link loads, routed in chunks (bounded memory).

    time = max over arcs of (bits crossing the arc / capacity): the finish time of the last flow
    when every busiest link stays busy until the end, which is what max-min sharing gives when the
    busiest links carry evenly sized flows (all-to-all).
    """
    load = None
    capacity = None
    flows = 0
    hashes = _hashes(fabric, policy)
    for c in coflows:
        for lo in range(0, c.src.size, CHUNK_EDGES):
            part = Coflow(c.src[lo : lo + CHUNK_EDGES], c.dst[lo : lo + CHUNK_EDGES], c.bytes_per_edge,
                          c.channel, True, connections=c.connections)
            src, dst, flow_id, weight, _ = _rows([part], hashes)
            routed = route(fabric, src, dst, policy, seed=seed, flow_id=flow_id)
            if load is None:
                load = np.zeros(routed.n_arcs)
                capacity = routed.capacity_bits_per_s * np.where(routed.arc_block == 3, scale_up_efficiency, efficiency)
                first = routed
            load += routed.incidence.T @ (weight * c.bytes_per_edge * 8.0)
            flows += part.src.size
    utilisation_time = np.divide(load, capacity, out=np.zeros_like(load), where=capacity > 0)
    top = np.argsort(utilisation_time)[::-1][:5]
    peak = float(utilisation_time[top[0]])
    busiest = [(describe_arc(fabric, first, int(a)), float(utilisation_time[a] / peak)) for a in top if peak > 0]
    return PhaseResult(name, peak, flows, None, None, "link-load bound", busiest)
