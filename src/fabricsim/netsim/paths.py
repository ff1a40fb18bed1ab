"""Fat-tree path arithmetic: the arcs a (sub)flow crosses, for each routing policy.

See :mod:`fabricsim.topology.fabric` for the link numbering this relies on and
:mod:`fabricsim.netsim.routing` for the policies.  Everything is vectorised over flows
except adaptive routing, which places flows one at a time by construction.
"""

from __future__ import annotations

import numpy as np

from fabricsim.netsim.routing import PER_PACKET, flow_hash

_MAX_REHASH = 24


def scale_up_paths(arcs, rows: np.ndarray, src: np.ndarray, dst: np.ndarray):
    """Scale-up flows: out of the source GPU's scale-up port, into the destination's."""
    base = arcs.scale_up_base
    r = np.repeat(rows, 2)
    c = np.column_stack([base + 2 * src, base + 2 * dst + 1]).ravel()
    return r, c, np.ones(r.size)


class _Geometry:
    """Per-subflow indices: plane, endpoints, leaves, pods."""

    def __init__(self, arcs, rows, src, dst):
        fabric = arcs.fabric
        design = fabric.design
        self.shape = shape = design.shape
        self.ppg = design.ports_per_nic_per_plane
        k = shape.planes * self.ppg
        self.weight = 1.0 / k
        self.rows = np.repeat(rows, k)
        sub = np.tile(np.arange(k), rows.size)
        self.plane, port = np.divmod(sub, self.ppg)
        self.src_gpu = np.repeat(src, k)
        self.dst_gpu = np.repeat(dst, k)
        e_s = design.endpoints_of(self.src_gpu, port)
        e_d = design.endpoints_of(self.dst_gpu, port)
        self.leaf_s = fabric.endpoint_leaf[e_s].astype(np.int64)
        self.leaf_d = fabric.endpoint_leaf[e_d].astype(np.int64)
        lb = fabric.link_base
        self.link_base = lb
        self.shape_link_bits = design.link_bits_per_s
        E, L = shape.endpoints, shape.leaves
        self.host_s = lb[1] + self.plane * E + e_s
        self.host_d = lb[1] + self.plane * E + e_d
        self.leaf_link0_s = lb[2] + (self.plane * L + self.leaf_s) * shape.leaf_up
        self.leaf_link0_d = lb[2] + (self.plane * L + self.leaf_d) * shape.leaf_up
        if shape.tiers == 3:
            self.pod_s = self.leaf_s // shape.spine_down
            self.pod_d = self.leaf_d // shape.spine_down
        else:
            self.pod_s = self.pod_d = np.zeros_like(self.leaf_s)
        self.case = np.where(
            self.leaf_s == self.leaf_d, 0, np.where(self.pod_s == self.pod_d, 1, 2)
        )  # 0 same leaf, 1 same pod, 2 across pods


def _latency(arcs, case: np.ndarray) -> np.ndarray:
    """One-way latency of every subflow (seconds): a hop up to the leaf (case 0), spine (1) or core (2)."""
    design = arcs.fabric.design
    hop = np.array([design.hop_latency_s(tier) for tier in range(1, design.shape.tiers + 1)])
    return hop[case]  # a fabric of t tiers has no case above t - 1


def _hashed(geo, flow_id, salt, seed, choices):
    h = flow_hash(geo.src_gpu * 64 + geo.plane, geo.dst_gpu, flow_id, salt, seed)
    return (h % np.uint64(max(choices, 1))).astype(np.int64)


