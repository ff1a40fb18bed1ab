"""Placing a collective's ranks onto GPUs.

* ``contiguous`` - rank r on GPU r (a freshly allocated, unfragmented block).
* ``rail-aware`` - the same GPUs (kept as a name: NCCL's rings and trees are rail-aligned under any
                   placement, see :mod:`fabricsim.collectives.nccl_patterns`).
* ``one-per-node`` - rank r on the first GPU of node r (one GPU per scale-up domain, as an
                   nccl-tests run with one process per host does).
* ``random``     - ranks scattered over the whole cluster in random rank order (a fragmented
                   cluster, a scheduler that ignores topology); seeded.  Rings and trees visit each
                   node's GPUs together and the nodes in rank order, as NCCL does; point-to-point
                   patterns (send/recv, all-to-all) see the random order.
"""

from __future__ import annotations

import numpy as np

from fabricsim.errors import FabricsimError

PLACEMENTS = ("contiguous", "rail-aware", "random", "one-per-node")


def place_ranks(ranks: int, gpus: int, placement: str = "rail-aware", seed: int = 0,
                node_gpus: int = 1) -> np.ndarray:
    """GPU index of every rank (in rank order); ``node_gpus``: GPUs per node (for ``one-per-node``)."""
    if placement not in PLACEMENTS:
        raise FabricsimError(f"--placement {placement!r}: valid placements are {', '.join(PLACEMENTS)}")
    if ranks < 1:
        raise FabricsimError(f"--ranks {ranks}: need at least 1 rank")
    if ranks > gpus:
        raise FabricsimError(f"--ranks {ranks:,} is more than the cluster's {gpus:,} GPUs (cluster.gpus)")
    if placement == "one-per-node":
        nodes = gpus // node_gpus
        if ranks > nodes:
            raise FabricsimError(f"--ranks {ranks:,} with --placement one-per-node needs {ranks:,} nodes; the cluster has "
                                 f"{nodes:,} of {node_gpus} GPUs")
        return np.arange(ranks, dtype=np.int64) * node_gpus
    if placement == "random":
        return np.random.default_rng(seed).choice(gpus, size=ranks, replace=False).astype(np.int64)
    return np.arange(ranks, dtype=np.int64)
