"""Pairs of published runs that differ only in the GPU: is fabricsim's *ratio* right, not only each figure?

Two rows of one table that share everything but the GPU (same model, layout, batch, precision, software and
fabric; e.g. Megatron-Bridge's Qwen3-30B row on GB300 and on B300) cancel what the rows share: the software
stack's unmodelled costs, the benchmark's conventions, the recipe.  Their published ratio is what a buyer asks
("how much faster is GB300 than B300 on my job?"), and fabricsim's ratio of the same two predictions should
match it whether or not each figure does.  A model that lands every figure within tolerance but gets the
ratios wrong is right for the wrong reason: two errors cancel on one GPU and not on the other.

Cases with *identical* setups on the same GPU (one layout re-published by a later release, or by another
submitter) form ``repeat`` pairs: fabricsim's ratio is 1 by construction, and the published ratio shows how far
the measurements themselves move between runs, a floor no model gets below.

Only cases that ran are paired.  A setup is compared with the GPU platform taken out of it: the GPU, the
cluster size and the platform fields that come with the GPU (scale-up system, GPUs per server and per NIC);
the job's own GPU count stays (a training job's ``gpus``, else the cluster's).
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

from fabricsim.validation.runner import CaseResult

LAYERS = ("training", "inference", "collectives")
"""Layers whose cases are paired (their figures are rates or times of one run, so ratios compare)."""
PLATFORM_FIELDS = ("gpu", "gpus", "scale_up", "gpus_per_server", "gpus_per_nic")
"""``scenario.cluster`` fields that come with the GPU platform and are left out of the comparison."""
GPU_NAME = re.compile(r"\b(?:dgx-|hgx-)?g?[abh]\d{3}[a-z0-9-]*", re.IGNORECASE)
"""A GPU or system name in a source text (A100, H800, DGX-B300, GB200 ...), left out when sources are compared."""


def publication(source: str) -> str:
    """A case's source without the GPU names in it: two rows of one table (one release, two GPUs) share it."""
    return GPU_NAME.sub("", source).lower()


@dataclass(frozen=True)
class Pair:
    """Two cases of one setup: ``first`` has the higher published figure (its ratio to ``second`` is >= 1)."""

    first: CaseResult
    second: CaseResult
    kind: str  # "gpu": the GPUs differ; "repeat": the same GPU and setup published twice

    @property
    def gpus(self) -> tuple[str, str]:
        return gpu_of(self.first), gpu_of(self.second)

    @property
    def published_ratio(self) -> float:
        return self.first.case.published / self.second.case.published

    @property
    def model_ratio(self) -> float:
        return self.first.model / self.second.model

    @property
    def ratio_error(self) -> float:
        """Signed relative error of fabricsim's ratio against the published one (+: fabricsim widens the gap)."""
        return self.model_ratio / self.published_ratio - 1.0

    def as_dict(self) -> dict:
        return {"kind": self.kind, "first": self.first.case.id, "second": self.second.case.id,
                "gpus": list(self.gpus), "published_ratio": self.published_ratio, "model_ratio": self.model_ratio,
                "ratio_error": self.ratio_error}


def gpu_of(result: CaseResult) -> str:
    """The GPU a case ran on (``"default"`` when its scenario takes the default scenario's)."""
    return str(result.case.setup.scenario.get("cluster", {}).get("gpu", "default"))


def comparison_key(result: CaseResult) -> str:
    """The case's layer, metric, unit and setup without the GPU platform (:data:`PLATFORM_FIELDS`), as one string;
    two cases pair when their keys are equal."""
    setup = result.case.setup.model_dump()  # a fresh copy: the case itself is not touched below
    scenario = setup.pop("scenario", None) or {}
    cluster = scenario.get("cluster", {})
    job = cluster.get("gpus")
    for section in ("train", "infer"):
        if isinstance(setup.get(section), dict):
            job = setup[section].pop("gpus", job)
    scenario["cluster"] = {k: v for k, v in cluster.items() if k not in PLATFORM_FIELDS}
    return json.dumps({"layer": result.case.layer, "unit": result.case.unit, "job_gpus": job, "setup": setup,
                       "scenario": scenario}, sort_keys=True, default=str)


def find_pairs(results: list[CaseResult]) -> list[Pair]:
    """Every pair of cases of :data:`LAYERS` that ran with positive figures and share a comparison key: ``gpu``
    pairs where the GPUs differ, ``repeat`` pairs where they do not.  Where one source publishes both GPUs (one
    release's table), only its own pairs count, not the same two GPUs across releases.  Sorted by |ratio error|,
    largest first."""
    groups: dict[str, list[CaseResult]] = defaultdict(list)
    for r in results:
        if r.case.layer in LAYERS and r.model and r.model > 0 and r.case.published > 0:
            groups[comparison_key(r)].append(r)
    pairs = []
    for group in groups.values():
        couples: dict[tuple[str, str], list[tuple[CaseResult, CaseResult]]] = defaultdict(list)
        for a, b in combinations(group, 2):
            couples[tuple(sorted((gpu_of(a), gpu_of(b))))].append((a, b))
        for (gpu_a, gpu_b), candidates in couples.items():
            same_source = [(a, b) for a, b in candidates if publication(a.case.source) == publication(b.case.source)]
            if gpu_a != gpu_b and same_source:  # one table's two GPUs; the cross-release copies add nothing
                candidates = same_source
            for a, b in candidates:
                first, second = (a, b) if a.case.published >= b.case.published else (b, a)
                pairs.append(Pair(first, second, "gpu" if gpu_a != gpu_b else "repeat"))
    return sorted(pairs, key=lambda p: (-abs(p.ratio_error), p.first.case.id))


def pair_summary(pairs: list[Pair]) -> dict:
    """Per kind: pairs, median |ratio error| and median signed ratio error (GPU pairs), median |published ratio - 1|
    (repeats: the published spread between runs of one setup)."""
    gpu = [p.ratio_error for p in pairs if p.kind == "gpu"]
    repeats = [abs(p.published_ratio - 1.0) for p in pairs if p.kind == "repeat"]
    return {"gpu_pairs": len(gpu),
            "median_abs_ratio_error": statistics.median(abs(e) for e in gpu) if gpu else None,
            "median_ratio_error": statistics.median(gpu) if gpu else None,
            "repeat_pairs": len(repeats),
            "median_repeat_spread": statistics.median(repeats) if repeats else None}


__all__ = ["LAYERS", "PLATFORM_FIELDS", "Pair", "gpu_of", "publication", "comparison_key", "find_pairs", "pair_summary"]
