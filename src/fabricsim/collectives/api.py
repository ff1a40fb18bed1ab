"""Run a collective on a scenario's fabric, nccl-tests style: a size sweep with time, algbw, busbw.

Every size is timed twice: with the requested load balancing, and with ``ideal`` routing (only
NIC and scale-up links constrain).  ``delivered`` = ideal time / actual time: the fraction of
the fabric's rated capability that the routing policy delivers to this collective.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fabricsim.collectives.algorithms import ALGORITHMS, build_phases, check_op, padded_size
from fabricsim.collectives.flowlevel import PhaseResult, time_phase
from fabricsim.collectives.placement import place_ranks
from fabricsim.errors import FabricsimError
from fabricsim.netsim.routing import POLICIES
from fabricsim.netsim.transport import get_transport
from fabricsim.topology.fabric import Fabric

NVLINK_PAYLOAD_EFFICIENCY = 370.0 / 450.0
"""Share of NVLink's per-direction rate that carries payload, FITTED to one figure: NCCL maintainer
S. Jeaugey, NVIDIA/nccl-tests issue #212 (2024-05-06): "With the protocol overhead (~20%) NCCL can get
an effective NVLink bandwidth of 370GB/s" of H100's 450 GB/s line rate (ring busbw, 8 GPUs)."""

STEP_OVERHEAD_S = 2.0e-6
"""ASSUMPTION: software/launch latency per algorithm step (NCCL's Simple-protocol base latency is a
few microseconds, nccl src/graph/tuning.cc); it only matters for small messages."""


def busbw_factor(op: str, ranks: int) -> float:
    """nccl-tests' bus-bandwidth factor (nccl-tests doc/PERFORMANCE.md)."""
    n = ranks
    return {
        "all_reduce": 2 * (n - 1) / n,
        "reduce_scatter": (n - 1) / n,
        "all_gather": (n - 1) / n,
        "all_to_all": (n - 1) / n,
        "broadcast": 1.0,
        "send_recv": 1.0,
    }[op]


@dataclass
class SizeResult:
    algorithm: str
    size_bytes: int
    padded_bytes: int
    time_s: float
    ideal_time_s: float
    algbw_bytes_per_s: float
    busbw_bytes_per_s: float
    delivered: float
    phases: list[PhaseResult] = field(default_factory=list)


@dataclass
class CollectiveReport:
    op: str
    algorithm: str
    load_balancing: str
    placement: str
    transport: str
    ranks: int
    channels: int
    gpus: np.ndarray
    results: list[SizeResult]


def time_phases(fabric: Fabric, phases, policy: str, seed: int = 0) -> tuple[float, list[PhaseResult]]:
    """Time phases one after another on the fabric (seconds), with the transport's wire efficiency."""
    efficiency = get_transport(fabric.design.scenario.fabric.transport).payload_efficiency
    out = [time_phase(fabric, p, policy, efficiency, NVLINK_PAYLOAD_EFFICIENCY, seed=seed,
                      step_overhead_s=STEP_OVERHEAD_S) for p in phases]
    return sum(p.time_s for p in out), out


def auto_candidates(design, op: str) -> tuple[str, ...]:
    """Algorithms NCCL could choose for ``op`` on this fabric (in-network only where switches reduce)."""
    if op not in ALGORITHMS:
        raise FabricsimError(f"--op {op!r}: valid operations are {', '.join(ALGORITHMS)}")
    return tuple(a for a in ALGORITHMS[op] if a != "in_network" or design.switch.in_network_reduction)


def _prepare(design, op, algorithm, sizes, ranks, placement, channels, seed):
    """Checked candidates, rank count, GPUs of the ranks and channel count of a size sweep."""
    candidates = auto_candidates(design, op) if algorithm == "auto" else (algorithm,)
    for candidate in candidates:
        check_op(op, candidate)
    for size in sizes:
        if size <= 0:
            raise FabricsimError(f"message size {size} bytes: sizes must be > 0")
    ranks = design.gpus if ranks is None else ranks
    gpus = place_ranks(ranks, design.gpus, placement, seed)
    return candidates, ranks, gpus, channels or design.scenario.cluster.gpus_per_server


def _size_result(op, algorithm, size, ranks, time_s, ideal_s, phases) -> SizeResult:
    padded = padded_size(size, ranks)
    # one rank moves nothing over any bus (nccl-tests' busbw factor is 0): report 0, never inf
    algbw = padded / time_s if time_s > 0 else 0.0
    return SizeResult(algorithm, size, padded, time_s, ideal_s, algbw, algbw * busbw_factor(op, ranks),
                      ideal_s / time_s if time_s > 0 else 1.0, phases)


def run_collective(
    fabric: Fabric,
    op: str = "all_reduce",
    algorithm: str = "ring",
    sizes: list[int] = (2**30,),
    ranks: int | None = None,
    load_balancing: str | None = None,
    placement: str = "rail-aware",
    channels: int | None = None,
    seed: int = 0,
    method: str = "flow",
) -> CollectiveReport:
    """Time ``op`` with ``algorithm`` at each size on ``ranks`` GPUs of the fabric.

    ``algorithm="auto"`` times every algorithm the fabric supports and keeps the fastest per size,
    as NCCL's tuner does with its own cost model.  ``method="analytic"`` uses the alpha-beta model
    of :mod:`fabricsim.collectives.analytic` instead of simulating flows (``fabric`` may then be a
    FabricDesign; delivered is 1 by construction: it assumes load-balanced uplinks)."""
    if method not in ("flow", "analytic"):
        raise FabricsimError(f"--method {method!r}: valid methods are flow, analytic")
    design = getattr(fabric, "design", fabric)
    candidates, ranks, gpus, channels = _prepare(design, op, algorithm, sizes, ranks, placement, channels, seed)
    policy = load_balancing or design.load_balancing
    if policy not in POLICIES:
        raise FabricsimError(f"--lb {policy!r}: valid load-balancing policies are {', '.join(POLICIES)}")
    results = []
    for size in sizes:
        if method == "analytic":
            from fabricsim.collectives.analytic import analytic_time

            time_s, chosen = min((analytic_time(design, op, c, gpus, size, channels), c) for c in candidates)
            results.append(_size_result(op, chosen, size, ranks, time_s, time_s, []))
            continue
        best = None
        for candidate in candidates:
            phases = build_phases(fabric, op, candidate, gpus, size, placement, channels)
            time_s, detail = time_phases(fabric, phases, policy, seed)
            if best is None or time_s < best[1]:
                best = (candidate, time_s, detail, phases)
        chosen, time_s, detail, phases = best
        ideal_s = time_phases(fabric, phases, "ideal", seed)[0] if policy != "ideal" else time_s
        results.append(_size_result(op, chosen, size, ranks, time_s, ideal_s, detail))
    return CollectiveReport(op, algorithm, policy, placement, design.scenario.fabric.transport, ranks, channels,
                            gpus, results)


__all__ = ["ALGORITHMS", "run_collective", "busbw_factor", "CollectiveReport", "SizeResult"]
