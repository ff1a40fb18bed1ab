"""Collectives across sites: reduce-scatter inside each site, the cross-site exchange, all-gather inside.

A group of ``n`` ranks spread evenly over ``s`` sites (``k = n / s`` per site) runs

* all-reduce of S:  reduce-scatter S inside each site (k ranks) -> every rank holds S/k reduced over
  its site; all-reduce of that S/k shard among the s ranks holding the same shard (a ring across
  sites); all-gather S inside each site;
* reduce-scatter of S: inside each site, then a reduce-scatter of the S/k shard across sites;
* all-gather of S: an all-gather of the S/k shard across sites, then inside each site.

So only ``2 (s-1)/s x S`` (all-reduce) or ``(s-1)/s x S`` per group crosses the DCI, whatever k is.
The inside-site parts are ordinary calls on the site's fabric (flow-level or analytic,
:mod:`fabricsim.collectives.concurrent`).  The cross-site part is a ring over the sites, every
(group, shard) ring at once:

* transfer: the bytes every site sends to its neighbour over the DCI's payload capacity, each rank's
  NIC, and each connection's *window*: a connection keeps at most the library's buffer in flight
  (NCCL_BUFFSIZE, 4 MiB for Simple), so it runs at most ``window / round trip`` -- at 80 km (0.8 ms
  round trip) 4 MiB caps a connection at ~42 Gb/s.  Analytic (:func:`cross_site_transfer`) and
  flow-level (:func:`simulated_cross_site_transfer`, wavelengths hashed by ECMP or sprayed, routed by
  :mod:`fabricsim.netsim.dci`) agree where nothing collides.
* latency: the library's ring latency for ``s`` ranks on ``s`` nodes (:func:`nccl_model.latency_s`)
  with every network step paying the DCI's one-way latency (propagation ~5 us/km + coherent DSP) and
  the climb to the site's border.

Sizes follow nccl-tests (per-rank buffer for all-reduce, input for reduce-scatter, output for
all-gather); seconds and bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fabricsim.collectives.communicator import describe
from fabricsim.collectives.concurrent import GroupTiming, time_groups, time_groups_analytic
from fabricsim.collectives.flowlevel import Coflow, Phase, time_phase
from fabricsim.collectives.nccl_model import latency_s
from fabricsim.collectives.timing import REFERENCE_BYTES, library
from fabricsim.errors import FabricsimError
from fabricsim.netsim.transport import get_transport
from fabricsim.topology.sites import SitesDesign, build_dci_fabric

CROSS_FACTOR = {"all_reduce": 2, "reduce_scatter": 1, "all_gather": 1}
"""Ring steps across s sites: 2 (s - 1) for all-reduce, s - 1 otherwise; bytes sent per rank are
(steps / s) x shard."""


def bytes_per_rank(op: str, sites: int, shard_bytes: float) -> float:
    """Bytes one rank sends across: (steps / s) x shard for a ring, the whole message for send/recv (a
    pipeline stage boundary that falls between two sites)."""
    if op == "send_recv":
        return shard_bytes
    return CROSS_FACTOR[op] * (sites - 1) / sites * shard_bytes


@dataclass
class CrossSite:
    """The cross-site exchange of one call: every ring at once."""

    op: str
    sites: int
    rings: int  # (group, shard) rings crossing the DCI at once
    shard_bytes: float  # per-rank buffer of the cross-site call
    bytes_per_rank: float  # bytes each rank sends across the DCI
    transfer_s: float
    ideal_transfer_s: float  # sprayed, no window limit
    latency_s: float
    limit: str  # what bounds the transfer: DCI capacity, NIC, connection window
    method: str
    busiest: list[tuple[str, float]] = field(default_factory=list)

    @property
    def time_s(self) -> float:
        return self.latency_s + self.transfer_s


@dataclass
class SitesTiming(GroupTiming):
    """A call across sites: its inside-site parts and its cross-site part."""

    inside_s: float = 0.0
    cross: CrossSite | None = None
    concurrent: bool = False  # True: the inside and cross parts run at once (pipeline send/recv), else in turn

    def combined(self, cross_time_s: float) -> float:
        return max(self.inside_s, cross_time_s) if self.concurrent else self.inside_s + cross_time_s


def cross_communicator(design: SitesDesign):
    """How the library sees one cross-site ring: ``s`` ranks, one per node."""
    site = design.site
    gpus = np.arange(design.sites, dtype=np.int64) * site.scale_up.gpus
    if gpus[-1] >= site.gpus:
        raise FabricsimError(f"each site needs at least {design.sites} scale-up domains")
    return describe(site, gpus, library(site), (False, False))


def window_bytes(design: SitesDesign) -> float:
    """Bytes a connection keeps in flight: ``sites.window_bytes`` or the library's Simple buffer."""
    return design.scenario.sites.window_bytes or float(library(design.site).buffer_bytes["simple"])


