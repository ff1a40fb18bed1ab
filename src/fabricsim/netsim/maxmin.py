"""Max-min fair rates of flows over links, by progressive filling on a sparse incidence matrix.

The engine is topology-agnostic: it sees a flows x links matrix ``A`` (entry ``w >= 0`` = the
fraction of the flow's rate crossing the link: 1 for an unsplit path, 1/k per path when a flow
is sprayed over k paths, 2 when a path crosses the link twice), link capacities ``C`` and
optional per-flow rate caps (demands).  Units are SI: bits/s.

Progressive filling
-------------------
All unfrozen flows grow at one common rate.  Link ``l`` fills when that rate reaches its *fair
share* ``s_l = R_l / W_l`` (``R_l`` = capacity not used by frozen flows, ``W_l`` = summed weight
of its unfrozen flows).  Each iteration takes the lowest level ``t`` (over link shares and the
demands of unfrozen flows), freezes the flows of every link with ``s_l <= (1+eps) t`` and every
flow with ``demand <= (1+eps) t``, and gives each frozen flow ``min(demand, min s_l over its frozen
links)``.  ``R``, ``W`` and the shares are updated only on the links the frozen flows touch
(CSR rows of the frozen flows, CSC columns of the frozen links), so the whole run costs
O(nnz) gathers plus O(active links) per iteration.  ``eps = 0`` is exact progressive filling
(levels closer than 1e-12 relative are treated as ties).

What ``eps > 0`` guarantees (proved here, checked in tests/test_netsim_maxmin.py)
-------------------------------------------------------------------------------
Let ``x`` be the result and ``x*`` the exact max-min allocation.

1. Feasible: every link carries at most its capacity (up to float rounding); no flow exceeds its
   demand.  Proof: a flow frozen on link ``l`` gets at most ``s_l``; an unfrozen link ``m`` has
   ``s_m > (1+eps) t >= `` every rate given out in the iteration, so its new share
   ``(R_m - sum r_g w_g) / (W_m - sum w_g)`` is a weighted-average argument away from ``>= s_m``.
2. Levels grow geometrically: ``t_{k+1} > (1+eps) t_k``, so there are at most
   ``1 + log(max rate / min rate) / log(1+eps)`` iterations (whatever the number of links).
3. eps-bottleneck (the max-min definition with a tolerance): every flow is at its demand, or has
   a link ``l`` where (a) its rate is the largest of all flows on ``l`` and (b) ``l`` carries at
   least ``C_l / (1+eps)``.  Proof: the flow got ``s_l`` of its argmin link ``l``; flows frozen on
   ``l`` earlier got at most ``(1+eps) t_{k-1} < t_k <= s_l``, flows frozen with it at most ``s_l``;
   the link then carries ``>= used + t_k W_l >= (used + s_l W_l)/(1+eps) = C_l/(1+eps)``.
   Equivalently, ``x`` is the *exact* max-min allocation for some capacities ``C'`` with
   ``C/(1+eps) <= C' <= C`` (take ``C' = max(load, C/(1+eps))``).
4. Leximin sandwich: with ``sort(.)`` the ascending rate vector and ``>=_lex`` the lexicographic
   order, ``sort(x*) >=_lex sort(x) >=_lex sort(x*)/(1+eps)`` (``x`` is feasible for ``C``; ``x*/(1+eps)``
   is feasible for ``C'`` where ``x`` is leximin-optimal).  In particular the smallest rate is
   exact: ``min x == min x*``.

What it does NOT guarantee: a per-flow bound ``x_f >= x*_f/(1+eps)^k``.  No algorithm whose
output is exact for some capacities within ``1+eps`` of the true ones can give one, because
max-min fairness itself is that sensitive: k flows that each lose ``eps/2`` on their own
bottleneck all hand it to one flow sharing a later link, which gains ``k eps/2``.  The test
``test_no_pointwise_bound_fan_in`` builds this (301 flows, eps = 1%: one flow gets 1.98x its
exact rate).  On random instances the observed per-flow error is far smaller; the tests bound
it empirically and the benchmark prints it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from fabricsim.errors import FabricsimError

_FRONT = 256
TIE = 1e-12
"""Relative gap below which two fair-share levels are the same level (float rounding)."""

__all__ = ["max_min_rates", "link_loads", "bottleneck_rate", "prepare_incidence", "fill"]


def prepare_incidence(incidence, capacity, demand=None, n_flows_name: str = "incidence"):
    """Validate and normalise inputs: (canonical float64 CSR without zeros, capacity, demand or None)."""
    if sp.issparse(incidence):
        matrix = sp.csr_matrix(incidence, dtype=np.float64)
    elif isinstance(incidence, np.ndarray) and incidence.ndim == 2:
        matrix = sp.csr_matrix(incidence.astype(np.float64))
    else:
        raise FabricsimError(
            f"{n_flows_name} must be a scipy.sparse matrix (flows x links); got {type(incidence).__name__}"
        )
    if not matrix.has_canonical_format or (matrix.data == 0).any():
        matrix = matrix.copy()  # never modify the caller's matrix
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
    n_flows, n_links = matrix.shape
    if matrix.nnz and not np.all(np.isfinite(matrix.data)):
        raise FabricsimError(f"{n_flows_name} weights must be finite numbers; found NaN or inf")
    if matrix.nnz and matrix.data.min() < 0:
        raise FabricsimError(f"{n_flows_name} weights must be >= 0 (share of a flow's rate); found {matrix.data.min()}")
    capacity = np.asarray(capacity, dtype=np.float64)
    if capacity.ndim != 1 or capacity.size != n_links:
        raise FabricsimError(
            f"capacity must have one entry per link: the incidence has {n_links} links (columns), "
            f"capacity has shape {capacity.shape}"
        )
    if capacity.size and (not np.all(np.isfinite(capacity)) or capacity.min() < 0):
        bad = int(np.flatnonzero(~np.isfinite(capacity) | (capacity < 0))[0])
        raise FabricsimError(f"capacity must be finite and > 0 bits/s; link {bad} has {capacity[bad]}")
    if matrix.nnz and capacity.size:
        used = np.bincount(matrix.indices, minlength=n_links) > 0
        dead = used & (capacity <= 0)
        if dead.any():
            link = int(np.flatnonzero(dead)[0])
            raise FabricsimError(
                f"capacity must be > 0 on every link a flow crosses: {int(dead.sum())} used links have "
                f"capacity 0 (e.g. link {link}); those flows could never finish"
            )
    if demand is not None:
        demand = np.asarray(demand, dtype=np.float64)
        if demand.ndim == 0:
            demand = np.full(n_flows, float(demand))
        if demand.shape != (n_flows,):
            raise FabricsimError(
                f"demand must have one entry per flow: the incidence has {n_flows} flows (rows), "
                f"demand has shape {demand.shape}"
            )
        if n_flows and (np.isnan(demand).any() or demand.min() <= 0):
            bad = int(np.flatnonzero(np.isnan(demand) | (demand <= 0))[0])
            raise FabricsimError(f"demand must be > 0 bits/s (or inf for no cap); flow {bad} has {demand[bad]}")
    return matrix, capacity, demand


def _check_epsilon(epsilon) -> float:
    epsilon = float(epsilon)
    if not np.isfinite(epsilon) or epsilon < 0:
        raise FabricsimError(f"epsilon must be a finite number >= 0 (relative tolerance); got {epsilon}")
    return epsilon


def _ranges(ptr: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated positions ptr[i]:ptr[i+1] for i in ``which``, and each range's length."""
    starts = ptr[which]
    lengths = ptr[which + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), lengths
    offsets = np.cumsum(lengths) - lengths
    pos = np.arange(total, dtype=np.int64) + np.repeat(starts - offsets, lengths)
    return pos, lengths


