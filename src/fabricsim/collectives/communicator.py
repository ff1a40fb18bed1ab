"""A group of ranks as the collective library sees it: nodes, ranks per node, NICs and channels.

NCCL's *node* is a set of GPUs that talk over NVLink: a server of an HGX system, or a whole
multi-node NVLink rack (GB200/GB300 NVL72, MNNVL), which NCCL treats as one node.  Here a node is
therefore one scale-up domain.  Every GPU brings its own NIC (all its ports and planes, which the
router splits its flows over); PXN lets a ring leave a node through the NIC of any GPU of the
communicator on that node.

Channels follow NCCL's ring search (src/graph/search.cc, ncclTopoCompute): it tries per-channel
speeds from a per-architecture list, fastest first, and keeps the graph with the most
``rings x speed``, where every ring needs one NIC for itself at that speed (a NIC hosts
``floor(NIC bandwidth / speed)`` rings) and, with several GPUs per node, crosses every GPU's NVLink
once (``rings x speed <= NVLink bandwidth``).  ``ncclTopoDupChannels`` may double the search graph
(:func:`graph_channels`): never below 25 GB/s per channel; above that always on Ampere and older, else
at 50 GB/s per channel or more or with at most 4 rings.  The tuner's per-channel ceilings multiply the
channels of that search graph; ``connect.cc`` then duplicates every search channel again into the
execution channels the kernels run on (``channels = 2 x graph channels``, init.cc sets
``comm->nChannels`` from the ring graph before ``ncclTopoPostset``): 8 A100 of one HGX node run 6
rings at 40 GB/s -> 12 search channels at 20 GB/s -> 24 execution channels (an HGX A100 NCCL log shows
``Channel 23/24``, NVIDIA/nccl-tests#100).
Bandwidths here are bytes/s, as the library writes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fabricsim.errors import FabricsimError

LIBRARY_ARCHITECTURE = {"volta": "volta", "ampere": "ampere", "hopper": "hopper", "blackwell": "blackwell",
                        "rubin": "blackwell", "other": "hopper"}
"""GPU architecture -> the library's constants row (NCCL indexes compute capability >= 10.0 as Blackwell;
non-NVIDIA accelerators take Hopper's row, an ASSUMPTION)."""

HOPPER_OR_NEWER = ("hopper", "blackwell")
"""Library rows of compute capability >= 9.0, where NCCL's search and tuner change several rules."""


@dataclass(frozen=True)
class Communicator:
    """The shape of one communicator (all rows of a concurrent call have the same shape)."""

    ranks: int
    nodes: int  # scale-up domains spanned (NCCL nodes)
    ranks_per_node: int  # fewest ranks any node holds
    max_ranks_per_node: int
    rings: int  # distinct rings of the ring search (one NIC each)
    graph_channels: int  # channels of the search graph the tuner reads (rings after search.cc's DupChannels)
    channels: int  # ring and tree channels after duplication
    nvls_channels: int  # NVLS execution channels (CTAs the NVLS kernels run on)
    nvls_heads: int  # channels of the NVLS search graph: one per head GPU of a node (the tuner's NVLS channels)
    architecture: str  # row of the library's per-architecture tables
    intra: str  # "nvlink" or "pci": what joins GPUs of a node
    tier: int  # highest fabric tier crossed between nodes (0: one node)
    nic_bytes_per_s: float  # scale-out bandwidth of one NIC (a GPU's own, or one gpus_per_nic GPUs share)
    nvlink_bytes_per_s: float  # scale-up payload bandwidth per GPU, as the library sees it
    ring_speed_bytes_per_s: float  # per-ring bandwidth the ring search settled on (the tuner's graph bandwidth)
    nvls: bool  # NVLink SHARP usable
    sharp: bool  # switch (CollNet/SHARP) reduction usable
    simple_tree: bool  # the tree search settles on the simple TREE pattern (see :func:`simple_tree`)
    net_latency_s: float = 0.0  # latency the network plugin reports for the NICs (NCCL's graph latencyInter)
    protocols: tuple[str, ...] = ("ll", "ll128", "simple")  # protocols the network plugin leaves enabled
    needs_flush: bool = True  # receivers flush GDR writes before use (NCCL ncclTopoNeedFlush, see nccl_model)
    gpus_per_nic: int = 1  # GPUs that share one NIC (cluster.gpus_per_nic)

    @property
    def node_band(self) -> int:
        """Index into the library's node-count tables (see :func:`node_band`)."""
        return node_band(self.nodes)


def node_band(nodes: int) -> int:
    """Index into the library's node-count tables: 0 one node, 1 two nodes, 2 more."""
    return 0 if nodes == 1 else 1 if nodes == 2 else 2


def node_of(design, gpus: np.ndarray) -> np.ndarray:
    """Node (scale-up domain) of every GPU."""
    return np.asarray(gpus, dtype=np.int64) // design.scale_up.gpus


