"""Collective algorithms as phases of coflows (see :mod:`fabricsim.collectives.flowlevel`).

Sizes follow nccl-tests: ``size`` is the per-rank buffer (all-reduce, broadcast, all-to-all) or
the full output buffer (all-gather) / input buffer (reduce-scatter).  A size not divisible by
the rank count is padded up to a multiple of ``ranks x 4 bytes`` as nccl-tests does for float.

NCCL's algorithms (``ring``, ``tree``, ``nvls``, ``nvls_tree``, ``in_network`` = CollNet/SHARP,
``pat``) are built as NCCL builds them (:mod:`fabricsim.collectives.nccl_patterns`); pipelined
algorithms run their stages concurrently in one phase.  ``hierarchical`` (ring inside each node,
ring per rail across nodes) is not an NCCL algorithm: fabricsim offers it for study, and ``auto``
(the library's tuner) never picks it.  Only transfer is modelled here; latencies and protocols come
from :mod:`fabricsim.collectives.nccl_model`.
"""

from __future__ import annotations

import numpy as np

from fabricsim.collectives.communicator import Communicator, node_of
from fabricsim.collectives.flowlevel import Coflow, Phase
from fabricsim.collectives.nccl_patterns import node_matrix, ring_coflows, tree_coflows
from fabricsim.errors import FabricsimError
from fabricsim.netsim.patterns import all_pairs
from fabricsim.topology.fabric import Fabric

ALGORITHMS = {
    "all_reduce": ("ring", "tree", "nvls", "nvls_tree", "in_network", "hierarchical"),
    "reduce_scatter": ("ring", "pat", "nvls", "hierarchical"),
    "all_gather": ("ring", "pat", "nvls", "hierarchical"),
    "broadcast": ("ring",),
    "all_to_all": ("direct", "hierarchical"),
    "send_recv": ("direct",),
}
NOT_IN_LIBRARY = ("hierarchical",)
"""fabricsim's own algorithms: available by name, never chosen by the library's tuner."""
ELEMENT_BYTES = 4
RING_CONNECTIONS = 2
"""Connections per ring edge: NCCL's connect.cc duplicates every ring found by the search (channels =
2 x rings), so each ring edge carries two channels, each its own connection (hashed on its own by ECMP).
A tree channel is one connection per edge."""


