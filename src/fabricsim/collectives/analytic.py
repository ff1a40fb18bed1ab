"""Analytic alpha-beta model of every collective algorithm, for scales too big to simulate flow by flow.

time = steps x alpha + bytes through the bottleneck port / its payload rate (beta), with the same
conventions as the flow-level model (:mod:`fabricsim.collectives.algorithms`): nccl-tests sizes,
``channels`` parallel rings entering each server on a different GPU (rail-aware), NVLink payload
efficiency, the transport's wire efficiency, in-network reduction crossing each link once.  It
needs only the :class:`FabricDesign` (counts), never the link arrays, so it answers for a
million GPUs in microseconds.

What it does *not* model: ECMP hash collisions and any other uneven use of the fabric's upper
tiers (it assumes load-balanced uplinks, i.e. spraying or adaptive routing at full efficiency) --
the flow-level simulator is the reference for those.  Oversubscription is modelled: traffic that
must leave a leaf (spine) shares its uplinks, so its rate is divided by the leaf (spine) ratio.
Where the fabric is contention-free, flow-level and analytic times agree (tests pin this).
Seconds, bytes, bits/s.
"""

from __future__ import annotations

import math

import numpy as np

from fabricsim.collectives.algorithms import NVLS_EFFICIENCY, check_op, padded_size
from fabricsim.collectives.api import NVLINK_PAYLOAD_EFFICIENCY, STEP_OVERHEAD_S, auto_candidates
from fabricsim.collectives.concurrent import GroupTiming
from fabricsim.errors import FabricsimError
from fabricsim.netsim.transport import get_transport
from fabricsim.topology.design import FabricDesign

