"""What a sweep measures at one point: the layers it asks for, flattened into one row of numbers.

A point that fails records its error in its row (``status = "error"``) and the sweep goes on.
Units in column names: ``_w`` watts, ``_usd`` dollars, ``_s`` seconds, ``_bits_per_s``; shares are
fractions in [0, 1].
"""

from __future__ import annotations

import math
import time

from fabricsim.errors import FabricsimError

OUTPUT_COLUMNS = (
    "gpus", "tiers", "switches", "optical_ends", "links", "bisection_bits_per_s",
    "it_power_w", "network_power_w", "network_power_share", "capex_usd", "network_capex_share", "capex_per_gpu_usd",
    "usd_per_gpu_hour", "mtbi_s", "expected_goodput", "allreduce_busbw_bytes_per_s", "step_time_s", "mfu",
    "tokens_per_s", "usd_per_million_tokens", "bandwidth_tax_usd_per_year", "bandwidth_tax_share",
    "best_layout", "best_step_time_s", "best_mfu",
)
"""Every output column a sweep can fill (absent layers leave theirs empty)."""


def measure_point(scenario_data: dict, measure: list[str], options: dict) -> dict:
    """One row: the outputs of the asked layers, or the error that stopped the point."""
    started = time.perf_counter()
    row = {c: None for c in OUTPUT_COLUMNS}
    try:
        row.update(_measure(scenario_data, set(measure), options))
        row["status"], row["error"] = "ok", ""
    except FabricsimError as exc:
        row["status"], row["error"] = "error", _short(str(exc))
    except (ArithmeticError, ValueError, MemoryError) as exc:  # a model defect: record it, go on
        row["status"], row["error"] = "error", _short(f"{type(exc).__name__}: {exc}")
    row["seconds"] = time.perf_counter() - started
    return row


def _short(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _finite(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _measure(data: dict, measure: set[str], options: dict) -> dict:
    from fabricsim.economics import total_cost_of_ownership
    from fabricsim.plan import plan_design
    from fabricsim.scenario import scenario_from_dict
    from fabricsim.topology.design import design_fabric

    scenario = scenario_from_dict(data, where="sweep point")
    design = design_fabric(scenario)
    plan = plan_design(design)
    out = {"gpus": plan.gpus, "tiers": plan.tiers, "switches": plan.switches, "optical_ends": plan.optical_ends,
           "links": sum(t.links for t in plan.tier_lines), "bisection_bits_per_s": plan.bisection_bits_per_s,
           "it_power_w": sum(plan.power_w.values()), "capex_usd": sum(plan.capex_usd.values()),
           "network_power_share": plan.network_share(plan.power_w), "network_capex_share": plan.network_share(plan.capex_usd)}
    out["network_power_w"] = out["it_power_w"] * out["network_power_share"]
    out["capex_per_gpu_usd"] = out["capex_usd"] / plan.gpus
    tco = total_cost_of_ownership(plan, scenario.economics)
    out["usd_per_gpu_hour"] = tco.usd_per_gpu_hour
    if "reliability" in measure:
        from fabricsim.reliability.from_plan import assess

        result = assess(plan, scenario, monte_carlo=bool(options.get("monte_carlo")))
        out["mtbi_s"], out["expected_goodput"] = result.mtbi_s, result.expected_goodput
    if "collectives" in measure:
        from fabricsim.collectives.api import run_collective

        r = run_collective(design, "all_reduce", "auto", [2**30], method="analytic").results[0]
        out["allreduce_busbw_bytes_per_s"] = r.busbw_bytes_per_s
    if "training" in measure:
        out.update(_training(scenario, design, tco, options))
    if "search" in measure:
        from fabricsim.explore.search import search_parallelism

        best = search_parallelism(scenario, top=1, flow_top=0).ranked[0]
        out.update({"best_layout": best.label, "best_step_time_s": best.step_time_s, "best_mfu": best.mfu})
    return {k: (_finite(v) if isinstance(v, float) else v) for k, v in out.items()}


def _training(scenario, design, tco, options: dict) -> dict:
    from fabricsim.economics import bandwidth_tax, usd_per_million_tokens
    from fabricsim.workload import train
    from fabricsim.workload.what_if import step_time_by_load_balancing

    communication = options.get("communication", "analytic")
    fabric = None
    if communication != "analytic":
        from fabricsim.topology.build import build_fabric

        fabric = build_fabric(design)
    step = train(scenario, fabric=fabric, communication=communication)
    out = {"step_time_s": step.step_time_s, "mfu": step.mfu, "tokens_per_s": step.tokens_per_s,
           "usd_per_million_tokens": usd_per_million_tokens(tco, step.tokens_per_s)}
    if options.get("load_balancing_tax") and fabric is not None:
        by_policy = step_time_by_load_balancing(scenario, fabric, step, communication=communication)
        tax = bandwidth_tax(tco, by_policy["ecmp"], by_policy["spray"])
        out["bandwidth_tax_usd_per_year"] = tax.usd_per_year
        out["bandwidth_tax_share"] = tax.wasted_share
    return out
