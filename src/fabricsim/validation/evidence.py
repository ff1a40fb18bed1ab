"""How far to trust a figure: the published measurements nearest a run, and fabricsim's error on each.

A user's training step, serving deployment or collective has no published answer, but the validation
cases nearest it do (``fabricsim validate``).  This module ranks the cases of the run's layer by the facts
they share with it and re-runs the nearest few, so a result is shown beside the public measurements that
bear on it -- including the ones fabricsim misses.

Nearness is a count of shared facts, each with a weight (:data:`WEIGHTS`): the same model, else its family,
else its kind (dense or MoE); the same GPU, else the same GPU architecture; the same precision, software
profile, serving mode, switch, collective operation and algorithm, transport, and a scale and message size
within 4x.  A case needs at least :data:`MIN_SCORE` to count as evidence: a run with nothing near it gets an empty
list, not unrelated cases.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import asdict, dataclass

from fabricsim.units import parse_bytes
from fabricsim.validation.cases import Case, display, load_cases
from fabricsim.validation.runner import Context, EVALUATORS, NotRunnable, score

WEIGHTS = {"model": 4, "family": 2, "kind": 1, "gpu": 3, "architecture": 1, "precision": 1, "software": 1,
           "scale": 1, "op": 3, "algorithm": 1, "transport": 1, "size": 1, "mode": 1, "switch": 3}
"""Points a case earns per fact it shares with the run; a model or GPU match outweighs the rest."""
MIN_SCORE = 5
"""Fewest points a case needs to be shown: e.g. the same model and GPU architecture, or the same GPU and
precision and software profile."""
_SIZE_TOKEN = re.compile(r"^(\d+(\.\d+)?[bmk]|\d+x\d+b|a\d+(\.\d+)?b|v\d+(\.\d+)?|k\d+)$")


@dataclass(frozen=True)
class Evidence:
    """One published measurement near a run and fabricsim's figure for it (SI units, as the case states)."""

    case_id: str
    what: str
    published: float
    model: float | None
    unit: str
    error: float | None  # (model - published) / published
    status: str  # pass | miss | not-runnable
    role: str  # fitted | held-out
    shared: tuple[str, ...]  # the facts it shares with the run


def model_family(name: str) -> str:
    """The family of a catalog model name: its name without the size tokens (``qwen3-30b-a3b`` -> ``qwen3``,
    ``mixtral-8x22b`` -> ``mixtral``, ``megatron-gpt-1.7b`` -> ``megatron-gpt``)."""
    parts = [p for p in name.lower().split("-") if not _SIZE_TOKEN.match(p)]
    return "-".join(parts) or name


def _model_facts(catalog, name: str | None) -> dict:
    models = catalog.sections.get("models", {})
    if name is None or name not in models:
        return {"model": name}
    entry = models[name]
    moe = bool(getattr(entry, "routed_experts", 0))
    return {"model": name, "family": model_family(name), "kind": "moe" if moe else "dense"}


def _gpu_facts(catalog, name: str) -> dict:
    entry = catalog.sections.get("gpus", {}).get(name)
    return {"gpu": name, "architecture": getattr(entry, "architecture", None)}


def shared_facts(run: dict, case: dict) -> tuple[str, ...]:
    """Facts two descriptions share (``family``/``kind`` only when the model differs, ``architecture`` only
    when the GPU differs; ``scale`` and ``size`` within a factor of 4)."""
    shared = []
    for fact in ("model", "gpu", "switch", "precision", "software", "op", "algorithm", "transport", "mode"):
        if run.get(fact) is not None and run.get(fact) == case.get(fact):
            shared.append(fact)
    if "model" not in shared:
        shared += [f for f in ("family", "kind") if run.get(f) is not None and run.get(f) == case.get(f)][:1]
    if "gpu" not in shared and run.get("architecture") and run.get("architecture") == case.get("architecture"):
        shared.append("architecture")
    for fact, field in (("scale", "gpus"), ("size", "bytes")):
        a, b = run.get(field), case.get(field)
        if a and b and abs(math.log(a / b)) <= math.log(4):
            shared.append(fact)
    return tuple(shared)


