"""A sweep's points: every combination of grid values, zip groups and samples, applied to the base.

Each point is a mapping of axis path -> value plus its scenario (the base with those values set) and
a key: a hash of the scenario and what is measured, so a rerun recognises points already done.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from dataclasses import dataclass

import numpy as np

from fabricsim.errors import FabricsimError
from fabricsim.explore.spec import Range, Sweep


@dataclass(frozen=True)
class Point:
    index: int
    axes: dict  # axis path -> value
    scenario: dict
    key: str


def set_path(data: dict, path: str, value) -> dict:
    """``data`` with the dotted ``path`` set to ``value`` (sections created as needed); a copy."""
    from fabricsim.scenario import set_field

    out = copy.deepcopy(data)
    keys = [k for k in path.split(".") if k]
    if not keys:
        raise FabricsimError(f"sweep axis {path!r}: empty path")
    set_field(out, keys, value, f"sweep axis {path!r}")
    return out


def _sample_values(samples, rng: np.random.Generator) -> list[dict]:
    """``samples.n`` points in the ranges: uniform random, or Latin hypercube (one point per stratum
    of every axis, strata shuffled per axis); log ranges are sampled in log space."""
    names = list(samples.ranges)
    n = samples.n
    if samples.method == "lhs":
        u = (np.stack([rng.permutation(n) for _ in names], axis=1) + rng.random((n, len(names)))) / n
    else:
        u = rng.random((n, len(names)))
    rows = []
    for i in range(n):
        rows.append({name: _scale(samples.ranges[name], float(u[i, j])) for j, name in enumerate(names)})
    return rows


def _scale(r: Range, u: float):
    if r.log:
        value = math.exp(math.log(r.low) + u * (math.log(r.high) - math.log(r.low)))
    else:
        value = r.low + u * (r.high - r.low)
    return int(round(value)) if r.integer else value


def point_key(scenario: dict, measure: list[str], options: dict) -> str:
    text = json.dumps({"scenario": scenario, "measure": sorted(measure), "options": options}, sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def expand(sweep: Sweep, base: dict) -> list[Point]:
    """Every point of the sweep, in a stable order."""
    grid_names = list(sweep.grid)
    grid = [dict(zip(grid_names, combo)) for combo in itertools.product(*sweep.grid.values())] or [{}]
    zips = [[{p: vals[i] for p, vals in group.items()} for i in range(len(next(iter(group.values()))))]
            for group in sweep.zip]
    zipped = [dict(itertools.chain.from_iterable(d.items() for d in combo)) for combo in itertools.product(*zips)] \
        if zips else [{}]
    sampled = _sample_values(sweep.samples, np.random.default_rng(sweep.samples.seed)) if sweep.samples else [{}]
    options = sweep.options.model_dump()
    out = []
    for i, (g, z, s) in enumerate(itertools.product(grid, zipped, sampled)):
        axes = {**g, **z, **s}
        scenario = base
        for path, value in axes.items():
            scenario = set_path(scenario, path, value)
        out.append(Point(i, axes, scenario, point_key(scenario, list(sweep.measure), options)))
    return out
