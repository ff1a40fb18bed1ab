"""Collective algorithms as phases of coflows (see :mod:`fabricsim.collectives.flowlevel`).

Sizes follow nccl-tests: ``size`` is the per-rank buffer (all-reduce, broadcast, all-to-all) or
the full output buffer (all-gather) / input buffer (reduce-scatter).  A size not divisible by
the rank count is padded up to a multiple of ``ranks x 4 bytes`` as nccl-tests does for float.
Pipelined algorithms (hierarchical, in-network) run their stages concurrently in chunks, as
NCCL's NVLS/CollNet/PXN pipelines do, so their coflows share one phase.
"""

from __future__ import annotations

import numpy as np

from fabricsim.collectives.flowlevel import Coflow, Phase
from fabricsim.collectives.placement import binary_tree_edges, ring_edges, ring_order
from fabricsim.errors import FabricsimError
from fabricsim.topology.fabric import Fabric

ALGORITHMS = {
    "all_reduce": ("ring", "tree", "hierarchical", "in_network"),
    "reduce_scatter": ("ring", "hierarchical"),
    "all_gather": ("ring", "hierarchical"),
    "broadcast": ("ring", "tree"),
    "all_to_all": ("direct", "hierarchical"),
    "send_recv": ("direct",),
}
ELEMENT_BYTES = 4
NVLS_EFFICIENCY = (1 + 1 / 8) * 275.0 / 370.0
"""Throughput of NVLink SHARP (NVSwitch multimem reduce + multicast) relative to the NVLink payload
rate, FITTED to one figure: S. Jeaugey, NVIDIA/nccl-tests issue #212: "On 8 GPUs, you should reach a
peak busBw of ~480GB/s (algbw ~275GB/s)" -- the S (1 + 1/8) bytes NVLS moves per GPU take as long as
S x 370/275 would at the NVLink payload rate."""