def nearness(shared: tuple[str, ...]) -> int:
    return sum(WEIGHTS[f] for f in shared)


def _serving_gpus(section: dict) -> int | None:
    """GPUs of a serving deployment: its prefill and decode instances (``section``: workload.infer settings)."""
    return (section.get("prefill_gpus") or 0) + (section.get("decode_gpus") or 0) or None


def case_facts(case: Case, catalog, defaults, workload: dict | None = None) -> dict:
    """The facts of a validation case's setup (its layer's kind of run); ``defaults``: the scenario every
    case's own settings override (fabricsim's built-in one); ``workload``: its train and infer sections as dicts
    (computed here when not given)."""
    workload = workload or {name: getattr(defaults.workload, name).model_dump() for name in ("train", "infer")}
    setup = case.setup
    cluster = setup.scenario.get("cluster", {})
    facts = _gpu_facts(catalog, cluster.get("gpu", defaults.cluster.gpu))
    facts["gpus"] = cluster.get("gpus")
    facts["transport"] = setup.scenario.get("fabric", {}).get("transport")
    facts["switch"] = setup.scenario.get("fabric", {}).get("switch", defaults.fabric.switch)
    extra = setup.model_extra
    for name in ("train", "infer"):
        if name in extra:
            section = {**workload[name], **extra[name]}
            facts.update(_model_facts(catalog, section.get("model")))
            facts.update({fact: section.get(fact) for fact in ("precision", "software", "mode")})
            facts["gpus"] = extra[name].get("gpus", facts["gpus"]) if name == "train" else _serving_gpus(section)
    if setup.kind == "collective":
        facts["op"] = extra.get("op", "all_reduce")
        facts["algorithm"] = extra.get("algorithm", "auto")
        facts["gpus"] = extra.get("ranks", facts["gpus"])
        facts["bytes"] = parse_bytes(extra.get("size", "1GiB"), "setup.size")
    return facts


def nearest_cases(run: dict, layer: str, catalog, limit: int = 5,
                  min_score: int = MIN_SCORE) -> list[tuple[Case, tuple]]:
    """The ``limit`` cases of ``layer`` nearest the run's facts (at least ``min_score`` points), nearest first;
    ties go to held-out cases, then to the closer scale."""
    from fabricsim.scenario import scenario_from_dict

    defaults, ranked = scenario_from_dict({}), []
    workload = {name: getattr(defaults.workload, name).model_dump() for name in ("train", "infer")}
    for case in load_cases(layer):
        if case.setup.model_extra.get("requires"):  # the published run used what fabricsim lacks: no figure
            continue
        facts = case_facts(case, catalog, defaults, workload)
        shared = shared_facts(run, facts)
        points = nearness(shared)
        if points >= min_score:
            distance = abs(math.log(run["gpus"] / facts["gpus"])) if run.get("gpus") and facts.get("gpus") else 99.0
            ranked.append((-points, case.role != "held-out", distance, case.id, case, shared))
    ranked.sort(key=lambda row: row[:4])
    return [(row[4], row[5]) for row in ranked[:limit]]


def evaluate(chosen: list[tuple[Case, tuple]]) -> list[Evidence]:
    """Run each chosen case now (so the figure is today's model, not a stored one) and score it."""
    ctx = Context()
    out = []
    for case, shared in chosen:
        model, error, status = None, None, "not-runnable"
        try:
            result = score(case, EVALUATORS[case.setup.kind](case.setup, ctx))
            model, error, status = result.model, result.error, result.status
        except NotRunnable:
            pass
        out.append(Evidence(case.id, case.what, case.published, model, case.unit, error, status, case.role,
                            shared))
    return out


def summary(evidence: list[Evidence]) -> dict:
    """Median |error|, median signed error (+ where fabricsim is above the published figure) and pass count
    over the evidence that ran."""
    signed = [e.error for e in evidence if e.error is not None]
    return {"count": len(evidence), "passed": sum(e.status == "pass" for e in evidence),
            "median_abs_error": statistics.median(abs(e) for e in signed) if signed else None,
            "median_error": statistics.median(signed) if signed else None}


