"""How hard NCCL's point-to-point kernel works per byte: the copy ceiling of all-to-all and send/recv.

NCCL runs a group of sends and receives (nccl-tests' alltoall and sendrecv) as one kernel of
``p2pnChannels`` CTAs (NVIDIA/nccl v2.30.7; the scheduling below is the same from v2.26.6 for one node):

* channels (src/graph/paths.cc ncclTopoComputeP2pChannels): ``p2pnChannels`` = pow2Up(the ring
  channels), at most MAXCHANNELS = 64 -- 24 ring channels on 8 H100 give 32 (the NCCL log line "24 coll
  channels, ... 32 p2p channels, 32 p2p channels per peer"); ``p2pnChannelsPerPeer`` = pow2Up of the
  fewest channels any peer asks for (ncclTopoGetNchannels: 2 x NVLinks for an NVLink peer, 2 over PCI,
  for a network peer max(NICs, ceil(NIC GB/s / NCCL_P2P_PER_CHANNEL_NET_BW = 14))), at most
  ``p2pnChannels``; across nodes it is halved while it times ceil(ranks / 8) exceeds ``p2pnChannels``.
* rounds (src/init.cc ncclP2pSchedule): round r pairs the send to one peer with the receive from another,
  round 0 being the rank itself (all-to-all's own block, a local copy; nccl-tests' in-place alltoall skips
  it: src/enqueue.cc scheduleP2pTasksToPlan "Skip send to self in-place").  Across nodes rounds come in
  groups of NCCL_P2P_SCHEDULE_GROUP_SIZE = 8 peers.
* parts (src/enqueue.cc scheduleP2pTasksToPlan, addP2pToPlan): ``nChannelsMin`` = ``p2pnChannelsPerPeer``
  halved while it times the ranks exceeds ``p2pnChannels``; a peer's bytes start on
  min(nChannelsMin, bytes / minPart) channels, doubled while a part exceeds maxPart, up to
  ``p2pnChannelsPerPeer`` (one node: minPart = chunk / 8, maxPart = 32 chunks, with the NVLink chunk
  NCCL_P2P_NVL_CHUNKSIZE = 512 KiB; across nodes chunk / 2 and one chunk, NCCL_P2P_NET_CHUNKSIZE); parts are
  4 KiB-aligned shares (src/include/device.h ncclP2pPartBounds).
* channels of a round (src/include/channel.h ncclP2pChannelBaseForRound, device.h ncclP2pChannelForPart):
  part p of round r runs on channel (base + p) mod ``p2pnChannels``, base = reverseBits(r) on one node,
  across nodes reverseBits(group index x ceil(group / 8) + position in group / 8).
* works (src/device/sendrecv.h): a channel runs up to NCCL_MAX_DEV_WORK_P2P_PER_BATCH = 8 works at once
  (rounds of one group of 8), its warps split between them; a work's send warps load the user buffer and
  store into the peer's FIFO (directSend), its receive warps load their FIFO and store into the user
  buffer (directRecv) -- 2 bytes loaded plus stored per byte each way, 4 per byte a rank both sends and
  receives; the rank's own block is one reduceCopy, 2 per byte.  Without registered buffers (nccl-tests'
  default) every byte takes the FIFO: direct pointers (DirectWrite/DirectRead in prims_simple.h) are set
  only where user buffers are IPC-registered.

So each CTA loads and stores a known number of bytes per call (:func:`channel_bytes`); if a CTA moves at
most ``rate`` bytes/s, the call takes at least the busiest channel's bytes / rate
(:func:`copy_bound_s`).  With 4 ranks, one byte of every 4 is the local copy and each CTA moves
(2 + 3 x 4) / 3 = 4.67 bytes per byte sent; with 8 ranks (2 + 7 x 4) / 7 = 4.29; with 64, 4.03 -- which is
why 4 GPUs of a GB300 tray reach less all-to-all bandwidth than 8 (and reach more in place, 4.0).
ASSUMPTIONS: a load and a store cost the CTA alike; the bytes of a channel's works share its rate (the
bound is the busiest channel's total); a release's multi-node channel rules before 2.29 (2 channels per
NIC, halved with scale) and Grace hosts' doubled network chunk (init.cc, 2.29) are not modelled.  Bytes,
seconds.
"""

from __future__ import annotations

import math

import numpy as np

MAX_CHANNELS = 64
"""NVIDIA/nccl src/include/device.h MAXCHANNELS."""
WORKS_PER_BATCH = 8
"""NVIDIA/nccl src/include/device.h NCCL_MAX_DEV_WORK_P2P_PER_BATCH; also NCCL_P2P_SCHEDULE_GROUP_SIZE's default."""
NET_BYTES_PER_S_PER_CHANNEL = 14e9
"""NVIDIA/nccl v2.30.7 src/graph/paths.cc NCCL_P2P_PER_CHANNEL_NET_BW default 14 (GB/s)."""
PART_ALIGN_BYTES = 4096
"""NVIDIA/nccl src/include/device.h ncclP2pPartBounds: parts aligned to 4 KiB."""
P2P_OPS = ("all_to_all", "send_recv")


def pow2_up(x: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(1, x))))


