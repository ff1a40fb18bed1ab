"""Routing GPU-to-GPU flows over a fat-tree by index arithmetic, as a sparse flow x arc incidence.

Arcs are directed: arc ``2 * link`` goes up (lower node -> upper node), ``2 * link + 1`` down.
Four policies (``POLICIES``):

* ``ecmp``     - per-flow hashing: at each switch with a choice (leaf uplink, spine uplink,
                 parallel link of a bundle) a seeded hash of the flow picks one port. Collisions
                 of elephant flows happen exactly as in real fabrics; nothing is averaged.
* ``spray``    - packet spraying: each flow is split evenly over every equal-cost path.  Under an
                 even split every uplink of a leaf carries the same load, and so does every uplink
                 of a pod, so the fabric is modelled *exactly* by one trunk per leaf and direction
                 and one trunk per pod and direction, with the summed capacity of live links.
                 Spraying therefore delivers 100% of a permutation in steady state; the ~95% of the
                 seeds (seed 001: Colossus on Spectrum-X "sustained 95% delivered throughput with zero
                 flow-collision packet loss") would need a queue/CC dynamics model with published
                 parameters, which was looked for and not found (netsim.transport).
* ``adaptive`` - per-packet load-aware routing (InfiniBand adaptive routing on Quantum switches,
                 Spectrum-X): each switch sends every packet to its least-loaded uplink and the NIC
                 accepts data out of order (ConnectX places RDMA writes directly), so a flow's load
                 spreads over the uplinks as evenly as the load allows: in a fluid model the same
                 pooled trunks as spraying.
* ``flowlet``  - per-flow (or per-flowlet) load-aware choice, as Ethernet switches without
                 reordering NICs do: flows are placed one by one (in random order), each switch
                 picking its least-loaded uplink / bundle member given the flows placed so far;
                 destination-side downlinks cannot be chosen and may still collide.
* ``ideal``    - only NIC links constrain: the bound any routing can reach on a non-blocking fabric.

A GPU with several NIC ports or planes splits each flow evenly over them (weights 1/k).
GPUs in the same scale-up domain talk over their scale-up port (one arc out, one in per GPU).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from fabricsim.errors import FabricsimError
from fabricsim.topology.fabric import Fabric

POLICIES = ("ecmp", "spray", "adaptive", "flowlet", "ideal")
PER_FLOW = ("ecmp", "flowlet")
"""Policies that keep each flow on one path (hashed, or placed by load): flows can collide."""
PER_PACKET = ("spray", "adaptive")
"""Policies that spread each flow's packets over every equal-cost path: pooled trunks model them."""

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a fast, well-mixed 64-bit hash of uint64 values (vectorised)."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return x


def flow_hash(src: np.ndarray, dst: np.ndarray, flow_id: np.ndarray, salt: int, seed: int) -> np.ndarray:
    """A per-flow, per-decision hash (the 'five-tuple' here is src, dst, flow id; salt = which switch tier)."""
    with np.errstate(over="ignore"):
        key = (
            mix64(src.astype(np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15))
            ^ mix64(dst.astype(np.uint64) + np.uint64(0x632BE59BD9B4E019))
            ^ mix64(flow_id.astype(np.uint64) * np.uint64(2654435761) + np.uint64(salt))
        )
    return mix64(key)


@dataclass
class Routed:
    """Flows routed onto arcs: ``incidence`` (flows x arcs, weight = share of the flow's rate)."""

    incidence: sp.csr_matrix
    capacity_bits_per_s: np.ndarray  # per arc
    latency_s: np.ndarray  # per flow: propagation + switch forwarding along its longest sub-path
    arc_labels: list[str]  # label of each arc block, for reports
    arc_block: np.ndarray  # index into arc_labels for each arc
    policy: str

    @property
    def n_arcs(self) -> int:
        return int(self.capacity_bits_per_s.size)


