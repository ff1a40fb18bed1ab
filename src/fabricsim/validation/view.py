"""Rich tables of a validation run: every case, per-layer error statistics, the misses, and the
command itself (``fabricsim validate``), kept here so the CLI stays a thin wrapper."""

from __future__ import annotations

import json
import sys

from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

from fabricsim.validation.cases import display
from fabricsim.validation.runner import CaseResult, as_json, exit_code, run_validation, summarize

MARK = {"pass": "[green]pass", "miss": "[red]MISS", "not-runnable": "[yellow]n/a"}


def _figures(published: float | None, model: float | None, unit: str) -> tuple[str, str, str]:
    """A case's published and fabricsim figures and their unit label, both in the unit the published one picks."""

    def number(value: float | None) -> str:
        scaled = display(value, unit, published)[0]
        if scaled is None:
            return "-"
        return f"{scaled:,.0f}" if abs(scaled) >= 1000 or scaled == int(scaled) else f"{scaled:,.4g}"

    return number(published), number(model), display(None, unit, published)[1]


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def case_table(results: list[CaseResult]) -> Table:
    table = Table(title="Validation: published figures vs fabricsim", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for col in ("case", "published", "model", "unit", "error", "tolerance", "role", "result"):
        right = col in ("published", "model", "error", "tolerance")
        table.add_column(col, justify="right" if right else "left", no_wrap=col in ("case", "result"))
    layer = None
    for r in results:
        c = r.case
        if c.layer != layer:
            if layer is not None:
                table.add_section()
            table.add_row(f"[bold]{c.layer}[/]")
            layer = c.layer
        tol = {"two-sided": f"±{c.tolerance:.0%}", "lower": f"≥-{c.tolerance:.0%}"}.get(c.bound, f"≤+{c.tolerance:.0%}")
        error = "-" if r.error is None else f"{r.error:+.1%}"
        table.add_row(c.id, *_figures(c.published, r.model, c.unit), error, tol, c.role, MARK[r.status])
    return table


def summary_table(results: list[CaseResult]) -> Table:
    stats = Table(title="Per layer: |relative error| (fitted cases set a parameter; held-out ones did not)",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("layer", "role", "cases", "pass", "miss", "n/a", "mean", "median", "p90", "max", "bias"):
        stats.add_column(col, justify="left" if col in ("layer", "role") else "right")
    for row in summarize(results):
        stats.add_row(row["layer"], row["role"], str(row["cases"]), str(row["passed"]), str(row["missed"]),
                      str(row["not_runnable"]), _percent(row["mean_abs_error"]), _percent(row["median_abs_error"]),
                      _percent(row["p90_abs_error"]), _percent(row["max_abs_error"]), _signed(row["median_error"]))
    stats.caption = "bias: median signed error, + where fabricsim's figure is above the published one"
    stats.caption_justify = "left"
    return stats


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"


def family_table(results: list[CaseResult]) -> Table | None:
    """Held-out cases of the workload and collective layers by family (:mod:`fabricsim.validation.families`):
    where the model is biased, not only how far off it is; None when no such case ran."""
    from fabricsim.validation.families import family_rows

    rows = family_rows(results)
    if not rows:
        return None
    table = Table(title="Held-out cases by family: bias (median signed error) and spread",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  caption="+ bias: fabricsim predicts more throughput or bandwidth than published; families: model "
                          "kind on GPU architecture, collective operation by message size",
                  caption_justify="left")
    for col in ("layer", "family", "cases", "bias", "median |e|", "p90 |e|", "within tol."):
        table.add_column(col, justify="left" if col in ("layer", "family") else "right")
    layer = None
    for row in rows:
        if layer is not None and row["layer"] != layer:
            table.add_section()
        layer = row["layer"]
        table.add_row(row["layer"], row["family"], str(row["cases"]), _signed(row["median_error"]),
                      _percent(row["median_abs_error"]), _percent(row["p90_abs_error"]),
                      f"{row['within_tolerance']:.0%}")
    return table


def pair_table(results: list[CaseResult]) -> Table | None:
    """Runs that differ only in the GPU (:mod:`fabricsim.validation.pairs`): the published ratio of the two figures
    against fabricsim's, so a model right on each figure for the wrong reason shows; None when no pair ran."""
    from fabricsim.validation.pairs import find_pairs, pair_summary

    pairs = find_pairs(results)
    gpu = [p for p in pairs if p.kind == "gpu"]
    if not gpu:
        return None
    stats = pair_summary(pairs)
    spread = ("" if stats["median_repeat_spread"] is None else
              f"; {stats['repeat_pairs']} setups published twice on one GPU differ by a median "
              f"{stats['median_repeat_spread']:.1%} between the two runs (the measurements' own spread)")
    table = Table(title="Same run on two GPUs: published ratio vs fabricsim's (+: fabricsim widens the gap)",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  caption=f"{stats['gpu_pairs']} pairs, ratio error median |e| {stats['median_abs_ratio_error']:.1%}, "
                          f"bias {stats['median_ratio_error']:+.1%}{spread}",
                  caption_justify="left")
    for col in ("GPUs", "published", "fabricsim", "ratio error", "cases"):
        table.add_column(col, justify="right" if col in ("published", "fabricsim", "ratio error") else "left")
    for p in gpu:
        table.add_row("/".join(p.gpus), f"{p.published_ratio:.3f}", f"{p.model_ratio:.3f}", f"{p.ratio_error:+.1%}",
                      f"{p.first.case.id} / {p.second.case.id}")
    return table


def detail(r: CaseResult) -> str:
    c = r.case
    setup = {k: v for k, v in c.setup.model_dump().items() if v not in ({}, None)}
    lines = [f"[bold]{c.id}[/] ({c.layer}, {c.role}): {escape(c.what)}", f"  source: {escape(c.source)}",
             f"  setup: {escape(str(setup))}",
             f"  published: {c.published:g} {c.unit}   model: "
             + ("-" if r.model is None else f"{r.model:g} {c.unit}")
             + ("" if r.error is None else f"   error: {r.error:+.2%}") + f"   result: {r.status}"]
    if c.note and c.note not in r.reason:
        lines.append(f"  note: {escape(c.note)}")
    if r.reason:
        lines.append(f"  reason: {escape(r.reason)}")
    return "\n".join(lines)


def evidence_table(evidence) -> Table | str:
    """The published measurements nearest a run (:mod:`fabricsim.validation.evidence`) and fabricsim's error on
    each; a line saying so when none is near."""
    from fabricsim.validation.evidence import summary

    if not evidence:
        return ("[dim]no published measurement in fabricsim's validation set is near this run (fabricsim validate "
                "lists them); treat its figures as unvalidated[/]")
    stats = summary(evidence)
    median = "-" if stats["median_abs_error"] is None else f"{stats['median_abs_error']:.0%}"
    bias = "" if stats["median_error"] is None else f" (median signed {stats['median_error']:+.0%})"
    table = Table(title="Published measurements nearest this run, re-run now (fabricsim validate; a fitted case set "
                        "a constant, a held-out one did not)",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  caption=f"fabricsim's |error| on them: median {median}{bias}, {stats['passed']} of {stats['count']} within "
                          "tolerance; the setup, source and any known cause: fabricsim validate --case <case> -v",
                  caption_justify="left")
    for col in ("case", "shares", "published", "fabricsim", "unit", "error", "role", "result"):
        table.add_column(col, justify="right" if col in ("published", "fabricsim", "error") else "left",
                         no_wrap=col == "case")
    for e in evidence:
        table.add_row(e.case_id, ", ".join(e.shared), *_figures(e.published, e.model, e.unit),
                      "-" if e.error is None else f"{e.error:+.1%}", e.role, MARK[e.status])
    return table


def validation_tables(results: list[CaseResult], verbose: bool = False) -> Group:
    parts: list = [case_table(results), summary_table(results)]
    for table in (family_table(results), pair_table(results)):
        if table is not None:
            parts.append(table)
    for r in results:
        if r.status != "pass":
            colour = "red" if r.status == "miss" else "yellow"
            parts.append(f"[{colour}]{r.status}[/] {r.case.id}: {escape(r.reason)}")
    if verbose:
        parts.extend(detail(r) for r in results)
    return Group(*parts)


def validate_command(layer: str | None, case: str | None, verbose: bool, json_out: bool,
                     console: Console | None = None, match: str | None = None) -> int:
    """Run the cases, print the tables (or JSON), return the exit code (1 if any case misses)."""
    console = console or Console()
    if json_out:
        results = run_validation(layer, case, match=match)
        sys.stdout.write(json.dumps(as_json(results), indent=2) + "\n")
    else:
        with console.status("validating") as status:
            results = run_validation(layer, case, progress=lambda c: status.update(f"validating {c.id}"), match=match)
        console.print(validation_tables(results, verbose))
    return exit_code(results)


def attribution_command(layer: str | None, case: str | None, match: str | None, json_out: bool,
                        console: Console | None = None) -> int:
    """``fabricsim validate --attribute``: each selected training case's missing time per pipeline unit against the
    parts of fabricsim's step (or, when no training case is selected, each static serving case's missing seconds
    against the parts of its run), and which part the misses keep a steady ratio to (:mod:`..attribution`)."""
    from fabricsim.validation.attribution import attribute, attribute_serving, ratio_spread
    from fabricsim.validation.runner import select_cases

    console = console or Console()
    cases = select_cases(layer, case, match)
    training = any(c.layer == "training" for c in cases)
    rows = attribute(cases) if training else attribute_serving(cases)
    spread = ratio_spread(rows)
    if json_out:
        sys.stdout.write(json.dumps({
            "cases": [{"id": r.case_id, "error": r.error, "missing_s": r.missing_s, "parts_s": r.parts_s} for r in rows],
            "ratios": [{"part": n, "median": m, "robust_spread": s, "spread": c} for n, m, s, c in spread]},
            indent=2) + "\n")
        return 0
    parts = [name for name, *_ in spread] or sorted({name for r in rows for name in r.parts_s})
    unit = ("ms per micro-batch of the busiest stage" if training else "s of the whole run (every wave)")
    scale = 1e3 if training else 1.0
    table = Table(title=f"Where the misses sit: missing {unit}, and fabricsim's parts",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("case", "error", "missing", *parts):
        table.add_column(col, justify="left" if col == "case" else "right", no_wrap=col == "case")
    for r in rows:
        table.add_row(r.case_id, f"{r.error:+.1%}", f"{r.missing_s * scale:,.1f}",
                      *(f"{r.parts_s.get(p, 0.0) * scale:,.1f}" for p in parts))
    ratios = Table(title="missing / part over the cases, steadiest first (a ratio is where to look, not a cause)",
                   title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("part", "median ratio", "robust spread", "spread"):
        ratios.add_column(col, justify="left" if col == "part" else "right")
    for name, median, robust, plain in spread:
        ratios.add_row(name, f"{median:,.2f}", f"{robust:.0%}", f"{plain:.0%}")
    console.print(Group(table, ratios) if spread else table)
    return 0
