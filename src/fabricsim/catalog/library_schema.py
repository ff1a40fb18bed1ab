"""Schema of collective-communication library entries (section ``collective_libraries``).

A library entry holds the constants of the library's own cost model: what it charges per call and
per step for each algorithm and protocol, how much of a channel's bandwidth each protocol delivers,
and the per-channel ceilings it assumes for each GPU architecture.  For NCCL these are the tables
of ``src/graph/tuning.cc`` (latencies in microseconds and bandwidths in GB/s there; seconds and
bytes/s here).  They are *inputs* (NVIDIA's calibration of its own library), not fitted by fabricsim.

Keys: algorithms ``tree``, ``ring``, ``collnet_direct``, ``collnet_chain``, ``nvls``, ``nvls_tree``,
``pat``; protocols ``ll``, ``ll128``, ``simple``; hardware ``nvlink``, ``pci``, ``net``;
architectures ``volta``, ``ampere``, ``hopper``, ``blackwell``.  Tables indexed by node count hold
three values: 1 node, 2 nodes, more than 2 nodes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from fabricsim.catalog.schema import Entry

LIBRARY_ALGORITHMS = ("tree", "ring", "collnet_direct", "collnet_chain", "nvls", "nvls_tree", "pat")
PROTOCOLS = ("ll", "ll128", "simple")
HARDWARE = ("nvlink", "pci", "net")
ARCHITECTURES = ("volta", "ampere", "hopper", "blackwell")

Table = dict[str, dict[str, float]]

CEILING_TABLES = ("ll_max_bytes_per_s", "per_channel_ring_ll128_bytes_per_s", "per_channel_tree_ll128_bytes_per_s",
                  "per_channel_tree_bytes_per_s", "per_channel_nvls_tree_bytes_per_s")
"""Bandwidth-ceiling tables by architecture [1, 2, >2 nodes] (tuning.cc llMaxBws and perChMax*Bws)."""

TUNED_OPERATIONS = ("all_reduce", "reduce_scatter", "all_gather", "broadcast")
"""Collectives whose algorithm the library's tuner chooses (point-to-point calls have no tuner)."""

NCCL_2_30_ALGORITHMS = {
    "all_reduce": ["tree", "ring", "collnet_direct", "collnet_chain", "nvls", "nvls_tree"],
    "reduce_scatter": ["ring", "pat", "nvls", "collnet_direct"],
    "all_gather": ["ring", "pat", "nvls", "collnet_direct"],
    "broadcast": ["ring"],
}
"""The algorithms NCCL v2.30.7's tuner times per collective (tuning.cc ncclTopoTuneModel)."""


