"""The Python API mirroring ``fabricsim run``: one call from a scenario to every layer's answer.

    import fabricsim
    result = fabricsim.run("examples/16k-h100-ndr.yaml")
    result.plan.switches, result.tco.usd_per_gpu_hour, result.collectives[0].busbw_bytes_per_s
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from fabricsim.collectives.api import run_collective
from fabricsim.economics import BandwidthTax, Tco, bandwidth_tax, total_cost_of_ownership, usd_per_million_tokens
from fabricsim.errors import FabricsimError
from fabricsim.plan import OpticsOption, Plan, compare_optics, plan_design, plans_per_optics_family
from fabricsim.reliability.from_plan import ReliabilityResult, assess
from fabricsim.scenario import Scenario, load_scenario
from fabricsim.topology.build import build_fabric
from fabricsim.topology.design import design_fabric

MATERIALISE_LIMIT = 200_000
"""Above this many GPUs ``run`` plans from counts and skips flow-level collectives (and ``collective``
times analytically): the link arrays of a larger fabric take minutes and gigabytes to build."""

MAX_PAIRWISE_FLOWS = 4096 * 4095
"""Most flows of one all-to-all simulated flow by flow (4,096 ranks: ~1 minute); larger ones are timed
analytically or refused."""

MAX_CHANNEL_FLOWS = 2_000_000
"""Most ranks x channels of one ring or tree simulated flow by flow (200,000 GPUs x 8 channels fit; ~1 minute
per size at the top)."""


@dataclass
class CollectiveSummary:
    label: str
    op: str
    algorithm: str
    load_balancing: str
    ranks: int
    size_bytes: int
    time_s: float
    busbw_bytes_per_s: float
    delivered: float


@dataclass
class RunResult:
    scenario: Scenario
    plan: Plan
    optics: list[OpticsOption]
    tco: Tco
    collectives: list[CollectiveSummary] = field(default_factory=list)
    reliability: ReliabilityResult | None = None
    scaling: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    optics_failures: dict[str, float] = field(default_factory=dict)
    training: object | None = None  # fabricsim.workload.training.TrainingResult
    step_time_by_load_balancing: dict[str, float] = field(default_factory=dict)
    bandwidth_tax: BandwidthTax | None = None
    usd_per_million_tokens: float | None = None
    cost_range: object | None = None  # fabricsim.price_ranges.CostRange: capex, shares, $/M tokens low/mid/high


def _training(scenario: Scenario, fabric, tco: Tco, notes: list[str], analytic: bool = False):
    """The scenario's training step, the same step under ECMP and spraying, the bandwidth tax between
    them and the cost per million tokens.  A defaulted workload whose default layout does not fit this cluster
    runs the parallelism search's best layout (:func:`fabricsim.commands.train_step`), or is skipped with a note
    when none fits; one the user wrote raises.  ``analytic``: time ``communication: auto`` analytically."""
    from fabricsim.commands import train_step
    from fabricsim.workload.what_if import step_time_by_load_balancing

    user_set = "train" in scenario.workload.model_fields_set
    auto = scenario.workload.train.communication == "auto"
    try:
        step, chosen, searched = train_step(scenario, {"communication": "analytic"} if analytic and auto else {}, fabric)
    except FabricsimError as exc:
        if user_set:
            raise
        notes.append(f"training step of the default workload skipped: {exc}")
        return None, {}, None, None
    if searched:
        notes.append(f"training step: {searched}")
    cost = usd_per_million_tokens(tco, step.tokens_per_s)
    if step.communication == "analytic":
        notes.append("bandwidth tax not computed: communication was timed analytically (above "
                     "the flow-level limit), which assumes load-balanced uplinks and cannot see ECMP collisions")
        return step, {step.load_balancing: step.step_time_s}, None, cost
    by_policy = step_time_by_load_balancing(scenario, fabric, step, **chosen)
    tax = bandwidth_tax(tco, by_policy["ecmp"], by_policy["spray"])
    return step, by_policy, tax, cost


def _timed(fabric, op: str, algorithm: str, size: int, lb: str, placement: str, ranks: int | None = None):
    """One collective of ``size`` bytes per rank on the fabric (``algorithm="auto"``: the library's choice)."""
    return run_collective(fabric, op, algorithm, [size], ranks=ranks, load_balancing=lb, placement=placement).results[0]


def _collectives(fabric, policy: str, notes: list[str]) -> list[CollectiveSummary]:
    """Headline collectives: the data-parallel all-reduce over every GPU (host-based under each load
    balancing policy, and in-network where the switches reduce), and an expert-parallel-like
    all-to-all among GPUs scattered over the cluster."""
    gpus = fabric.design.gpus
    out = []
    for lb in dict.fromkeys((policy, "ecmp", "spray")):
        r = _timed(fabric, "all_reduce", "auto", 2**30, lb, "contiguous")
        out.append(CollectiveSummary("all-reduce, library's choice", "all_reduce", f"{r.algorithm}/{r.protocol}", lb,
                                     gpus, r.size_bytes, r.time_s, r.busbw_bytes_per_s, r.delivered))
    from fabricsim.collectives.timing import in_network

    if in_network(fabric.design)[1]:
        try:
            r = _timed(fabric, "all_reduce", "in_network", 2**30, policy, "contiguous")
            out.append(CollectiveSummary("all-reduce, in-network", "all_reduce", r.algorithm, policy, gpus,
                                         r.size_bytes, r.time_s, r.busbw_bytes_per_s, r.delivered))
        except FabricsimError as exc:  # e.g. a partly filled scale-up domain: NCCL would not use it either
            notes.append(f"in-network all-reduce not available on all {gpus:,} GPUs: {exc}")
    ranks = min(1024, gpus)
    for lb in dict.fromkeys(("ecmp", policy, "spray")):
        r = _timed(fabric, "send_recv", "direct", 2**28, lb, "random", ranks=ranks)
        out.append(CollectiveSummary(f"send/recv, {ranks} scattered GPUs", "send_recv", r.algorithm, lb, ranks,
                                     r.size_bytes, r.time_s, r.busbw_bytes_per_s, r.delivered))
    ranks = min(128, gpus)
    for lb in dict.fromkeys(("ecmp", policy, "spray")):
        r = _timed(fabric, "all_to_all", "direct", 2**28, lb, "random", ranks=ranks)
        out.append(CollectiveSummary(f"all-to-all, {ranks} scattered GPUs", "all_to_all", r.algorithm, lb, ranks,
                                     r.size_bytes, r.time_s, r.busbw_bytes_per_s, r.delivered))
    return out


def run(scenario: Scenario | str | Path | None = None, overrides: list[str] = (), progress=None,
        flow_limit: int = MATERIALISE_LIMIT, stage: Callable[[str], None] | None = None) -> RunResult:
    """Plan, optics choices, cost, and headline collectives of a scenario (a file, a Scenario, or the default).

    Above ``flow_limit`` GPUs the plan is counted, flow-level collectives are skipped and the training
    step's ``communication: auto`` is timed analytically (a server bounds its requests' cost this way).
    ``stage(text)`` is told what is being computed (for a progress line)."""
    stage = stage or (lambda text: None)
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, overrides)
    if scenario.sites is not None or scenario.fabric.topology == "torus":
        what = "several sites" if scenario.sites is not None else "a torus"
        raise FabricsimError(f"fabricsim run covers one fat-tree; this scenario has {what}: use fabricsim plan, "
                             f"collective{' and train' if scenario.sites is not None else ''} on it")
    stage("planning the fabric")
    design = design_fabric(scenario)
    notes = []
    flow = design.gpus <= flow_limit and not design.rail_only
    if flow:
        fabric = build_fabric(design)
        plan = plan_design(design, fabric)
        stage("headline collectives (flow-level)")
        collectives = _collectives(fabric, design.load_balancing, notes)
    else:
        plan = plan_design(design)
        collectives = []
        notes.append("rail-only fabric: planned from counts; flow-level collectives need cross-rail paths"
                     if design.rail_only else f"{design.gpus:,} GPUs: planned from counts; flow-level collectives "
                     f"skipped above {flow_limit:,} GPUs")
    tco = total_cost_of_ownership(plan, scenario.economics)
    factors = None
    from fabricsim.reliability.from_plan import network_stops

    if not all(network_stops(plan, scenario.reliability).values()) and flow:
        from fabricsim.reliability.degraded import degraded_factors

        factors = degraded_factors(fabric)
        notes.append("rerouted fabric failures slow steps by the simulated all-reduce slowdown: "
                     + ", ".join(f"{k} x{v:.3f}" for k, v in factors.items()) + " (upper bound: compute is not slowed)")
    stage("training step")
    training, by_policy, tax, cost = _training(scenario, fabric if flow else None, tco, notes,
                                               analytic=design.gpus > flow_limit)
    if training is not None and "parameters" not in scenario.reliability.model_fields_set:
        from fabricsim.workload.model import parameter_counts

        params = parameter_counts(scenario.catalog().get("models", training.model)).total
        scenario = scenario.model_copy(update={"reliability": scenario.reliability.model_copy(
            update={"parameters": params})})
    stage("reliability Monte Carlo")
    reliability = assess(plan, scenario, progress=progress, degraded_step_factor=factors)
    if reliability.monte_carlo is not None and reliability.monte_carlo.capped:
        notes.append(reliability.monte_carlo.capped)
    stage("optics comparison")
    optics = compare_optics(scenario)
    from fabricsim.price_ranges import cost_range

    ranges = cost_range(plan, scenario, training.tokens_per_s if training is not None else None,
                        reliability.expected_goodput)
    stage("reliability at other sizes")
    return RunResult(scenario, plan, optics, tco, collectives, reliability, reliability_vs_size(scenario), notes,
                     optics_failures_per_month(scenario, optics), training, by_policy, tax, cost, ranges)


