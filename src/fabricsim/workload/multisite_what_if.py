"""What-ifs of a multi-site training job: one site instead, the DCI that keeps MFU within 1% / 5%,
other distances, sprayed wavelengths; with what each DCI costs per year.

Rows have the shape of :func:`fabricsim.workload.what_if.fabric_what_ifs` (change, step_time_s, mfu,
breakdown_s, explanation) so ``fabricsim train --what-if`` prints them in the same table.
"""

from __future__ import annotations

from fabricsim.errors import FabricsimError
from fabricsim.units import format_bits_per_s, format_usd


def _dci_cost(scenario, capacity_bits_per_s: float) -> tuple[str, float]:
    """('N x module', $ per year) of a DCI of ``capacity_bits_per_s`` per direction."""
    from fabricsim.plan_sites import plan_sites

    sites = scenario.sites.model_copy(update={"dci_bits_per_s": capacity_bits_per_s})
    plan = plan_sites(scenario.model_copy(update={"sites": sites}))
    module = plan.dci_lines[0].part
    return f"{plan.wavelengths} x {module}", plan.dci_usd_per_year


def _row(change: str, result, explanation: str) -> dict:
    return {"change": change, "step_time_s": result.step_time_s, "mfu": result.mfu,
            "breakdown_s": result.breakdown_s, "explanation": explanation}


def _job(scenario, overrides: dict):
    """(TrainSpec, catalog model) of the scenario's training job with ``overrides``."""
    from fabricsim.workload import _spec, model_entry

    spec = _spec(scenario.workload.train, overrides, "workload.train")
    return spec, model_entry(scenario, spec.model, "workload.train.model")


def sites_study(scenario, overrides: dict):
    """The job across the sites, the same job on one site and the DCI it needs
    (:func:`fabricsim.workload.multisite.train_across_sites` with ``compare``): what the what-ifs start from."""
    from fabricsim.workload.multisite import train_across_sites

    spec, model = _job(scenario, overrides)
    return train_across_sites(scenario, spec, model, compare=True)


def sites_what_ifs(scenario, overrides: dict, study) -> list[dict]:
    """What-if rows for a scenario with ``sites``; ``study``: its :func:`sites_study` (the step at the
    installed DCI is ``study.result``).  Every variant reuses the study's site fabric: only the DCI, the
    rank order or the wavelengths' load balancing change."""
    from fabricsim.workload.multisite import train_across_sites

    spec, model = _job(scenario, overrides)
    base = study.result

    def across(variant, job=spec):
        return train_across_sites(variant, job, model, site_fabric=study.site_fabric)

    rows = []
    installed = study.dci_bits_per_s
    label, usd = _dci_cost(scenario, installed)
    rows.append({"change": f"installed DCI {format_bits_per_s(installed)} ({label}, {format_usd(usd)}/yr)",
                 "step_time_s": base.step_time_s, "mfu": base.mfu, "breakdown_s": base.breakdown_s,
                 "explanation": f"exposed cross-site {study.exposed_cross_site_s * 1e3:,.0f} ms/step; "
                                f"{study.cross_bytes_per_step / 1e12:,.2f} TB each way per step"})
    if study.single_site is not None:
        rows.append(_row(f"one site holding all {base.gpus:,} GPUs", study.single_site,
                         f"MFU across sites is {study.mfu_loss:.1%} below this" if study.mfu_loss is not None else ""))
    for key, capacity in study.needed_bits_per_s.items():
        if capacity is None:
            rows.append({"change": f"DCI for MFU within {key} of one site", "error": "not reachable at any capacity"})
            continue
        label, usd = _dci_cost(scenario, capacity)
        variant = scenario.model_copy(update={"sites": scenario.sites.model_copy(update={"dci_bits_per_s": capacity})})
        result = across(variant).result
        rows.append(_row(f"DCI for MFU within {key}: {format_bits_per_s(capacity)} ({label}, {format_usd(usd)}/yr)",
                         result, f"{capacity / installed:.2g}x the installed capacity (searched with the analytic "
                         f"cross-site transfer; this row simulated)"))
    for km in (10.0, 500.0):
        if abs(km - scenario.sites.distance_km) < 1e-9:
            continue
        variant = scenario.model_copy(update={"sites": scenario.sites.model_copy(update={"distance_km": km})})
        try:
            result = across(variant)
        except FabricsimError as exc:
            rows.append({"change": f"sites {km:g} km apart", "error": str(exc).split(";")[0]})
            continue
        rows.append(_row(f"sites {km:g} km apart", result.result,
                         f"one-way {variant.sites.distance_km * 5:.0f} us; exposed cross-site "
                         f"{result.exposed_cross_site_s * 1e3:,.0f} ms/step"))
    dims = spec.order.split("-")
    slowest = [d for d in dims if d in ("dp", "pp")][-1]
    swapped = [d for d in dims if d not in ("dp", "pp")] + (["dp", "pp"] if slowest == "dp" else ["pp", "dp"])
    other_order = "-".join(swapped)
    try:
        result = across(scenario, spec.model_copy(update={"order": other_order}))
        rows.append(_row(f"{'pipeline' if slowest == 'dp' else 'data'} parallelism across sites instead "
                         f"(order {other_order})", result.result,
                         f"{result.cross_bytes_per_step / 1e12:,.2f} TB each way per step; exposed cross-site "
                         f"{result.exposed_cross_site_s * 1e3:,.0f} ms/step"))
    except FabricsimError as exc:
        rows.append({"change": f"order {other_order}", "error": str(exc).split(";")[0]})
    other = "spray" if scenario.sites.load_balancing == "ecmp" else "ecmp"
    variant = scenario.model_copy(update={"sites": scenario.sites.model_copy(update={"load_balancing": other})})
    result = across(variant)
    rows.append(_row(f"wavelengths {scenario.sites.load_balancing} -> {other}", result.result,
                     f"exposed cross-site {result.exposed_cross_site_s * 1e3:,.0f} ms/step"))
    return rows
