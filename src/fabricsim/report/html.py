"""Self-contained HTML report of ``fabricsim run`` (plotly inlined once; no network needed to view)."""

from __future__ import annotations

import html
from pathlib import Path

import plotly.graph_objects as go

from fabricsim.api import RunResult
from fabricsim.io import write_text
from fabricsim.units import format_bits_per_s, format_usd, format_watts

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;color:#1d2330;
background:#fafbfc}
h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #dde;padding-bottom:4px}
.sub{color:#667;margin-top:0}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{background:#fff;border:1px solid #e3e6ec;border-radius:8px;padding:10px 14px;min-width:150px}
.card .v{font-size:20px;font-weight:600}.card .k{font-size:12px;color:#667;text-transform:uppercase}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:8px 0}
td,th{border:1px solid #e3e6ec;padding:4px 8px;text-align:right}th{background:#f0f2f6}
td:first-child,th:first-child{text-align:left}.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.note{color:#667;font-size:12px}
"""


def _figure(fig: go.Figure, first: bool) -> str:
    fig.update_layout(margin=dict(l=50, r=20, t=50, b=40), height=360, template="plotly_white")
    return fig.to_html(full_html=False, include_plotlyjs="inline" if first else False,
                       config={"displayModeBar": False})


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cards(result: RunResult) -> str:
    plan, tco = result.plan, result.tco
    items = [
        ("GPUs", f"{plan.gpus:,} {plan.gpu}"),
        ("fabric", f"{plan.tiers}-tier × {plan.planes} plane"),
        ("switches", f"{plan.switches:,} {plan.switch}"),
        ("optical ends", f"{plan.optical_ends:,}"),
        ("IT power", format_watts(tco.it_power_w)),
        ("capex", format_usd(tco.capex_usd)),
        ("network share of capex", f"{tco.network_capex_share:.1%}"),
        ("$/GPU-hour", f"${tco.usd_per_gpu_hour:.2f}"),
        ("bisection", format_bits_per_s(plan.bisection_bits_per_s)),
    ]
    if result.training is not None:
        items += [("training step", f"{result.training.step_time_s:,.2f} s"), ("MFU", f"{result.training.mfu:.1%}")]
    if result.bandwidth_tax is not None:
        items.append(("bandwidth tax / year", format_usd(result.bandwidth_tax.usd_per_year)))
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="k">{html.escape(k)}</div><div class="v">{html.escape(v)}</div></div>'
        for k, v in items) + "</div>"


def build_html(result: RunResult, evidence: dict | None = None) -> str:
    """The report of a run; ``evidence``: the published measurements nearest its training step, as
    :func:`fabricsim.validation.evidence.document` gives them (its ``evidence`` part), shown under it."""
    plan = result.plan
    sections = [f"<h1>{html.escape(plan.scenario)}</h1>",
                f'<p class="sub">fabricsim report · {plan.gpus:,} × {plan.gpu} · {plan.switch} · '
                f"{result.scenario.fabric.transport}, {result.scenario.fabric.optics} optics</p>", _cards(result)]
    first = True

    categories = [c.replace("_", " ") for c in plan.power_w]
    power = go.Figure(go.Pie(labels=categories, values=[v / 1e6 for v in plan.power_w.values()], sort=False,
                             hole=0.4, texttemplate="%{label}<br>%{value:.2f} MW"))
    power.update_layout(title=f"IT power: {format_watts(sum(plan.power_w.values()))}", showlegend=False)
    capex = go.Figure(go.Pie(labels=categories, values=[v / 1e6 for v in plan.capex_usd.values()], sort=False,
                             hole=0.4, texttemplate="%{label}<br>$%{value:,.0f}M"))
    capex.update_layout(title=f"Capex: {format_usd(sum(plan.capex_usd.values()))}", showlegend=False)
    sections.append("<h2>Where the power and the money go</h2>"
                    f'<div class="grid"><div>{_figure(power, first)}</div><div>{_figure(capex, False)}</div></div>')
    first = False

    tiers = _table(["tier", "switches", "ports used / available", "links", "length", "media"],
                   [[t.tier, f"{t.switches:,}", f"{t.ports_used:,} / {t.ports_available:,}", f"{t.links:,}",
                     f"{t.link_length_m:g} m", t.media] for t in plan.tier_lines])
    sections.append("<h2>Fabric</h2>" + tiers)
    if plan.scale_up_lines:
        rows = [[m.tier, m.name, f"{m.units:,}", format_watts(m.power_w), format_usd(m.price_usd)]
                for m in plan.scale_up_lines]
        optics = sum(m.power_w for m in plan.scale_up_lines)
        sections.append(f"<h3>Scale-up domains across racks: {plan.scale_up_tiers} switch tier(s), "
                        f"{plan.scale_up_chips:,} switch chips, optics {html.escape(format_watts(optics))} "
                        f"({html.escape(format_watts(optics / max(1, plan.gpu_racks)))} per GPU rack)</h3>"
                        + _table(["links", "part", "units", "power", "price"], rows))

    options = [o for o in result.optics if not o.error]
    if options:
        fig = go.Figure([
            go.Bar(name="optics power (MW)", x=[o.family for o in options], y=[o.optics_power_w / 1e6 for o in options]),
            go.Bar(name="optics capex ($10M)", x=[o.family for o in options], y=[o.optics_capex_usd / 1e7 for o in options]),
            go.Bar(name="connection points (100k)", x=[o.family for o in options],
                   y=[o.connection_points / 1e5 for o in options]),
        ])
        fig.update_layout(title="Optics choices for the same fabric", barmode="group")
        sections.append("<h2>Optics</h2>" + _figure(fig, first))

    if result.collectives:
        labels = [f"{c.label}<br>{c.algorithm}, {c.load_balancing}" for c in result.collectives]
        fig = go.Figure(go.Bar(x=[c.busbw_bytes_per_s / 1e9 for c in result.collectives], y=labels, orientation="h",
                               text=[f"{c.delivered:.0%} of ideal" for c in result.collectives]))
        fig.update_layout(title="Collective bus bandwidth (GB/s) on this fabric", height=420,
                          yaxis=dict(autorange="reversed"))
        sections.append("<h2>Collectives</h2>" + _figure(fig, first))

    if result.training is not None:
        sections.append(_training_section(result, first))
        first = False
    if evidence is not None:
        sections.append(_evidence_section(evidence))

    if result.scaling:
        gpus = [r["gpus"] for r in result.scaling]
        fig = go.Figure(go.Scatter(x=gpus, y=[r["mtbi_s"] / 60 for r in result.scaling], mode="lines+markers",
                                   name="minutes between interruptions"))
        fig.update_layout(title="Interruption interval vs cluster size (same hardware)", xaxis_type="log",
                          yaxis_type="log", xaxis_title="GPUs", yaxis_title="minutes")
        left = _figure(fig, first)
        first = False
        fig = go.Figure(go.Scatter(x=gpus, y=[100 * r["expected_goodput"] for r in result.scaling],
                                   mode="lines+markers", name="goodput"))
        fig.update_layout(title="Expected goodput vs cluster size", xaxis_type="log", xaxis_title="GPUs",
                          yaxis_title="% effective training time")
        rel = result.reliability
        text = ""
        if rel is not None and rel.monte_carlo is not None:
            g = rel.monte_carlo.summary()["goodput"]
            text = (f"<p>This cluster: an interruption every {rel.mtbi_s / 60:,.1f} min; over {rel.days:g} days, "
                    f"goodput {g['p50']:.1%} median ({g['p5']:.1%}-{g['p95']:.1%}, {rel.monte_carlo.runs:,} runs).</p>")
        sections.append("<h2>Reliability</h2>" + text + f'<div class="grid"><div>{left}</div><div>'
                        f"{_figure(fig, first)}</div></div>")
    if result.optics_failures:
        rows = [[o.family, format_watts(o.optics_power_w), format_usd(o.optics_capex_usd),
                 f"{result.optics_failures.get(o.family, 0):,.1f}"] for o in result.optics if not o.error]
        sections.append("<h3>Optics side by side</h3>" + _table(["optics", "power", "capex", "failures / month"], rows))

    if result.notes:
        sections.append("".join(f'<p class="note">{html.escape(n)}</p>' for n in result.notes))
    return page(plan.scenario, sections)


def page(title: str, sections: list[str]) -> str:
    """A self-contained HTML page: ``sections`` (HTML) under the report's style, titled ``title`` (text)."""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(sections)}</body></html>")


def _training_section(result: RunResult, first: bool) -> str:
    step = result.training
    parts = [(k, v) for k, v in step.breakdown_s.items() if v > 0]
    fig = go.Figure([go.Bar(name=k, x=[v], y=["step"], orientation="h", text=[f"{k}<br>{v:,.2f} s"])
                     for k, v in parts])
    fig.update_layout(title=f"Step time breakdown: {step.step_time_s:,.2f} s, MFU {step.mfu:.1%}",
                      barmode="stack", height=260, xaxis_title="seconds", legend=dict(orientation="h"))
    rows = [[k, f"{v:,.2f} s"] for k, v in result.step_time_by_load_balancing.items()]
    text = (f"<p>{html.escape(step.model)} on {step.gpus:,} GPUs: {step.tokens_per_s:,.0f} tokens/s, "
            f"{step.model_flops_per_s_per_gpu / 1e12:,.0f} TFLOP/s per GPU.")
    if result.bandwidth_tax is not None:
        tax = result.bandwidth_tax
        text += (f" Bandwidth tax of ECMP vs packet spraying: {tax.wasted_share:.1%} of GPU time, "
                 f"{format_usd(tax.usd_per_year)} per year.")
    if result.usd_per_million_tokens is not None:
        text += f" ${result.usd_per_million_tokens:,.2f} per million tokens trained."
    return ("<h2>Training step</h2>" + text + "</p>" + _figure(fig, first)
            + _table(["load balancing", "step time"], rows))


def _evidence_section(doc: dict) -> str:
    """The published measurements nearest the training step and fabricsim's error on each."""
    if not doc["cases"]:
        return ("<h3>Published measurements nearest this job</h3><p class='note'>None in fabricsim's validation set "
                "is near this job: treat its figures as unvalidated.</p>")
    number = lambda x: "-" if x is None else f"{x:,.4g}"  # noqa: E731
    rows = [[c["case_id"], ", ".join(c["shared"]), number(c["display"]["published"]), number(c["display"]["model"]),
             c["display"]["unit"], "-" if c["error"] is None else f"{c['error']:+.1%}", c["role"], c["status"]]
            for c in doc["cases"]]
    return ("<h3>Published measurements nearest this job</h3><p>Re-run as this report was written: fabricsim's "
            f"|error| on them, median {doc['median_abs_error'] or 0:.1%}"
            + ("" if doc.get("median_error") is None else f" (median signed {doc['median_error']:+.1%}: + where fabricsim "
               "is above the published figure)")
            + f"; {doc['passed']} of {doc['count']} within tolerance "
            "(fabricsim validate --case &lt;case&gt; -v gives each one's setup, source and any known cause).</p>"
            + _table(["case", "shares", "published", "fabricsim", "unit", "error", "role", "result"], rows))


def write_html(result: RunResult, path: str | Path, evidence: dict | None = None) -> None:
    """Write the report atomically (a crash leaves the previous file or none, never half a page) with the
    permissions of the user's umask; a special file such as /dev/stdout is written in place."""
    write_text(path, build_html(result, evidence), "--html report")