def _ecmp_arcs(geo, flow_id, seed, salt_offset):
    """Arc matrix (subflows x 6, -1 = unused) of one hashing round."""
    s = geo.shape
    n = geo.rows.size
    out = np.full((n, 6), -1, dtype=np.int64)
    out[:, 0] = 2 * geo.host_s
    out[:, 5] = 2 * geo.host_d + 1
    if s.tiers == 1:
        return out
    u = _hashed(geo, flow_id, 11 + salt_offset, seed, s.leaf_up)
    k1 = _hashed(geo, flow_id, 13 + salt_offset, seed, s.bundle_leaf)
    up = geo.case >= 1
    spine_in_pod = u // s.bundle_leaf
    out[up, 1] = 2 * (geo.leaf_link0_s + u)[up]
    out[up, 4] = 2 * (geo.leaf_link0_d + spine_in_pod * s.bundle_leaf + k1)[up] + 1
    if s.tiers == 3:
        cross = geo.case == 2
        v = _hashed(geo, flow_id, 17 + salt_offset, seed, s.spine_up)
        k2 = _hashed(geo, flow_id, 19 + salt_offset, seed, s.bundle_spine)
        lb3, SP = geo.link_base[3], s.spines
        spine_s = geo.pod_s * s.spines_per_pod + spine_in_pod
        spine_d = geo.pod_d * s.spines_per_pod + spine_in_pod
        core_in_group = v // s.bundle_spine
        out[cross, 2] = 2 * (lb3 + (geo.plane * SP + spine_s) * s.spine_up + v)[cross]
        out[cross, 3] = 2 * (lb3 + (geo.plane * SP + spine_d) * s.spine_up + core_in_group * s.bundle_spine + k2)[cross] + 1
    return out


def _spray_arcs(arcs, geo):
    s = geo.shape
    n = geo.rows.size
    out = np.full((n, 6), -1, dtype=np.int64)
    out[:, 0] = 2 * geo.host_s
    out[:, 5] = 2 * geo.host_d + 1
    up = geo.case >= 1
    leaf_s = geo.plane * s.leaves + geo.leaf_s
    leaf_d = geo.plane * s.leaves + geo.leaf_d
    out[up, 1] = (arcs.leaf_trunk_base + 2 * leaf_s)[up]
    out[up, 4] = (arcs.leaf_trunk_base + 2 * leaf_d + 1)[up]
    if s.tiers == 3:
        cross = geo.case == 2
        out[cross, 2] = (arcs.pod_trunk_base + 2 * (geo.plane * s.pods + geo.pod_s))[cross]
        out[cross, 3] = (arcs.pod_trunk_base + 2 * (geo.plane * s.pods + geo.pod_d) + 1)[cross]
    return out