def collective_sweep(scenario: Scenario, op: str = "all_reduce", algorithm: str = "auto", sizes=(2**30,),
                     ranks: int | None = None, load_balancing: str | None = None, placement: str = "contiguous",
                     channels: int | None = None, seed: int = 0, fail_links: int = 0, fail_tier: int = 2,
                     method: str = "flow", protocol: str | None = None, cross_rail: bool = False,
                     stage: Callable[[str], None] | None = None, notes: list[str] | None = None,
                     min_channels: int | None = None, in_place: bool = False, gpus_per_thread: int = 1):
    """What ``fabricsim collective`` computes: (report, lost capacity by tier; None when analytic).

    ``method="analytic"`` times the sizes on the fabric's design (any scale); ``"flow"`` builds the fabric,
    takes ``fail_links`` random links of ``fail_tier`` down first, and simulates every flow; ``"auto"`` is
    flow where the work stays within ``MATERIALISE_LIMIT`` GPUs, ``MAX_CHANNEL_FLOWS`` and
    ``MAX_PAIRWISE_FLOWS``, else analytic (said in ``notes``).  Explicit flow beyond them is refused."""
    from fabricsim.collectives.algorithms import ALGORITHMS

    stage = stage or (lambda text: None)
    notes = [] if notes is None else notes
    if op not in ALGORITHMS:
        raise FabricsimError(f"--op {op!r}: valid operations are {', '.join(ALGORITHMS)}")
    if method not in ("auto", "flow", "analytic"):
        raise FabricsimError(f"--method {method!r}: valid methods are auto, flow, analytic")
    for name, value, low, high in (("--ranks", ranks, 1, None), ("--channels", channels, 1, 64),
                                   ("--min-channels", min_channels, 1, 64),
                                   ("--seed", seed, 0, 2**63 - 1), ("--fail-links", fail_links, 0, None)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low
                                  or (high is not None and value > high)):
            raise FabricsimError(f"{name}={value!r}: expected a whole number >= {low}"
                                 + (f" and <= {high}" if high is not None else ""))
    if not sizes:
        raise FabricsimError("--sizes: give at least one message size")
    design = design_fabric(scenario)
    n = design.gpus if ranks is None else ranks
    too_big = []
    if design.gpus > MATERIALISE_LIMIT:
        too_big.append(f"{design.gpus:,} GPUs (flow-level builds every link up to {MATERIALISE_LIMIT:,} GPUs)")
    lanes = n * (channels or scenario.cluster.gpus_per_server)
    if op != "all_to_all" and lanes > MAX_CHANNEL_FLOWS:
        too_big.append(f"{n:,} ranks x {lanes // n} channels = {lanes:,} flows per step (flow-level: at most "
                       f"{MAX_CHANNEL_FLOWS:,})")
    if op == "all_to_all" and n * (n - 1) > MAX_PAIRWISE_FLOWS:
        too_big.append(f"an all-to-all of {n:,} ranks has {n * (n - 1):,} flows (flow-level: at most "
                       f"{MAX_PAIRWISE_FLOWS:,}, 4,096 ranks)")
    if method == "auto":
        method = "analytic" if too_big and not fail_links else "flow"
        if too_big and not fail_links:
            notes.append("timed analytically (alpha-beta): " + "; ".join(too_big))
    if method == "flow" and too_big:
        raise FabricsimError(f"--method flow{' with --fail-links' if fail_links else ''}: " + "; ".join(too_big)
                             + "; use --method analytic or fewer --ranks")
    if method == "analytic" and not fail_links:
        stage("alpha-beta model")
        return run_collective(design, op, algorithm, list(sizes), ranks, load_balancing, placement, channels, seed,
                              method="analytic", protocol=protocol, min_channels=min_channels, in_place=in_place,
                              gpus_per_thread=gpus_per_thread), None
    stage("building the fabric")
    fabric = build_fabric(design)
    lost = {}
    if fail_links:
        from fabricsim.netsim.failures import lost_capacity, random_link_failures

        if fail_tier not in (1, 2, 3) or fail_tier > fabric.design.shape.tiers:
            raise FabricsimError(f"--fail-tier {fail_tier}: this fabric has tiers 1..{fabric.design.shape.tiers}")
        fabric = random_link_failures(fabric, fail_links, fail_tier, seed)
        lost = lost_capacity(fabric)
    stage("simulating flows")
    try:
        report = run_collective(fabric, op, algorithm, list(sizes), ranks, load_balancing, placement, channels, seed,
                                method, protocol=protocol, cross_rail=cross_rail, min_channels=min_channels,
                                in_place=in_place, gpus_per_thread=gpus_per_thread)
    except FabricsimError as exc:
        if fail_links:
            raise FabricsimError(f"with --fail-links {fail_links} on tier {fail_tier}: {exc}") from None
        raise
    return report, lost