def padded_size(size_bytes: int, ranks: int) -> int:
    """Round a buffer up to a whole number of elements per rank (nccl-tests float counts)."""
    unit = ranks * ELEMENT_BYTES
    return int(-(-size_bytes // unit) * unit)


def check_op(op: str, algorithm: str) -> None:
    if op not in ALGORITHMS:
        raise FabricsimError(f"--op {op!r}: valid operations are {', '.join(ALGORITHMS)}")
    if algorithm not in ALGORITHMS[op]:
        raise FabricsimError(f"--algo {algorithm!r} for {op}: valid algorithms are {', '.join(ALGORITHMS[op])}")


def _rings(gpus, placement, per_server, channels, bytes_per_edge, steps, wrap=True) -> list[Coflow]:
    out = []
    for c in range(channels):
        order = ring_order(gpus, placement, per_server, channel=c)
        src, dst = ring_edges(order)
        if not wrap:
            src, dst = order[:-1], order[1:]
        out.append(Coflow(src, dst, bytes_per_edge / channels, steps, channel=c))
    return out


def _domains(fabric: Fabric, gpus: np.ndarray) -> tuple[np.ndarray, int]:
    """GPUs as a (domains x members) matrix: row = scale-up domain, column = local index (rail)."""
    domain = fabric.gpu_scale_up_domain[gpus]
    order = np.lexsort((gpus, domain))
    counts = np.bincount(np.unique(domain, return_inverse=True)[1])
    if counts.min() != counts.max():
        raise FabricsimError(
            "hierarchical algorithms need the same number of ranks in every scale-up domain; "
            f"these ranks fill domains with {counts.min()} to {counts.max()} GPUs (a partly filled domain, or "
            f"ranks scattered at random); use ring or tree, or whole scale-up domains"
        )
    return gpus[order].reshape(counts.size, counts[0]), int(counts[0])


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
    ppg = design.ports_per_gpu_per_plane
    k = shape.planes * ppg
    arcs, weights = [], []
    for plane in range(shape.planes):
        for port in range(ppg):
            endpoint = gpus * ppg + port
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
    weights.append(np.full(arcs.size, 1.0 / k))
    return arcs, np.concatenate(weights)


def build_phases(
    fabric: Fabric,
    op: str,
    algorithm: str,
    gpus: np.ndarray,
    size_bytes: int,
    placement: str,
    channels: int,
) -> list[Phase]:
    """Phases of coflows of one collective on GPUs ``gpus`` (rank order)."""
    check_op(op, algorithm)
    n = gpus.size
    per_server = fabric.design.scenario.cluster.gpus_per_server
    if n == 1:
        return []
    S = float(padded_size(size_bytes, n))
    if op == "send_recv":
        src, dst = gpus, np.roll(gpus, -1)
        return [Phase("send/recv", [Coflow(src, dst, S, 1, independent=True)])]
    if algorithm == "ring":
        factor = {"all_reduce": 2 * (n - 1) / n, "reduce_scatter": (n - 1) / n, "all_gather": (n - 1) / n,
                  "broadcast": 1.0}[op]
        steps = {"all_reduce": 2 * (n - 1), "broadcast": n - 1}.get(op, n - 1)
        return [Phase(f"{op} ring", _rings(gpus, placement, per_server, channels, factor * S, steps,
                                           wrap=op != "broadcast"))]
    if algorithm == "tree":
        return [Phase(f"{op} double binary tree", _trees(fabric, gpus, S, op, channels))]
    if op == "all_to_all":
        return _all_to_all(fabric, gpus, S, algorithm)
    matrix, m = _domains(fabric, gpus)
    d = matrix.shape[0]
    coflows: list[Coflow] = []
    nvls = algorithm == "in_network" and fabric.design.scale_up.in_network_reduction
    if nvls and m > 1:
        # NVLink SHARP: each GPU writes its buffer into the switch once (reduce-scatter) and reads the
        # result once (multicast all-gather): S (1 + 1/m) each way on its scale-up port.
        base = fabric.n_links * 2
        for row in matrix:
            arcs = np.concatenate([base + 2 * row, base + 2 * row + 1])
            empty = np.zeros(0, dtype=np.int64)
            coflows.append(Coflow(empty, empty, S * (1 + 1 / m) / NVLS_EFFICIENCY, 2, channel=98, extra_arcs=arcs))
    elif op in ("all_reduce", "reduce_scatter", "all_gather") and m > 1:
        intra = (m - 1) / m * S * (2 if op == "all_reduce" else 1)
        for row in matrix:
            src, dst = ring_edges(row)
            coflows.append(Coflow(src, dst, intra, (m - 1) * (2 if op == "all_reduce" else 1), channel=99))
    if d > 1:
        for j in range(m):
            rail = matrix[:, j]
            if algorithm == "in_network":
                arcs, weights = _sharp_arcs(fabric, rail, tree=_tree_id(fabric, int(rail[0])))
                empty = np.zeros(0, dtype=np.int64)
                coflows.append(Coflow(empty, empty, S / m, 2, channel=j, extra_arcs=arcs, extra_weights=weights))
            else:
                factor = 2 * (d - 1) / d if op == "all_reduce" else (d - 1) / d
                src, dst = ring_edges(rail)
                per = factor * S / m
                steps = 2 * (d - 1) if op == "all_reduce" else d - 1
                coflows.append(Coflow(src, dst, per, steps, channel=j))
    return [Phase(f"{op} {algorithm} (scale-up + scale-out, pipelined)", coflows)]


def _all_to_all(fabric: Fabric, gpus: np.ndarray, S: float, algorithm: str) -> list[Phase]:
    """Each rank sends S/n to every other rank; flows finish independently (one coflow per flow)."""
    n = gpus.size
    if algorithm == "direct":
        src = np.repeat(gpus, n - 1)
        dst = np.concatenate([np.delete(gpus, i) for i in range(n)])
        return [Phase("all_to_all direct", [Coflow(src, dst, S / n, 1, channel=1, independent=True)])]
    matrix, m = _domains(fabric, gpus)
    d = matrix.shape[0]
    # stage 1 (scale-up): GPU (a, i) hands GPU (a, k) everything bound for column k of other domains,
    # plus its own domain's share; stage 2 (scale-out, per rail k): (a, k) -> (b, k) for b != a.
    src1 = np.repeat(matrix, m, axis=1).ravel()
    dst1 = np.tile(matrix, (1, m)).ravel()
    keep = src1 != dst1
    src2 = np.repeat(matrix.T.ravel(), d - 1)
    dst2 = np.concatenate([np.delete(matrix[:, k], a) for k in range(m) for a in range(d)])
    return [Phase("all_to_all hierarchical (scale-up forward + rail exchange, pipelined)", [
        Coflow(src1[keep], dst1[keep], S / n * d, 1, channel=1, independent=True),
        Coflow(src2, dst2, S / n * m, 1, channel=2, independent=True),
    ])]


def _trees(fabric: Fabric, gpus: np.ndarray, S: float, op: str, channels: int) -> list[Coflow]:
    """NCCL-style trees: per channel, a chain through each server's GPUs (scale-up) and a double
    binary tree across servers whose node in each server is the channel's GPU (so channels use
    different NICs).  All-reduce: reduce up, broadcast down, both directions pipelined."""
    per_server = fabric.design.scenario.cluster.gpus_per_server
    server = gpus // per_server
    servers = np.unique(server)
    both = op == "all_reduce"
    coflows = []
    for c in range(channels):
        chain_src, chain_dst, heads = [], [], []
        for s_id in servers:
            members = gpus[server == s_id]
            members = np.roll(members, -(c % members.size))
            heads.append(members[0])
            chain_src.append(members[:-1])
            chain_dst.append(members[1:])
        heads = np.asarray(heads)
        depth = int(np.ceil(np.log2(heads.size + 1))) + max(len(x) for x in chain_src)
        for t, mirror in enumerate((False, True)):
            src = [np.concatenate(chain_src)]
            dst = [np.concatenate(chain_dst)]
            if heads.size > 1:
                parent, child = binary_tree_edges(heads, mirror)
                src.append(parent)
                dst.append(child)
            src, dst = np.concatenate(src), np.concatenate(dst)
            if both:
                src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
            coflows.append(Coflow(src, dst, S / (2 * channels), (2 if both else 1) * depth, channel=2 * c + t))
    return coflows