def _rank_within(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2... for successive members of each group (in array order)."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.r_[0, np.nonzero(np.diff(sorted_groups))[0] + 1]
    run = np.arange(groups.size) - np.repeat(starts, np.diff(np.r_[starts, groups.size]))
    rank = np.empty_like(run)
    rank[order] = run
    return rank


def _least_loaded(first_arc, step, width, load, cost, w, jitter, group, extra=None):
    """Each flow's choice among ``width`` arcs ``first_arc + step * k``: flows of one group (same
    switch) in the same round take distinct ports in increasing order of load, like a switch
    spreading simultaneous arrivals over its least-loaded ports."""
    cand = first_arc[:, None] + step * np.arange(width)[None, :]
    score = (load[cand] + w) * cost[cand] + jitter[cand]
    if extra is not None:
        score = score + extra
    ranked = np.argsort(score, axis=1)
    pick = ranked[np.arange(cand.shape[0]), _rank_within(group) % width]
    return cand[np.arange(cand.shape[0]), pick], pick


def _adaptive_arcs(geo, capacity, seed):
    """Local adaptive routing: flows arrive in random order in rounds; at each switch with a choice a
    flow takes the least-loaded live port given the flows of earlier rounds (and distinct ports for
    flows arriving at the same switch in the same round).  Destination-side downlinks follow from the
    spine chosen, so they can still collide, as with real per-switch adaptive routing."""
    s = geo.shape
    n = geo.rows.size
    out = np.full((n, 6), -1, dtype=np.int64)
    out[:, 0] = 2 * geo.host_s
    out[:, 5] = 2 * geo.host_d + 1
    load = np.zeros(capacity.size)
    np.add.at(load, out[:, 0], geo.weight)
    np.add.at(load, out[:, 5], geo.weight)
    if s.tiers == 1:
        return out
    rng = np.random.default_rng(seed)
    dead = 1e30  # a dead link: never chosen while a live one exists (and no 0 x inf = nan)
    cost = np.full(capacity.shape, dead)
    np.divide(geo.shape_link_bits, capacity, out=cost, where=capacity > 0)
    lb3, w = geo.link_base[3], geo.weight
    movers = rng.permutation(np.nonzero(geo.case >= 1)[0])
    round_size = max(64, s.leaves * s.planes * s.leaf_up // 4)
    for lo in range(0, movers.size, round_size):
        idx = movers[lo : lo + round_size]
        jitter = rng.random(capacity.size) * 1e-6  # per-port tie-break, the same for every flow of a round
        extra = None
        if s.bundle_leaf == 1:  # a spine with a dead link into the destination leaf is no use
            down_first = 2 * geo.leaf_link0_d[idx] + 1
            down_cost = cost[down_first[:, None] + 2 * np.arange(s.leaf_up)[None, :]]
            extra = np.where(down_cost >= dead, dead, 0.0)
        up, u = _least_loaded(2 * geo.leaf_link0_s[idx], 2, s.leaf_up, load, cost, w, jitter, geo.leaf_link0_s[idx],
                              extra)
        spine_in_pod = u // s.bundle_leaf
        down_first = 2 * (geo.leaf_link0_d[idx] + spine_in_pod * s.bundle_leaf) + 1
        down, _ = _least_loaded(down_first, 2, s.bundle_leaf, load, cost, w, jitter, down_first)
        out[idx, 1], out[idx, 4] = up, down
        cross = geo.case[idx] == 2
        if s.tiers == 3 and cross.any():
            c = idx[cross]
            plane, j = geo.plane[c], spine_in_pod[cross]
            spine_s = geo.pod_s[c] * s.spines_per_pod + j
            spine_d = geo.pod_d[c] * s.spines_per_pod + j
            first = 2 * (lb3 + (plane * s.spines + spine_s) * s.spine_up)
            up3, v = _least_loaded(first, 2, s.spine_up, load, cost, w, jitter, first)
            core = v // s.bundle_spine
            down_first = 2 * (lb3 + (plane * s.spines + spine_d) * s.spine_up + core * s.bundle_spine) + 1
            down3, _ = _least_loaded(down_first, 2, s.bundle_spine, load, cost, w, jitter, down_first)
            out[c, 2], out[c, 3] = up3, down3
        chosen = out[idx, 1:5]
        np.add.at(load, chosen[chosen >= 0], w)
    return out


def fabric_paths(arcs, rows, src, dst, flow_id, policy, seed, capacity):
    """(rows, cols, weights, latency per flow) of flows that cross the scale-out fabric."""
    if rows.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0), np.zeros(0)
    geo = _Geometry(arcs, rows, src, dst)
    fid = np.repeat(flow_id, geo.rows.size // rows.size)
    if policy == "ideal":
        matrix = np.full((geo.rows.size, 6), -1, dtype=np.int64)
        matrix[:, 0] = 2 * geo.host_s
        matrix[:, 5] = 2 * geo.host_d + 1
    elif policy in PER_PACKET:  # pooled trunks (oblivious or load-aware alike)
        matrix = _spray_arcs(arcs, geo)
    elif policy == "flowlet":
        matrix = _adaptive_arcs(geo, capacity, seed)
    else:
        matrix = _ecmp_arcs(geo, fid, seed, 0)
        for attempt in range(1, _MAX_REHASH + 1):  # failed links: re-hash onto live ports
            bad = np.any((matrix >= 0) & (capacity[np.maximum(matrix, 0)] <= 0), axis=1)
            bad &= ~_host_dead(matrix, capacity)
            if not bad.any():
                break
            retry = _ecmp_arcs(geo, fid, seed, 1000 * attempt)
            matrix[bad] = retry[bad]
    valid = matrix >= 0
    r = np.repeat(geo.rows, valid.sum(axis=1))
    c = matrix[valid]
    latency = np.zeros(rows.size)
    np.maximum.at(latency, np.searchsorted(rows, geo.rows), _latency(arcs, geo.case))
    return r, c, np.full(c.size, geo.weight), latency


def _host_dead(matrix, capacity):
    """Subflows whose own NIC link is down: no re-hash can help (reported as a partition)."""
    return (capacity[matrix[:, 0]] <= 0) | (capacity[matrix[:, 5]] <= 0)
