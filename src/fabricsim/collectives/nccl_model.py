"""The collective library's cost model: what a call costs per algorithm and protocol, and which one
the library's tuner picks.

For every (algorithm, protocol) the time of a call of ``size`` bytes is

    time = latency(algorithm, protocol) + transfer time at that protocol

* latency follows NCCL's tuner (src/graph/tuning.cc): a per-call base, plus per-step hardware
  latencies, intra-node (NVLink or PCI) and inter-node (network) steps counted apart -- a ring
  all-reduce over n ranks on N nodes pays 2(n - N) intra steps and 2(N - 1) network steps, a tree
  2 (ppn - 1) intra and 2 log2(N) network steps.  Network steps also pay the fabric's own extra
  latency when they climb above the leaf (propagation and switch hops NCCL's constants, measured
  on one leaf, do not hold), and the NIC latency a network plugin reports (AWS EFA through
  aws-ofi-nccl: :func:`plugin_latency_s`).
* the transfer time is the Simple-protocol transfer time -- *simulated* on the fabric (flow level)
  or computed (analytic) -- divided by the protocol's share of the channel bandwidth (LL 50%,
  LL128 92%) and bounded below by the library's per-channel ceilings (LL, LL128, tree, NVLS tree).
  The tuner multiplies those ceilings by its search graph's channels; the kernels run twice as many
  channels by default (connect.cc), so an executed call has the ceiling of half its execution
  channels -- the same number unless NCCL_MIN_NCHANNELS raised them.  Where a release's tuner had no
  measured ceiling of its own (``CollectiveLibrary.tuner_ceilings``: a table added in a later release, or
  one architecture's row copied from another's) its row steers the choice and the measured row runs.

The tuner picks the (algorithm, protocol) with the least *predicted* time, where the prediction uses
the contention-free transfer time (the library cannot see ECMP collisions or a congested spine);
the simulated time of that choice is what the call then takes.  Seconds and bytes throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabricsim.collectives.communicator import HOPPER_OR_NEWER, Communicator, log2_floor
from fabricsim.collectives import p2p_copy
from fabricsim.collectives.ring_copy import RING_OPS, copy_ceiling_bytes_per_s

PROTOCOLS = ("ll", "ll128", "simple")


@dataclass(frozen=True)
class Choice:
    algorithm: str  # fabricsim algorithm name
    protocol: str
    predicted_s: float  # the tuner's estimate


def library_algorithm(algorithm: str, comm: Communicator) -> str:
    """The library's cost-model row for a fabricsim algorithm."""
    if algorithm == "in_network":
        if comm.nvls:
            return "nvls"
        return "collnet_direct" if comm.max_ranks_per_node <= 8 else "collnet_chain"
    if algorithm in ("hierarchical", "direct"):
        return "ring"
    return algorithm


def protocols_for(algorithm: str, comm: Communicator, op: str, size_bytes: float, lib) -> tuple[str, ...]:
    """Protocols the library may run ``algorithm`` with (NVLS, CollNet, PAT and fabricsim's own
    hierarchical algorithms: Simple only; LL128 only where NVLink joins the GPUs), among those the
    network plugin leaves enabled.  Point-to-point messages take LL up to the library's threshold,
    Simple above (no tuner choice)."""
    if algorithm == "direct":
        per_peer = size_bytes / max(1, comm.ranks) if op == "all_to_all" else size_bytes
        small = per_peer <= lib.p2p_ll_threshold_bytes and "ll" in comm.protocols
        return ("ll",) if small else ("simple",)
    if algorithm in ("ring", "tree"):
        found = ("ll", "ll128", "simple") if comm.intra == "nvlink" else ("ll", "simple")
    else:
        found = ("simple",)
    return tuple(p for p in found if p in comm.protocols) or ("simple",)


def _steps(op: str, n: int) -> int:
    return 2 * (n - 1) if op == "all_reduce" else n if op == "broadcast" else n - 1