class CollectiveLibrary(Entry):
    """Cost-model constants of a collective library (NCCL and the like)."""

    version: str = Field(description="library version the constants were read from")
    base_latency_s: Table = Field(description="per-call latency by algorithm and protocol")
    hardware_latency_s: dict[str, Table] = Field(
        description="per-step latency by hardware (nvlink, pci, net), algorithm and protocol"
    )
    net_overhead_s: float = Field(ge=0, description="proxy cost of posting one network operation")
    net_overhead_simple_factor: float = Field(ge=1, description="Simple protocol multiplies the net overhead")
    ring_plateau_latency_factor: dict[str, float] = Field(
        description="multi-node Simple ring all-reduce latency factor once every rank's chunk is >= 64 B, by architecture"
    )
    collnet_arity_latency_s: float = Field(ge=0, description="CollNet Direct serialization per local rank")
    pat_latency_per_rank_s: float = Field(ge=0, description="PAT's remaining linear latency term per rank")
    pat_log_latency_divisor: float = Field(gt=0, description="PAT divides the network latency by this per log step")
    ll_bandwidth_fraction: float = Field(gt=0, le=1, description="LL carries 4 data bytes per 8-byte line")
    ring_ll_bandwidth_fraction: float = Field(0.5, gt=0, le=1, description=(
        "ring LL share of the ring graph's bus bandwidth (tuning.cc; NCCL 2.18-2.20: 1/4, from 2.21: 1/2)"))
    ring_ll_single_node_bandwidth_fraction: float = Field(0.5, gt=0, le=1, description=(
        "ring LL share for broadcast, reduce-scatter and all-gather inside one node (NCCL 2.18-2.20: 1/3; "
        "all-reduce and multi-node calls take ring_ll_bandwidth_fraction)"))
    ring_ll128_single_rank_per_node_fraction: float = Field(0.92, gt=0, le=1, description=(
        "ring LL128 share when there is less than 2 ranks per node (NCCL 2.18-2.22: 0.7; from 2.23 as "
        "ll128_bandwidth_fraction)"))
    ring_all_reduce_inter_steps: Literal["2 (nodes - 1)", "2 nodes"] = Field("2 (nodes - 1)", description=(
        "network steps the tuner charges a ring all-reduce across several nodes (NCCL 2.18-2.22: 2 nodes)"))
    nvls_tree_network_steps: Literal["2 log2(nodes)", "2 (nodes - 1)"] = Field("2 log2(nodes)", description=(
        "network steps the tuner charges an NVLS-tree all-reduce (NCCL 2.18: 2 (nodes - 1))"))
    tree_network_latency_at_one_rank_per_node: bool = Field(True, description=(
        "with one rank per node every algorithm's network step costs the tree's network latency (from NCCL "
        "2.23; before, each algorithm's own)"))
    ll128_nics_on_cpu: bool = Field(True, description=(
        "LL128 runs across nodes whose NICs the GPUs reach through the CPU (Grace C2C, paths.cc PATH_P2C: "
        "from NCCL 2.27; before, the GPU-NIC path is PHB and tuning.cc disables LL128)"))
    ll128_architectures: list[str] = Field(default_factory=lambda: list(ARCHITECTURES), description=(
        "architectures the release enables LL128 on by default (NCCL before 2.25: not Blackwell)"))
    tuner_ceilings: dict[str, dict[str, list[float]]] = Field(default_factory=dict, description=(
        "ceiling rows this release's tuner predicts with where it had no measurement of its own (a table "
        "added later, or one architecture's row copied from another's): they steer the tuner's choice, and "
        "the kernels run at the entry's own table (CEILING_TABLES), the first measured values"))
    tuner_algorithms: dict[str, list[str]] = Field(
        default_factory=lambda: {op: list(a) for op, a in NCCL_2_30_ALGORITHMS.items()}, description=(
            "library algorithms the tuner times, per collective (all_reduce, reduce_scatter, all_gather, "
            "broadcast); others are never chosen and cannot be forced"))
    ll128_bandwidth_fraction: float = Field(gt=0, le=1, description="LL128 ring: data share of a 128-byte line")
    executed_ring_ll128_fraction: dict[str, float] = Field(default_factory=dict, description=(
        "share of the Simple channel bandwidth a ring LL128 call reaches as the kernels run it, by architecture "
        "(FITTED where present; the tuner keeps ll128_bandwidth_fraction); absent: the tuner's share"))
    per_channel_simple_copy_bytes_per_s: dict[str, float] = Field(default_factory=dict, description=(
        "bytes one Simple-protocol ring channel (one CTA) loads plus stores per second as the kernels run, by "
        "architecture (FITTED where present; bounds executed Simple rings, see collectives/ring_copy.py; the "
        "tuner does not see it); absent: no such ceiling"))
    per_channel_p2p_copy_bytes_per_s: dict[str, float] = Field(default_factory=dict, description=(
        "bytes one point-to-point channel (one CTA of the send/recv kernel) loads plus stores per second as the "
        "kernels run, by architecture (FITTED where present; bounds executed all-to-all and send/recv, see "
        "collectives/p2p_copy.py); absent: no such ceiling"))
    p2p_chunk_bytes: dict[str, int] = Field(
        default_factory=lambda: {"nvlink": 524288, "pci": 131072, "net": 131072}, description=(
            "point-to-point chunk (NCCL_P2P_NVL_CHUNKSIZE, NCCL_P2P_PCI_CHUNKSIZE, NCCL_P2P_NET_CHUNKSIZE): "
            "nvlink on an all-NVLink node, pci on other nodes, net across nodes"))
    ll128_tree_single_node_fraction: float = Field(gt=0, le=1)
    tree_bandwidth_fraction: float = Field(gt=0, le=1, description="tree all-reduce share of the channel bandwidth")
    tree_ll_fraction: float = Field(gt=0, le=1, description="tree with LL: share of the tree bandwidth")
    collnet_direct_fraction: float = Field(1.0, gt=0, le=1, description=(
        "CollNet Direct share of its graph bandwidth on compute capability >= 9.0"))
    tree_pattern_fraction: float = Field(1.0, gt=0, le=1, description=(
        "tree bandwidth share when the search falls back from the balanced tree to the simple TREE pattern "
        "(several nodes, GPUs newer than Ampere, one NIC per GPU)"))
    pat_bandwidth_fraction: float = Field(gt=0, le=1, description="PAT share of the ring bandwidth")
    ll_max_bytes_per_s: dict[str, list[float]] = Field(
        description="LL bus-bandwidth ceiling by architecture (single node) [1, 2, >2 nodes]"
    )
    ll_max_multi_node_bytes_per_s: list[float] = Field(
        description="LL ceiling for multi-node communicators on x86 Intel hosts [1, 2, >2 nodes]"
    )
    per_channel_ring_ll128_bytes_per_s: dict[str, list[float]]
    per_channel_tree_ll128_bytes_per_s: dict[str, list[float]]
    per_channel_tree_bytes_per_s: dict[str, list[float]]
    per_channel_nvls_tree_bytes_per_s: dict[str, list[float]]
    nvls_efficiency: dict[str, float] = Field(description="NVLS bandwidth share by architecture (0: no NVLS)")
    tree_correction: dict[str, list[float]] = Field(
        description="tree all-reduce bandwidth correction by protocol for sizes 64 B x 2^i, i = 0..23"
    )
    max_threads: dict[str, int] = Field(description="threads per channel by protocol")
    thread_threshold_bytes: dict[str, int] = Field(
        description="bytes per thread below which a channel is dropped, by protocol (ring LL: x ranks)"
    )
    max_ring_channels: int = Field(gt=0, description="most ring channels the topology search builds")
    nvls_channels: dict[str, list[int]] = Field(
        description="NVLS execution channels (CTAs) by architecture [1, 2, >2 nodes]"
    )
    max_nvls_arity: int = Field(
        32, gt=0, description="most NVLS heads (GPUs of a node) the NVLS graph search keeps (NCCL_MAX_NVLS_ARITY)"
    )
    ring_speeds_bytes_per_s: dict[str, dict[str, list[float]]] = Field(
        description="per-channel speeds the ring search tries, by architecture, for intra- and inter-node graphs"
    )
    nvlink_link_bytes_per_s: dict[str, float] = Field(
        description="the library's bandwidth of one NVLink, by architecture"
    )
    p2p_ll_threshold_bytes: int = Field(ge=0, description="point-to-point messages up to this size use LL")
    buffer_bytes: dict[str, int] = Field(description="payload bytes of one connection buffer by protocol")
    steps: int = Field(gt=0, description="slots of a connection buffer (NCCL_STEPS)")
    chunk_steps: int = Field(gt=0, description="slots one chunk occupies (ALLREDUCE_CHUNKSTEPS)")
    nvls_chunk_bytes: int = Field(gt=0, description="NVLS chunk (NCCL_NVLS_CHUNKSIZE)")
    launch_overhead_s: float = Field(
        ge=0, description="host enqueue + kernel launch of one call, paid once per call beside the tuner's latency"
    )
    host_call_s: float = Field(
        0.0, ge=0, description=(
            "CPU seconds one host thread spends issuing one call on one GPU (the library's enqueue and the kernel "
            "launch): a thread that drives several GPUs issues their calls in turn (fabricsim.collectives.timing."
            "host_issue_s)"))
    extends: str | None = Field(None, description=(
        "entry this one was derived from (its fields, with the ones listed here changed; catalog.inherit)"))

    @model_validator(mode="after")
    def _keys(self) -> "CollectiveLibrary":
        for algorithm, row in self.base_latency_s.items():
            _check_keys(f"base_latency_s.{algorithm}", row, PROTOCOLS)
        _check_keys("base_latency_s", self.base_latency_s, LIBRARY_ALGORITHMS)
        _check_keys("hardware_latency_s", self.hardware_latency_s, HARDWARE)
        for hardware, table in self.hardware_latency_s.items():
            _check_keys(f"hardware_latency_s.{hardware}", table, LIBRARY_ALGORITHMS)
        for name in CEILING_TABLES:
            table = getattr(self, name)
            _check_keys(name, table, ARCHITECTURES)
            if any(len(v) != 3 for v in table.values()):
                raise ValueError(f"{name}: every architecture needs 3 values (1, 2, >2 nodes)")
        _check_keys("tuner_ceilings", self.tuner_ceilings, CEILING_TABLES)
        for name, table in self.tuner_ceilings.items():
            _check_keys(f"tuner_ceilings.{name}", table, ARCHITECTURES)
            if any(len(v) != 3 for v in table.values()):
                raise ValueError(f"tuner_ceilings.{name}: every architecture needs 3 values (1, 2, >2 nodes)")
        _check_keys("ll128_architectures", dict.fromkeys(self.ll128_architectures), ARCHITECTURES)
        _check_keys("per_channel_simple_copy_bytes_per_s", self.per_channel_simple_copy_bytes_per_s, ARCHITECTURES)
        if any(v <= 0 for v in self.per_channel_simple_copy_bytes_per_s.values()):
            raise ValueError("per_channel_simple_copy_bytes_per_s: rates must be > 0 bytes/s")
        _check_keys("per_channel_p2p_copy_bytes_per_s", self.per_channel_p2p_copy_bytes_per_s, ARCHITECTURES)
        if any(v <= 0 for v in self.per_channel_p2p_copy_bytes_per_s.values()):
            raise ValueError("per_channel_p2p_copy_bytes_per_s: rates must be > 0 bytes/s")
        _check_keys("p2p_chunk_bytes", self.p2p_chunk_bytes, ("nvlink", "pci", "net"))
        if set(self.p2p_chunk_bytes) != {"nvlink", "pci", "net"} or min(self.p2p_chunk_bytes.values()) < 64:
            raise ValueError("p2p_chunk_bytes: give nvlink, pci and net chunks of at least 64 bytes")
        _check_keys("tuner_algorithms", self.tuner_algorithms, TUNED_OPERATIONS)
        for op, algorithms in self.tuner_algorithms.items():
            _check_keys(f"tuner_algorithms.{op}", dict.fromkeys(algorithms), LIBRARY_ALGORITHMS)
        return self


def _check_keys(where: str, mapping: dict, valid: tuple[str, ...]) -> None:
    unknown = set(mapping) - set(valid)
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; valid: {', '.join(valid)}")
