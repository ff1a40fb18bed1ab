"""Held-out error by family: where fabricsim is biased, not only how far off it is.

A per-layer median |error| hides direction: a layer can sit at 7% median |error| while every MoE training
case runs above its published figure.  This module groups the held-out cases of the workload and collective
layers into families a practitioner recognises and reports, per family, the median *signed* error (the
bias: positive means fabricsim predicts more throughput or bandwidth than was published), the median and
90th-percentile |error| and the share within tolerance.

Families (from the facts :func:`fabricsim.validation.evidence.case_facts` reads off each case's setup):

* ``training`` and ``inference``: the model kind (dense or MoE) on the GPU architecture (``moe on blackwell``).
* ``collectives``: the operation and a message-size band, below 1 MiB (latency-bound: launch, protocol and
  per-hop costs) or from 1 MiB up (bandwidth-bound), which is where issue-level targets differ.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

import numpy as np

from fabricsim.validation.runner import CaseResult

LAYERS = ("training", "inference", "collectives")
"""Layers whose cases are grouped into families (the others are too few to split)."""
LARGE_MESSAGE_BYTES = 2**20
"""Collective messages from this size up count as bandwidth-bound (issue #11's 'from 1 MiB up' target)."""


def family(facts: dict, layer: str) -> str:
    """The family of a case from its facts: ``"moe on blackwell"``, ``"all_reduce >= 1 MiB"``."""
    if layer == "collectives":
        band = ">= 1 MiB" if (facts.get("bytes") or 0) >= LARGE_MESSAGE_BYTES else "< 1 MiB"
        return f"{facts.get('op', 'all_reduce')} {band}"
    return f"{facts.get('kind') or 'unknown'} on {facts.get('architecture') or 'unknown'}"


def case_families(results: list[CaseResult]) -> dict[str, str]:
    """Case id -> family for the results of :data:`LAYERS`."""
    from fabricsim.scenario import scenario_from_dict
    from fabricsim.validation.evidence import case_facts

    chosen = [r for r in results if r.case.layer in LAYERS]
    if not chosen:
        return {}
    defaults = scenario_from_dict({})
    catalog = defaults.catalog()
    workload = {name: getattr(defaults.workload, name).model_dump() for name in ("train", "infer")}
    return {r.case.id: family(case_facts(r.case, catalog, defaults, workload), r.case.layer) for r in chosen}


def family_rows(results: list[CaseResult], families: dict[str, str] | None = None) -> list[dict]:
    """Per layer and family, over held-out cases that ran: cases, median signed error (bias), median and
    90th-percentile |error| (linear interpolation), share within tolerance.  Sorted by layer, then family."""
    families = case_families(results) if families is None else families
    groups: dict[tuple[str, str], list[CaseResult]] = defaultdict(list)
    for r in results:
        if r.case.role == "held-out" and r.error is not None and r.case.id in families:
            groups[(r.case.layer, families[r.case.id])].append(r)
    rows = []
    for (layer, name), group in sorted(groups.items()):
        errors = [r.error for r in group]
        magnitudes = [abs(e) for e in errors]
        rows.append({"layer": layer, "family": name, "cases": len(group),
                     "median_error": statistics.median(errors),
                     "median_abs_error": statistics.median(magnitudes),
                     "p90_abs_error": float(np.percentile(magnitudes, 90)),
                     "within_tolerance": sum(r.status == "pass" for r in group) / len(group)})
    return rows


__all__ = ["LAYERS", "LARGE_MESSAGE_BYTES", "family", "case_families", "family_rows"]
