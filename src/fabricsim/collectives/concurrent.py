"""Many instances of one collective running at the same time on disjoint groups of GPUs.

A training step never runs one collective alone: the 128 data-parallel groups of a 16k-GPU job
all reduce their gradients at once, and every pipeline stage boundary sends activations at once.
Groups that share fabric links (spine uplinks under ECMP collisions, an oversubscribed tier)
slow each other down, so they are timed *together*: the phases of every group are merged into
one phase and max-min fair sharing decides the rates.  Groups that cannot share a link (each
inside its own scale-up domain, whose NVLink ports are per GPU) are exactly independent, so one
representative group is timed.

Sizes follow nccl-tests (see :mod:`fabricsim.collectives.algorithms`).  Times are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fabricsim.collectives.algorithms import build_phases, padded_size
from fabricsim.collectives.analytic import transfer_time
from fabricsim.collectives.api import balanced_transfer, busbw_factor, time_phases
from fabricsim.collectives.flowlevel import Coflow, Phase, PhaseResult
from fabricsim.collectives.timing import REFERENCE_BYTES, communicator, compose, scaled, tune
from fabricsim.errors import FabricsimError
from fabricsim.netsim.routing import POLICIES
from fabricsim.topology.fabric import Fabric


@dataclass
class GroupTiming:
    """One collective on every row of ``groups`` at once."""

    op: str
    algorithm: str
    load_balancing: str
    groups: int  # number of concurrent groups
    ranks: int  # ranks per group
    size_bytes: int  # per-rank buffer (nccl-tests convention)
    time_s: float
    ideal_time_s: float  # the same call on load-balanced uplinks (analytic transfer)
    independent: bool  # True: groups share no link; one representative group was timed
    phases: list[PhaseResult]
    protocol: str = "simple"
    latency_s: float = 0.0  # the library's latency part of time_s

    @property
    def busbw_bytes_per_s(self) -> float:
        padded = padded_size(self.size_bytes, self.ranks) if self.ranks > 1 else self.size_bytes
        return padded / self.time_s * busbw_factor(self.op, self.ranks) if self.time_s > 0 else 0.0

    @property
    def delivered(self) -> float:
        """Ideal time / actual time: the share of rated bandwidth the routing delivers."""
        return self.ideal_time_s / self.time_s if self.time_s > 0 else 1.0


def _within_one_domain(fabric: Fabric, groups: np.ndarray) -> bool:
    domain = fabric.gpu_scale_up_domain[groups]
    return bool(np.all(domain == domain[:, :1]))


def _merge(per_group: list[list[Phase]]) -> list[Phase]:
    """Phase i of the merged schedule holds phase i of every group (all groups run in lockstep)."""
    merged = []
    for parts in zip(*per_group):
        merged.append(Phase(parts[0].name, [c for p in parts for c in p.coflows]))
    return merged


def _check(design, groups: np.ndarray, policy: str, disjoint: bool = True) -> np.ndarray:
    groups = np.atleast_2d(np.asarray(groups, dtype=np.int64))
    if policy not in POLICIES:
        raise FabricsimError(f"load balancing {policy!r}: valid policies are {', '.join(POLICIES)}")
    if groups.size and (groups.min() < 0 or groups.max() >= design.gpus):
        raise FabricsimError(f"group GPU indices must be in 0..{design.gpus - 1}")
    if disjoint and np.unique(groups).size != groups.size:
        raise FabricsimError("concurrent groups must be disjoint sets of GPUs")
    return groups


def time_groups(
    fabric: Fabric,
    op: str,
    algorithm: str,
    groups: np.ndarray,
    size_bytes: int,
    load_balancing: str | None = None,
    channels: int | None = None,
    seed: int = 0,
    transfers: dict | None = None,
    direct: bool = False,
) -> GroupTiming:
    """Time ``op`` on every row of ``groups`` (G x n GPU indices, rank order) simultaneously.

    ``algorithm="auto"``: the library's tuner picks algorithm and protocol (from the contention-free
    estimate, as NCCL does); the chosen algorithm's transfer is then simulated with every group at
    once, so groups that share links slow each other.  ``transfers`` keeps those simulations at
    REFERENCE_BYTES by algorithm: a size sweep over the same groups passes one dict to every call and
    simulates each algorithm once (every size scales from it).  ``direct``: an MoE dispatcher's own kernels
    (DeepEP, HybridEP) move an all-to-all's bytes straight into the peers' buffers, so NCCL's point-to-point
    copy bound does not apply (:func:`fabricsim.collectives.nccl_model.copy_bound_s`)."""
    policy = load_balancing or fabric.design.load_balancing
    groups = _check(fabric.design, groups, policy)
    if size_bytes <= 0:
        raise FabricsimError(f"collective size {size_bytes} bytes: sizes must be > 0")
    n = groups.shape[1]
    design = fabric.design
    comm = communicator(design, groups[0], channels)
    choice = tune(design, comm, op, algorithm, [size_bytes])[0]
    independent = _within_one_domain(fabric, groups)
    timed = groups[:1] if independent else groups
    transfers = {} if transfers is None else transfers
    if n == 1:
        actual = ideal = 0.0
        detail = []
    else:
        if choice.algorithm not in transfers:
            transfers[choice.algorithm] = _reference_transfer(fabric, op, choice.algorithm, timed, comm, policy, seed)
        actual, ideal, detail = transfers[choice.algorithm]
    result = compose(design, comm, op, choice, size_bytes, scaled(actual, REFERENCE_BYTES, size_bytes, n),
                     direct=direct)
    ideal_s = compose(design, comm, op, choice, size_bytes, scaled(ideal, REFERENCE_BYTES, size_bytes, n),
                      direct=direct).time_s
    return GroupTiming(op, choice.algorithm, policy, groups.shape[0], n, size_bytes, result.time_s, ideal_s,
                       independent, detail, choice.protocol, result.latency_s)


def _reference_transfer(fabric: Fabric, op: str, algorithm: str, timed: np.ndarray, comm, policy: str,
                        seed: int) -> tuple[float, float, list[PhaseResult]]:
    """(transfer seconds under ``policy``, on load-balanced uplinks, phase details) of ``algorithm`` on
    every row of ``timed`` at once, at REFERENCE_BYTES."""
    phases = _merge([build_phases(fabric, op, algorithm, row, REFERENCE_BYTES, comm) for row in timed])
    actual, detail = time_phases(fabric, phases, policy, seed)
    return actual, balanced_transfer(fabric.design, comm, op, algorithm, actual), detail


def time_groups_analytic(design, op: str, algorithm: str, groups: np.ndarray, size_bytes: int,
                         load_balancing: str | None = None, channels: int | None = None,
                         direct: bool = False) -> GroupTiming:
    """Like :func:`time_groups`, analytically: groups are assumed not to slow each other
    (load-balanced uplinks), so one group's time is the call's time.  ``direct``: an MoE dispatcher's own
    kernels move the bytes (no NCCL point-to-point copy bound)."""
    groups = np.atleast_2d(np.asarray(groups, dtype=np.int64))
    if size_bytes <= 0:
        raise FabricsimError(f"collective size {size_bytes} bytes: sizes must be > 0")
    n = groups.shape[1]
    comm = communicator(design, groups[0], channels)
    choice = tune(design, comm, op, algorithm, [size_bytes])[0]
    transfer = transfer_time(design, comm, op, choice.algorithm, size_bytes) if n > 1 else 0.0
    result = compose(design, comm, op, choice, size_bytes, transfer, direct=direct)
    policy = load_balancing or design.load_balancing
    return GroupTiming(op, choice.algorithm, policy, groups.shape[0], n, size_bytes, result.time_s, result.time_s,
                       True, [], choice.protocol, result.latency_s)


def time_transfers(
    fabric: Fabric,
    src: np.ndarray,
    dst: np.ndarray,
    size_bytes: float,
    load_balancing: str | None = None,
    seed: int = 0,
) -> GroupTiming:
    """Point-to-point transfers ``src[i] -> dst[i]`` of ``size_bytes`` each, all at once
    (pipeline-stage activations, KV-cache hand-over from prefill to decode)."""
    design = fabric.design
    policy = load_balancing or design.load_balancing
    pairs = _check(design, np.stack([np.asarray(src), np.asarray(dst)], axis=1), policy, disjoint=False)
    if size_bytes <= 0:
        raise FabricsimError(f"transfer size {size_bytes} bytes: sizes must be > 0")
    comm = communicator(design, pairs[0])
    choice = tune(design, comm, "send_recv", "direct", [int(size_bytes)])[0]
    phase = Phase("send/recv", [Coflow(pairs[:, 0], pairs[:, 1], float(REFERENCE_BYTES), independent=True)])
    actual, detail = time_phases(fabric, [phase], policy, seed)
    ideal = min(actual, max(transfer_time(design, communicator(design, pair), "send_recv", "direct", REFERENCE_BYTES)
                            for pair in pairs[: min(len(pairs), 64)]))
    share = float(size_bytes) / REFERENCE_BYTES
    result = compose(design, comm, "send_recv", choice, int(size_bytes), actual * share)
    ideal_s = compose(design, comm, "send_recv", choice, int(size_bytes), ideal * share).time_s
    return GroupTiming("send_recv", "direct", policy, pairs.shape[0], 2, int(size_bytes), result.time_s, ideal_s,
                       False, detail, choice.protocol, result.latency_s)