def highest_tier(design, gpus: np.ndarray) -> int:
    """Highest scale-out tier a ring or tree hop between the nodes of ``gpus`` must climb
    (0: all in one node; 1: leaf; 2: spine; 3: core), for rail-aligned hops."""
    gpus = np.asarray(gpus, dtype=np.int64)
    nodes = np.unique(gpus // design.scale_up.gpus)
    if nodes.size <= 1:
        return 0
    shape = design.shape
    per_server = design.scenario.cluster.gpus_per_server
    servers = np.unique(gpus // per_server)
    # a rail leaf serves leaf_down / ports-per-GPU servers; a pod's spine_down leaves serve
    # spine_down / rails groups of them (rail-optimized), else spine_down leaves of whole servers
    leaf_span = max(1, shape.leaf_down // max(1, design.ports_per_nic_per_plane))
    if not shape.rail_optimized:
        leaf_span = max(1, shape.leaf_down // max(1, round(per_server * design.endpoints_per_gpu)))
    rails = shape.rails if shape.rail_optimized else 1
    pod_servers = leaf_span * max(1, shape.spine_down // max(1, rails))
    if shape.tiers == 1 or (servers // leaf_span).min() == (servers // leaf_span).max():
        return 1
    if shape.tiers == 2 or (servers // pod_servers).min() == (servers // pod_servers).max():
        return 2
    return 3


def ring_search(speeds: list[float], nic_bytes_per_s: float, nics_per_node: int, nvlink_bytes_per_s: float,
                ranks_per_node: int, nodes: int, max_rings: int) -> tuple[int, float]:
    """(rings, bytes/s per ring) that NCCL's search would settle on: the most ``rings x speed``."""
    if nodes == 1:  # the fastest speed NVLink carries, as many rings as fit
        speed = next((s for s in speeds if s <= nvlink_bytes_per_s), speeds[-1])
        return max(1, min(max_rings, int(nvlink_bytes_per_s // speed))), speed
    limit = min(nic_bytes_per_s, nvlink_bytes_per_s) if ranks_per_node > 1 else nic_bytes_per_s
    best = (1, limit)
    found = False
    for speed in speeds:
        if speed > limit + 1e-6:
            continue
        rings = min(max_rings, nics_per_node * max(1, int(nic_bytes_per_s // speed)))
        if ranks_per_node > 1:
            rings = min(rings, int(nvlink_bytes_per_s // speed))
        if rings >= 1 and (not found or rings * speed > best[0] * best[1] + 1e-6):
            best, found = (rings, speed), True
    return best


def graph_channels(architecture: str, rings: int, speed_bytes_per_s: float, max_rings: int) -> int:
    """Channels of the ring/tree search graph after ``ncclTopoDupChannels`` (search.cc, v2.18.5 to
    v2.29.7): the graph is kept as found below 25 GB/s per channel (``bwIntra < 25.0``), and where the
    GPUs are newer than Ampere, the per-channel speed is below 50 GB/s and there are more than 4 rings;
    otherwise it is doubled (at half the per-channel speed) up to the graph's maximum.  The tuner's
    per-channel ceilings (tuning.cc: ``graphs[a]->nChannels x perChMax...Bw``) multiply this count, not
    the execution channels ``connect.cc`` doubles again."""
    if speed_bytes_per_s < 25e9:
        return rings
    if architecture in HOPPER_OR_NEWER and speed_bytes_per_s < 50e9 and rings > 4:
        return rings
    return min(2 * rings, max_rings)


def simple_tree(architecture: str, nodes: int, nics_on_cpu: bool) -> bool:
    """Whether NCCL's tree search ends with the simple TREE pattern rather than the balanced tree
    (search.cc ncclTopoCompute): on compute capability >= 9.0 it falls back to TREE before widening
    path types, which it must do across nodes when the second GPU of a tree has no NIC at the first
    GPU's distance -- one NIC per GPU behind its own PCIe switch.  Where NICs hang off the CPU
    (Grace over C2C) both GPUs of the CPU are equally near and the balanced tree is found."""
    return nodes > 1 and architecture in HOPPER_OR_NEWER and not nics_on_cpu


def describe(design, gpus: np.ndarray, library, in_network: tuple[bool, bool],
             rings: int | None = None, min_channels: int | None = None, plugin=None) -> Communicator:
    """The communicator over ``gpus`` (rank order) on ``design``; ``in_network`` = (NVLS on, SHARP on);
    ``rings`` overrides the ring search (``--channels``); ``min_channels`` raises the execution channels
    (NCCL_MIN_NCHANNELS / NCCL_MIN_CTAS: init.cc copies channels up to that count, up to MAXCHANNELS;
    the search graph the tuner reads is unchanged); ``plugin``: the NIC's network plugin (catalog
    net_plugins entry) or None."""
    gpus = np.asarray(gpus, dtype=np.int64)
    if gpus.size == 0:
        raise FabricsimError("a collective needs at least one rank")
    nodes, counts = np.unique(node_of(design, gpus), return_counts=True)
    arch = LIBRARY_ARCHITECTURE[design.gpu.architecture]
    intra = "nvlink" if design.scale_up.protocol in ("nvlink", "ualink") else "pci"
    nic = design.nic_bits_per_s / 8.0
    nvlink = design.gpu.scale_up_bits_per_s / 8.0 * design.scale_up.payload_efficiency
    m = int(counts.min())
    nics = max(1, m // design.gpus_per_nic)  # NICs the node's ranks reach: GPUs sharing a NIC share it
    speeds = library.ring_speeds_bytes_per_s[arch]["intra" if nodes.size == 1 else "inter"]
    found, speed = ring_search(speeds, nic, nics, nvlink, m, int(nodes.size), library.max_ring_channels)
    if rings is not None:
        if rings < 1:
            raise FabricsimError(f"--channels {rings}: need at least 1 channel")
        found = rings
    search_channels = graph_channels(arch, int(found), float(speed), library.max_ring_channels)
    channels = 2 * search_channels  # connect.cc doubles the search graph (itself at most max_ring_channels)
    if min_channels is not None:
        if min_channels < 1:
            raise FabricsimError(f"--min-channels {min_channels}: need at least 1 channel")
        channels = max(channels, min(min_channels, 2 * library.max_ring_channels))
    nvls_channels = library.nvls_channels[arch][node_band(int(nodes.size))]
    # a rank heads an NVLS channel through its NIC (search.cc): every rank where each GPU has its own
    nvls_heads = max(1, min(nics, library.max_nvls_arity))
    return Communicator(
        ranks=int(gpus.size), nodes=int(nodes.size), ranks_per_node=m, max_ranks_per_node=int(counts.max()),
        rings=int(found), channels=int(channels),
        graph_channels=search_channels,
        nvls_channels=int(nvls_channels), nvls_heads=int(nvls_heads),
        architecture=arch,
        ring_speed_bytes_per_s=float(speed),
        intra=intra, tier=highest_tier(design, gpus), nic_bytes_per_s=nic, nvlink_bytes_per_s=nvlink,
        # NCCL has no NVLS with 2 GPUs or fewer in a node (NVIDIA/nccl v2.26.6 src/transport/nvls.cc:157, gpuCount <= 2)
        nvls=bool(in_network[0] and design.scale_up.in_network_reduction and m > 2
                  and design.scale_up.in_switch_reduction_efficiency > 0),
        sharp=bool(in_network[1] and design.switch.in_network_reduction and nodes.size > 1),
        simple_tree=simple_tree(arch, int(nodes.size), design.gpu.nics_on_cpu),
        net_latency_s=plugin.reported_latency_s if plugin is not None else 0.0,
        protocols=enabled_protocols(library, plugin, int(nodes.size), design.gpu.nics_on_cpu, arch),
        needs_flush=needs_flush(arch, design.gpu.nics_on_cpu, plugin),
        gpus_per_nic=design.gpus_per_nic,
    )


def enabled_protocols(library, plugin, nodes: int, nics_on_cpu: bool, architecture: str) -> tuple[str, ...]:
    """Protocols the library runs: those the network plugin leaves enabled, less LL128 where the release
    does not enable it -- on an architecture it does not list (``CollectiveLibrary.ll128_architectures``:
    tuning.cc before 2.25 switches on compute capability 7.0, 8.0 and 9.0 only), or across nodes whose NICs
    hang off the CPU before NCCL 2.27 (``ll128_nics_on_cpu``: LL128 only up to PATH_PXN, and the
    GPU-C2C-CPU-PCIe-NIC path is PHB until paths.cc names it P2C)."""
    found = tuple(plugin.protocols) if plugin is not None else ("ll", "ll128", "simple")
    if architecture not in library.ll128_architectures or (
            nodes > 1 and nics_on_cpu and not library.ll128_nics_on_cpu):
        found = tuple(p for p in found if p != "ll128")
    return found


def needs_flush(architecture: str, nics_on_cpu: bool, plugin) -> bool:
    """Whether receivers flush GPU-direct writes (NVIDIA/nccl v2.27.7 src/graph/paths.cc ncclTopoNeedFlush:
    required on Ampere and earlier; on compute capability >= 9.0 only where NICs are reached over C2C, or
    when NCCL_NET_FORCE_FLUSH or the NIC asks for it -- the aws-ofi-nccl platforms set NCCL_NET_FORCE_FLUSH=0)."""
    forced = plugin is not None and plugin.nccl_env.get("NCCL_NET_FORCE_FLUSH", 0) > 0
    return architecture not in HOPPER_OR_NEWER or nics_on_cpu or forced


def log2_floor(n: int) -> int:
    """NCCL's log2i: floor(log2(n)) for n >= 1 (its tree depth in the cost model)."""
    return int(math.floor(math.log2(n))) if n >= 1 else 0