def optics_failures_per_month(scenario: Scenario, options: list[OpticsOption]) -> dict[str, float]:
    """Optics and cable failures per 30 days for each optics family of the comparison."""
    from fabricsim.optics_choice import OPTICS_CLASSES

    out = {}
    families = tuple(o.family for o in options if not o.error)
    for family, variant, plan, _error in plans_per_optics_family(scenario, families):
        per_hour = assess(plan, variant, monte_carlo=False).interruptions_per_hour_by_class
        out[family] = 720.0 * sum(per_hour[c] for c in (*OPTICS_CLASSES, "cable"))
    return out


def reliability_vs_size(scenario: Scenario, sizes=(1024, 4096, 16384, 32768, 65536, 100_000, 262_144, 1_048_576)):
    """Interruption interval and expected goodput of the same hardware at other cluster sizes
    (each size planned from counts with the scenario's switch; sizes its fabric cannot reach are skipped)."""
    from fabricsim.errors import FabricsimError

    rows = []
    for gpus in sorted(set(sizes) | {scenario.cluster.gpus}):
        variant = scenario.model_copy(update={"cluster": scenario.cluster.model_copy(update={"gpus": gpus}),
                                              "fabric": scenario.fabric.model_copy(update={"tiers": "auto"})})
        try:
            plan = plan_design(design_fabric(variant))
        except FabricsimError:
            continue
        result = assess(plan, variant, monte_carlo=False)
        rows.append({"gpus": gpus, "tiers": plan.tiers, "mtbi_s": result.mtbi_s,
                     "interruptions_per_day": 86400.0 / result.mtbi_s, "expected_goodput": result.expected_goodput})
    return rows