def padded_size(size_bytes: int, ranks: int) -> int:
    """Round a buffer up to a whole number of elements per rank (nccl-tests float counts)."""
    unit = ranks * ELEMENT_BYTES
    return int(-(-size_bytes // unit) * unit)


RANK_SPLIT_OPS = ("reduce_scatter", "all_gather", "all_to_all")
"""Operations whose buffer nccl-tests splits into one block per rank."""


def nccl_tests_bytes(op: str, size_bytes: int, ranks: int) -> int:
    """The bytes nccl-tests reports for a requested size (its ``size`` column, from which it computes algbw and
    busbw), float elements: all-reduce, broadcast and send/recv take the whole elements of the request;
    reduce-scatter, all-gather and all-to-all give every rank the same whole number of elements, a multiple of
    16 bytes, rounded down (NVIDIA/nccl-tests src/*.cu ``*GetCollByteCount``: ``base = (count / nranks) &
    ~(16 / eltSize - 1)``), so a request under 16 bytes per rank reports 0."""
    count = size_bytes // ELEMENT_BYTES
    if op in RANK_SPLIT_OPS:
        per_rank = (count // ranks) & ~(16 // ELEMENT_BYTES - 1)
        return int(per_rank * ranks * ELEMENT_BYTES)
    return int(count * ELEMENT_BYTES)


def check_op(op: str, algorithm: str) -> None:
    if op not in ALGORITHMS:
        raise FabricsimError(f"--op {op!r}: valid operations are {', '.join(ALGORITHMS)}")
    if algorithm not in ALGORITHMS[op]:
        raise FabricsimError(f"--algo {algorithm!r} for {op}: valid algorithms are {', '.join(ALGORITHMS[op])}")


def applicable(op: str, algorithm: str, comm: Communicator) -> str | None:
    """Why ``algorithm`` cannot run ``op`` on this communicator (None: it can)."""
    if algorithm in ("nvls", "nvls_tree") and not comm.nvls:
        return ("needs NVLink SHARP: a scale-up switch that reduces, fabric.in_network_reduction nvls, more than 2 GPUs "
                "per node (NCCL nvls.cc: none at 2)")
    if algorithm == "nvls" and comm.nodes > 1 and op != "all_reduce":
        return "NVLS reduce-scatter/all-gather stays inside one node"
    if algorithm == "nvls" and comm.nodes > 1:
        return "NVLS across nodes needs switch reduction (SHARP): use in_network"
    if algorithm == "nvls_tree" and comm.nodes == 1:
        return "NVLS tree joins several nodes"
    if algorithm == "in_network" and not comm.sharp:
        return ("needs switch reduction (SHARP): a switch that reduces, fabric.in_network_reduction sharp or "
                "nvls+sharp, and more than one node")
    if algorithm == "pat" and comm.ranks_per_node != 1:
        return "PAT runs with one GPU per node"
    if algorithm in ("hierarchical", "nvls_tree", "in_network") and comm.ranks_per_node != comm.max_ranks_per_node:
        return "fabricsim builds it only with the same number of ranks on every node"
    return None


def _nvls_coflows(fabric: Fabric, matrix: np.ndarray, size: float, op: str, efficiency: float) -> list[Coflow]:
    """NVLink SHARP inside each node (row of ``matrix``): all-reduce reads the reduced result of its
    1/m share through the switch (S out) and multicasts it (S/m out), S (1 + 1/m) each way; reduce-
    scatter S out, S/m in; all-gather S/m out, S in -- at the switch's reduction efficiency."""
    m = matrix.shape[1]
    out_w, in_w = {"all_reduce": (1 + 1 / m, 1 + 1 / m), "reduce_scatter": (1.0, 1 / m),
                   "all_gather": (1 / m, 1.0)}[op]
    base = fabric.n_links * 2
    empty = np.zeros(0, dtype=np.int64)
    out = []
    for row in matrix:
        arcs = np.concatenate([base + 2 * row, base + 2 * row + 1])
        weights = np.concatenate([np.full(m, out_w), np.full(m, in_w)])
        out.append(Coflow(empty, empty, size / efficiency, channel=98, extra_arcs=arcs, extra_weights=weights))
    return out


def build_phases(fabric: Fabric, op: str, algorithm: str, gpus: np.ndarray, size_bytes: int,
                 comm: Communicator, cross_rail: bool = False) -> list[Phase]:
    """Phases of coflows of one collective on GPUs ``gpus`` (rank order)."""
    check_op(op, algorithm)
    reason = applicable(op, algorithm, comm)
    if reason:
        raise FabricsimError(f"{algorithm} {op}: {reason}")
    gpus = np.asarray(gpus, dtype=np.int64)
    n = gpus.size
    if n == 1:
        return []
    S = float(padded_size(size_bytes, n))
    node = node_of(fabric.design, gpus)
    if op == "send_recv":
        return [Phase("send/recv", [Coflow(gpus, np.roll(gpus, -1), S, independent=True)])]
    if op == "all_to_all":
        return _all_to_all(fabric, gpus, node, S, algorithm)
    if algorithm in ("ring", "pat"):
        factor = {"all_reduce": 2 * (n - 1) / n, "reduce_scatter": (n - 1) / n, "all_gather": (n - 1) / n,
                  "broadcast": 1.0}[op]
        coflows = ring_coflows(gpus, node, comm.rings, RING_CONNECTIONS, factor * S / comm.rings,
                               cross_rail=cross_rail, wrap=op != "broadcast", gpus_per_nic=comm.gpus_per_nic)
        return [Phase(f"{op} {algorithm}", coflows)]
    if algorithm == "tree":
        coflows = tree_coflows(gpus, node, comm.rings, 1, S, gpus_per_nic=comm.gpus_per_nic)
        return [Phase(f"{op} tree (NCCL double binary tree)", coflows)]
    matrix = node_matrix(gpus, node)
    d, m = matrix.shape
    efficiency = fabric.design.scale_up.in_switch_reduction_efficiency or 1.0
    if algorithm == "nvls":
        return [Phase(f"{op} NVLS (NVLink SHARP)", _nvls_coflows(fabric, matrix, S, op, efficiency))]
    if algorithm == "nvls_tree":
        coflows = _nvls_coflows(fabric, matrix, S, op, efficiency)
        inter = tree_coflows(matrix.ravel(), np.repeat(np.arange(d), m), m, 1, S, chain=False)
        return [Phase("all_reduce NVLS tree (NVLS in each node, trees across nodes)", coflows + inter)]
    if algorithm == "in_network":
        return [Phase("all_reduce in-network (switch reduction across nodes, pipelined)",
                      _in_network(fabric, matrix, S, comm, efficiency))]
    return [Phase(f"{op} hierarchical (scale-up + scale-out, pipelined)", _hierarchical(matrix, S, op))]


def _hierarchical(matrix: np.ndarray, S: float, op: str) -> list[Coflow]:
    d, m = matrix.shape
    two = 2 if op == "all_reduce" else 1
    coflows = []
    if m > 1:
        for row in matrix:
            coflows.append(Coflow(row, np.roll(row, -1), two * (m - 1) / m * S, channel=99))
    if d > 1:
        for j in range(m):
            rail = matrix[:, j]
            coflows.append(Coflow(rail, np.roll(rail, -1), two * (d - 1) / d * S / m, channel=j))
    return coflows


def _tree_id(fabric: Fabric, first_gpu: int) -> int:
    """Aggregation tree of a communicator, from its first member: its server's slot on the leaf picks
    the leaf uplink (spine) and its rail the spine uplink, so concurrent communicators that share a
    leaf or a spine use different links, as a topology-aware aggregation manager assigns them."""
    per_server = fabric.design.scenario.cluster.gpus_per_server
    shape = fabric.design.shape
    slot = (first_gpu // per_server) % max(1, shape.leaf_down)
    return slot + max(1, shape.leaf_up) * (first_gpu % per_server)


def _sharp_arcs(fabric: Fabric, gpus: np.ndarray, tree: int) -> tuple[np.ndarray, np.ndarray]:
    """Arcs (and weights) of an in-network reduction tree over ``gpus``: every NIC link up and
    down once, and one uplink per participating switch toward the root (each byte crosses each
    tree link once up, once down)."""
    design = fabric.design
    shape = design.shape
    ppg = design.ports_per_nic_per_plane
    k = shape.planes * ppg
    arcs = []
    for plane in range(shape.planes):
        for port in range(ppg):
            endpoint = design.endpoints_of(gpus, port)
            host = fabric.link_base[1] + plane * shape.endpoints + endpoint
            arcs += [2 * host, 2 * host + 1]
            leaves = np.unique(fabric.endpoint_leaf[endpoint]).astype(np.int64)
            if shape.tiers == 1 or leaves.size == 1:
                continue
            leaf_link = fabric.link_base[2] + (plane * shape.leaves + leaves) * shape.leaf_up + tree % shape.leaf_up
            arcs += [2 * leaf_link, 2 * leaf_link + 1]
            if shape.tiers == 3:
                pods = np.unique(leaves // shape.spine_down)
                if pods.size > 1:
                    spine = pods * shape.spines_per_pod + (tree % shape.leaf_up) // shape.bundle_leaf
                    up = fabric.link_base[3] + (plane * shape.spines + spine) * shape.spine_up \
                        + (tree // shape.leaf_up) % shape.spine_up
                    arcs += [2 * up, 2 * up + 1]
    arcs = np.concatenate(arcs)
    return arcs, np.full(arcs.size, 1.0 / k)


def _in_network(fabric: Fabric, matrix: np.ndarray, S: float, comm: Communicator, efficiency: float) -> list[Coflow]:
    """NVLS (or a ring) inside each node, then one switch-reduction tree per rail carrying S/m."""
    d, m = matrix.shape
    coflows: list[Coflow] = []
    if m > 1:
        if comm.nvls:
            coflows += _nvls_coflows(fabric, matrix, S, "all_reduce", efficiency)
        else:
            coflows += [Coflow(row, np.roll(row, -1), 2 * (m - 1) / m * S, channel=99) for row in matrix]
    empty = np.zeros(0, dtype=np.int64)
    for j in range(m):
        rail = matrix[:, j]
        arcs, weights = _sharp_arcs(fabric, rail, tree=_tree_id(fabric, int(rail[0])))
        coflows.append(Coflow(empty, empty, S / m, channel=j, extra_arcs=arcs, extra_weights=weights))
    return coflows


def _all_to_all(fabric: Fabric, gpus: np.ndarray, node: np.ndarray, S: float, algorithm: str) -> list[Phase]:
    """Each rank sends S/n to every other rank; flows finish independently (one row per flow)."""
    n = gpus.size
    if algorithm == "direct":
        src, dst = all_pairs(gpus)
        return [Phase("all_to_all direct", [Coflow(src, dst, S / n, channel=1, independent=True)])]
    matrix = node_matrix(gpus, node)
    d, m = matrix.shape
    # stage 1 (scale-up): GPU (a, i) hands GPU (a, k) everything bound for column k of other nodes,
    # plus its own node's share; stage 2 (scale-out, per rail k): (a, k) -> (b, k) for b != a.
    src1 = np.repeat(matrix, m, axis=1).ravel()
    dst1 = np.tile(matrix, (1, m)).ravel()
    keep = src1 != dst1
    src2, dst2 = all_pairs(matrix.T)
    return [Phase("all_to_all hierarchical (scale-up forward + rail exchange, pipelined)", [
        Coflow(src1[keep], dst1[keep], S / n * d, channel=1, independent=True),
        Coflow(src2, dst2, S / n * m, channel=2, independent=True),
    ])]
