"""NCCL's double binary tree over nodes, vectorised.

NCCL (src/graph/trees.cc, ncclGetBtree / ncclGetDtree) builds a binary tree over node indices
0..N-1 by bit arithmetic: node r > 0 with lowest set bit b has parent ``(r ^ b) | (b << 1)``, or
``r ^ b`` when that is past the end; node 0 is the root.  The second tree is the first one shifted
by one node (N odd) or mirrored (N even), so that most leaves of one tree are inner nodes of the
other.  Half of a channel's data goes down each tree.  Written here from that description.
"""

from __future__ import annotations

import numpy as np


def btree_parents(n: int) -> np.ndarray:
    """Parent of every node of NCCL's binary tree over ``n`` nodes (-1 for the root, node 0)."""
    r = np.arange(n, dtype=np.int64)
    parent = np.full(n, -1, dtype=np.int64)
    if n <= 1:
        return parent
    inner = r[1:]
    low = inner & -inner  # lowest set bit
    up = (inner ^ low) | (low << 1)
    up = np.where(up >= n, inner ^ low, up)
    parent[1:] = up
    return parent


def dtree_parents(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Parents in NCCL's two trees over ``n`` nodes (node indices; -1 marks each tree's root)."""
    first = btree_parents(n)
    r = np.arange(n, dtype=np.int64)
    if n % 2:  # shift: node r plays r - 1 of the first tree
        shifted = (r - 1) % n
        parent_in_shifted = first[shifted]
        second = np.where(parent_in_shifted < 0, -1, (parent_in_shifted + 1) % n)
    else:  # mirror: node r plays n - 1 - r
        mirrored = n - 1 - r
        parent_in_mirror = first[mirrored]
        second = np.where(parent_in_mirror < 0, -1, n - 1 - parent_in_mirror)
    return first, second


def tree_edges(parents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(parent, child) node pairs of a tree given by its parent array."""
    child = np.nonzero(parents >= 0)[0]
    return parents[child], child


def degrees(parents: np.ndarray) -> np.ndarray:
    """Tree edges at every node (parent link + child links)."""
    n = parents.size
    deg = (parents >= 0).astype(np.int64)
    np.add.at(deg, parents[parents >= 0], 1)
    return deg if n else np.zeros(0, dtype=np.int64)