def _dedupe(values: np.ndarray, mark: np.ndarray, counter: np.ndarray) -> np.ndarray:
    """Distinct entries of ``values`` (ids < mark.size), in O(n) without sorting (np.unique sorts)."""
    ids = counter[: values.size]
    mark[values] = ids
    return values[mark[values] == ids]


def max_min_rates(
    incidence: sp.csr_matrix,
    capacity: np.ndarray,
    demand: np.ndarray | None = None,
    epsilon: float = 0.0,
) -> np.ndarray:
    """Max-min fair rates (bits/s) of F flows over L links.

    incidence: F x L, entry w >= 0 = fraction of the flow's rate that crosses link l (1.0 for an
    unsplit path; 1/k on each of k paths for a flow sprayed evenly; 2 if the path crosses the
    link twice).  capacity: (L,) bits/s, > 0 on every link a flow crosses (unused links may be 0,
    e.g. failed links).  demand: optional (F,) per-flow rate cap (e.g. the NIC rate, or inf).
    epsilon: relative tolerance; 0 = exact progressive filling; > 0 freezes in one iteration every
    link whose fair share is within (1+epsilon) of the minimum.  The guarantees of epsilon > 0
    (feasible; every flow eps-bottlenecked; exact for capacities within 1+eps; leximin sandwich;
    smallest rate exact) are proved in this module's docstring.

    Flows that cross no link (all-zero row, e.g. intra-node loopback) get their demand (inf
    without one).
    """
    epsilon = _check_epsilon(epsilon)
    matrix, capacity, demand = prepare_incidence(incidence, capacity, demand)
    return fill(matrix, capacity, demand, epsilon)[0]


