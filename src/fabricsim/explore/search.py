"""Parallelism search: the TP / PP / CP / DP / EP split, micro-batch and ZeRO stage that train fastest.

Every valid combination for the model and cluster is enumerated (degrees that divide the model's
heads, layers, experts and the global batch; TP inside one scale-up domain), each timed by the
analytic step model with ``recompute: auto`` (the least recomputation that fits HBM; candidates
that do not fit are dropped), then the best few are timed again flow-level on the fabric
(where the cluster is small enough), as Megatron's and Calculon's searches do analytically first.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from fabricsim.errors import FabricsimError

MAX_CANDIDATES = 4000
FLOW_LEVEL_LIMIT = 32_768


@dataclass
class Candidate:
    settings: dict  # the train() keyword arguments
    step_time_s: float
    tokens_per_s: float
    mfu: float
    recompute: str
    breakdown_s: dict
    communication: str

    @property
    def label(self) -> str:
        s = self.settings
        extra = f" EP{s['ep']}" if s.get("ep", 1) > 1 else ""
        return (f"TP{s['tp']} PP{s['pp']} CP{s['cp']} DP{s['dp']}{extra} mb{s['micro_batch']} "
                f"ZeRO-{s['zero']} recompute {self.recompute}")


@dataclass
class SearchResult:
    model: str
    gpus: int
    tried: int
    fitted: int  # candidates that fit memory and ran
    ranked: list[Candidate]
    baseline: Candidate | None  # the scenario's own configuration
    reasons: list[str] = field(default_factory=list)


def _powers_of_two(limit: int) -> list[int]:
    return [2**k for k in range(0, int(math.log2(max(1, limit))) + 1)]


def candidate_settings(model, gpus: int, domain: int, global_batch: int, seq: int,
                       expert_tp: int | None = None) -> list[dict]:
    """Every (tp, pp, cp, dp, ep, micro_batch, zero) the model and cluster admit.

    MoE models: ``ep`` divides the routed experts and, with ``expert_tp`` (None: tp, as in training),
    folds into each stage's ranks as :func:`fabricsim.workload.parallelism.check_parallelism` requires."""
    from fabricsim.workload.parallelism import Parallelism, divisors, experts_fold

    heads, kv = model.attention_heads, model.kv_heads
    experts = model.routed_experts or 0
    out = []
    tps = [t for t in _powers_of_two(min(domain, 64)) if heads % t == 0 and (kv % t == 0 or t % kv == 0)]
    pps = [p for p in _powers_of_two(64) if p <= model.layers]  # uneven stages allowed (Llama 3: 126 layers, PP16)
    cps = [c for c in _powers_of_two(32) if seq % (2 * c) == 0 or c == 1]
    for tp, pp, cp in itertools.product(tps, pps, cps):
        if gpus % (tp * pp * cp):
            continue
        dp = gpus // (tp * pp * cp)
        if global_batch % dp:
            continue
        per_replica = global_batch // dp
        eps = [e for e in divisors(experts)
               if e <= 256 and experts_fold(Parallelism(tp=tp, cp=cp, dp=dp, ep=e, etp=expert_tp or tp))] if experts else [1]
        for ep, mb in itertools.product(eps, (1, 2, 4)):
            if per_replica % mb or (pp > 1 and per_replica // mb < pp):
                continue
            for zero in ((1, 3) if pp == 1 else (1,)):
                out.append({"tp": tp, "pp": pp, "cp": cp, "dp": dp, "ep": ep, "micro_batch": mb, "zero": zero})
    return out


def _run(scenario, fabric, settings: dict, communication: str) -> Candidate:
    from fabricsim.workload import train

    r = train(scenario, fabric=fabric, **settings, recompute="auto", virtual_stages=None,
              communication=communication)
    return Candidate(settings, r.step_time_s, r.tokens_per_s, r.mfu, r.recompute, dict(r.breakdown_s),
                     r.communication)


def search_parallelism(scenario, fabric=None, top: int = 10, flow_top: int = 3, progress=None,
                       fixed: dict | None = None) -> SearchResult:
    """Rank every valid parallel layout of the scenario's training job (see the module docstring);
    ``fixed`` pins some degrees (tp, pp, cp, dp, ep, micro_batch, zero) and searches the rest."""
    from fabricsim.topology.design import design_fabric

    spec = scenario.workload.train
    design = fabric.design if fabric is not None else design_fabric(scenario)
    model = scenario.catalog().get("models", spec.model)
    gpus = spec.gpus or design.gpus
    settings = candidate_settings(model, gpus, design.scale_up.gpus, spec.global_batch, spec.seq, spec.expert_tp)
    fixed = {k: v for k, v in (fixed or {}).items() if v is not None}
    settings = [s for s in settings if all(s.get(k) == v for k, v in fixed.items())]
    if not settings:
        pinned = ", ".join(f"{k}={v}" for k, v in fixed.items())
        raise FabricsimError(f"no parallel layout of {spec.model} fits {gpus:,} GPUs with workload.train.global_batch="
                             f"{spec.global_batch}" + (f" and {pinned}" if pinned else "")
                             + ": the batch must divide among the data-parallel replicas, the degrees among the GPUs")
    if len(settings) > MAX_CANDIDATES:
        raise FabricsimError(f"{len(settings):,} layouts to try; the search stops at {MAX_CANDIDATES:,}: fix some "
                             "degrees in the scenario (workload.train) and search the rest")
    ranked = []
    for i, s in enumerate(settings):
        if progress:
            progress(i + 1, len(settings))
        try:
            ranked.append(_run(scenario, None, s, "analytic"))
        except FabricsimError:
            continue  # does not fit HBM, or an invalid combination the step model refuses
    if not ranked:
        raise FabricsimError(f"none of the {len(settings):,} layouts of {spec.model} fits HBM on {gpus:,} GPUs")
    ranked.sort(key=lambda c: c.step_time_s)
    if gpus <= FLOW_LEVEL_LIMIT and flow_top:
        from fabricsim.topology.build import build_fabric

        fabric = fabric if fabric is not None else build_fabric(design)
        for k, c in enumerate(ranked[:flow_top]):
            ranked[k] = _run(scenario, fabric, c.settings, "flow")
        ranked[:flow_top] = sorted(ranked[:flow_top], key=lambda c: c.step_time_s)
    baseline = _baseline(scenario, ranked)
    return SearchResult(spec.model, gpus, len(settings), len(ranked), ranked[:top], baseline,
                        why_it_wins(ranked[0], ranked[1] if len(ranked) > 1 else None, baseline))


def _baseline(scenario, ranked: list[Candidate]) -> Candidate | None:
    spec = scenario.workload.train
    mine = {"tp": spec.tp, "pp": spec.pp, "cp": spec.cp, "ep": spec.ep, "micro_batch": spec.micro_batch,
            "zero": spec.zero}
    for c in ranked:
        if all(c.settings.get(k) == v for k, v in mine.items()):
            return c
    return None


def why_it_wins(winner: Candidate, runner_up: Candidate | None, baseline: Candidate | None) -> list[str]:
    """The step-time entries that separate the winner from the runner-up and from the scenario's own
    layout, largest first."""
    out = []
    for other, name in ((runner_up, "the runner-up"), (baseline, "the scenario's layout")):
        if other is None or other is winner or (name != "the runner-up" and other is runner_up):
            continue
        deltas = sorted(((other.breakdown_s.get(k, 0.0) - winner.breakdown_s.get(k, 0.0), k)
                         for k in set(winner.breakdown_s) | set(other.breakdown_s) if k != "step"),
                        key=lambda d: -abs(d[0]))
        moved = ", ".join(f"{k} {d * 1e3:+.0f} ms" for d, k in deltas[:3] if abs(d) > 1e-4)
        out.append(f"vs {name} ({other.label}, {other.step_time_s:.3f} s): {moved or 'same breakdown'}")
    return out
