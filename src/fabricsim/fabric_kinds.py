"""Commands on scenarios that are not one fat-tree: several sites (scale-across) and torus fabrics.

The CLI asks :func:`plan_other` / :func:`collective_other` first; they answer (and return True) when
the scenario has ``sites`` or ``fabric.topology: torus``, else the fat-tree commands run as before.
"""

from __future__ import annotations

from fabricsim.io import to_jsonable


def _mfu_curve(spec, plan):
    """MFU against DCI capacity (1/16x to 16x the installed) when the scenario names a training job."""
    if "train" not in spec.workload.model_fields_set:
        return None, ""
    from fabricsim.errors import FabricsimError
    from fabricsim.workload import model_entry
    from fabricsim.workload.multisite import mfu_vs_dci

    train = spec.workload.train
    capacities = [plan.dci_capacity_bits_per_s * 2.0 ** k for k in range(-4, 5)]
    try:
        return mfu_vs_dci(spec, train, model_entry(spec, train.model, "workload.train.model"), capacities), train.model
    except FabricsimError:
        return None, ""


def plan_other(spec, json_out: bool, console, print_json, html_out=None) -> bool:
    """Plan a multi-site or torus scenario (and write its HTML page to ``html_out``); False if it is a
    single fat-tree."""
    if spec.sites is not None:
        from fabricsim.plan_sites import plan_sites
        from fabricsim.report.sites_view import print_sites_plan

        plan = plan_sites(spec)
        if json_out:
            print_json({"sites_plan": plan.to_dict()})
        else:
            print_sites_plan(plan, console)
        if html_out is not None:
            from fabricsim.report.fabric_html import sites_html, write_page

            curve, model = _mfu_curve(spec, plan)
            write_page(sites_html(plan, curve, model), html_out)
        return True
    if spec.fabric.topology == "torus":
        from fabricsim.plan_torus import compare_with_fat_tree, plan_torus
        from fabricsim.report.torus_view import print_torus_plan

        from fabricsim.topology.slices import cube_failure_cost
        from fabricsim.topology.torus import design_torus

        plan = plan_torus(spec)
        comparison = compare_with_fat_tree(spec, plan)
        design = design_torus(spec)
        failures = [cube_failure_cost(spec, design, host_availability=a) for a in (None, 0.999, 0.995, 0.99)] \
            if design.cubes > 1 else []
        if json_out:
            print_json({"torus_plan": plan.to_dict(), "fat_tree_comparison": to_jsonable(comparison),
                        "cube_failures": to_jsonable(failures)})
        else:
            print_torus_plan(plan, comparison, console, failures)
        if html_out is not None:
            from fabricsim.report.fabric_html import torus_html, write_page

            write_page(torus_html(plan, comparison, failures), html_out)
        return True
    return False


def collective_other(spec, op: str, algorithm: str, sizes: list[int], ranks, method: str, json_out: bool,
                     console, print_json, lb=None) -> bool:
    """Time a collective on a torus scenario, or across the sites of a multi-site one; False if the
    scenario is a single fat-tree."""
    from fabricsim.report.collective_view import print_collective

    if spec.sites is not None:
        from fabricsim.collectives.multisite import sweep_across_sites
        from fabricsim.topology.sites import design_sites

        report = sweep_across_sites(design_sites(spec), op, sizes, ranks, method, algorithm)
    elif spec.fabric.topology == "torus":
        from fabricsim.collectives.torus_api import run_torus_collective

        report = run_torus_collective(spec, op, algorithm, sizes, ranks, method, lb)
    else:
        return False
    if json_out:
        print_json({k: v for k, v in vars(report).items() if k != "gpus"})
    else:
        print_collective(report, console)
        for note in getattr(report, "notes", []):
            console.print(f"[dim]note: {note}")
    return True


def print_spine_free(spec, plan, console) -> None:
    """Under a 3-tier fat-tree's plan: the same fabric with its core replaced by OCS (Jupiter style)."""
    if plan.tiers != 3 or plan.rail_only:
        return
    from fabricsim.errors import FabricsimError
    from fabricsim.plan_ocs_spine import spine_free_comparison
    from fabricsim.report.torus_view import spine_free_table

    try:
        comparison = spine_free_comparison(spec)
    except FabricsimError as exc:
        console.print(f"[dim]spine-free comparison skipped: {exc}")
        return
    console.print(spine_free_table(comparison))
