"""Validation cases for the fabrics beyond one fat-tree: multi-site exchanges and torus + OCS pods.

``multisite`` setup (the scenario has ``sites``): ``op`` (default all_reduce) on ``groups`` DP groups of
``group_ranks`` ranks each, rank ``j`` of group ``m`` on GPU ``m + groups x j`` (model-parallel shards
fastest, DP slowest: the first half of every group in site 0), ``size`` bytes per group
(nccl-tests convention); metrics:

* ``cross_bytes_per_host``: bytes each host sends across (per rank x ``ranks_per_host``);
* ``cross_time``: seconds of the cross-site exchange (latency + transfer);
* ``weak_scaling``: ``1 - cross_time / step_s`` -- the share of a step of ``step_s`` seconds left when the
  exchange does not overlap compute (as PaLM reports for its two pods).

``torus`` setup (``fabric.topology: torus``): metrics ``ocs_capex_share``, ``ocs_power_share`` (OCS and the
optical transceivers over the whole system), ``bisection`` (bytes/s, one direction), ``all_reduce_per_pod``
(chips x busbw of a full-pod all-reduce of ``size``, analytic), ``all_to_all_twist_gain`` (untwisted /
twisted all-to-all time on the scenario's shape), and the Jupiter-style ``spine_free_capex_saving`` /
``spine_free_power_saving`` of a fat-tree scenario (see :mod:`fabricsim.plan_ocs_spine`).

``scale_up`` setup (a fat-tree scenario whose scale-up system is sized from links): metrics
``scale_up_optics_power_per_rack`` (W of scale-up optics per GPU rack), ``scale_up_chips``, ``scale_up_tiers``.
"""

from __future__ import annotations

import numpy as np

from fabricsim.errors import FabricsimError
from fabricsim.units import parse_bytes


def _multisite(setup, scenario) -> float:
    from fabricsim.collectives.multisite import ring_members, time_cross_site
    from fabricsim.topology.sites import design_sites

    extra = setup.model_extra
    design = design_sites(scenario)
    groups, n = int(extra["groups"]), int(extra["group_ranks"])
    members = np.arange(groups)[:, None] + groups * np.arange(n)[None, :]
    _, rings = ring_members(members, design)
    size = float(parse_bytes(extra.get("size", "1GiB"), "setup.size"))
    cross = time_cross_site(design, extra.get("op", "all_reduce"), rings, size / (n // design.sites),
                            extra.get("method", "analytic"))
    metrics = {
        "cross_bytes_per_host": lambda: cross.bytes_per_rank * extra.get("ranks_per_host", 1),
        "cross_time": lambda: cross.time_s,
        "weak_scaling": lambda: 1.0 - cross.time_s / float(extra["step_s"]),
    }
    if setup.metric not in metrics:
        raise FabricsimError(f"multisite metric {setup.metric!r}: use one of {', '.join(metrics)}")
    return float(metrics[setup.metric]())


def _scale_up(setup, scenario) -> float:
    from fabricsim.plan import plan_scenario

    plan = plan_scenario(scenario, materialise=False)
    metrics = {"scale_up_optics_power_per_rack": lambda: sum(m.power_w for m in plan.scale_up_lines) / plan.gpu_racks,
               "scale_up_chips": lambda: plan.scale_up_chips, "scale_up_tiers": lambda: plan.scale_up_tiers}
    if setup.metric not in metrics:
        raise FabricsimError(f"scale_up metric {setup.metric!r}: use one of {', '.join(metrics)}")
    return float(metrics[setup.metric]())


def evaluate(setup, scenario) -> float:
    """The metric of a ``multisite``, ``scale_up`` or ``torus`` case on its scenario."""
    if setup.kind == "multisite":
        return _multisite(setup, scenario)
    if setup.kind == "scale_up":
        return _scale_up(setup, scenario)
    from fabricsim.validation.torus_cases import evaluate_torus

    return evaluate_torus(setup, scenario)