def document(evidence: list[Evidence] | None) -> dict:
    """The ``evidence`` part of a command's JSON document (empty when evidence was not asked for)."""
    if evidence is None:
        return {}
    cases = []
    for e in evidence:
        (published, label), model = display(e.published, e.unit, e.published), display(e.model, e.unit, e.published)[0]
        cases.append({**asdict(e), "display": {"published": published, "model": model, "unit": label}})
    return {"evidence": {"cases": cases, **summary(evidence)}}


def training_evidence(scenario, overrides: dict, result, limit: int = 5) -> list[Evidence] | None:
    """Published training measurements nearest a step run with keyword ``overrides`` (None for a step across
    several sites, whose cases live in another layer)."""
    from fabricsim.workload import effective_spec

    if scenario.sites is not None:
        return None
    spec = effective_spec(scenario, "train", overrides)
    catalog = scenario.catalog()
    run = {**_gpu_facts(catalog, scenario.cluster.gpu), **_model_facts(catalog, spec.model),
           "precision": spec.precision, "software": spec.software, "gpus": result.gpus}
    return evaluate(nearest_cases(run, "training", catalog, limit))


def run_evidence(result, limit: int = 5) -> list[Evidence] | None:
    """Published training measurements nearest the training step of ``fabricsim run`` (None without one)."""
    if result.training is None:
        return None
    return training_evidence(result.scenario, {}, result.training, limit)


def inference_evidence(scenario, overrides: dict, limit: int = 5) -> list[Evidence]:
    """Published serving measurements nearest a deployment run with keyword ``overrides``."""
    from fabricsim.workload import effective_spec

    spec = effective_spec(scenario, "infer", overrides)
    catalog = scenario.catalog()
    run = {**_gpu_facts(catalog, scenario.cluster.gpu), **_model_facts(catalog, spec.model),
           "software": spec.software, "mode": spec.mode, "gpus": _serving_gpus(spec.model_dump())}
    return evaluate(nearest_cases(run, "inference", catalog, limit))


def plan_evidence(scenario, limit: int = 5) -> list[Evidence] | None:
    """Published reference-architecture counts nearest a fat-tree plan (switches, cables, pods of NVIDIA's DGX
    SuperPODs, Meta's Llama 3 cluster, Alibaba HPN): the same GPU and switch first (None for several sites or a
    torus, whose cases live in other layers)."""
    if scenario.sites is not None or getattr(scenario.fabric, "topology", "fat-tree") == "torus":
        return None
    catalog = scenario.catalog()
    run = {**_gpu_facts(catalog, scenario.cluster.gpu), "switch": scenario.fabric.switch,
           "transport": scenario.fabric.transport, "gpus": scenario.cluster.gpus}
    return evaluate(nearest_cases(run, "plan", catalog, limit))


def reliability_evidence(scenario, limit: int = 5) -> list[Evidence]:
    """Published failure and goodput figures nearest a cluster's reliability run (Llama 3's census, Meta's RSC
    clusters, OPT-175B, BLOOM, MegaScale ...): the same GPU at a scale within 4x (4 points: a reliability run has
    no model or software to share)."""
    catalog = scenario.catalog()
    run = {**_gpu_facts(catalog, scenario.cluster.gpu), "gpus": scenario.cluster.gpus}
    return evaluate(nearest_cases(run, "reliability", catalog, limit, min_score=WEIGHTS["gpu"] + WEIGHTS["scale"]))


def collective_evidence(scenario, op: str, ranks: int, size_bytes: float, algorithm: str = "auto",
                        limit: int = 5) -> list[Evidence]:
    """Published nccl-tests figures nearest a collective: the same operation first."""
    catalog = scenario.catalog()
    run = {**_gpu_facts(catalog, scenario.cluster.gpu), "op": op, "algorithm": algorithm, "gpus": ranks,
           "bytes": size_bytes, "transport": scenario.fabric.transport}
    return evaluate(nearest_cases(run, "collectives", catalog, limit))


__all__ = ["Evidence", "WEIGHTS", "MIN_SCORE", "model_family", "shared_facts", "nearness", "case_facts",
           "nearest_cases", "evaluate", "summary", "document", "training_evidence", "run_evidence", "inference_evidence", "plan_evidence", "reliability_evidence",
           "collective_evidence"]
