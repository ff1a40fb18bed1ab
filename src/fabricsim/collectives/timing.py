"""From a call (op, algorithm, ranks, sizes) to times: the library's choice, the transfer, the latency.

1. The communicator (:mod:`fabricsim.collectives.communicator`) says how the library sees the ranks.
2. ``auto`` lets the library's tuner pick an algorithm and protocol per size from the algorithms the
   scenario enables (``fabric.in_network_reduction``), predicting transfer times contention-free
   (:mod:`fabricsim.collectives.analytic`); a named algorithm is checked and only its protocol is
   picked.  fabricsim's own ``hierarchical`` is never picked by ``auto``.  Where the NIC's network
   plugin ships a tuner (aws-ofi-nccl on AWS), its decision table overrides that pick wherever it
   covers the call (:mod:`fabricsim.collectives.region_tuner`).
3. The transfer of the chosen algorithm is simulated (or computed) once at a reference size: the
   Simple-protocol transfer time is proportional to the bytes, so every size scales from it.
4. time = latency + protocol transfer (:func:`fabricsim.collectives.nccl_model.call_time_s`), never shorter than
   the host takes to issue the call on every GPU one thread drives (:func:`host_issue_s`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from fabricsim.collectives.algorithms import ALGORITHMS, NOT_IN_LIBRARY, applicable, check_op, padded_size
from fabricsim.collectives.analytic import transfer_time
from fabricsim.collectives.communicator import Communicator, describe
from fabricsim.collectives.nccl_model import (Choice, call_time_s, choose, copy_bound_s, latency_s, library_algorithm,
                                              protocols_for)
from fabricsim.collectives.net_plugin import net_plugin, with_plugin_settings
from fabricsim.collectives.region_tuner import forced_choice
from fabricsim.errors import FabricsimError

REFERENCE_BYTES = 2**30
"""Size (bytes) at which transfers are simulated or estimated once; every size scales from it (transfer
time is proportional to bytes in the fluid model)."""


def library(design):
    """The scenario's collective library (catalog entry), with the settings its network plugin exports."""
    lib = design.scenario.catalog().get("collective_libraries", design.scenario.fabric.collective_library)
    return with_plugin_settings(lib, net_plugin(design))


def in_network(design) -> tuple[bool, bool]:
    """(NVLS on, SHARP on) from ``fabric.in_network_reduction`` (default: what a stock NCCL install
    does: NVLS where the scale-up switch reduces, no SHARP without its plugin)."""
    setting = design.scenario.fabric.in_network_reduction
    if setting is None:
        return bool(design.scale_up.in_network_reduction), False
    nvls, sharp = "nvls" in setting, "sharp" in setting
    if nvls and not design.scale_up.in_network_reduction:
        raise FabricsimError(f"fabric.in_network_reduction={setting}: the scale-up system {design.scale_up.name} "
                             "cannot reduce in its switches (no NVLink SHARP); use off or sharp")
    if sharp and not design.switch.in_network_reduction:
        raise FabricsimError(f"fabric.in_network_reduction={setting}: switch {design.switch.name} cannot reduce "
                             "(no SHARP); use off or nvls, or a switch that reduces")
    return nvls, sharp


COMMUNICATOR_CACHE_SIZE = 4096
"""Communicators remembered (least recently used out): a training step or a layout search asks for the same
groups of the same design many times, and describing one reads the topology (about 0.3 ms)."""
_communicators: OrderedDict = OrderedDict()


def communicator(design, gpus: np.ndarray, channels: int | None = None,
                 min_channels: int | None = None) -> Communicator:
    """The communicator over ``gpus`` on ``design`` (:func:`describe`), remembered per design and rank list (the
    entry holds its design, so an id is never mistaken for another design's; Communicator is immutable)."""
    gpus = np.asarray(gpus, dtype=np.int64)
    key = (id(design), gpus.tobytes(), channels, min_channels)
    hit = _communicators.get(key)
    if hit is not None and hit[0] is design:
        _communicators.move_to_end(key)
        return hit[1]
    comm = describe(design, gpus, library(design), in_network(design), rings=channels, min_channels=min_channels,
                    plugin=net_plugin(design))
    _communicators[key] = (design, comm)
    if len(_communicators) > COMMUNICATOR_CACHE_SIZE:
        _communicators.popitem(last=False)
    return comm


def in_library(lib, op: str, algorithm: str, comm: Communicator) -> bool:
    """Whether the library's tuner times ``algorithm`` for ``op`` (``CollectiveLibrary.tuner_algorithms``:
    NCCL 2.18 runs reduce-scatter and all-gather on rings only, PAT arrives in 2.23).  fabricsim's own
    algorithms and point-to-point calls are not the tuner's to restrict."""
    if algorithm in NOT_IN_LIBRARY or op not in lib.tuner_algorithms:
        return True
    return library_algorithm(algorithm, comm) in lib.tuner_algorithms[op]