def cross_latency_s(design: SitesDesign, op: str, shard_bytes: float) -> float:
    """The library's ring latency across the sites, each network step paying the DCI and the climb to
    the site's border (seconds)."""
    site = design.site
    comm = cross_communicator(design)
    lib = library(site)
    extra = design.dci.one_way_latency_s + site.hop_latency_s(site.shape.tiers)
    return latency_s(lib, comm, op, "ring", "simple", shard_bytes, extra) + lib.launch_overhead_s


def cross_site_transfer(design: SitesDesign, op: str, rings: int, shard_bytes: float,
                        capacity_bits_per_s: float | None = None) -> tuple[float, str]:
    """(Simple-protocol transfer seconds, what limits it) of ``rings`` cross-site rings at once, analytic
    (load-balanced wavelengths).  ``capacity_bits_per_s`` replaces the DCI's installed capacity (what-ifs)."""
    per_rank = bytes_per_rank(op, design.sites, shard_bytes)
    efficiency = get_transport(design.scenario.fabric.transport).payload_efficiency
    dci = design.dci
    capacity = capacity_bits_per_s or dci.capacity_bits_per_s
    comm = cross_communicator(design)
    window_rate = comm.channels * window_bytes(design) * 8.0 / (2 * dci.one_way_latency_s)
    bounds = {
        "DCI capacity": rings * per_rank * 8.0 / (capacity * efficiency),
        "NIC": per_rank * 8.0 / (design.site.scale_out_bits_per_s * efficiency),
        "connection window": per_rank * 8.0 / window_rate,
    }
    limit = max(bounds, key=bounds.get)
    return bounds[limit], limit