def _span(design: FabricDesign, gpus: np.ndarray) -> tuple[int, int, int]:
    """(GPUs per scale-up domain, domains spanned, highest fabric tier crossed: 0 none, 1 leaf, 2 spine, 3 core)."""
    domain_size = design.scale_up.gpus
    domains, counts = np.unique(gpus // domain_size, return_counts=True)
    members = int(counts.min())
    if domains.size == 1:
        return members, 1, 0
    shape = design.shape
    per_server = design.scenario.cluster.gpus_per_server
    servers = np.unique(gpus // per_server)
    # rail-aware rings and per-rail stages cross servers on one rail: a rail leaf serves leaf_down servers
    leaf_span = max(1, shape.leaf_down // max(1, design.ports_per_gpu_per_plane))
    same_leaf = (servers // leaf_span).min() == (servers // leaf_span).max()
    # a pod's spine_down leaves serve all rails of spine_down / rails groups of servers
    pod_servers = leaf_span * max(1, shape.spine_down // max(1, shape.rails if shape.rail_optimized else 1))
    if shape.tiers == 1 or same_leaf:
        tier = 1
    elif shape.tiers == 2 or (servers // pod_servers).min() == (servers // pod_servers).max():
        tier = 2
    else:
        tier = 3
    return members, int(domains.size), tier


def _hop_latency(design: FabricDesign, tier: int) -> float:
    """One-way latency of a hop that climbs to ``tier`` (0: inside the scale-up domain), seconds."""
    if tier == 0:
        return design.scale_up.link_latency_s
    links = sum(design.link_latency_s(t) for t in range(tier))
    return 2 * links + (2 * tier - 1) * design.switch.latency_s


def _rates(design: FabricDesign, tier: int) -> tuple[float, float]:
    """(NIC payload rate per GPU, NVLink payload rate per GPU), bits/s, for traffic climbing to ``tier``."""
    transport = get_transport(design.scenario.fabric.transport)
    nic = design.scale_out_bits_per_s * transport.payload_efficiency
    over = list(design.scenario.fabric.oversubscription) + [1.0, 1.0]
    if tier >= 2:
        nic /= over[0]
    if tier >= 3:
        nic /= over[1]
    return nic, design.gpu.scale_up_bits_per_s * NVLINK_PAYLOAD_EFFICIENCY


def analytic_time(design: FabricDesign, op: str, algorithm: str, gpus: np.ndarray, size_bytes: int,
                  channels: int | None = None) -> float:
    """Seconds for ``op`` with ``algorithm`` on the GPUs ``gpus`` (one group, nothing else running)."""
    check_op(op, algorithm)
    gpus = np.asarray(gpus, dtype=np.int64)
    n = gpus.size
    if n == 1:
        return 0.0
    S = 8.0 * padded_size(size_bytes, n)  # bits
    channels = channels or design.scenario.cluster.gpus_per_server
    m, d, tier = _span(design, gpus)
    nic, nvlink = _rates(design, tier)
    alpha_out = _hop_latency(design, tier) + STEP_OVERHEAD_S
    alpha_in = _hop_latency(design, 0) + STEP_OVERHEAD_S
    if op == "send_recv":
        return S / (nvlink if d == 1 else nic) + (alpha_in if d == 1 else alpha_out)
    factor = {"all_reduce": 2 * (n - 1) / n, "reduce_scatter": (n - 1) / n, "all_gather": (n - 1) / n,
              "broadcast": 1.0}.get(op, 1.0)
    if algorithm == "ring":
        steps = 2 * (n - 1) if op == "all_reduce" else n - 1
        if d == 1:
            rate = nvlink / channels * channels  # every channel's hops share the GPU's NVLink port
        elif m == 1:
            rate = nic  # every hop leaves the server: channels share the NIC
        else:
            rate = channels * min(nic, nvlink / (channels - 1)) if channels > 1 else min(nic, nvlink)
        return factor * S / rate + steps * (alpha_out if d > 1 else alpha_in)
    if algorithm == "tree":
        # 2 trees per channel, each moving S / (2 channels); a node sends to its parent and two children
        # in one tree and to its parent in the other (double binary tree), both directions pipelined:
        # up to 4 tree edges leave a GPU's NIC per channel, and 4 per tree over NVLink for the chains
        depth = math.ceil(math.log2(d + 1)) + m - 1
        passes = 2 if op == "all_reduce" else 1
        edges = 2 * passes
        rates = ([nic / edges] if d > 1 else []) + ([nvlink / (edges * channels)] if m > 1 else [])
        return S / (2 * channels) / min(rates) + passes * depth * (alpha_out if d > 1 else alpha_in)
    if op == "all_to_all":
        intra = (m - 1) / n * S / nvlink
        inter = (n - m) / n * S / nic if d > 1 else 0.0
        return max(intra, inter) + (alpha_out if d > 1 else alpha_in)
    # hierarchical and in-network: scale-up stage and per-rail scale-out stage pipelined (one phase)
    if algorithm == "in_network":
        nvls = design.scale_up.in_network_reduction and m > 1
        intra = S * (1 + 1 / m) / NVLS_EFFICIENCY / nvlink if nvls else (2 * (m - 1) / m * S / nvlink if m > 1 else 0.0)
        inter = S / m / nic if d > 1 else 0.0
        steps = 2
        return max(intra, inter) + steps * (alpha_out if d > 1 else alpha_in)
    two = 2 if op == "all_reduce" else 1
    intra = two * (m - 1) / m * S / nvlink if m > 1 else 0.0
    inter = two * (d - 1) / d * S / m / nic if d > 1 else 0.0
    steps_intra, steps_inter = two * (m - 1), two * (d - 1)
    return max(intra + steps_intra * alpha_in, inter + steps_inter * alpha_out)


def time_groups_analytic(design: FabricDesign, op: str, algorithm: str, groups: np.ndarray, size_bytes: int,
                         load_balancing: str | None = None, channels: int | None = None) -> GroupTiming:
    """Like :func:`fabricsim.collectives.concurrent.time_groups`, analytically: groups are assumed
    not to slow each other (load-balanced uplinks), so the slowest group sets the time; ``auto``
    picks the fastest algorithm the fabric supports."""
    groups = np.atleast_2d(np.asarray(groups, dtype=np.int64))
    if size_bytes <= 0:
        raise FabricsimError(f"collective size {size_bytes} bytes: sizes must be > 0")
    candidates = auto_candidates(design, op) if algorithm == "auto" else (algorithm,)
    sample = groups[:: max(1, groups.shape[0] // 8)]  # groups have the same shape; sample a few
    best = None
    for candidate in candidates:
        t = max(analytic_time(design, op, candidate, row, size_bytes, channels) for row in sample)
        if best is None or t < best[1]:
            best = (candidate, t)
    policy = load_balancing or design.load_balancing
    return GroupTiming(op, best[0], policy, groups.shape[0], groups.shape[1], size_bytes, best[1], best[1],
                       True, [])