def candidates(op: str, algorithm: str, comm: Communicator, lib=None) -> tuple[str, ...]:
    """Algorithms to consider: the library's for ``auto``, else the one named (checked); ``lib``: the
    collective library, whose release decides which algorithms exist (None: no restriction)."""
    if op not in ALGORITHMS:
        raise FabricsimError(f"--op {op!r}: valid operations are {', '.join(ALGORITHMS)}")
    if algorithm != "auto":
        check_op(op, algorithm)
        reason = applicable(op, algorithm, comm)
        if reason:
            raise FabricsimError(f"--algo {algorithm} for {op} on these {comm.ranks} ranks: {reason}")
        if lib is not None and not in_library(lib, op, algorithm, comm):
            raise FabricsimError(
                f"--algo {algorithm} for {op}: {lib.name} (version {lib.version}) does not run {op} with "
                f"{library_algorithm(algorithm, comm)}; it times {', '.join(lib.tuner_algorithms[op])}")
        return (algorithm,)
    usable = tuple(a for a in ALGORITHMS[op] if a not in NOT_IN_LIBRARY and applicable(op, a, comm) is None
                   and (lib is None or in_library(lib, op, a, comm)))
    return usable or ("ring",)


def extra_network_s(design, comm: Communicator) -> float:
    """Latency a network step pays beyond a one-leaf hop (the library's constants hold for one leaf)."""
    return max(0.0, design.hop_latency_s(comm.tier) - design.hop_latency_s(1)) if comm.tier > 1 else 0.0


def tune(design, comm: Communicator, op: str, algorithm: str, sizes, protocol: str | None = None) -> list[Choice]:
    """The library's (algorithm, protocol) for every size."""
    lib = library(design)
    plugin = net_plugin(design)
    names = candidates(op, algorithm, comm, lib)
    extra = extra_network_s(design, comm)
    reference = {a: transfer_time(design, comm, op, a, REFERENCE_BYTES) / padded_size(REFERENCE_BYTES, comm.ranks)
                 for a in names}
    out = []
    for size in sizes:
        estimate = {a: per_byte * padded_size(size, comm.ranks) for a, per_byte in reference.items()}

        def usable(a: str, p: str, size: int = size) -> bool:
            return a in names and p in protocols_for(a, comm, op, size, lib) and protocol in (None, p)

        forced = forced_choice(plugin, op, comm.ranks, comm.nodes, size, usable)
        if forced is not None:
            a, p = forced
            out.append(Choice(a, p, call_time_s(lib, comm, op, a, p, size, estimate[a], extra)))
        elif protocol is not None:
            allowed = [a for a in names if protocol in protocols_for(a, comm, op, size, lib)]
            if not allowed:
                raise FabricsimError(f"--proto {protocol}: no algorithm of {', '.join(names)} runs {op} with it")
            t = {a: call_time_s(lib, comm, op, a, protocol, size, estimate[a], extra) for a in allowed}
            best = min(t, key=t.get)
            out.append(Choice(best, protocol, t[best]))
        else:
            out.append(choose(lib, comm, op, estimate, size, extra))
    return out


@dataclass
class Composed:
    """One call's time, split into the library's latency and the protocol transfer."""

    algorithm: str
    protocol: str
    time_s: float
    latency_s: float
    transfer_s: float
    copy_bound: bool = False  # the ring's channels (their loads and stores), not the links, set the transfer time


def compose(design, comm: Communicator, op: str, choice: Choice, size: int, simple_transfer_s: float,
            in_place: bool = False, direct: bool = False) -> Composed:
    """One call as the kernels run it (``in_place``: the output buffer holds the input, as nccl-tests'
    in-place columns; the default is out of place; ``direct``: an MoE dispatcher's own kernels move the
    bytes, not NCCL's point-to-point FIFOs, :func:`fabricsim.collectives.nccl_model.copy_bound_s`)."""
    if comm.ranks <= 1:  # nothing to exchange: no call is timed (call_time_s), so no latency either
        return Composed(choice.algorithm, choice.protocol, 0.0, 0.0, 0.0, False)
    lib = library(design)
    extra = extra_network_s(design, comm)
    total = call_time_s(lib, comm, op, choice.algorithm, choice.protocol, size, simple_transfer_s, extra,
                        executed=True, in_place=in_place, direct=direct)
    alpha = (latency_s(lib, comm, op, choice.algorithm, choice.protocol, size, extra, executed=True)
             + lib.launch_overhead_s)
    bound = copy_bound_s(lib, comm, op, choice.algorithm, choice.protocol, size, in_place, direct)
    return Composed(choice.algorithm, choice.protocol, total, alpha, total - alpha,
                    bound > 0 and bound >= (total - alpha) * (1 - 1e-9))


def scaled(reference_s: float, reference_size: int, size: int, ranks: int) -> float:
    """A Simple transfer time measured at ``reference_size`` carried to ``size`` (bytes scale it)."""
    return reference_s * padded_size(size, ranks) / padded_size(reference_size, ranks)


def host_issue_s(design, gpus_per_thread: int = 1) -> float:
    """Shortest time (seconds) between two calls when one host thread drives ``gpus_per_thread`` GPUs
    (nccl-tests ``-g``): the thread issues every GPU's call in turn, each costing the library's
    ``host_call_s`` of CPU time (enqueue and kernel launch), and the next call cannot start before all are
    issued.  A benchmark loop that never waits for the GPUs then repeats a call every
    ``max(GPU time, this)``: small messages take a flat floor that grows with the GPUs per thread.  Calls
    replayed from a captured CUDA graph (nccl-tests ``-G``) are not issued one by one: time them with 1."""
    return gpus_per_thread * library(design).host_call_s
