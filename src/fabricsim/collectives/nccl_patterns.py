"""Rings and trees built as NCCL builds them, as coflows of GPU -> GPU edges.

* Nodes (scale-up domains) are visited in communicator rank order (NCCL numbers nodes by their first
  rank), and ranks of a node in rank order.
* Ring ``r`` enters every node on the GPU at position ``r mod m`` of the node and, with PXN (NCCL's
  default), leaves it through the *same* GPU's NIC: the node's last GPU hands its data over NVLink
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


def _node_matrix(gpus, visit, position, size):
    """GPUs as a (nodes x m) matrix in visit / position order, when every node holds m ranks."""
    d = int(visit.max()) + 1
    m = int(size[0])
    out = np.empty((d, m), dtype=np.int64)
    out[visit, position] = gpus
    return out


def _rotated_order(gpus, visit, position, size, start):
    """Ranks ordered node by node, each node rotated to begin at its position ``start``."""
    rotation = (position - start) % size
    order = np.lexsort((rotation, visit))
    return gpus[order], visit[order]


def ring_coflows(gpus: np.ndarray, node: np.ndarray, rings: int, connections: int, bytes_per_ring: float,
                 cross_rail: bool = False, wrap: bool = True) -> list[Coflow]:
    """One lockstep coflow per ring; ``bytes_per_ring`` crosses every edge of a ring."""
    gpus = np.asarray(gpus, dtype=np.int64)
    visit, position, size = rank_layout(node)
    d = int(visit.max()) + 1
    equal = bool(np.all(size == size[0]))
    matrix = _node_matrix(gpus, visit, position, size) if equal else None
    out = []
    for r in range(rings):
        if equal:
            rolled = np.roll(matrix, -(r % matrix.shape[1]), axis=1)
            seq, seq_visit = rolled.ravel(), np.repeat(np.arange(d), matrix.shape[1])
        else:
            seq, seq_visit = _rotated_order(gpus, visit, position, size, r % size)
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
                 chain: bool = True) -> list[Coflow]:
    """NCCL tree all-reduce: per ring NIC, one channel on each of the two trees, each carrying
    ``size_bytes / (2 rings)`` up and down; ``chain=False`` leaves out the intra-node chain (NVLS
    tree: the switch reduces inside the node)."""
    gpus = np.asarray(gpus, dtype=np.int64)
    visit, position, size = rank_layout(node)
    d = int(visit.max()) + 1
    parents = dtree_parents(d)
    out = []
    per_channel = size_bytes / (2 * rings)
    for r in range(rings):
        if bool(np.all(size == size[0])):
            matrix = np.roll(_node_matrix(gpus, visit, position, size), -(r % int(size[0])), axis=1)
            heads = matrix[:, 0]
            chain_src, chain_dst = matrix[:, :-1].ravel(), matrix[:, 1:].ravel()
        else:
            seq, seq_visit = _rotated_order(gpus, visit, position, size, r % size)
            first = seq_visit != np.roll(seq_visit, 1)
            heads = seq[first]
            same = seq_visit[:-1] == seq_visit[1:]
            chain_src, chain_dst = seq[:-1][same], seq[1:][same]
        for t, tree_parents in enumerate(parents):
            p, c = tree_edges(tree_parents)
            parts_src = [heads[c]]
            parts_dst = [heads[p]]
            if chain:
                parts_src.append(chain_src)
                parts_dst.append(chain_dst)
            up_src, up_dst = np.concatenate(parts_src), np.concatenate(parts_dst)
            src, dst = np.concatenate([up_src, up_dst]), np.concatenate([up_dst, up_src])
            out.append(Coflow(src, dst, per_channel, channel=2 * r + t, connections=connections))
    return out
