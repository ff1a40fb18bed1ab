"""Rings and trees built as NCCL builds them, as coflows of GPU -> GPU edges.

* Nodes (scale-up domains) are visited in communicator rank order (NCCL numbers nodes by their first
  rank), and ranks of a node in rank order.
* Ring ``r`` enters every node on the GPU at position ``r mod m`` of the node (where ``g`` GPUs share
  a NIC, at position ``r g mod m``, then the NICs' other GPUs: rings spread over the NICs first, as
  NCCL's search assigns NICs) and, with PXN (NCCL's default), leaves it through the *same* GPU's NIC:
  the node's last GPU hands its data over NVLink
  back to the entry GPU, whose NIC sends it to the next node's entry GPU -- so every hop between
  nodes stays on one rail (NCCL_CROSS_NIC tries rail-aligned rings first).  ``cross_rail=True``
  builds the ring a rail-unaware library would: it leaves each node from its last GPU.
* Tree channels pair ring ``r``'s NIC with each of NCCL's two binary trees over nodes
  (:mod:`fabricsim.collectives.trees`); inside a node a chain runs from the NIC's GPU through the
  others.  All-reduce moves every byte up (reduce) and down (broadcast) each edge.
* Duplicate channels of a ring (NCCL connects each ring twice) are extra connections on the same
  path: ``Coflow.connections`` tells the router how many independent ECMP hashes each edge gets.
"""

from __future__ import annotations

import numpy as np

from fabricsim.collectives.flowlevel import Coflow
from fabricsim.collectives.trees import dtree_parents, tree_edges
from fabricsim.errors import FabricsimError


