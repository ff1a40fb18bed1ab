"""Training across sites: data parallelism spans the campuses, everything else stays inside one.

Which parallelism spans the sites follows the rank order's slowest dimension: ``...-pp-dp`` puts the
data-parallel groups across sites (``dp`` a multiple of the site count), ``...-dp-pp`` (Megatron-Core's
default) puts the pipeline's middle stage boundary between them.  TP, CP and EP groups must stay inside
a site.  DP groups are timed hierarchically (:mod:`fabricsim.collectives.multisite`: reduce-scatter inside each site,
the exchange across the DCI, all-gather inside); a pipeline's send/recv runs its in-site boundaries on
the site's fabric and the crossing one over the DCI at the same time; every other call runs on one
site's fabric exactly as in a single-site step (the sites are identical, so site 0 is timed).  The step is then composed as
usual (:func:`fabricsim.workload.training.simulate_step`): what the DP overlap windows cannot hide is
exposed.

Reported beside the step: the same job on *one* site holding every GPU (the reference MFU), the
exposed cross-site time (this step minus the same step over an unlimited DCI), and the DCI capacity
that keeps MFU within 1% and 5% of the single site (bisection on the capacity; the cross-site
transfer is computed analytically during the search, the reported step at the configured capacity is
flow-level when the step is).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from fabricsim.collectives.multisite import SitesTiming, cross_site_transfer, time_across_sites, time_cross_site
from fabricsim.errors import FabricsimError
from fabricsim.workload.comms import CommCall, pipeline_boundaries_from, time_calls

UNLIMITED_BITS_PER_S = 1e18
"""A DCI capacity no transfer notices (the 'unlimited' reference)."""


class SitesTimer:
    """Times a step's calls for :func:`simulate_step` (its ``time_comm`` hook) on a multi-site cluster.

    Calls inside one site are timed on site 0 and cached; calls whose groups span sites (data
    parallelism) are timed hierarchically, their inside-site parts cached, their cross-site transfer
    recomputed for ``capacity_bits_per_s`` (None: the installed DCI) -- so a bandwidth search reruns
    only arithmetic."""

    def __init__(self, design, site_fabric, seed: int = 0):
        self.design = design
        self.site_fabric = site_fabric
        self.seed = seed
        self.capacity_bits_per_s: float | None = None
        self.analytic_cross = False
        self.cache: dict = {}

    def __call__(self, view, fabric, calls: list[CommCall], algorithm: str, policy, method: str) -> None:
        per_site = self.design.gpus_per_site
        for call in calls:
            sites = np.asarray(call.groups) // per_site
            if np.all(sites == sites[:, :1]):
                call.timing = self._inside(call, algorithm, policy, method, per_site)
            else:
                call.timing = self._across(call, algorithm, policy, method)

    def _inside(self, call: CommCall, algorithm, policy, method, per_site):
        key = ("inside", call.kind, call.what, call.op, call.size_bytes)
        if key not in self.cache:
            groups = np.asarray(call.groups)
            local = groups[groups[:, 0] < per_site]
            part = CommCall(call.kind, call.what, call.op, local, call.size_bytes, call.per_micro_batch, call.per_step)
            site = self.design.site
            time_calls(site, self.site_fabric if method == "flow" else None, [part], algorithm, policy, method,
                       self.seed)
            self.cache[key] = part.timing
        return self.cache[key]

    def _pipeline(self, call: CommCall, policy, method) -> SitesTiming:
        """Stage boundaries inside a site (site 0's, on its fabric) and across sites (over the DCI), at once."""
        per_site = self.design.gpus_per_site
        size = max(1, int(round(call.size_bytes)))
        src, dst = pipeline_boundaries_from(np.asarray(call.groups))
        across = src // per_site != dst // per_site
        inside = ~across & (src < per_site)
        part = None
        if inside.any():
            groups = np.stack([src[inside], dst[inside]], axis=1)
            part = CommCall(call.kind, call.what, call.op, groups, call.size_bytes, call.per_micro_batch, call.per_step)
            time_calls(self.design.site, self.site_fabric if method == "flow" else None, [part], "auto", policy,
                       method, self.seed)
        cross = time_cross_site(self.design, "send_recv", np.stack([src[across], dst[across]], axis=1), size, method,
                                self.design.scenario.sites.load_balancing, self.seed)
        inside_s = part.timing.time_s if part else 0.0
        return SitesTiming("send_recv", f"pipeline across {self.design.sites} sites", policy, int(across.sum()), 2,
                           size, max(inside_s, cross.time_s), max(inside_s, cross.latency_s + cross.ideal_transfer_s),
                           False, part.timing.phases if part else [], "simple", cross.latency_s, inside_s=inside_s,
                           cross=cross, concurrent=True)

    def _across(self, call: CommCall, algorithm, policy, method) -> SitesTiming:
        if call.op == "send_recv":
            key = ("pipeline", call.what, call.size_bytes)
            if key not in self.cache:
                self.cache[key] = self._pipeline(call, policy, method)
            return self._moved(self.cache[key])
        if call.op not in ("all_reduce", "reduce_scatter", "all_gather") or call.kind != "dp":
            raise FabricsimError(
                f"{call.kind.upper()} {call.what} ({call.op}) would cross sites: only data parallelism (dp last in "
                f"workload.train.order, dp a multiple of sites.count) or pipeline parallelism (pp last, pp a multiple "
                f"of sites.count) may span sites; keep tp, cp and ep inside a site")
        size = max(1, int(round(call.size_bytes)))
        algo = algorithm if algorithm in ("ring", "tree", "auto", "hierarchical") else "auto"  # a DP call (checked above)
        key = ("across", call.kind, call.what, call.op, size)
        if key not in self.cache:
            fabric = self.site_fabric if method == "flow" else self.design.site
            self.cache[key] = time_across_sites(self.design, fabric, call.op, call.groups, size, method, algo,
                                                policy, self.seed)
        return self._moved(self.cache[key])

    def _moved(self, timing: SitesTiming) -> SitesTiming:
        """``timing`` with its cross-site transfer recomputed for the capacity of a what-if."""
        if self.capacity_bits_per_s is None and not self.analytic_cross:
            return timing
        cross = timing.cross
        transfer, limit = cross_site_transfer(self.design, cross.op, cross.rings, cross.shard_bytes,
                                              self.capacity_bits_per_s)
        moved = replace(cross, transfer_s=transfer, ideal_transfer_s=transfer, limit=limit, method="analytic")
        total = timing.combined(moved.time_s)
        return replace(timing, time_s=total, ideal_time_s=total, cross=moved)


@dataclass
class SitesTraining:
    """A step across sites, the same job on one site, and what the DCI must carry."""

    result: object  # TrainingResult across the sites (installed DCI)
    single_site: object | None  # TrainingResult with every GPU on one site (None if that fabric cannot be built)
    unlimited_step_s: float  # the multi-site step over an unlimited DCI
    dci_bits_per_s: float  # installed capacity per direction
    needed_bits_per_s: dict[str, float | None] = field(default_factory=dict)  # "1%" / "5%" MFU loss -> capacity
    cross_bytes_per_step: float = 0.0  # bytes each site sends to its neighbour per step
    notes: list[str] = field(default_factory=list)
    site_fabric: object | None = None  # the built fabric of one site (flow-level steps), for what-ifs to reuse

    @property
    def exposed_cross_site_s(self) -> float:
        return self.result.step_time_s - self.unlimited_step_s

    @property
    def mfu_loss(self) -> float | None:
        """1 - MFU across sites / MFU on one site."""
        return 1.0 - self.result.mfu / self.single_site.mfu if self.single_site else None


def _site_fabric(design, method: str):
    if method != "flow":
        return None
    from fabricsim.topology.build import build_fabric

    return build_fabric(design.site)


def _method(spec, design) -> str:
    from fabricsim.workload.training import FLOW_LEVEL_LIMIT

    if spec.communication != "auto":
        return spec.communication
    return "flow" if design.gpus_per_site <= FLOW_LEVEL_LIMIT else "analytic"


def _single_site(scenario, spec, model, method: str):
    from fabricsim.topology.design import design_fabric
    from fabricsim.workload.training import train_on_scenario

    whole = scenario.model_copy(update={"sites": None})
    try:
        design_fabric(whole)
    except FabricsimError:
        return None
    return train_on_scenario(whole, spec.model_copy(update={"communication": method}), model)


def _search(step_at, single_mfu: float, loss: float, installed: float) -> float | None:
    """Smallest DCI capacity (bits/s) whose step keeps MFU >= (1 - loss) x single-site MFU (log bisection)."""
    def ok(capacity: float) -> bool:
        return step_at(capacity).mfu >= (1.0 - loss) * single_mfu

    if not ok(UNLIMITED_BITS_PER_S):
        return None
    low, high = 1e9, max(installed, 1e9)
    while not ok(high):
        low, high = high, high * 4
    if ok(low):
        return low
    for _ in range(40):
        mid = math.sqrt(low * high)
        low, high = (low, mid) if ok(mid) else (mid, high)
        if high / low < 1.01:
            break
    return high


def _sites_job(scenario, spec, model, site_fabric=None):
    """The job across the scenario's sites, set up once: (sites design, method, timer, ``step_at``).

    ``step_at(capacity, analytic_cross=True)`` is the step with the cross-site transfers recomputed
    analytically for ``capacity`` bits/s per direction (None: the installed DCI); ``analytic_cross=False``
    keeps them as the step timed them (flow-level when the step is).  Steps are cached by those
    arguments: a capacity search asks for some capacities more than once."""
    from fabricsim.topology.sites import design_sites
    from fabricsim.workload import catalog_entry
    from fabricsim.workload.training import simulate_step

    design = design_sites(scenario)
    method = _method(spec, design)
    timer = SitesTimer(design, site_fabric if site_fabric is not None else _site_fabric(design, method))
    view = replace(design.site, gpus=design.gpus)  # the job sees every GPU; the parts are one site's
    profile = catalog_entry(scenario, "software", spec.software, "workload.train.software")
    steps: dict = {}

    def step_at(capacity: float | None, analytic_cross: bool = True):
        key = (capacity, analytic_cross)
        if key not in steps:
            timer.capacity_bits_per_s, timer.analytic_cross = key
            steps[key] = simulate_step(view, timer.site_fabric, spec, model, method, profile, time_comm=timer)
        return steps[key]

    return design, method, timer, step_at


def mfu_vs_dci(scenario, spec, model, capacities_bits_per_s) -> list[tuple[float, float, float]]:
    """(DCI capacity, step seconds, MFU) at each capacity: the calls are simulated once, the cross-site
    transfers recomputed (analytic) for every capacity."""
    step_at = _sites_job(scenario, spec, model)[3]
    out = []
    for capacity in capacities_bits_per_s:
        step = step_at(capacity)
        out.append((float(capacity), step.step_time_s, step.mfu))
    return out


def train_across_sites(scenario, spec, model, compare: bool = False, site_fabric=None) -> SitesTraining:
    """One step of ``spec`` with DP across the scenario's sites; ``compare`` adds the single-site
    reference and the DCI capacity needed for 1% / 5% MFU loss.  ``site_fabric``: one site's fabric,
    already built (a variant that changes only the DCI, the rank order or the job has the same sites)."""
    design, method, timer, step_at = _sites_job(scenario, spec, model, site_fabric)
    result = step_at(None, analytic_cross=False)
    unlimited = step_at(UNLIMITED_BITS_PER_S).step_time_s
    cross = [c for c in result.calls if isinstance(c.timing, SitesTiming)]
    per_step = sum(c.timing.cross.rings * c.timing.cross.bytes_per_rank * (c.per_step + c.per_micro_batch
                   * result.pipeline_units) * (0.5 if c.op == "send_recv" else 1.0) for c in cross)
    out = SitesTraining(result, None, unlimited, design.dci.capacity_bits_per_s, cross_bytes_per_step=per_step,
                        site_fabric=timer.site_fabric)
    out.result.notes.append(
        f"DP across {design.sites} sites {design.dci.distance_m / 1e3:g} km apart: exposed cross-site time "
        f"{out.exposed_cross_site_s * 1e3:.1f} ms per step; {per_step / 1e12:.2f} TB cross the DCI each way per step")
    if not compare:
        return out
    out.single_site = _single_site(scenario, spec, model, method)
    if out.single_site is None:
        out.notes.append("no single-site fabric of this switch holds every GPU: no single-site reference")
        return out
    for label, loss in (("1%", 0.01), ("5%", 0.05)):
        out.needed_bits_per_s[label] = _search(step_at, out.single_site.mfu, loss, design.dci.capacity_bits_per_s)
        if out.needed_bits_per_s[label] is None:
            out.notes.append(f"within {label} of single-site MFU is out of reach at any DCI capacity: propagation "
                             f"latency and the inside-site parts alone cost more")
    return out