def fill(matrix: sp.csr_matrix, capacity: np.ndarray, demand: np.ndarray | None, epsilon: float,
         frozen_in: np.ndarray | None = None):
    """Progressive filling on prepared inputs (see :func:`prepare_incidence`): (rates, iterations).

    ``frozen_in`` (optional int array, one per flow) receives the iteration (1, 2, ...) that froze
    each flow (0 for flows crossing no link).  The first k-1 iterations do not depend on flows
    frozen in iteration k or later, which lets the fluid loop re-solve only those when they leave.
    """
    n_flows, n_links = matrix.shape
    rates = np.empty(n_flows)
    if n_flows == 0:
        return rates, 0
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    row_nnz = np.diff(indptr)
    free = row_nnz == 0
    rates[free] = np.inf if demand is None else demand[free]
    if frozen_in is not None:
        frozen_in[free] = 0
    active = ~free
    n_active = int(active.sum())
    if n_active == 0:
        return rates, 0
    by_link = matrix.tocsc()
    cptr, crow = by_link.indptr, by_link.indices
    remaining = capacity.copy()
    weight = np.bincount(indices, weights=data, minlength=n_links)
    count = np.diff(cptr).astype(np.int64)
    share = np.full(n_links, np.inf)
    alive = np.flatnonzero(count > 0)
    share[alive] = remaining[alive] / weight[alive]
    frozen_share = np.full(n_links, np.inf)  # s_l of links frozen this iteration, inf elsewhere
    flow_mark = np.empty(n_flows, dtype=np.int64)  # scratch for sort-free de-duplication
    link_mark = np.empty(n_links, dtype=np.int64)
    counter = np.arange(n_flows + indices.size + 1, dtype=np.int64)

    if demand is not None:
        capped = np.flatnonzero(active & np.isfinite(demand))
        order = capped[np.argsort(demand[capped], kind="stable")]
        sorted_demand = demand[order]
    else:
        order = np.zeros(0, dtype=np.int64)
        sorted_demand = np.zeros(0)
    ptr = 0
    grow = 1.0 + max(epsilon, TIE)
    iterations = 0
    # The "front": alive links with share <= cutoff.  Shares of unfrozen links never decrease
    # (module docstring, point 1), so a link outside the front stays above the cutoff and each
    # iteration only scans the front; it is rebuilt (one partial sort) when it runs dry.
    front = np.zeros(0, dtype=np.int64)
    cutoff = -np.inf
    while n_active > 0:
        iterations += 1
        while ptr < order.size:  # skip capped flows already frozen by a link
            chunk = active[order[ptr : ptr + 256]]
            if chunk.any():
                ptr += int(np.argmax(chunk))
                break
            ptr += chunk.size
        t_demand = sorted_demand[ptr] if ptr < order.size else np.inf
        front_share = share[front]
        t = min(front_share.min() if front.size else np.inf, t_demand)
        threshold = t * grow
        if not threshold <= cutoff:
            alive = alive[count[alive] > 0]
            alive_share = share[alive]
            t = min(alive_share.min() if alive.size else np.inf, t_demand)
            threshold = t * grow
            above = alive_share[alive_share > threshold]  # the front = this level + the next k links
            k = min(above.size, max(_FRONT, alive.size // 64))
            cutoff = np.partition(above, k - 1)[k - 1] if k else threshold
            front = alive[alive_share <= cutoff]
            front_share = share[front]
        links = front[front_share <= threshold]
        pos, _ = _ranges(cptr, links)
        flows = crow[pos]
        flows = flows[active[flows]]
        if t_demand <= threshold:
            stop = int(np.searchsorted(sorted_demand, threshold, side="right"))
            capped_now = order[ptr:stop]
            flows = np.concatenate([flows, capped_now[active[capped_now]]])
        flows = _dedupe(flows, flow_mark, counter)
        frozen_share[links] = share[links]
        entries, lengths = _ranges(indptr, flows)
        cols = indices[entries]
        starts = np.cumsum(lengths) - lengths
        rate = np.minimum.reduceat(frozen_share[cols], starts)
        if demand is not None:
            np.minimum(rate, demand[flows], out=rate)
        frozen_share[links] = np.inf
        rates[flows] = rate
        if frozen_in is not None:
            frozen_in[flows] = iterations
        active[flows] = False
        n_active -= flows.size
        w = data[entries]
        np.subtract.at(remaining, cols, w * np.repeat(rate, lengths))
        np.subtract.at(weight, cols, w)
        np.subtract.at(count, cols, 1)
        touched = _dedupe(cols, link_mark, counter)
        live = count[touched] > 0
        done = touched[~live]
        share[done] = np.inf
        weight[done] = 0.0
        still = touched[live]
        share[still] = np.maximum(remaining[still], 0.0) / weight[still]
        front = front[share[front] <= cutoff]
    return rates, iterations


def link_loads(incidence, rates) -> np.ndarray:
    """Bits/s carried by each link: ``incidence.T @ rates`` (flows with infinite rate must cross no link)."""
    matrix = sp.csr_matrix(incidence, dtype=np.float64)
    rates = np.asarray(rates, dtype=np.float64)
    if rates.shape != (matrix.shape[0],):
        raise FabricsimError(f"rates must have one entry per flow ({matrix.shape[0]}); got shape {rates.shape}")
    crossing = np.diff(matrix.indptr) > 0
    if np.any(~np.isfinite(rates[crossing])):
        raise FabricsimError("rates must be finite for flows that cross a link")
    finite = np.where(crossing, rates, 0.0)
    return np.asarray(matrix.T @ finite).ravel()


def bottleneck_rate(incidence, capacity) -> float:
    """Common rate when all flows move in lockstep: min over links of capacity / (sum of weights).

    Used for pipelined collectives (a ring's hops share one rate).  inf when no flow crosses a link.
    """
    matrix, capacity, _ = prepare_incidence(incidence, capacity)
    weight = np.bincount(matrix.indices, weights=matrix.data, minlength=matrix.shape[1])
    used = weight > 0
    if not used.any():
        return float("inf")
    return float(np.min(capacity[used] / weight[used]))