def latency_s(lib, comm: Communicator, op: str, algorithm: str, protocol: str, size_bytes: float,
              extra_network_s: float = 0.0, executed: bool = False) -> float:
    """Latency of one call (seconds): NCCL's base + per-step latencies, plus ``extra_network_s`` per
    network step (the fabric's extra hops above a leaf) and the network plugin's reported NIC latency
    (:func:`plugin_latency_s`; ``executed``: as the call runs, else as the tuner predicts it)."""
    a = library_algorithm(algorithm, comm)
    p = protocol
    n, nodes = comm.ranks, comm.nodes
    if n <= 1:
        return 0.0
    ppn = max(1, n // nodes)
    hw = lib.hardware_latency_s
    base = lib.base_latency_s[a][p]
    intra = hw[comm.intra][a][p]
    nic = plugin_latency_s(comm, p, executed)
    exposed = ppn == 1 and lib.tree_network_latency_at_one_rank_per_node  # ppn 1: latencies fully exposed
    inter = hw["net"]["tree" if exposed else a][p] + extra_network_s + nic
    depth = log2_floor(nodes)
    if op in ("send_recv", "all_to_all"):
        return _p2p_latency(lib, comm, op, protocol, extra_network_s + nic)
    if a == "ring":
        steps = _steps(op, n)
        if op == "broadcast":
            return base + steps * (inter if nodes > 1 else intra)
        net_overhead = 0.0
        if nodes > 1:
            net_overhead = lib.net_overhead_s * (lib.net_overhead_simple_factor if p == "simple" else 1.0)
        inter_steps = 0 if nodes == 1 else (ring_all_reduce_inter_steps(lib, nodes) if op == "all_reduce"
                                            else nodes - 1)
        if algorithm == "hierarchical":
            steps = inter_steps + (2 if op == "all_reduce" else 1) * (ppn - 1)
        t = base + (steps - inter_steps) * max(intra, net_overhead) + inter_steps * inter
        if (p == "simple" and nodes > 1 and op == "all_reduce"
                and size_bytes / (comm.channels * n) >= 64):
            t *= lib.ring_plateau_latency_factor[comm.architecture]
        return t
    if a == "tree":
        return base + 2 * ((ppn - 1) * intra + depth * inter)
    if a == "collnet_direct":
        return base + 2 * (min(1, ppn - 1) * intra + (ppn - 1) * lib.collnet_arity_latency_s) + inter
    if a == "collnet_chain":
        return base + 2 * (ppn - 1) * intra + inter
    if a == "nvls":  # NCCL 2.18 charges a base (23 us) and no NVLink step; later releases the reverse
        return base + intra + (inter if nodes > 1 else 0.0)
    if a == "nvls_tree":
        steps = 2 * (nodes - 1) if lib.nvls_tree_network_steps == "2 (nodes - 1)" else 2 * depth
        return base + intra + steps * inter
    if a == "pat":
        return base + depth * inter / lib.pat_log_latency_divisor + n * lib.pat_latency_per_rank_s
    raise ValueError(f"no latency model for {algorithm}")


def ring_all_reduce_inter_steps(lib, nodes: int) -> int:
    """Network steps the tuner charges a ring all-reduce over ``nodes`` > 1 nodes: 2 (nodes - 1) from
    NCCL 2.23, 2 nodes before (``CollectiveLibrary.ring_all_reduce_inter_steps``)."""
    return 2 * nodes if lib.ring_all_reduce_inter_steps == "2 nodes" else 2 * (nodes - 1)


def plugin_latency_s(comm: Communicator, protocol: str, executed: bool = False) -> float:
    """What a network step pays for the NIC latency the network plugin reports (0 without a plugin:
    NCCL's own InfiniBand and socket NICs report 0).  NCCL's tuning.cc adds the graph's latencyInter to
    the inter-node latency, and once more for Simple, "the flush extra latency" -- the GDR flush read a
    receiver issues before handing data to the GPU.  The tuner always predicts that flush; a call runs it
    only where NCCL needs it (src/graph/paths.cc ncclTopoNeedFlush: 'Flush is required on Ampere and
    earlier', or NICs reached over C2C, or NCCL_NET_FORCE_FLUSH), so as executed on Hopper and later
    with PCIe NICs the Simple step pays the reported latency once."""
    flush = protocol == "simple" and (not executed or comm.needs_flush)
    return comm.net_latency_s * (2 if flush else 1)


def _p2p_latency(lib, comm: Communicator, op: str, protocol: str, extra_network_s: float) -> float:
    """Point-to-point calls (send/recv, all-to-all as grouped send/recv): one ring step of the
    protocol (with the plugin's reported NIC latency as a ring step has it: an ASSUMPTION, NCCL's
    point-to-point path has no cost model); an all-to-all also posts one network operation per
    remote peer through the proxy."""
    hw = lib.hardware_latency_s
    remote = comm.nodes > 1
    step = hw["net"]["ring"][protocol] + extra_network_s if remote else hw[comm.intra]["ring"][protocol]
    t = lib.base_latency_s["ring"][protocol] + step
    if op == "all_to_all" and remote:
        remote_peers = comm.ranks - comm.ranks_per_node
        t += remote_peers * lib.net_overhead_s
    return t


def _bus_ratio(op: str, algorithm: str, n: int) -> float:
    """NCCL's algorithm-bandwidth / bus-bandwidth ratio of its model."""
    if algorithm in ("ring", "nvls", "nvls_tree"):
        return n / _steps(op, n) if op != "broadcast" else 1.0
    return 0.5


def transfer_s(lib, comm: Communicator, op: str, algorithm: str, protocol: str, size_bytes: float,
               simple_transfer_s: float, executed: bool = False) -> float:
    """Transfer time at ``protocol`` from the Simple-protocol transfer time (seconds): as the tuner
    predicts it, or as the kernels run it (``executed``)."""
    if simple_transfer_s <= 0 or comm.ranks <= 1:
        return 0.0
    a = library_algorithm(algorithm, comm)
    graph = comm.channels / 2 if executed else comm.graph_channels
    arch, band = comm.architecture, comm.node_band

    def ceiling(table: str, index: int = band) -> float:  # the tuner's own row predicts, the measured row runs
        predicted = {} if executed else lib.tuner_ceilings.get(table, {})
        return predicted.get(arch, getattr(lib, table)[arch])[index]

    share, cap = 1.0, None  # cap: library bus-bandwidth ceiling, bytes/s
    ll_max = ceiling("ll_max_bytes_per_s", 0) if comm.nodes == 1 else lib.ll_max_multi_node_bytes_per_s[band]
    if algorithm == "direct":
        share = lib.ll_bandwidth_fraction if protocol == "ll" else 1.0
    elif a == "ring" and algorithm != "hierarchical":
        if protocol == "ll":
            copy = comm.nodes == 1 and op != "all_reduce"  # broadcast, reduce-scatter, all-gather in one node
            share = lib.ring_ll_single_node_bandwidth_fraction if copy else lib.ring_ll_bandwidth_fraction
            cap = ll_max
        elif protocol == "ll128":
            sparse = comm.ranks < 2 * comm.nodes  # fewer than 2 ranks per node
            share = lib.ring_ll128_single_rank_per_node_fraction if sparse else lib.ll128_bandwidth_fraction
            if executed:  # the kernels' measured LL128 rate where it falls short of the tuner's share
                share = min(share, lib.executed_ring_ll128_fraction.get(arch, share))
            cap = graph * ceiling("per_channel_ring_ll128_bytes_per_s")
    elif a == "tree":
        share = lib.tree_bandwidth_fraction
        cap = graph * ceiling("per_channel_tree_bytes_per_s")
        if protocol == "ll":
            share *= lib.tree_ll_fraction
            cap = min(cap, ll_max)
        elif protocol == "ll128":
            share *= lib.ll128_tree_single_node_fraction if comm.nodes == 1 else lib.ll128_bandwidth_fraction
            cap = min(cap, graph * ceiling("per_channel_tree_ll128_bytes_per_s"))
    elif a == "nvls_tree":  # the tuner's ceiling is per channel of the NVLS *search* graph: one per head GPU
        per_channel = ceiling("per_channel_nvls_tree_bytes_per_s")
        cap = comm.nvls_heads * per_channel if per_channel > 0 else None
    elif a == "pat":
        share = lib.pat_bandwidth_fraction
    elif a == "collnet_direct":
        share = lib.collnet_direct_fraction if arch in HOPPER_OR_NEWER else 1.0
        if not executed and comm.gpus_per_nic > 1:  # "CollNet+Direct requires all GPUs to have a local NIC to
            ratio = float(comm.gpus_per_nic)  # work at full speed": the tuner divides by the GPU/NIC ratio less
            share /= ratio - (ratio - 1) / 2  # half its excess (tuning.cc v2.12 to v2.30.7); not measured here
    t = simple_transfer_s / share
    if cap:
        t = max(t, size_bytes / (cap * _bus_ratio(op, a, comm.ranks)))
    if a == "tree" and comm.simple_tree:
        t /= lib.tree_pattern_fraction
    if a == "tree" and op == "all_reduce":
        index = int(size_bytes) >> 6
        index = index.bit_length() - 1 if index > 0 else -1
        if 0 <= index < 23:
            t /= lib.tree_correction[protocol][index]
    return t


def ring_chunk_bytes(lib, comm: Communicator, size_bytes: float) -> float:
    """Bytes of the first chunk a ring channel moves with the Simple protocol (NCCL's chunking): a full
    chunk is ``chunk_steps`` slots of the Simple buffer (ALLREDUCE/ALLGATHER/REDUCESCATTER_CHUNKSTEPS =
    NCCL_STEPS / 2: 4 x 512 KiB = 2 MiB at the default 4 MiB buffer), never adapted to the message in
    calcCollChunking (enqueue.cc v2.18.5 to v2.30.7); the kernels shrink the chunk of a loop they cannot
    fill -- a loop is ranks x chunk per channel -- to an even share of what remains (all_reduce.h
    runRing: v2.18.5 divUp(size - gridOffset, nChannels x nranks); v2.19 on, per channel part,
    divUp(remCount, nranks)).  ``size_bytes`` is the call's whole buffer (all-reduce buffer, all-gather
    output, reduce-scatter input), so a call below one loop of every channel moves chunks of
    size / (channels x ranks)."""
    full = lib.buffer_bytes["simple"] / lib.steps * lib.chunk_steps
    return min(full, size_bytes / (comm.channels * comm.ranks))


def fill_bytes(lib, comm: Communicator, algorithm: str, protocol: str, size_bytes: float) -> float:
    """Bytes of a call that move before the pipeline runs at full rate, as the kernels run it: one chunk
    per channel -- a ring's chunk as NCCL sizes it for this call (:func:`ring_chunk_bytes`), NVLS's
    chunk, elsewhere a full Simple chunk.  NVLS tree also waits for its first NVLS chunk to climb the
    inter-node tree and come back down: one more chunk per tree level each way (NCCL all_reduce.h
    ``RunWorkColl<..., NCCL_ALGO_NVLS_TREE, NCCL_PROTO_SIMPLE>``: the head rank's reduce warps send each chunk up
    ``treeUp`` after its children's, the broadcast warps receive it back down, chunk by chunk, over a binary
    tree of the nodes, ncclGetBtree: ``floor(log2 nodes)`` levels).  NCCL's tuner predicts no fill (tuning.cc
    ncclTopoGetAlgoTime: latency + bytes / bandwidth)."""
    a = library_algorithm(algorithm, comm)
    if algorithm == "direct" or protocol != "simple":  # LL/LL128 flag every line: no chunk to fill
        return 0.0
    if a in ("nvls", "nvls_tree"):
        tree_hops = 2 * log2_floor(comm.nodes) if a == "nvls_tree" and comm.nodes > 1 else 0
        return comm.nvls_channels * (lib.chunk_steps + tree_hops) * lib.nvls_chunk_bytes
    if a == "ring":
        return comm.channels * ring_chunk_bytes(lib, comm, size_bytes)
    step = lib.buffer_bytes[protocol] / lib.steps
    return comm.channels * lib.chunk_steps * step


def copy_bound_s(lib, comm: Communicator, op: str, algorithm: str, protocol: str, size_bytes: float,
                 in_place: bool = False, direct: bool = False) -> float:
    """Least time (seconds) the channels of a Simple ring need to load and store its bytes
    (:mod:`fabricsim.collectives.ring_copy`, at the library's fitted per-channel rate for the architecture;
    0 where it has none, or for other algorithms and protocols), or the CTAs of the point-to-point kernel
    the bytes of an all-to-all or send/recv (:mod:`fabricsim.collectives.p2p_copy`).  The channels copy from
    the first byte, so the bound carries no pipeline fill.  ``direct``: the bytes are moved by other kernels
    that write straight into the peers' buffers (an MoE dispatcher's, DeepEP or HybridEP), not through NCCL's
    point-to-point FIFOs: no such bound."""
    if op in p2p_copy.P2P_OPS:
        return 0.0 if direct else p2p_copy.copy_bound_s(lib, comm, op, protocol, size_bytes, in_place)
    rate = lib.per_channel_simple_copy_bytes_per_s.get(comm.architecture)
    if not rate or protocol != "simple" or algorithm != "ring" or op not in RING_OPS or comm.ranks <= 1:
        return 0.0
    cap = copy_ceiling_bytes_per_s(op, comm.ranks, comm.channels, rate, in_place)
    return size_bytes / (cap * _bus_ratio(op, "ring", comm.ranks))


def call_time_s(lib, comm: Communicator, op: str, algorithm: str, protocol: str, size_bytes: float,
                simple_transfer_s: float, extra_network_s: float = 0.0, executed: bool = False,
                in_place: bool = False, direct: bool = False) -> float:
    """Latency plus protocol transfer time of one call (seconds), with the launch overhead;
    ``executed``: as the kernels run it, with the pipeline fill (:func:`fill_bytes`) and never faster than
    its channels can copy (:func:`copy_bound_s`; ``in_place``: nccl-tests' in-place buffers), else as the
    library's tuner predicts it -- without a fill or a copy bound, as NCCL's ncclTopoGetAlgoTime does;
    ``direct``: see :func:`copy_bound_s`."""
    if comm.ranks <= 1:
        return 0.0
    t = transfer_s(lib, comm, op, algorithm, protocol, size_bytes, simple_transfer_s, executed)
    if t > 0 and executed:
        t += min(size_bytes, fill_bytes(lib, comm, algorithm, protocol, size_bytes)) * t / size_bytes
        t = max(t, copy_bound_s(lib, comm, op, algorithm, protocol, size_bytes, in_place, direct))
    return (latency_s(lib, comm, op, algorithm, protocol, size_bytes, extra_network_s, executed)
            + lib.launch_overhead_s + t)


def tuner_transfer_s(comm: Communicator, op: str, algorithm: str, size_bytes: float, computed_s: float) -> float:
    """The Simple transfer time the library's tuner *expects* (it does not see the fabric): for rings,
    trees and PAT, its graph bandwidth -- rings x the ring search's per-ring speed -- as bus bandwidth
    (trees: algorithm bandwidth = half of it, tuning.cc); for NVLS, NVLS tree and CollNet, whose graph
    bandwidths follow the switch hardware, the computed contention-free transfer ``computed_s``."""
    if algorithm not in ("ring", "tree", "pat") or comm.ranks <= 1:
        return computed_s
    bus = comm.rings * comm.ring_speed_bytes_per_s
    if algorithm == "tree":
        return size_bytes / (0.5 * bus)
    return size_bytes * _steps(op, comm.ranks) / comm.ranks / bus if op != "broadcast" else size_bytes / bus


def choose(lib, comm: Communicator, op: str, candidates: dict[str, float], size_bytes: float,
           extra_network_s: float = 0.0) -> Choice:
    """The tuner's pick among ``candidates`` (algorithm -> contention-free Simple transfer time of
    this call, seconds): the least predicted latency + transfer time over every protocol, the
    transfer as the tuner expects it (:func:`tuner_transfer_s`)."""
    best = None
    for algorithm, computed_s in candidates.items():
        simple_s = tuner_transfer_s(comm, op, algorithm, size_bytes, computed_s)
        for protocol in protocols_for(algorithm, comm, op, size_bytes, lib):
            t = call_time_s(lib, comm, op, algorithm, protocol, size_bytes, simple_s, extra_network_s)
            if best is None or t < best.predicted_s:
                best = Choice(algorithm, protocol, t)
    return best
