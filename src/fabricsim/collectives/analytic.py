"""Analytic transfer times of every collective algorithm, for scales too big to simulate flow by flow.

The Simple-protocol transfer time of a call is the load of its busiest port divided by that port's
payload rate, for the same rings, trees and stages the flow-level model builds
(:mod:`fabricsim.collectives.algorithms`): every ring crosses every GPU's NVLink once and one NIC
per node (PXN), a tree channel loads a node's NIC by its degree in NCCL's two trees, NVLS moves
S (1 + 1/m) through each GPU's scale-up port at the switch's reduction efficiency, switch reduction
(SHARP) moves S/m through each NIC once each way.  It needs only the :class:`FabricDesign` (counts),
never the link arrays, so it answers for a million GPUs.  Latency and protocol come from
:mod:`fabricsim.collectives.nccl_model`, as for the flow-level model.

What it does *not* model: ECMP hash collisions and any other uneven use of the fabric's upper
tiers (it assumes load-balanced uplinks) -- the flow-level simulator is the reference for those.
Oversubscription is modelled: traffic that must leave a leaf (spine) shares its uplinks, so its
rate is divided by the leaf (spine) ratio.  Where nothing contends, flow-level and analytic agree
(tests pin this).  Seconds, bytes, bytes/s.
"""

from __future__ import annotations

import numpy as np

from fabricsim.collectives.algorithms import check_op, padded_size
from fabricsim.collectives.communicator import Communicator
from fabricsim.collectives.nccl_patterns import entry_positions
from fabricsim.collectives.trees import degrees, dtree_parents
from fabricsim.netsim.transport import get_transport


def payload_rates(design, tier: int) -> tuple[float, float]:
    """(NIC payload bytes/s per GPU for traffic climbing to ``tier``, NVLink payload bytes/s per GPU)."""
    transport = get_transport(design.scenario.fabric.transport)
    nic = design.scale_out_bits_per_s / 8.0 * transport.payload_efficiency
    over = list(design.scenario.fabric.oversubscription) + [1.0, 1.0]
    if tier >= 2:
        nic /= over[0]
    if tier >= 3:
        nic /= over[1]
    return nic, design.gpu.scale_up_bits_per_s / 8.0 * design.scale_up.payload_efficiency


def _tree_degree_sum(nodes: int) -> int:
    """Most tree edges any node has in NCCL's two trees together."""
    first, second = dtree_parents(nodes)
    return int((degrees(first) + degrees(second)).max()) if nodes > 1 else 0


def _chain_neighbours(m: int, rings: int, gpus_per_nic: int = 1) -> int:
    """Most chain neighbours (summed over rings) any GPU of a node has: ring r's chain starts at its
    entry position (:func:`entry_positions`); its ends have one neighbour, the others two."""
    if m <= 1:
        return 0
    position = np.arange(m)
    index = (position[:, None] - entry_positions(rings, m, gpus_per_nic)[None, :]) % m
    neighbours = np.where((index == 0) | (index == m - 1), 1, 2)
    return int(neighbours.sum(axis=1).max())


def _rings_per_nic(m: int, rings: int, gpus_per_nic: int) -> int:
    """Most rings (or tree channels of one tree) that leave a node through one NIC: ring r through the NIC
    of the GPU at its entry position."""
    nic = entry_positions(rings, m, gpus_per_nic) % max(1, m) // max(1, gpus_per_nic)
    return int(np.bincount(nic).max())


def transfer_time(design, comm: Communicator, op: str, algorithm: str, size_bytes: int) -> float:
    """Simple-protocol transfer seconds of ``op`` with ``algorithm`` on one group shaped ``comm``
    (nothing else running; equal ranks per node)."""
    check_op(op, algorithm)
    n, d, m, R = comm.ranks, comm.nodes, comm.ranks_per_node, comm.rings
    if n == 1:
        return 0.0
    S = float(padded_size(size_bytes, n))
    nic, nvl = payload_rates(design, comm.tier)
    g = comm.gpus_per_nic
    per_nic = nic * g  # one NIC's payload rate; a shared NIC splits it among the ranks that use it:
    nic = per_nic / max(1, min(g, m))  # a node's ranks are contiguous, so min(g, m) of them share each NIC
    eff = design.scale_up.in_switch_reduction_efficiency or 1.0
    if op == "send_recv":
        return S / (nvl if d == 1 else nic)
    if op == "all_to_all":
        if algorithm == "direct":
            return max((m - 1) / n * S / nvl if m > 1 else 0.0, (n - m) / n * S / nic if d > 1 else 0.0)
        return max((m - 1) * d * S / n / nvl if m > 1 else 0.0, (d - 1) * m * S / n / nic if d > 1 else 0.0)
    factor = {"all_reduce": 2 * (n - 1) / n, "reduce_scatter": (n - 1) / n, "all_gather": (n - 1) / n,
              "broadcast": 1.0}[op]
    nvls_weight = {"all_reduce": 1 + 1 / m, "reduce_scatter": 1.0, "all_gather": 1.0}.get(op, 1.0)
    if algorithm in ("ring", "pat"):
        through_nvlink = factor * S / nvl if m > 1 else 0.0
        through_nic = _rings_per_nic(m, R, g) * factor * S / (R * per_nic) if d > 1 else 0.0
        return max(through_nvlink, through_nic)
    if algorithm == "tree":
        per_channel = S / (2 * R)
        through_nvlink = _chain_neighbours(m, R, g) * 2 * per_channel / nvl
        through_nic = _rings_per_nic(m, R, g) * _tree_degree_sum(d) * per_channel / per_nic if d > 1 else 0.0
        return max(through_nvlink, through_nic)
    if algorithm == "nvls":
        return S * nvls_weight / (eff * nvl)
    if algorithm == "nvls_tree":
        inter = _tree_degree_sum(d) * S / (2 * m) / nic
        return max(S * nvls_weight / (eff * nvl), inter)
    if algorithm == "in_network":
        if m > 1:
            intra = S * nvls_weight / (eff * nvl) if comm.nvls else 2 * (m - 1) / m * S / nvl
        else:
            intra = 0.0
        return max(intra, S / m / nic)
    two = 2 if op == "all_reduce" else 1
    intra = two * (m - 1) / m * S / nvl if m > 1 else 0.0
    inter = two * (d - 1) / d * S / m / nic if d > 1 else 0.0
    return max(intra, inter)
