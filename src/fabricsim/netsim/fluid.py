"""Fluid flow-level simulation: flows share links max-min fairly; the clock jumps from event to event.

Events are flow arrivals (``start_s``) and completions.  Between events every active flow moves at
its max-min fair rate (:func:`fabricsim.netsim.maxmin.max_min_rates`, same ``epsilon``).  At each
event the loop computes every active flow's completion time at the current rates, takes the
earliest ``t1`` and closes the *batch window* at the latest predicted completion not after
``origin + (t1 - origin) (1 + epsilon)`` (``origin`` = the earliest start), or at the next arrival
if that comes first.  Rates stay fixed through the window; every flow predicted to finish inside
it finishes at its own predicted time, having sent exactly its bytes; the others advance.  So:

* bytes are conserved exactly (a flow's rate x time integral equals its size, see ``record``);
* links are never over capacity (rates are a feasible allocation for a superset of the flows);
* the only approximation is that capacity freed by a flow finishing inside a window is handed to
  the others up to ``epsilon x (elapsed time)`` late, and the max-min allocation's own epsilon.
  With ``epsilon -> 0`` this is the exact fluid model (ties closer than 1e-12 are still batched).

The number of allocations is about the number of distinct completion times, at most
``log(t_last / t_first) / log(1 + epsilon)`` for flows that all start together.  After departures
only the flows frozen at or after the departed flows' progressive-filling iteration are re-solved
(see ``_allocate``; exact, not an approximation); an arrival re-solves everything.

Each flow's finish time is its transfer completion plus ``latency_s`` (the alpha term).  A flow of
zero bytes finishes at ``start + latency``; a flow crossing no link moves at its demand (instantly
without one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from fabricsim.errors import FabricsimError
from fabricsim.netsim.maxmin import TIE, _check_epsilon, fill, prepare_incidence

__all__ = ["FluidResult", "simulate_flows"]


@dataclass
class FluidResult:
    finish_s: np.ndarray  # (F,) completion time of each flow in seconds, including its latency term
    rates_history: list | None  # with record=True: [(t0, t1, flow ids, rates bits/s)] per window, else None
    events: int  # number of max-min re-allocations (event windows)
    iterations: int = 0  # progressive-filling iterations summed over all allocations

    @property
    def makespan_s(self) -> float:
        return float(self.finish_s.max()) if self.finish_s.size else 0.0


def _per_flow(name: str, value, n_flows: int, default: float) -> np.ndarray:
    if value is None:
        return np.full(n_flows, default)
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n_flows, float(arr))
    if arr.shape != (n_flows,):
        raise FabricsimError(f"{name} must have one entry per flow ({n_flows}); got shape {arr.shape}")
    if n_flows and (not np.all(np.isfinite(arr)) or arr.min() < 0):
        bad = int(np.flatnonzero(~np.isfinite(arr) | (arr < 0))[0])
        raise FabricsimError(f"{name} must be finite and >= 0; flow {bad} has {arr[bad]}")
    return arr


def _used_columns(sub: sp.csr_matrix, capacity: np.ndarray):
    """Drop the links no flow of ``sub`` crosses (fill's per-call work is then O(links used))."""
    n_links = capacity.size
    used = np.flatnonzero(np.bincount(sub.indices, minlength=n_links))  # np.unique is far slower
    if used.size > 0.8 * n_links:
        return sub, capacity
    relabel = np.empty(n_links, dtype=sub.indices.dtype)
    relabel[used] = np.arange(used.size, dtype=sub.indices.dtype)
    out = sp.csr_matrix((sub.data, relabel[sub.indices], sub.indptr), shape=(sub.shape[0], used.size))
    return out, capacity[used]


def _allocate(matrix, capacity, demand, epsilon, active, rates, frozen, stale_from):
    """Max-min rates of the ``active`` flows: (rates, iteration that froze each, iterations run).

    After departures only, flows frozen before iteration ``stale_from`` (the earliest iteration that
    froze a departed flow) keep their rates: the first ``stale_from - 1`` iterations of progressive
    filling do not depend on flows frozen later (a removed flow only raises its links' shares), so
    continuing from their state, i.e. filling the other flows on the capacity they leave, gives
    exactly the from-scratch allocation.
    """
    kept = frozen < stale_from if stale_from > 0 else np.zeros(active.size, dtype=bool)
    redo = np.flatnonzero(~kept)
    sub = matrix[active[redo]] if kept.any() else matrix[active]
    residual = capacity
    if kept.any():
        kept_rates = np.where(np.isfinite(rates[kept]), rates[kept], 0.0)
        residual = np.maximum(capacity - matrix[active[kept]].T @ kept_rates, 0.0)
    sub, residual = _used_columns(sub, residual)
    frozen_new = np.zeros(redo.size, dtype=np.int64)
    new, its = fill(sub, residual, None if demand is None else demand[active[redo]], epsilon, frozen_new)
    if not kept.any():
        return new, frozen_new, its
    rates = rates.copy()
    frozen = frozen.copy()
    rates[redo] = new
    frozen[redo] = np.where(frozen_new > 0, frozen_new + stale_from - 1, 0)
    return rates, frozen, its


def simulate_flows(
    incidence,
    capacity,
    size_bytes,
    start_s=None,
    latency_s=None,
    demand=None,
    epsilon: float = 0.01,
    record: bool = False,
    incremental: bool = True,
) -> FluidResult:
    """Fluid event loop: flows start at start_s (default 0), share links max-min fairly, and the loop
    jumps to the next event (a flow arrival or completion), re-allocating rates; completions within
    epsilon (relative, see module docstring) of the next one are batched.  latency_s (per flow, the
    alpha term: hops x per-hop latency + serialization) is added to each finish time.  Sizes are
    bytes (int64 or float); rates bits/s.  ``record=True`` keeps the rate schedule in
    ``rates_history`` (for checks; memory grows with events x flows).  ``incremental=False``
    re-solves every allocation from scratch (same result; for checking the incremental path).
    """
    epsilon = _check_epsilon(epsilon)
    matrix, capacity, demand = prepare_incidence(incidence, capacity, demand)
    n_flows = matrix.shape[0]
    sizes = np.asarray(size_bytes)
    if sizes.ndim == 0:
        sizes = np.full(n_flows, sizes)
    if sizes.shape != (n_flows,):
        raise FabricsimError(f"size_bytes must have one entry per flow ({n_flows}); got shape {sizes.shape}")
    if not np.issubdtype(sizes.dtype, np.number) or np.issubdtype(sizes.dtype, np.complexfloating):
        raise FabricsimError(f"size_bytes must be numbers of bytes; got dtype {sizes.dtype}")
    if n_flows and (not np.all(np.isfinite(sizes)) or sizes.min() < 0):
        bad = int(np.flatnonzero(~np.isfinite(sizes) | (sizes < 0))[0])
        raise FabricsimError(f"size_bytes must be >= 0; flow {bad} has {sizes[bad]}")
    start = _per_flow("start_s", start_s, n_flows, 0.0)
    latency = _per_flow("latency_s", latency_s, n_flows, 0.0)

    bits = sizes.astype(np.float64) * 8.0
    remaining = bits.copy()
    done_at = np.full(n_flows, np.nan)
    history = [] if record else None
    # Zero-byte flows need no bandwidth.
    empty = bits == 0
    done_at[empty] = start[empty]
    todo = np.flatnonzero(~empty)
    arrival_order = todo[np.argsort(start[todo], kind="stable")]
    arrival_times = start[arrival_order]
    origin = arrival_times[0] if arrival_times.size else 0.0
    next_arrival = 0
    active = np.zeros(0, dtype=np.int64)
    now = origin
    events = iterations = 0
    grow = 1.0 + max(epsilon, TIE)
    rates = np.zeros(0)
    frozen = np.zeros(0, dtype=np.int64)  # progressive-filling iteration that froze each active flow
    stale_from = 0  # re-solve flows frozen in this iteration or later (0: everything)
    while active.size or next_arrival < arrival_order.size:
        if next_arrival < arrival_order.size and arrival_times[next_arrival] <= now:
            stop = int(np.searchsorted(arrival_times, now, side="right"))
            active = np.concatenate([active, arrival_order[next_arrival:stop]])
            next_arrival = stop
            stale_from = 0  # a new flow can change every level
        if not active.size:
            now = arrival_times[next_arrival]
            continue
        rates, frozen, its = _allocate(matrix, capacity, demand, epsilon, active, rates, frozen,
                                       stale_from if incremental else 0)
        events += 1
        iterations += its
        with np.errstate(divide="ignore"):
            need = remaining[active] / rates  # inf rate (no link, no demand) -> 0 s
        first = now + need.min()
        horizon = origin + (first - origin) * grow
        in_window = now + need <= horizon
        end = (now + need[in_window]).max()
        t_arrival = arrival_times[next_arrival] if next_arrival < arrival_order.size else np.inf
        if t_arrival < end:
            end = t_arrival
        step = end - now
        # compare absolute times too: a residue below the clock's resolution must still finish
        finished = (now + need <= end) | (need <= step * (1.0 + TIE))
        if record:
            stops = np.where(finished, now + need, end)
            history.append((now, end, active.copy(), rates.copy(), stops))
        flows = active[finished]
        done_at[flows] = now + need[finished]
        remaining[flows] = 0.0
        stale_from = int(frozen[finished].min()) if finished.any() else stale_from
        keep = ~finished
        left = active[keep]
        remaining[left] = np.maximum(remaining[left] - rates[keep] * step, 0.0)
        active, rates, frozen = left, rates[keep], frozen[keep]
        now = end
    return FluidResult(done_at + latency, history, events, iterations)
