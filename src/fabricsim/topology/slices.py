"""Slices of a torus pod, and what a failed cube costs with and without OCS.

A job runs on a *slice*: a box of ``a x b x c`` cubes wired as its own torus.

* With an OCS any ``a b c`` healthy cubes of the pod can be composed into the slice (the OCS closes
  its wrap-arounds in milliseconds), wherever they sit; a failed cube is swapped for any spare.
* Without one (cube faces cabled statically) a slice must be a box of *neighbouring* cubes of the
  physical cube grid (wrapping round the pod's own torus), all healthy; and a slice smaller than a
  dimension of the pod has no wrap-around link in it (a mesh: its ring all-reduce runs at half the
  bandwidth along that dimension).

:func:`largest_job_after_failures` answers "how much of the pod can one job still use"; :func:`schedulable`
estimates, by Monte Carlo over independent cube outages, the probability that a slice shape can be
placed -- the availability argument of the TPU v4 paper for OCS.  Cube availability comes from its
hosts: a cube is down while any of its hosts is (host failure rate x repair time from the catalog).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from fabricsim.errors import FabricsimError


def cube_grid(design) -> tuple[int, ...]:
    """Cubes per dimension of the pod."""
    return tuple(d // b for d, b in zip(design.dims, design.block))


def _fits_static(down: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """For every trial (first axis of ``down``), whether some cyclic box of ``shape`` cubes (in any axis
    order) holds no failed cube."""
    trials = down.shape[0]
    grid = down.shape[1:]
    ok = np.zeros(trials, dtype=bool)
    for perm in set(itertools.permutations(shape)):
        if any(p > g for p, g in zip(perm, grid)):
            continue
        window = down.astype(np.int64)
        for axis, length in enumerate(perm, start=1):  # cyclic sliding sums along each axis
            acc = np.zeros_like(window)
            for shift in range(length):
                acc += np.roll(window, -shift, axis=axis)
            window = acc
        ok |= (window == 0).reshape(trials, -1).any(axis=1)
    return ok


def schedulable(design, shape: tuple[int, ...], cube_availability: float, with_ocs: bool, trials: int = 20000,
                seed: int = 0) -> float:
    """Probability that a slice of ``shape`` cubes can be placed when each cube is up with
    ``cube_availability`` independently."""
    grid = cube_grid(design)
    if len(shape) != len(grid):
        raise FabricsimError(f"slice shape {list(shape)} needs {len(grid)} dimensions")
    need = math.prod(shape)
    if need > math.prod(grid):
        raise FabricsimError(f"a slice of {need} cubes is larger than the pod's {math.prod(grid)}")
    rng = np.random.default_rng(seed)
    down = rng.random((trials,) + grid) > cube_availability
    if with_ocs:
        return float(np.mean(down.reshape(trials, -1).sum(axis=1) <= math.prod(grid) - need))
    return float(np.mean(_fits_static(down, shape)))


def largest_job_after_failures(design, failed_cubes: list[tuple[int, ...]], with_ocs: bool) -> int:
    """Cubes of the largest box-shaped slice that still fits with ``failed_cubes`` down."""
    grid = cube_grid(design)
    total = math.prod(grid)
    if with_ocs:
        return total - len(failed_cubes)
    down = np.zeros((1,) + grid, dtype=bool)
    for cube in failed_cubes:
        down[(0,) + tuple(cube)] = True
    best = 0
    for shape in itertools.product(*(range(1, g + 1) for g in grid)):
        size = math.prod(shape)
        if size > best and _fits_static(down, shape)[0]:
            best = size
    return best


def host_availability_from_catalog(scenario) -> float:
    """Share of time a host is up: 1 - its failures per hour x repair hours (the catalog's ``host``)."""
    host = scenario.catalog().get("failures", "host")
    return 1.0 - min(1.0, host.rate_per_unit_hour * host.repair_hours)


def hosts_per_cube(design) -> int:
    """Hosts (servers) of one cube, a scale-up domain."""
    return design.scale_up.gpus // design.scale_up.gpus_per_server


def cube_availability(scenario, design) -> float:
    """Share of time a cube is up: all its hosts up, each independently."""
    return host_availability_from_catalog(scenario) ** hosts_per_cube(design)


@dataclass(frozen=True)
class CubeFailureCost:
    """What one failed cube costs the largest job, and how often slices fit, with and without OCS."""

    cubes: int
    largest_job_cubes_with_ocs: int
    largest_job_cubes_static: int
    slice_shape: tuple[int, ...]
    host_availability: float
    schedulable_with_ocs: float
    schedulable_static: float
    ocs_reconfiguration_s: float


def cube_failure_cost(scenario, design, slice_cubes: tuple[int, ...] | None = None,
                      host_availability: float | None = None, trials: int = 20000) -> CubeFailureCost:
    """One failed cube in the middle of the pod, and Monte Carlo schedulability of a slice (default: half
    the pod's cubes along its longest dimension)."""
    grid = cube_grid(design)
    middle = tuple(g // 2 for g in grid)
    with_ocs = largest_job_after_failures(design, [middle], True)
    static = largest_job_after_failures(design, [middle], False)
    if slice_cubes is None:
        longest = int(np.argmax(grid))
        slice_cubes = tuple(max(1, g // 2) if i == longest else g for i, g in enumerate(grid))
    if host_availability is None:
        host_availability = host_availability_from_catalog(scenario)
    cube_up = host_availability ** hosts_per_cube(design)
    return CubeFailureCost(
        math.prod(grid), with_ocs, static, tuple(slice_cubes), host_availability,
        schedulable(design, slice_cubes, cube_up, True, trials), schedulable(design, slice_cubes, cube_up, False, trials),
        design.ocs.reconfiguration_s if design.ocs else 0.0)
