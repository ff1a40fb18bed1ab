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

from fabricsim.collectives.algorithms import ALGORITHMS, build_phases, check_op, padded_size
from fabricsim.collectives.api import auto_candidates, busbw_factor, time_phases
from fabricsim.collectives.flowlevel import Coflow, Phase, PhaseResult
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
    ideal_time_s: float  # the same phases with ideal routing (only NIC and scale-up links constrain)
    independent: bool  # True: groups share no link; one representative group was timed
    phases: list[PhaseResult]

    @property
    def busbw_bytes_per_s(self) -> float:
        padded = padded_size(self.size_bytes, self.ranks) if self.ranks > 1 else self.size_bytes
        return padded / self.time_s * busbw_factor(self.op, self.ranks) if self.time_s > 0 else 0.0  # nothing moved

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


def _check(fabric: Fabric, groups: np.ndarray, policy: str, disjoint: bool = True) -> np.ndarray:
    groups = np.atleast_2d(np.asarray(groups, dtype=np.int64))
    if policy not in POLICIES:
        raise FabricsimError(f"load balancing {policy!r}: valid policies are {', '.join(POLICIES)}")
    if groups.size and (groups.min() < 0 or groups.max() >= fabric.design.gpus):
        raise FabricsimError(f"group GPU indices must be in 0..{fabric.design.gpus - 1}")
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
) -> GroupTiming:
    """Time ``op`` on every row of ``groups`` (G x n GPU indices, rank order) simultaneously.

    ``algorithm="auto"`` tries every algorithm the fabric supports and keeps the fastest, as
    NCCL's tuner does.  Rings are ordered rail-aware (hops between servers stay on one rail)."""
    policy = load_balancing or fabric.design.load_balancing
    groups = _check(fabric, groups, policy)
    if size_bytes <= 0:
        raise FabricsimError(f"collective size {size_bytes} bytes: sizes must be > 0")
    candidates = auto_candidates(fabric.design, op) if algorithm == "auto" else (algorithm,)
    for candidate in candidates:
        check_op(op, candidate)
    n = groups.shape[1]
    channels = channels or fabric.design.scenario.cluster.gpus_per_server
    independent = _within_one_domain(fabric, groups)
    timed = groups[:1] if independent else groups
    best = None
    for candidate in candidates:
        try:
            phases = _merge([build_phases(fabric, op, candidate, row, size_bytes, "rail-aware", channels)
                             for row in timed])
        except FabricsimError:
            if algorithm == "auto":  # e.g. hierarchical needs equal ranks per scale-up domain
                continue
            raise
        time_s, detail = time_phases(fabric, phases, policy, seed)
        if best is None or time_s < best[1]:
            best = (candidate, time_s, detail, phases)
    if best is None:
        raise FabricsimError(f"no {op} algorithm of {', '.join(ALGORITHMS[op])} applies to groups of {n} ranks")
    chosen, time_s, detail, phases = best
    ideal_s = time_phases(fabric, phases, "ideal", seed)[0] if policy != "ideal" else time_s
    return GroupTiming(op, chosen, policy, groups.shape[0], n, size_bytes, time_s, ideal_s, independent, detail)


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
    policy = load_balancing or fabric.design.load_balancing
    pairs = _check(fabric, np.stack([np.asarray(src), np.asarray(dst)], axis=1), policy,
                   disjoint=False)
    if size_bytes <= 0:
        raise FabricsimError(f"transfer size {size_bytes} bytes: sizes must be > 0")
    phase = Phase("send/recv", [Coflow(pairs[:, 0], pairs[:, 1], float(size_bytes), 1, independent=True)])
    time_s, detail = time_phases(fabric, [phase], policy, seed)
    ideal_s = time_phases(fabric, [phase], "ideal", seed)[0] if policy != "ideal" else time_s
    return GroupTiming("send_recv", "direct", policy, pairs.shape[0], 2, int(size_bytes), time_s, ideal_s, False,
                       detail)
