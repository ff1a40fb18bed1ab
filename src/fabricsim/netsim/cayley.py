"""Routing on a torus (regular or twisted) by translation: one path pattern per offset, shifted.

A torus, twisted or not, is a Cayley graph of an abelian group (chips = coordinates modulo a lattice,
links = the unit moves +-e_d), so the path from ``s`` to ``t`` is the path from 0 to ``t - s`` translated
by ``s``.  One pattern per offset is built once by walking the offsets' minimal paths level by level
(BFS distances from chip 0):

* ``static`` (the policies ``ecmp`` and ``flowlet``; TPU ICI routes statically): dimension order --
  at every chip the lowest dimension that still shortens the path; a tie (exactly half-way round a
  ring) is split evenly between the two directions;
* ``minimal`` (``spray``, ``adaptive``, ``ideal``): the flow is split evenly over every next hop that
  shortens it (per-hop adaptive over all minimal paths).

A flow's row of the incidence matrix is its pattern translated: entry (u, d, sign, weight) of offset
``t`` becomes arc ``2 (s+u) D + 2 d`` (+ move) or the reverse arc of the link entering ``s+u`` (- move).
Arcs: ``2 link`` the + direction of link ``chip x D + d``, ``2 link + 1`` its reverse.  Capacities are
per direction.  Loads of a translation-invariant traffic (all-to-all) are equal on every arc of a
class (dimension, direction), which :func:`class_loads` sums from the patterns alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from fabricsim.errors import FabricsimError
from fabricsim.netsim.routing import PER_FLOW, Routed

LABELS = ["ICI electrical (in cube)", "ICI optical (OCS)"]


@dataclass
class Patterns:
    """Minimal-path patterns of every offset: entries ``ptr[t]:ptr[t+1]`` belong to offset t."""

    ptr: np.ndarray
    node: np.ndarray  # chip (relative to 0) the move leaves
    dim: np.ndarray
    sign: np.ndarray  # +1 / -1
    weight: np.ndarray
    hops: np.ndarray  # minimal hops of every offset


def distances_from_zero(fabric) -> np.ndarray:
    """BFS hops from chip 0 to every chip."""
    n = fabric.design.chips
    dist = np.full(n, -1, dtype=np.int64)
    dist[0] = 0
    frontier = np.array([0], dtype=np.int64)
    level = 0
    moves = np.concatenate([fabric.plus, fabric.minus], axis=1)
    while frontier.size:
        level += 1
        nxt = np.unique(moves[frontier].ravel())
        nxt = nxt[dist[nxt] < 0]
        dist[nxt] = level
        frontier = nxt
    return dist


def build_patterns(fabric, static: bool) -> Patterns:
    """Patterns of every offset under static dimension-order or minimal-split routing."""
    design = fabric.design
    n, dims = design.chips, design.ndims
    dist = distances_from_zero(fabric)
    coords = fabric.coords
    # live entries: (offset t, chip u on its way, weight)
    t = np.arange(1, n, dtype=np.int64)
    u = np.zeros(t.size, dtype=np.int64)
    w = np.ones(t.size)
    parts = []
    while t.size:
        remaining = dist[fabric.index(coords[t] - coords[u])]
        cand_v, cand_ok = [], []
        for d in range(dims):
            for sign, table in ((1, fabric.plus), (-1, fabric.minus)):
                v = table[u, d]
                ok = dist[fabric.index(coords[t] - coords[v])] == remaining - 1
                cand_v.append(v)
                cand_ok.append(ok)
        ok = np.stack(cand_ok, axis=1)  # (entries, 2D) in order d0+, d0-, d1+, ...
        if static:
            first_dim = np.argmax(ok.reshape(-1, dims, 2).any(axis=2), axis=1)
            keep = np.zeros_like(ok)
            rows = np.arange(ok.shape[0])
            keep[rows, 2 * first_dim] = ok[rows, 2 * first_dim]
            keep[rows, 2 * first_dim + 1] = ok[rows, 2 * first_dim + 1]
            ok = keep
        count = ok.sum(axis=1)
        if np.any(count == 0):
            raise FabricsimError("torus routing found no minimal next hop (inconsistent distances)")
        share = w / count
        e, m = np.nonzero(ok)
        parts.append((t[e], u[e], m // 2, np.where(m % 2 == 0, 1, -1), share[e]))
        v = np.stack(cand_v, axis=1)[e, m]
        arrived = v == t[e]
        key = t[e][~arrived] * n + v[~arrived]
        if key.size == 0:
            break
        uniq, inverse = np.unique(key, return_inverse=True)
        w = np.bincount(inverse, weights=share[e][~arrived])
        t, u = uniq // n, uniq % n
    tt = np.concatenate([p[0] for p in parts])
    order = np.argsort(tt, kind="stable")
    cols = [np.concatenate([p[i] for p in parts])[order] for i in range(5)]
    ptr = np.searchsorted(cols[0], np.arange(n + 1))
    return Patterns(ptr, cols[1], cols[2], cols[3].astype(np.int64), cols[4], dist)


def patterns_for(fabric, policy: str) -> Patterns:
    static = policy in PER_FLOW  # TPU ICI routes statically: one dimension-order path
    key = "static" if static else "minimal"
    if key not in fabric.patterns:
        fabric.patterns[key] = build_patterns(fabric, static)
    return fabric.patterns[key]


def _arcs(fabric, node: np.ndarray, dim: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """Arc of the move from ``node`` along ``dim`` in direction ``sign``."""
    dims = fabric.design.ndims
    plus_arc = 2 * (node * dims + dim)
    minus_arc = 2 * (fabric.minus[node, dim] * dims + dim) + 1
    return np.where(sign > 0, plus_arc, minus_arc)


def route_torus(fabric, src, dst, policy: str, seed: int = 0, flow_id=None):
    """Flows ``src[i] -> dst[i]`` (chips) routed on the torus (:class:`fabricsim.netsim.routing.Routed`)."""
    src = np.asarray(src, dtype=np.int64)  # endpoints checked by netsim.routing.route
    dst = np.asarray(dst, dtype=np.int64)
    pat = patterns_for(fabric, policy)
    coords = fabric.coords
    offset = fabric.index(coords[dst] - coords[src])
    counts = pat.ptr[offset + 1] - pat.ptr[offset]
    counts[src == dst] = 0
    rows = np.repeat(np.arange(src.size), counts)
    start = np.repeat(pat.ptr[offset] - np.r_[0, np.cumsum(counts)[:-1]], counts)
    entry = start + np.arange(rows.size)
    node = fabric.index(coords[src[rows]] + coords[pat.node[entry]])
    arcs = _arcs(fabric, node, pat.dim[entry], pat.sign[entry])
    capacity = np.repeat(fabric.link_capacity_bits_per_s * fabric.link_up, 2)
    # built from (row, arc) triplets: scipy sums duplicate entries, the matrix is canonical CSR already
    incidence = sp.csr_matrix((pat.weight[entry], (rows, arcs)), shape=(src.size, capacity.size))
    if incidence.nnz and np.any(capacity[incidence.indices] <= 0):
        raise FabricsimError("a torus link these flows need is down; no live minimal path remains")
    block = np.repeat(fabric.link_optical.astype(np.int16), 2)
    latency = pat.hops[offset] * fabric.design.hop_latency_s
    return Routed(incidence, capacity, latency, LABELS, block, policy)


def class_loads(fabric, policy: str) -> np.ndarray:
    """(D, 2) load on every arc of class (dimension, direction) when every chip sends one unit to every
    other chip: by translation, the sum of all offsets' pattern weights in that class."""
    pat = patterns_for(fabric, policy)
    loads = np.zeros((fabric.design.ndims, 2))
    np.add.at(loads, (pat.dim, (pat.sign < 0).astype(np.int64)), pat.weight)
    return loads


def describe_torus_arc(fabric, routed, arc: int) -> str:
    link, back = divmod(int(arc), 2)
    chip, d = divmod(link, fabric.design.ndims)
    other = int(fabric.plus[chip, d])
    a, b = (other, chip) if back else (chip, other)
    kind = "OCS" if fabric.link_optical[link] else "copper"
    coords = lambda chip: ",".join(str(int(x)) for x in fabric.coords[chip])  # noqa: E731
    return f"chip ({coords(a)}) -> ({coords(b)}) {'xyz'[d]} {kind}"
