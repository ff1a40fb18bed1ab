"""Placing a collective's ranks onto GPUs, and the ring order NCCL would use on them.

* ``contiguous`` - rank r on GPU r (a freshly allocated, unfragmented block).
* ``rail-aware`` - the same GPUs, but the ring is ordered so that every hop between servers
                   joins GPUs of the same rail (what NCCL's rail-aligned rings / PXN achieve on
                   a rail-optimized fabric): server s is entered at local GPU ``-s mod m`` and left
                   at the GPU before it, so the next server is entered on the rail just used.
* ``random``     - ranks scattered over the whole cluster in random rank order (a fragmented
                   cluster, a scheduler that ignores topology); seeded.  Rings and trees still
                   visit each server's GPUs together, as NCCL orders them; point-to-point
                   patterns (send/recv, all-to-all) see the random order.
"""

from __future__ import annotations

import numpy as np

from fabricsim.errors import FabricsimError

PLACEMENTS = ("contiguous", "rail-aware", "random")


def place_ranks(ranks: int, gpus: int, placement: str = "rail-aware", seed: int = 0) -> np.ndarray:
    """GPU index of every rank (in rank order, before any ring re-ordering)."""
    if placement not in PLACEMENTS:
        raise FabricsimError(f"--placement {placement!r}: valid placements are {', '.join(PLACEMENTS)}")
    if ranks < 1:
        raise FabricsimError(f"--ranks {ranks}: need at least 1 rank")
    if ranks > gpus:
        raise FabricsimError(f"--ranks {ranks:,} is more than the cluster's {gpus:,} GPUs (cluster.gpus)")
    if placement == "random":
        return np.random.default_rng(seed).choice(gpus, size=ranks, replace=False).astype(np.int64)
    return np.arange(ranks, dtype=np.int64)


def ring_order(gpu_of_rank: np.ndarray, placement: str, gpus_per_server: int, channel: int = 0) -> np.ndarray:
    """GPUs in the ring order of one channel.

    Rings visit a server's GPUs consecutively (over the scale-up fabric) and then hop to the next
    server, like NCCL's rings.  Channel ``c`` enters each server at a different GPU, so the channels
    of a node leave it through different NICs.  ``rail-aware`` enters server ``k`` at local GPU
    ``(c - k) mod m`` so each hop between servers stays on one rail; ``contiguous`` enters every
    server at local GPU ``c`` (the hop between servers changes rail); ``random`` placement (already
    scattered GPUs) is ordered like ``contiguous``.
    """
    gpus = np.asarray(gpu_of_rank, dtype=np.int64)
    server = gpus // gpus_per_server
    _, visit = np.unique(server, return_inverse=True)  # k-th server visited
    if placement == "rail-aware":
        start = (channel - visit) % gpus_per_server
    else:
        start = np.full_like(visit, channel % gpus_per_server)
    key = visit * gpus_per_server + (gpus % gpus_per_server - start) % gpus_per_server
    return gpus[np.argsort(key, kind="stable")]


def ring_edges(order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(source GPU, destination GPU) of each hop of the ring."""
    return order, np.roll(order, -1)


def binary_tree_edges(order: np.ndarray, mirror: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Parent->child edges of a balanced binary tree over ranks in ``order`` (in-order layout).

    The second tree of NCCL's double binary tree is the mirror (rank i -> n-1-i), so that
    leaves of one tree are inner nodes of the other.
    """
    n = order.size
    positions = np.arange(n)
    if mirror:
        positions = n - 1 - positions
    parents, children = [], []

    def build(lo: int, hi: int) -> int | None:
        if lo > hi:
            return None
        mid = (lo + hi) // 2
        for child in (build(lo, mid - 1), build(mid + 1, hi)):
            if child is not None:
                parents.append(mid)
                children.append(child)
        return mid

    build(0, n - 1)  # recursion depth is log2(n)
    p = np.asarray(parents, dtype=np.int64)
    c = np.asarray(children, dtype=np.int64)
    return order[positions[p]], order[positions[c]]
