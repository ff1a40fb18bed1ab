"""Run a collective on a scenario's fabric, nccl-tests style: a size sweep with time, algbw, busbw.

Every size is timed with the requested load balancing and compared with the same call on load-
balanced uplinks (the analytic transfer, :mod:`fabricsim.collectives.analytic`, which equals the
flow-level time wherever nothing contends).  ``delivered`` = that time / actual time: the fraction
of the fabric's rated capability (oversubscription counted) that the routing policy delivers.  The algorithm
and protocol of each size are the library's choice (``auto``) or the one named; the time is the
library's latency plus the protocol transfer (:mod:`fabricsim.collectives.timing`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fabricsim.collectives.algorithms import ALGORITHMS, build_phases, nccl_tests_bytes, padded_size
from fabricsim.collectives.analytic import transfer_time
from fabricsim.collectives.flowlevel import PhaseResult, time_phase
from fabricsim.collectives.placement import place_ranks
from fabricsim.collectives.timing import REFERENCE_BYTES, communicator, compose, host_issue_s, scaled, tune
from fabricsim.errors import FabricsimError
from fabricsim.netsim.routing import POLICIES
from fabricsim.netsim.transport import get_transport
from fabricsim.topology.fabric import Fabric

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
    protocol: str
    size_bytes: int
    padded_bytes: int  # the bytes timed: whole float elements per rank
    time_s: float
    ideal_time_s: float
    latency_s: float  # the library's latency part of time_s
    algbw_bytes_per_s: float
    busbw_bytes_per_s: float
    delivered: float
    phases: list[PhaseResult] = field(default_factory=list)
    copy_bound: bool = False  # a Simple ring's channels, not the links, bind (collectives/ring_copy.py)
    host_bound: bool = False  # the host thread issuing every GPU's call binds, not the GPUs (timing.host_issue_s)


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
    nodes: int = 1
    gpus_per_thread: int = 1


def time_phases(fabric: Fabric, phases, policy: str, seed: int = 0) -> tuple[float, list[PhaseResult]]:
    """Simple-protocol transfer time of phases run one after another on the fabric (seconds)."""
    design = fabric.design
    efficiency = get_transport(design.scenario.fabric.transport).payload_efficiency
    out = [time_phase(fabric, p, policy, efficiency, design.scale_up.payload_efficiency, seed=seed) for p in phases]
    return sum(p.time_s for p in out), out


def simulated_transfer(fabric: Fabric, op: str, algorithm: str, gpus, comm, policy: str, seed: int = 0,
                       cross_rail: bool = False) -> tuple[float, float, list[PhaseResult]]:
    """(transfer seconds under ``policy``, on load-balanced uplinks, phase details) at REFERENCE_BYTES."""
    phases = build_phases(fabric, op, algorithm, gpus, REFERENCE_BYTES, comm, cross_rail)
    actual, detail = time_phases(fabric, phases, policy, seed)
    return actual, balanced_transfer(fabric.design, comm, op, algorithm, actual), detail


def balanced_transfer(design, comm, op: str, algorithm: str, actual_s: float) -> float:
    """Transfer seconds at REFERENCE_BYTES on load-balanced uplinks (the analytic model), never above
    the simulated time (the analytic model assumes equal ranks per node; the simulation is exact)."""
    return min(actual_s, transfer_time(design, comm, op, algorithm, REFERENCE_BYTES))


def run_collective(
    fabric: Fabric,
    op: str = "all_reduce",
    algorithm: str = "auto",
    sizes: list[int] = (2**30,),
    ranks: int | None = None,
    load_balancing: str | None = None,
    placement: str = "contiguous",
    channels: int | None = None,
    seed: int = 0,
    method: str = "flow",
    protocol: str | None = None,
    cross_rail: bool = False,
    min_channels: int | None = None,
    in_place: bool = False,
    gpus_per_thread: int = 1,
) -> CollectiveReport:
    """Time ``op`` at each size on ``ranks`` GPUs of the fabric.

    ``algorithm="auto"`` lets the library's tuner pick algorithm and protocol per size, as NCCL does
    (``protocol`` forces one, like NCCL_PROTO); ``channels`` sets the number of rings (default: the
    library's ring search); ``min_channels`` raises the channels the kernels run on, as NCCL_MIN_NCHANNELS
    does.  ``method="analytic"`` computes transfers instead of simulating flows
    (``fabric`` may then be a FabricDesign; delivered is 1 by construction: it assumes load-balanced
    uplinks).  ``cross_rail`` builds rings that leave each node from their last GPU (no PXN).  ``in_place``
    times the call with its output buffer holding the input (nccl-tests' in-place columns; default out of
    place, the first columns).  ``gpus_per_thread`` is nccl-tests' ``-g``: one host thread issues the call on
    that many GPUs in turn, so no call takes less than that many times the library's host time per call
    (:func:`fabricsim.collectives.timing.host_issue_s`); 1 is one process or thread per GPU."""
    if method not in ("flow", "analytic"):
        raise FabricsimError(f"--method {method!r}: valid methods are flow, analytic")
    design = getattr(fabric, "design", fabric)
    if op not in ALGORITHMS:
        raise FabricsimError(f"--op {op!r}: valid operations are {', '.join(ALGORITHMS)}")
    for size in sizes:
        if size <= 0:
            raise FabricsimError(f"message size {size} bytes: sizes must be > 0")
    ranks = design.gpus if ranks is None else ranks
    if isinstance(gpus_per_thread, bool) or not isinstance(gpus_per_thread, int) or not 1 <= gpus_per_thread <= ranks:
        raise FabricsimError(f"--gpus-per-thread={gpus_per_thread!r}: one host thread drives between 1 GPU and all "
                             f"{ranks} ranks (nccl-tests -g)")
    gpus = place_ranks(ranks, design.gpus, placement, seed, design.scale_up.gpus)
    policy = load_balancing or design.load_balancing
    if policy not in POLICIES:
        raise FabricsimError(f"--lb {policy!r}: valid load-balancing policies are {', '.join(POLICIES)}")
    comm = communicator(design, gpus, channels, min_channels)
    choices = tune(design, comm, op, algorithm, sizes, protocol)
    transfers: dict[str, tuple[float, float, list]] = {}
    for name in dict.fromkeys(c.algorithm for c in choices):
        if ranks == 1:
            transfers[name] = (0.0, 0.0, [])
        elif method == "analytic":
            t = transfer_time(design, comm, op, name, REFERENCE_BYTES)
            transfers[name] = (t, t, [])
        else:
            transfers[name] = simulated_transfer(fabric, op, name, gpus, comm, policy, seed, cross_rail)
    results = []
    host_s = host_issue_s(design, gpus_per_thread) if ranks > 1 else 0.0
    for size, choice in zip(sizes, choices):
        actual, ideal, detail = transfers[choice.algorithm]
        timed = compose(design, comm, op, choice, size, scaled(actual, REFERENCE_BYTES, size, ranks), in_place)
        ideal_s = compose(design, comm, op, choice, size, scaled(ideal, REFERENCE_BYTES, size, ranks),
                          in_place).time_s
        results.append(_size_result(op, timed, size, ranks, ideal_s, detail, host_s))
    return CollectiveReport(op, algorithm, policy, placement, design.scenario.fabric.transport, ranks,
                            comm.channels, gpus, results, comm.nodes, gpus_per_thread)


def _size_result(op, timed, size, ranks, ideal_s, phases, host_s: float = 0.0) -> SizeResult:
    """One size's row; ``host_s``: the host's floor on the call (the GPUs' time and the ideal one both wait
    for it, so the routing policy's delivered share is of the GPUs' part only).  algbw and busbw are nccl-tests'
    (its reported bytes over the time, :func:`fabricsim.collectives.algorithms.nccl_tests_bytes`)."""
    padded = padded_size(size, ranks)
    host_bound = host_s > timed.time_s
    time_s, ideal_s = max(timed.time_s, host_s), max(ideal_s, host_s)
    algbw = nccl_tests_bytes(op, size, ranks) / time_s if time_s > 0 else 0.0
    return SizeResult(timed.algorithm, timed.protocol, size, padded, time_s, ideal_s, timed.latency_s, algbw,
                      algbw * busbw_factor(op, ranks), ideal_s / time_s if time_s > 0 else 1.0, phases,
                      timed.copy_bound, host_bound)


__all__ = ["ALGORITHMS", "run_collective", "busbw_factor", "CollectiveReport", "SizeResult"]