def reverse_bits(x: np.ndarray, bits: int) -> np.ndarray:
    """The low ``bits`` bits of every ``x`` in reverse order (NCCL's reverseBits)."""
    out = np.zeros_like(x)
    for b in range(bits):
        out |= ((x >> b) & 1) << (bits - 1 - b)
    return out


def p2p_channels(lib, comm) -> tuple[int, int]:
    """(p2pnChannels, p2pnChannelsPerPeer) of a communicator (module docstring)."""
    total = pow2_up(min(comm.channels, MAX_CHANNELS))
    if comm.intra == "nvlink":
        links = max(1, round(comm.nvlink_bytes_per_s / lib.nvlink_link_bytes_per_s[comm.architecture]))
        per_peer = 2 * links
    else:
        per_peer = 2
    if comm.nodes > 1:
        per_peer = min(per_peer, max(1, math.ceil(comm.nic_bytes_per_s / NET_BYTES_PER_S_PER_CHANNEL)))
    per_peer = pow2_up(per_peer)
    if comm.nodes > 1:
        while per_peer * -(-comm.ranks // WORKS_PER_BATCH) > total and per_peer > 1:
            per_peer //= 2
    return total, min(per_peer, total)


def chunk_bytes(lib, comm) -> int:
    """NCCL's p2pChunkSize (src/init.cc computeBuffSizes): the network chunk across nodes, the NVLink chunk
    on an all-NVLink node, else the PCI chunk; at most the Simple buffer / NCCL_STEPS."""
    kind = "net" if comm.nodes > 1 else "nvlink" if comm.intra == "nvlink" else "pci"
    return min(lib.p2p_chunk_bytes[kind], lib.buffer_bytes["simple"] // lib.steps)


def peer_channels(lib, comm, peer_bytes: float) -> int:
    """Channels one peer's bytes are split over (addP2pToPlan, module docstring)."""
    total, per_peer = p2p_channels(lib, comm)
    smallest = per_peer
    while smallest * comm.ranks > total and smallest > 1:
        smallest //= 2
    if peer_bytes <= 0:
        return 1
    step = chunk_bytes(lib, comm)
    min_part, max_part = (step // 2, step) if comm.nodes > 1 else (step // 8, 32 * step)
    n = min(smallest, -(-int(peer_bytes) // min_part))
    part = max(min_part, -(-int(peer_bytes) // n))
    while part > max_part and n <= per_peer // 2:
        n *= 2
        part = -(-int(peer_bytes) // n)
    return n


def round_bases(comm, rounds: np.ndarray, total: int) -> np.ndarray:
    """First channel of every round (ncclP2pChannelBaseForRound, v2.28 on)."""
    if comm.nodes > 1:
        group = math.gcd(WORKS_PER_BATCH, comm.ranks_per_node, comm.max_ranks_per_node)
        base = (rounds // group) * -(-group // WORKS_PER_BATCH) + (rounds % group) // WORKS_PER_BATCH
    else:
        base = rounds
    return reverse_bits(base % total, int(math.log2(total)))


def channel_bytes(lib, comm, op: str, size_bytes: float, in_place: bool = False) -> np.ndarray:
    """Bytes every p2p channel (CTA) loads plus stores in one call (module docstring): all-to-all of
    ``size_bytes`` per rank (size / ranks to each peer and to itself), or send/recv of ``size_bytes`` to
    the next rank and from the previous."""
    total, _ = p2p_channels(lib, comm)
    loads = np.zeros(total)
    n = comm.ranks
    if n <= 1 or size_bytes <= 0:
        return loads
    peer = size_bytes / n if op == "all_to_all" else float(size_bytes)
    rounds = np.arange(1, n) if op == "all_to_all" else np.array([1])
    parts = peer_channels(lib, comm, peer)
    part_bytes = -(-int(peer) // parts)
    part_bytes = -(-part_bytes // PART_ALIGN_BYTES) * PART_ALIGN_BYTES
    sizes = np.clip(peer - part_bytes * np.arange(parts), 0, part_bytes)  # the last part may be short
    bases = round_bases(comm, rounds, total)
    channel = (bases[:, None] + np.arange(parts)[None, :]) % total
    loads += np.bincount(channel.ravel(), np.tile(4.0 * sizes, rounds.size), total)  # send 2 + receive 2 per byte
    if op == "all_to_all" and not in_place:  # round 0: the rank's own block, one local copy
        self_channel = (round_bases(comm, np.array([0]), total)[0] + np.arange(parts)) % total
        loads += np.bincount(self_channel, 2.0 * sizes, total)
    return loads


def copy_bound_s(lib, comm, op: str, protocol: str, size_bytes: float, in_place: bool = False) -> float:
    """Least time (seconds) NCCL's p2p CTAs need to load and store a call's bytes at the library's per-CTA
    rate for the architecture (``per_channel_p2p_copy_bytes_per_s``); 0 where it has none, for LL, or for
    collectives that are not point-to-point."""
    rate = lib.per_channel_p2p_copy_bytes_per_s.get(comm.architecture)
    if not rate or protocol != "simple" or op not in P2P_OPS or comm.ranks <= 1:
        return 0.0
    return float(channel_bytes(lib, comm, op, size_bytes, in_place).max()) / rate