def ring_members(groups: np.ndarray, design: SitesDesign) -> tuple[np.ndarray, np.ndarray]:
    """(inside-site groups of site 0 as local GPU indices (G x k), cross-site rings as global GPU
    indices (G k x s)) of groups spread evenly over the sites (members of a site in rank order)."""
    groups = np.atleast_2d(np.asarray(groups, dtype=np.int64))
    g, n = groups.shape
    s = design.sites
    site = groups // design.gpus_per_site
    counts = np.stack([(site == j).sum(axis=1) for j in range(s)], axis=1)
    if n % s or not np.all(counts == n // s):
        raise FabricsimError(f"a group of {n} ranks must have {n // s if n % s == 0 else 'the same number of'} ranks "
                             f"in each of the {s} sites (workload.train.dp a multiple of sites.count, DP the "
                             f"slowest rank dimension)")
    k = n // s
    order = np.argsort(site, axis=1, kind="stable")
    by_site = np.take_along_axis(groups, order, axis=1).reshape(g, s, k)
    inside = by_site[:, 0, :]  # site 0's members: their global indices are its local ones
    rings = by_site.transpose(0, 2, 1).reshape(g * k, s)
    return inside, rings


def simulated_cross_site_transfer(design: SitesDesign, op: str, rings: np.ndarray, policy: str | None = None,
                                  seed: int = 0) -> tuple[float, list]:
    """(Flow-level transfer seconds at a REFERENCE_BYTES shard per rank, busiest arcs) of the cross-site
    rings (rows of global GPU indices, one per site), every connection a flow: NIC, one wavelength (ECMP)
    or the trunk (spray), its window.  No arc's capacity depends on the bytes (a window arc carries
    window / round trip), so the fluid time is proportional to the shard: every shard scales from this."""
    s = design.sites
    comm = cross_communicator(design)
    channels = comm.channels
    per_rank = bytes_per_rank(op, s, REFERENCE_BYTES)
    fabric = build_dci_fabric(design, window_bytes(design))
    if op == "send_recv":  # rows are (source, destination) pairs
        src, dst = rings[:, 0], rings[:, 1]
    else:
        src = rings.ravel()
        dst = np.roll(rings, -1, axis=1).ravel()
    coflows = [Coflow(src, dst, per_rank / channels, channel=c, independent=True) for c in range(channels)]
    efficiency = get_transport(design.scenario.fabric.transport).payload_efficiency
    result = time_phase(fabric, Phase(f"{op} across {s} sites", coflows), policy or design.scenario.sites.load_balancing,
                        efficiency, efficiency, seed=seed)
    return result.time_s, result.busiest_arcs


def time_cross_site(design: SitesDesign, op: str, rings: np.ndarray, shard_bytes: float, method: str = "analytic",
                    policy: str | None = None, seed: int = 0, transfers: dict | None = None) -> CrossSite:
    """The cross-site exchange of ``rings`` (G k x s global GPU indices) at ``shard_bytes`` per rank.
    ``transfers`` keeps the flow-level simulation at the reference shard by op: a size sweep over the same
    rings passes one dict to every call and simulates once."""
    if op not in CROSS_FACTOR and op != "send_recv":
        raise FabricsimError(f"{op} across sites: valid operations are {', '.join(CROSS_FACTOR)}, send_recv")
    n_rings = int(np.atleast_2d(rings).shape[0])
    s = design.sites
    ideal, limit = cross_site_transfer(design, op, n_rings, shard_bytes)
    busiest = []
    if method == "flow":
        transfers = {} if transfers is None else transfers
        if op not in transfers:
            transfers[op] = simulated_cross_site_transfer(design, op, np.atleast_2d(rings), policy, seed)
        reference_s, busiest = transfers[op]
        transfer = reference_s * shard_bytes / REFERENCE_BYTES
    else:
        transfer = ideal
    return CrossSite(op, s, n_rings, shard_bytes, bytes_per_rank(op, s, shard_bytes), transfer, ideal,
                     cross_latency_s(design, op, shard_bytes), limit, method, busiest)


def time_across_sites(design: SitesDesign, site_fabric, op: str, groups: np.ndarray, size_bytes: int,
                      method: str = "analytic", algorithm: str = "auto", load_balancing: str | None = None,
                      seed: int = 0, transfers: dict | None = None) -> SitesTiming:
    """``op`` on every row of ``groups`` (global GPU indices spread evenly over the sites), hierarchically:
    inside each site on ``site_fabric`` (a Fabric for ``flow``, the site design for ``analytic``), across
    sites over the DCI.  ``transfers`` keeps the flow-level simulations at reference sizes (by inside op and
    algorithm, and ``"across"``): a size sweep over the same groups passes one dict to every call, so each
    is simulated once."""
    if op not in CROSS_FACTOR:
        raise FabricsimError(f"{op} across sites: valid operations are {', '.join(CROSS_FACTOR)}")
    transfers = {} if transfers is None else transfers
    inside, rings = ring_members(groups, design)
    g, k = inside.shape
    size = float(size_bytes)
    parts: list[GroupTiming] = []
    inner_ops = {"all_reduce": ("reduce_scatter", "all_gather"), "reduce_scatter": ("reduce_scatter",),
                 "all_gather": ("all_gather",)}[op]
    if k > 1:
        for inner in inner_ops:
            if method == "flow":
                parts.append(time_groups(site_fabric, inner, algorithm, inside, size_bytes, load_balancing, seed=seed,
                                         transfers=transfers.setdefault(inner, {})))
            else:
                parts.append(time_groups_analytic(design.site, inner, algorithm, inside, size_bytes, load_balancing))
    cross = time_cross_site(design, op, rings, size / k, method, design.scenario.sites.load_balancing, seed,
                            transfers.setdefault("across", {}))
    inside_s = sum(p.time_s for p in parts)
    inside_ideal = sum(p.ideal_time_s for p in parts)
    policy = load_balancing or design.site.load_balancing
    return SitesTiming(op, f"hierarchical across {design.sites} sites", policy, g, k * design.sites, size_bytes,
                       inside_s + cross.time_s, inside_ideal + cross.latency_s + cross.ideal_transfer_s, False,
                       [ph for p in parts for ph in p.phases], "simple",
                       sum(p.latency_s for p in parts) + cross.latency_s, inside_s=inside_s, cross=cross)


def sweep_across_sites(design: SitesDesign, op: str, sizes, ranks: int | None = None, method: str = "analytic",
                       algorithm: str = "auto"):
    """nccl-tests-style sweep of one group of ``ranks`` GPUs (default all) spread evenly over the sites, in
    rank order site by site; a :class:`fabricsim.collectives.api.CollectiveReport`."""
    from fabricsim.collectives.algorithms import padded_size
    from fabricsim.collectives.api import CollectiveReport, SizeResult, busbw_factor

    if op not in CROSS_FACTOR:
        raise FabricsimError(f"--op {op!r} across sites: valid operations are {', '.join(CROSS_FACTOR)}")
    s, per_site = design.sites, design.gpus_per_site
    ranks = design.gpus if ranks is None else ranks
    if ranks % s or ranks // s > per_site or ranks < s:
        raise FabricsimError(f"--ranks {ranks:,}: a group across {s} sites needs a multiple of {s}, at most "
                             f"{design.gpus:,}")
    k = ranks // s
    group = (np.arange(s)[:, None] * per_site + np.arange(k)[None, :]).ravel()[None, :]
    site_fabric = design.site
    if method == "flow":
        from fabricsim.topology.build import build_fabric

        site_fabric = build_fabric(design.site)
    results = []
    transfers: dict = {}  # every size scales from the same reference simulations
    for size in sizes:
        t = time_across_sites(design, site_fabric, op, group, int(size), method, algorithm, transfers=transfers)
        padded = padded_size(int(size), ranks)
        algbw = padded / t.time_s
        results.append(SizeResult(t.algorithm, "simple", int(size), padded, t.time_s, t.ideal_time_s, t.latency_s,
                                  algbw, algbw * busbw_factor(op, ranks), t.ideal_time_s / t.time_s, []))
    report = CollectiveReport(op, f"hierarchical across {s} sites", design.scenario.sites.load_balancing,
                              "contiguous per site", design.scenario.fabric.transport, ranks,
                              cross_communicator(design).channels, group[0], results, s)
    cross = t.cross
    report.notes = [f"each size: reduce-scatter / all-gather inside each site ({k:,} ranks), then across the "
                    f"{design.dci.distance_m / 1e3:g} km DCI ({cross.limit} bounds the cross-site transfer); {method}"]
    return report
