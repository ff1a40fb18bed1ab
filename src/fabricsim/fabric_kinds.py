"""Commands on scenarios that are not one fat-tree: several sites (scale-across) and torus fabrics.

``plan`` and ``collective`` ask :func:`plan_other` / :func:`collective_other` first: they return the
result when the scenario has ``sites`` or ``fabric.topology: torus``, and None for a single fat-tree
(whose commands then run as usual).  The CLI prints or writes that result; the web service's workers
return its document, so both answer the same scenario the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fabricsim.errors import FabricsimError
from fabricsim.io import to_jsonable


@dataclass
class OtherPlan:
    """The plan of a multi-site scenario (``sites``) or of a torus (``torus`` with its fat-tree comparison and
    the cost of failed cubes at several host availabilities)."""

    sites: object | None = None
    torus: object | None = None
    comparison: object | None = None
    failures: list = field(default_factory=list)


def plan_other(spec) -> OtherPlan | None:
    """Plan a multi-site or torus scenario; None if it is a single fat-tree."""
    if spec.sites is not None:
        from fabricsim.plan_sites import plan_sites

        return OtherPlan(sites=plan_sites(spec))
    if spec.fabric.topology == "torus":
        from fabricsim.plan_torus import compare_with_fat_tree, plan_torus_design
        from fabricsim.topology.slices import cube_failure_cost
        from fabricsim.topology.torus import design_torus

        design = design_torus(spec)
        plan = plan_torus_design(design)
        failures = [cube_failure_cost(spec, design, host_availability=a) for a in (None, 0.999, 0.995, 0.99)] \
            if design.cubes > 1 else []
        return OtherPlan(torus=plan, comparison=compare_with_fat_tree(spec, plan), failures=failures)
    return None


def other_plan_document(other: OtherPlan) -> dict:
    """``fabricsim plan --json`` of a multi-site or torus scenario."""
    if other.sites is not None:
        return {"sites_plan": other.sites.to_dict()}
    return {"torus_plan": other.torus.to_dict(), "fat_tree_comparison": to_jsonable(other.comparison),
            "cube_failures": to_jsonable(other.failures)}


def print_other_plan(other: OtherPlan, console) -> None:
    if other.sites is not None:
        from fabricsim.report.sites_view import print_sites_plan

        print_sites_plan(other.sites, console)
    else:
        from fabricsim.report.torus_view import print_torus_plan

        print_torus_plan(other.torus, other.comparison, console, other.failures)


def write_other_plan_html(spec, other: OtherPlan, path) -> None:
    """The HTML page of a multi-site plan (with MFU against DCI capacity when a training job is named) or of
    a torus plan."""
    from fabricsim.report.fabric_html import sites_html, torus_html, write_page

    if other.sites is not None:
        curve, model = _mfu_curve(spec, other.sites)
        write_page(sites_html(other.sites, curve, model), path)
    else:
        write_page(torus_html(other.torus, other.comparison, other.failures), path)


def _mfu_curve(spec, plan):
    """MFU against DCI capacity (1/16x to 16x the installed) when the scenario names a training job."""
    if "train" not in spec.workload.model_fields_set:
        return None, ""
    from fabricsim.workload import model_entry
    from fabricsim.workload.multisite import mfu_vs_dci

    train = spec.workload.train
    capacities = [plan.dci_capacity_bits_per_s * 2.0 ** k for k in range(-4, 5)]
    try:
        return mfu_vs_dci(spec, train, model_entry(spec, train.model, "workload.train.model"), capacities), train.model
    except FabricsimError:
        return None, ""


def other_method(spec, method: str) -> str:
    """Method for a torus or multi-site collective: auto is flow up to the flow-level bound of fat-trees
    (``api.MATERIALISE_LIMIT`` GPUs), analytic above; explicit flow above it is refused."""
    from fabricsim.api import MATERIALISE_LIMIT

    if spec.cluster.gpus <= MATERIALISE_LIMIT:
        return "flow" if method == "auto" else method
    if method == "flow":
        raise FabricsimError(f"--method flow: {spec.cluster.gpus:,} GPUs; flow-level collectives build every link up "
                             f"to {MATERIALISE_LIMIT:,} GPUs; use --method analytic")
    return "analytic" if method == "auto" else method


NCCL_RUN_OPTIONS = {"proto": None, "channels": None, "min_channels": None, "cross_rail": False, "in_place": False,
                    "gpus_per_thread": 1}
"""Options of an NCCL run on one switched fabric, with their defaults: a torus or multi-site collective takes none."""


def collective_other(spec, op: str, algorithm: str, sizes: list[int], ranks, method: str, lb=None,
                     nccl_options: dict | None = None, flag=lambda name: name):
    """A collective on a torus scenario, or across the sites of a multi-site one (``method`` as the user gave
    it: auto, flow or analytic); None if the scenario is a single fat-tree.  ``nccl_options``: the user's values of
    :data:`NCCL_RUN_OPTIONS` (any other keys are ignored); one set on the other kinds is refused, named by ``flag``."""
    given = [flag(name) for name, default in NCCL_RUN_OPTIONS.items()
             if (nccl_options or {}).get(name, default) != default]
    if given and (spec.sites is not None or spec.fabric.topology == "torus"):
        kind = "spans several sites" if spec.sites is not None else "is a torus"
        raise FabricsimError(f"{', '.join(given)}: NCCL options of a run on one switched fabric; this scenario {kind}, "
                             "whose collectives fabricsim times without them")
    if spec.sites is not None:
        from fabricsim.collectives.multisite import sweep_across_sites
        from fabricsim.topology.sites import design_sites

        return sweep_across_sites(design_sites(spec), op, sizes, ranks, other_method(spec, method), algorithm)
    if spec.fabric.topology == "torus":
        from fabricsim.collectives.torus_api import run_torus_collective

        return run_torus_collective(spec, op, algorithm, sizes, ranks, other_method(spec, method), lb)
    return None


def print_other_collective(report, console) -> None:
    from rich.markup import escape

    from fabricsim.report.collective_view import print_collective

    print_collective(report, console)
    for note in getattr(report, "notes", []):
        console.print(f"[dim]note: {escape(note)}", highlight=False)


def print_spine_free(spec, plan, console) -> None:
    """Under a 3-tier fat-tree's plan: the same fabric with its core replaced by OCS (Jupiter style)."""
    if plan.tiers != 3 or plan.rail_only:
        return
    from fabricsim.plan_ocs_spine import spine_free_comparison
    from fabricsim.report.torus_view import spine_free_table

    try:
        comparison = spine_free_comparison(spec, plan)
    except FabricsimError as exc:
        console.print(f"[dim]spine-free comparison skipped: {exc}")
        return
    console.print(spine_free_table(comparison))
