"""What a worker process computes for each endpoint: the CLI command's work and its ``--json`` document.

Every function takes plain data (the scenario as a dict, the options), calls the same public
Python API as the CLI, and returns the document as plain JSON types.  They run in the server's
worker pool (:mod:`fabricsim.web.jobs`), so they must be importable top-level functions.
"""

from __future__ import annotations

from fabricsim.io import to_jsonable
from fabricsim.report import documents
from fabricsim.scenario import scenario_from_dict

WHERE = "the request's scenario"


def warm() -> None:
    """Import the layers once when a worker starts, so the first request does not pay for it."""
    import fabricsim.api  # noqa: F401
    import fabricsim.workload.inference  # noqa: F401
    import fabricsim.workload.training  # noqa: F401


def plan(data: dict, compare_optics: bool, count_only: bool, evidence: bool = True) -> dict:
    from fabricsim.fabric_kinds import other_plan_document, plan_other
    from fabricsim.plan import compare_optics as compare
    from fabricsim.plan import plan_scenario
    from fabricsim.price_ranges import cost_range

    spec = scenario_from_dict(data, WHERE)
    other = plan_other(spec)  # several sites, or a torus
    if other is not None:
        return to_jsonable(other_plan_document(other))
    from fabricsim.validation.evidence import document, plan_evidence

    result = plan_scenario(spec, materialise=False if count_only else None)
    options = compare(spec) if compare_optics else []
    nearest = document(plan_evidence(spec) if evidence else None)
    return to_jsonable({**documents.plan_document(result, options, cost_range(result, spec)), **nearest})


def run(data: dict, flow_limit: int, notes: list[str], evidence: bool = True) -> dict:
    from fabricsim.api import run as run_scenario
    from fabricsim.validation.evidence import document, run_evidence

    result = run_scenario(scenario_from_dict(data, WHERE), flow_limit=flow_limit)
    doc = documents.run_document(result)
    nearest = document(run_evidence(result) if evidence else None)
    return to_jsonable({**doc, "notes": list(doc["notes"]) + notes, **nearest})


def reliability(data: dict, compare_optics: bool, notes: list[str], evidence: bool = True) -> dict:
    from fabricsim.optics_choice import compare_optics_reliability
    from fabricsim.plan import plan_scenario
    from fabricsim.reliability.from_plan import assess
    from fabricsim.validation.evidence import document, reliability_evidence

    spec = scenario_from_dict(data, WHERE)
    result = assess(plan_scenario(spec, materialise=False), spec)
    doc = documents.reliability_document(result, compare_optics_reliability(spec) if compare_optics else [])
    nearest = document(reliability_evidence(spec) if evidence else None)
    return to_jsonable({**doc, "notes": list(doc.get("notes", [])) + notes, **nearest})


def train(data: dict, overrides: dict, what_if: bool, notes: list[str], evidence: bool = True) -> dict:
    from fabricsim.commands import train_and_what_ifs
    from fabricsim.validation.evidence import document, training_evidence

    scenario = scenario_from_dict(data, WHERE)
    result, rows = train_and_what_ifs(scenario, overrides, what_if)
    doc = documents.training_document(result)
    doc["notes"] = list(doc["notes"]) + notes
    nearest = document(training_evidence(scenario, overrides, result) if evidence else None)
    return to_jsonable({**doc, **({"what_ifs": rows} if rows else {}), **nearest})


def infer(data: dict, overrides: dict, evidence: bool = True) -> dict:
    from fabricsim.commands import infer_deployment
    from fabricsim.validation.evidence import document, inference_evidence

    scenario = scenario_from_dict(data, WHERE)
    result, chosen, note = infer_deployment(scenario, overrides)
    doc = {**documents.inference_document(result), **({"note": note} if note else {})}
    return to_jsonable({**doc, **document(inference_evidence(scenario, chosen) if evidence else None)})


def collective(data: dict, sizes: list[int], options: dict) -> dict:
    from fabricsim.api import collective_sweep
    from fabricsim.fabric_kinds import collective_other

    o = options
    spec = scenario_from_dict(data, WHERE)
    other = collective_other(spec, o["op"], o["algo"] or "auto", sizes, o["ranks"], o["method"], o["lb"], o)
    if other is not None:  # a torus, or several sites
        return to_jsonable(documents.collective_document(other))
    from fabricsim.validation.evidence import collective_evidence, document

    report, lost = collective_sweep(spec, o["op"], o["algo"] or "auto", sizes, o["ranks"], o["lb"], o["placement"],
                                    o["channels"], o["seed"], o["fail_links"], o["fail_tier"], o["method"], o["proto"],
                                    o["cross_rail"], min_channels=o["min_channels"], in_place=o["in_place"],
                                    gpus_per_thread=o["gpus_per_thread"])
    nearest = collective_evidence(spec, o["op"], report.ranks, max(sizes), o["algo"] or "auto") if o["evidence"] else None
    return to_jsonable({**documents.collective_document(report, lost), **document(nearest)})