class _Arcs:
    """Arc index space: physical arcs first, then scale-up ports, then spray trunks."""

    def __init__(self, fabric: Fabric, trunks: bool):
        shape = fabric.design.shape
        self.fabric = fabric
        self.n_physical = 2 * fabric.n_links
        self.gpus = fabric.design.gpus
        self.scale_up_base = self.n_physical
        self.leaf_trunk_base = self.scale_up_base + 2 * self.gpus
        planes = shape.planes
        self.leaf_trunks = planes * shape.leaves
        self.pod_trunk_base = self.leaf_trunk_base + (2 * self.leaf_trunks if trunks else 0)
        self.pod_trunks = planes * shape.pods if shape.tiers == 3 else 0
        self.total = self.pod_trunk_base + (2 * self.pod_trunks if trunks else 0)
        self.trunks = trunks

    def capacity(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        fabric, design = self.fabric, self.fabric.design
        shape = design.shape
        live = fabric.link_capacity_bits_per_s * fabric.link_up
        cap = np.empty(self.total)
        block = np.empty(self.total, dtype=np.int16)
        cap[: self.n_physical] = np.repeat(live, 2)
        block[: self.n_physical] = np.repeat(fabric.link_tier.astype(np.int16) - 1, 2)
        cap[self.scale_up_base : self.leaf_trunk_base] = design.gpu.scale_up_bits_per_s
        block[self.scale_up_base : self.leaf_trunk_base] = 3
        labels = ["NIC-leaf", "leaf-spine", "spine-core", "scale-up"]
        if self.trunks:
            up = live[fabric.link_tier == 2]
            per_leaf = up.reshape(self.leaf_trunks, shape.leaf_up).sum(axis=1) if up.size else np.zeros(self.leaf_trunks)
            cap[self.leaf_trunk_base : self.pod_trunk_base] = np.repeat(per_leaf, 2)
            block[self.leaf_trunk_base : self.pod_trunk_base] = 4
            labels.append("leaf trunk (spray)")
            if self.pod_trunks:
                core = live[fabric.link_tier == 3].reshape(self.pod_trunks, shape.spines_per_pod * shape.spine_up)
                cap[self.pod_trunk_base :] = np.repeat(core.sum(axis=1), 2)
                block[self.pod_trunk_base :] = 5
                labels.append("pod trunk (spray)")
        return cap, block, labels


def route(
    fabric: Fabric,
    src_gpu: np.ndarray,
    dst_gpu: np.ndarray,
    policy: str = "ecmp",
    seed: int = 0,
    flow_id: np.ndarray | None = None,
    use_scale_up: bool = True,
) -> Routed:
    """Route GPU-level flows ``src_gpu[i] -> dst_gpu[i]``; ``flow_id`` distinguishes parallel flows (channels)."""
    if policy not in POLICIES:
        raise FabricsimError(f"load balancing {policy!r}: valid policies are {', '.join(POLICIES)}")
    kind = getattr(fabric, "kind", "fat-tree")
    src_gpu = np.asarray(src_gpu, dtype=np.int64)
    dst_gpu = np.asarray(dst_gpu, dtype=np.int64)
    gpus = fabric.design.gpus  # a torus's chips
    for name, arr in (("source", src_gpu), ("destination", dst_gpu)):
        if arr.size and (arr.min() < 0 or arr.max() >= gpus):
            endpoint = "chip" if kind == "torus" else "GPU"
            raise FabricsimError(f"flow {name} {endpoint} out of range 0..{gpus - 1}")
    if kind != "fat-tree":  # other topologies route by their own rules (netsim.dci, netsim.cayley)
        return _route_other(fabric, kind, src_gpu, dst_gpu, policy, seed, flow_id)
    flow_id = np.zeros_like(src_gpu) if flow_id is None else np.asarray(flow_id, dtype=np.int64)
    arcs = _Arcs(fabric, trunks=policy in PER_PACKET)
    capacity, block, labels = arcs.capacity()
    from fabricsim.netsim.paths import fabric_paths, scale_up_paths

    same_domain = fabric.gpu_scale_up_domain[src_gpu] == fabric.gpu_scale_up_domain[dst_gpu]
    local = same_domain if use_scale_up else np.zeros_like(same_domain)
    rows, cols, weights, latency = [], [], [], np.zeros(src_gpu.size)
    idx = np.nonzero(local & (src_gpu != dst_gpu))[0]
    r, c, w = scale_up_paths(arcs, idx, src_gpu[idx], dst_gpu[idx])
    rows.append(r), cols.append(c), weights.append(w)
    latency[idx] = fabric.design.scale_up.link_latency_s
    idx = np.nonzero(~local & (src_gpu != dst_gpu))[0]
    r, c, w, lat = fabric_paths(arcs, idx, src_gpu[idx], dst_gpu[idx], flow_id[idx], policy, seed, capacity)
    rows.append(r), cols.append(c), weights.append(w)
    latency[idx] = lat
    rows, cols, weights = np.concatenate(rows), np.concatenate(cols), np.concatenate(weights)
    if cols.size and np.any(capacity[cols] <= 0):
        dead = np.unique(cols[capacity[cols] <= 0])
        raise FabricsimError(
            f"the fabric is partitioned for these flows: {dead.size} arcs they need are down "
            f"(e.g. arc {int(dead[0])}, a {labels[block[dead[0]]]} arc); no live path remains"
        )
    # built from (row, arc) triplets: scipy sums duplicate entries, the matrix is canonical CSR already
    incidence = sp.csr_matrix((weights, (rows, cols)), shape=(src_gpu.size, arcs.total))
    return Routed(incidence, capacity, latency, labels, block, policy)


def _route_other(fabric, kind: str, src, dst, policy: str, seed: int, flow_id) -> Routed:
    if kind == "dci":
        from fabricsim.netsim.dci import route_dci

        return route_dci(fabric, src, dst, policy, seed, flow_id)
    if kind == "torus":
        from fabricsim.netsim.cayley import route_torus

        return route_torus(fabric, src, dst, policy, seed, flow_id)
    raise FabricsimError(f"no router for fabric kind {kind!r}")


def describe_arc(fabric: Fabric, routed: Routed, arc: int) -> str:
    """Human-readable name of an arc: 'leaf 12 -> spine 3 (plane 0)', 'GPU 17 scale-up out', ..."""
    kind = getattr(fabric, "kind", "fat-tree")
    if kind == "dci":
        from fabricsim.netsim.dci import describe_dci_arc

        return describe_dci_arc(fabric, routed, int(arc))
    if kind == "torus":
        from fabricsim.netsim.cayley import describe_torus_arc

        return describe_torus_arc(fabric, routed, int(arc))
    names = ("NIC", "leaf", "spine", "core")
    if arc < 2 * fabric.n_links:
        link, direction = divmod(int(arc), 2)
        a, b = int(fabric.link_lower[link]), int(fabric.link_upper[link])
        if direction:
            a, b = b, a

        def node(n: int) -> str:
            tier = int(fabric.node_tier[n])
            if tier == 0:
                return f"GPU {int(fabric.endpoint_gpu[n - fabric.node_base[0]])} NIC"
            per_plane = [fabric.design.shape.endpoints, fabric.design.shape.leaves, fabric.design.shape.spines,
                         fabric.design.shape.cores][tier]
            index = (n - fabric.node_base[tier]) % per_plane
            return f"{names[tier]} {index}"

        plane = int(fabric.link_plane[link])
        suffix = f" (plane {plane})" if fabric.design.planes > 1 else ""
        return f"{node(a)} → {node(b)}{suffix}"
    label = routed.arc_labels[routed.arc_block[arc]]
    if label == "scale-up":
        gpu, direction = divmod(int(arc) - 2 * fabric.n_links, 2)
        return f"GPU {gpu} scale-up {'in' if direction else 'out'}"
    return f"{label} #{int(arc)}"
