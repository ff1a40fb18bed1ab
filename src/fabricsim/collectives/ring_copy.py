"""How hard a ring's kernels work per byte they put on the link: the copy ceiling of a Simple ring.

A channel of an NCCL ring is one thread block (CTA).  With the Simple protocol it moves every chunk
of a loop through its own loads and stores, one ring step after another (src/device/all_gather.h,
all_reduce.h, reduce_scatter.h, broadcast.h, NVIDIA/nccl v2.26.6-1): a step loads its source once
(the user buffer or the receive FIFO, plus the user buffer where it reduces) and stores to every
destination (the next rank's FIFO, the user's output).  Between GPUs of one node reached through the
FIFOs (one process per GPU: ``P2P/CUMEM`` or ``P2P/IPC``, P2P write -- paths.cc ncclTopoCheckP2p
enables P2P read on compute capability 8.0 only) a loop of ``n`` ranks costs, in chunks loaded plus
stored, with ``n - 1`` chunks leaving the rank on the link (all-gather, reduce-scatter) or
``2 (n - 1)`` (all-reduce):

* all-gather (all_gather.h:53-70): directSend 2 (in place) or directCopySend 3 (out of place: the
  rank's own block is also stored to its output), ``n - 2`` directRecvCopyDirectSend 3, directRecv 2;
* all-reduce (all_reduce.h:47-81): directSend 2, ``n - 2`` directRecvReduceDirectSend 3,
  directRecvReduceCopyDirectSend 4, ``n - 2`` directRecvCopyDirectSend 3, directRecv 2;
* reduce-scatter (reduce_scatter.h:41-53): send 2, ``n - 2`` recvReduceSend 3, recvReduceCopy 3;
* broadcast (broadcast.h:42-51): one step per chunk, the slowest rank's: a middle rank's
  directRecvCopyDirectSend 3, the root's directCopySend 3 out of place, else 2.

If a CTA loads and stores at most ``rate`` bytes/s, the ring's bus bandwidth cannot exceed
``channels x rate / cost`` with ``cost`` the bytes loaded and stored per byte sent.  With 8 ranks the
cost is about 3 and the link binds first; with 2 ranks it is 4 (in place) or 5 (out of place) and
the loop alternates a send-only and a receive-only step, so the CTAs, not NVLink, can bind: the
out-of-place local copy costs time only where the CTAs bind.  ASSUMPTIONS: a load and a store cost
the CTA the same; the FIFO path (a single process driving several GPUs may use direct pointers,
``P2P/direct pointer``, which skip the receive copies: not modelled).  Bytes and seconds.
"""

from __future__ import annotations

from fabricsim.errors import FabricsimError

RING_OPS = ("all_gather", "all_reduce", "reduce_scatter", "broadcast")
"""Collectives whose ring kernels' copy cost is counted here."""


def copy_cost(op: str, ranks: int, in_place: bool = False) -> float:
    """Bytes a ring channel loads plus stores per byte it sends to the next rank (Simple protocol,
    FIFO path); 0 for one rank.  Counts from NVIDIA/nccl v2.26.6 src/device (module docstring)."""
    n = ranks
    if n < 1:
        raise FabricsimError(f"ranks={ranks}: a ring needs at least one rank")
    if n == 1:
        return 0.0
    if op == "all_gather":
        return ((2 if in_place else 3) + 3 * (n - 2) + 2) / (n - 1)
    if op == "all_reduce":
        return (2 + 3 * (n - 2) + 4 + 3 * (n - 2) + 2) / (2 * (n - 1))
    if op == "reduce_scatter":
        return (2 + 3 * (n - 2) + 3) / (n - 1)
    if op == "broadcast":
        return 3.0 if (n > 2 or not in_place) else 2.0
    raise FabricsimError(f"op {op!r}: the ring copy cost is known for {', '.join(RING_OPS)}")


def copy_ceiling_bytes_per_s(op: str, ranks: int, channels: int, rate_bytes_per_s: float,
                             in_place: bool = False) -> float:
    """Bus bandwidth (bytes/s) a Simple ring cannot exceed when each of its ``channels`` CTAs loads
    plus stores at most ``rate_bytes_per_s``; infinite for one rank."""
    cost = copy_cost(op, ranks, in_place)
    return float("inf") if cost == 0 else channels * rate_bytes_per_s / cost