def rank_layout(node: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(visit index of each rank's node, position of the rank in its node, ranks in its node)."""
    _, first, inverse, counts = np.unique(node, return_index=True, return_inverse=True, return_counts=True)
    visit_of_unique = np.argsort(np.argsort(first, kind="stable"), kind="stable")
    visit = visit_of_unique[inverse]
    order = np.argsort(visit, kind="stable")
    position = np.empty(node.size, dtype=np.int64)
    starts = np.r_[0, np.cumsum(np.bincount(visit))[:-1]]
    position[order] = np.arange(node.size) - np.repeat(starts, np.bincount(visit))
    return visit, position, counts[inverse]


def node_matrix(gpus: np.ndarray, node: np.ndarray) -> np.ndarray:
    """GPUs of the ranks as a (nodes x m) matrix, nodes in visit order, ranks in rank order (every node
    must hold the same number m of ranks)."""
    visit, position, size = rank_layout(node)
    if not np.all(size == size[0]):
        raise FabricsimError(
            f"this algorithm needs the same number of ranks on every node; this placement has "
            f"{size.min()} to {size.max()}: use a contiguous placement"
        )
    matrix = np.empty((int(visit.max()) + 1, int(size[0])), dtype=np.int64)
    matrix[visit, position] = gpus
    return matrix


def _node_slots(visit: np.ndarray, position: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, ...]:
    """Slots of the ranks node by node (visit order), by position within a node: (rank in each slot, node
    of each slot, position of each slot in its node, ranks in that node)."""
    order = np.lexsort((position, visit))
    return order, visit[order], position[order], size[order]


def _rotated(seq: np.ndarray, slot_position: np.ndarray, slot_size: np.ndarray, positions: np.ndarray):
    """``seq`` (one GPU per slot) entering every node ``k`` positions further round it, for each ``k`` of
    ``positions``: slot ``i`` takes the GPU ``k`` slots on in its own node."""
    base = np.arange(seq.size) - slot_position
    for k in positions:
        yield seq[base + (slot_position + k) % slot_size]


def entry_positions(rings: int, ranks_per_node: int, gpus_per_nic: int = 1) -> np.ndarray:
    """Position in its node at which each ring (and tree channel) enters and leaves every node: ``r mod m``;
    where ``gpus_per_nic`` GPUs share a NIC, first one GPU of every NIC (``r g mod m``), then the next
    GPU of each, so that the rings share the NICs evenly."""
    r = np.arange(rings, dtype=np.int64)
    m, g = max(1, ranks_per_node), max(1, gpus_per_nic)
    if g == 1:  # rotating a node by its size brings it back: r, not r mod m, keeps unequal nodes exact
        return r
    return (r * g) % m + ((r * g) // m) % g


def ring_coflows(gpus: np.ndarray, node: np.ndarray, rings: int, connections: int, bytes_per_ring: float,
                 cross_rail: bool = False, wrap: bool = True, gpus_per_nic: int = 1) -> list[Coflow]:
    """One lockstep coflow per ring; ``bytes_per_ring`` crosses every edge of a ring."""
    gpus = np.asarray(gpus, dtype=np.int64)
    visit, position, size = rank_layout(node)
    d = int(visit.max()) + 1
    order, seq_visit, slot_position, slot_size = _node_slots(visit, position, size)
    out = []
    positions = entry_positions(rings, int(size.max()), gpus_per_nic)
    for r, seq in enumerate(_rotated(gpus[order], slot_position, slot_size, positions)):
        src, dst = _ring_edges(seq, seq_visit, d, cross_rail, wrap)
        out.append(Coflow(src, dst, bytes_per_ring, channel=r, connections=connections))
    return out


def _ring_edges(seq, seq_visit, d, cross_rail, wrap):
    nxt = np.roll(seq, -1)
    if d == 1 or cross_rail:
        return (seq, nxt) if wrap else (seq[:-1], seq[1:])
    last = seq_visit != np.roll(seq_visit, -1)
    first = seq_visit != np.roll(seq_visit, 1)
    entries, lasts = seq[first], seq[last]
    inner = ~last
    pxn = lasts != entries
    net_src, net_dst = entries, np.roll(entries, -1)
    pxn_src, pxn_dst = lasts[pxn], entries[pxn]
    if not wrap:  # a chain from rank 0's node: no hop back to the start, no PXN hop out of the last node
        net_src, net_dst = net_src[:-1], net_dst[:-1]
        keep = np.ones(pxn.size, dtype=bool)
        keep[-1] = False
        pxn_src, pxn_dst = lasts[pxn & keep], entries[pxn & keep]
    return (np.concatenate([seq[inner], pxn_src, net_src]),
            np.concatenate([nxt[inner], pxn_dst, net_dst]))


def tree_coflows(gpus: np.ndarray, node: np.ndarray, rings: int, connections: int, size_bytes: float,
                 chain: bool = True, gpus_per_nic: int = 1) -> list[Coflow]:
    """NCCL tree all-reduce: per ring NIC, one channel on each of the two trees, each carrying
    ``size_bytes / (2 rings)`` up and down; ``chain=False`` leaves out the intra-node chain (NVLS
    tree: the switch reduces inside the node)."""
    gpus = np.asarray(gpus, dtype=np.int64)
    visit, position, size = rank_layout(node)
    d = int(visit.max()) + 1
    edges = [tree_edges(tree_parents) for tree_parents in dtree_parents(d)]
    order, seq_visit, slot_position, slot_size = _node_slots(visit, position, size)
    head = np.flatnonzero(seq_visit != np.roll(seq_visit, 1))  # a node's first slot: the NIC's GPU
    link = np.flatnonzero(seq_visit[:-1] == seq_visit[1:])  # slot -> next slot of the same node: a chain edge
    out = []
    per_channel = size_bytes / (2 * rings)
    positions = entry_positions(rings, int(size.max()), gpus_per_nic)
    for r, seq in enumerate(_rotated(gpus[order], slot_position, slot_size, positions)):
        heads = seq[head]
        chain_src, chain_dst = seq[link], seq[link + 1]
        for t, (p, c) in enumerate(edges):
            parts_src = [heads[c]]
            parts_dst = [heads[p]]
            if chain:
                parts_src.append(chain_src)
                parts_dst.append(chain_dst)
            up_src, up_dst = np.concatenate(parts_src), np.concatenate(parts_dst)
            src, dst = np.concatenate([up_src, up_dst]), np.concatenate([up_dst, up_src])
            out.append(Coflow(src, dst, per_channel, channel=2 * r + t, connections=connections))
    return out
