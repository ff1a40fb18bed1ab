"""Evaluators of ``torus`` validation cases (see :mod:`fabricsim.validation.fabric_cases` for the metrics)."""

from __future__ import annotations

from fabricsim.errors import FabricsimError
from fabricsim.units import parse_bytes


def _twist_gain(scenario) -> float:
    """All-to-all time on the untwisted torus / on the twisted one (same shape, static routing)."""
    from fabricsim.netsim.cayley import class_loads
    from fabricsim.topology.torus import build_torus, design_torus

    loads = []
    for twisted in (False, True):
        torus = scenario.fabric.torus.model_copy(update={"twist": twisted})
        variant = scenario.model_copy(update={"fabric": scenario.fabric.model_copy(update={"torus": torus})})
        loads.append(class_loads(build_torus(design_torus(variant)), "ecmp").max())
    return float(loads[0] / loads[1])


def evaluate_torus(setup, scenario) -> float:
    from fabricsim.collectives.torus_api import run_torus_collective
    from fabricsim.plan_torus import plan_torus

    extra = setup.model_extra
    metric = setup.metric
    if metric.startswith("spine_free"):
        from fabricsim.plan_ocs_spine import spine_free_comparison

        comparison = spine_free_comparison(scenario)
        return comparison.capex_saving if metric == "spine_free_capex_saving" else comparison.power_saving
    if metric == "all_to_all_twist_gain":
        return _twist_gain(scenario)
    if metric == "all_reduce_per_pod":
        size = parse_bytes(extra.get("size", "4GiB"), "setup.size")
        result = run_torus_collective(scenario, "all_reduce", "auto", [size], method="analytic").results[0]
        return result.busbw_bytes_per_s * scenario.cluster.gpus
    plan = plan_torus(scenario)
    metrics = {"ocs_capex_share": plan.ocs_capex_share, "ocs_power_share": plan.ocs_power_share,
               "bisection": plan.bisection_bits_per_s / 8.0, "ocs_count": plan.ocs_count,
               "transceivers": plan.transceivers}
    if metric not in metrics:
        raise FabricsimError(f"torus metric {metric!r}: use one of {', '.join(metrics)}, all_reduce_per_pod, "
                             f"all_to_all_twist_gain, spine_free_capex_saving, spine_free_power_saving")
    return float(metrics[metric])
