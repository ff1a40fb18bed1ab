"""Self-contained HTML pages for the fabrics beyond one fat-tree (``fabricsim plan --html``):

* a torus pod: the cube grid drawn in 3D with its optical (OCS) links between cubes, where the power and
  money go, what a failed cube costs with and without OCS, and the fat-tree of the same chips beside it;
* several sites: the campuses and the DCI between them drawn as a route (terminals, amplifier huts),
  the DCI's bill of materials, and MFU against the DCI's capacity when the scenario trains a model.

Plotly is inlined once; the page needs no network to view.
"""

from __future__ import annotations

import html
import itertools
from pathlib import Path

import plotly.graph_objects as go

from fabricsim.io import write_text
from fabricsim.report.html import _figure, _table, page
from fabricsim.units import format_bits_per_s, format_usd, format_watts


def _cards(items: list[tuple[str, str]]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="k">{html.escape(k)}</div><div class="v">{html.escape(v)}</div></div>'
        for k, v in items) + "</div>"


def _pies(power: dict, capex: dict, labels: dict, first: bool) -> str:
    names = [labels.get(k, k.replace("_", " ")) for k in power]
    left = go.Figure(go.Pie(labels=names, values=[v / 1e6 for v in power.values()], sort=False, hole=0.4,
                            texttemplate="%{label}<br>%{value:.3g} MW"))
    left.update_layout(title=f"IT power: {format_watts(sum(power.values()))}", showlegend=False)
    right = go.Figure(go.Pie(labels=names, values=[v / 1e6 for v in capex.values()], sort=False, hole=0.4,
                             texttemplate="%{label}<br>$%{value:,.3g}M"))
    right.update_layout(title=f"Capex: {format_usd(sum(capex.values()))}", showlegend=False)
    return f'<div class="grid"><div>{_figure(left, first)}</div><div>{_figure(right, False)}</div></div>'


def _cube_drawing(plan) -> go.Figure:
    """Cubes of the pod as points; lines between face-neighbouring cubes are the OCS circuits (dashed:
    the wrap-around)."""
    grid = [d // b for d, b in zip(plan.dims, plan.block)] + [1] * (3 - len(plan.dims))
    cubes = list(itertools.product(*(range(g) for g in grid)))
    fig = go.Figure(go.Scatter3d(x=[c[0] for c in cubes], y=[c[1] for c in cubes], z=[c[2] for c in cubes],
                                 mode="markers", marker=dict(size=6, symbol="square", color="#3b6fb6"),
                                 name=f"{plan.cubes} cubes of {'x'.join(map(str, plan.block))} chips"))
    for wrap in (False, True):
        xs, ys, zs = [], [], []
        for c in cubes:
            for d in range(3):
                if grid[d] < 2:
                    continue
                n = list(c)
                n[d] = (c[d] + 1) % grid[d]
                if (n[d] == 0) != wrap:
                    continue
                for axis, coords in ((0, xs), (1, ys), (2, zs)):
                    coords += [c[axis], n[axis], None]
        fig.add_trace(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines", name="wrap-around via OCS" if wrap else
                                   "cube-to-cube via OCS", line=dict(color="#d9822b" if wrap else "#7a8ca3",
                                                                     dash="dash" if wrap else "solid", width=2)))
    fig.update_layout(title=f"{'x'.join(map(str, plan.dims))} torus: {plan.optical_links:,} optical links through "
                      f"{plan.ocs_count} OCS", height=480, scene=dict(xaxis_title="x", yaxis_title="y",
                                                                       zaxis_title="z"))
    return fig


def torus_html(plan, comparison=None, failures=()) -> str:
    shape = "x".join(map(str, plan.dims)) + (" twisted" if plan.twisted else "")
    sections = [f"<h1>{html.escape(plan.scenario)}</h1>",
                f'<p class="sub">fabricsim plan · {plan.chips:,} × {plan.gpu} · {shape} torus of {plan.cubes} cubes</p>',
                _cards([("chips", f"{plan.chips:,}"), ("cubes", f"{plan.cubes}"), ("OCS", f"{plan.ocs_count}"),
                        ("transceivers", f"{plan.transceivers:,}"),
                        ("bisection", format_bits_per_s(plan.bisection_bits_per_s)),
                        ("OCS + optics of capex", f"{plan.ocs_capex_share:.1%}"),
                        ("OCS + optics of power", f"{plan.ocs_power_share:.1%}")])]
    sections.append("<h2>The pod</h2>" + _figure(_cube_drawing(plan), True))
    labels = {"switches": "OCS", "optics_and_cables": "optics + fibre", "scale_up_fabric": "in-cube copper",
              "nics": "host NICs", "gpus": "chips", "servers": "hosts"}
    sections.append("<h2>Where the power and the money go</h2>" + _pies(plan.power_w, plan.capex_usd, labels, False))
    if failures:
        rows = [[f"{c.host_availability:.3%}", f"{c.largest_job_cubes_with_ocs} / {c.largest_job_cubes_static}",
                 "x".join(map(str, c.slice_shape)), f"{c.schedulable_with_ocs:.1%}", f"{c.schedulable_static:.1%}"]
                for c in failures]
        sections.append("<h2>A failed cube, with and without OCS</h2>" + _table(
            ["host availability", "largest job after one cube fails (OCS / static), cubes", "slice (cubes)",
             "schedulable with OCS", "static"], rows))
    if comparison is not None and not comparison.error:
        fig = go.Figure()
        metrics = [r for r in comparison.rows if r["unit"] in ("usd", "w", "s")]
        for name, key in (("torus + OCS", "torus"), ("fat-tree", "fat_tree")):
            fig.add_trace(go.Bar(name=name, x=[r["metric"] for r in metrics],
                                 y=[r[key] / r["torus"] for r in metrics],
                                 text=[_fmt(r[key], r["unit"]) for r in metrics]))
        fig.update_layout(title=f"The same chips on a fat-tree ({comparison.fat_tree_summary}), relative to the torus",
                          barmode="group", yaxis_type="log", yaxis_title="x torus")
        sections.append("<h2>Torus + OCS vs a fat-tree of the same chips</h2>" + _figure(fig, False) + _table(
            ["", "torus + OCS", "fat-tree"],
            [[r["metric"], _fmt(r["torus"], r["unit"]), _fmt(r["fat_tree"], r["unit"])] for r in comparison.rows]))
    sections += [f'<p class="note">{html.escape(n)}</p>' for n in plan.notes]
    return page(plan.scenario, sections)


def _fmt(value: float, unit: str) -> str:
    return {"usd": format_usd, "w": format_watts, "bits/s": format_bits_per_s,
            "share": lambda v: f"{v:.1%}", "s": lambda v: f"{v * 1e3:,.2f} ms"}[unit](value)


def _route_drawing(plan) -> go.Figure:
    """The campuses and the fibre route between neighbours: terminals at the ends, amplifier huts along it."""
    km = plan.distance_km
    fig = go.Figure()
    huts = [km * (i + 1) / (plan.amplifier_sites + 1) for i in range(plan.amplifier_sites)]
    fig.add_trace(go.Scatter(x=[0, km], y=[0, 0], mode="lines", line=dict(width=6, color="#7a8ca3"),
                             name=f"{plan.fiber_pairs} fibre pair(s), {plan.wavelengths} wavelengths"))
    fig.add_trace(go.Scatter(x=[0, km], y=[0, 0], mode="markers+text", marker=dict(size=28, symbol="square",
                             color="#3b6fb6"), text=[f"site A<br>{plan.gpus_per_site:,} GPUs",
                                                     f"site B<br>{plan.gpus_per_site:,} GPUs"],
                             textposition="top center", name="campus (border switches, line terminals)"))
    if huts:
        fig.add_trace(go.Scatter(x=huts, y=[0] * len(huts), mode="markers", marker=dict(size=12, symbol="triangle-up",
                                 color="#d9822b"), name="in-line amplifier hut"))
    fig.update_layout(title=f"{km:g} km, {format_bits_per_s(plan.dci_capacity_bits_per_s)} per direction, "
                      f"{plan.one_way_latency_s * 1e6:,.0f} us one way", height=300, xaxis_title="km",
                      yaxis=dict(visible=False, range=[-1, 1.5]))
    return fig


def sites_html(plan, curve=None, model: str = "") -> str:
    sections = [f"<h1>{html.escape(plan.scenario)}</h1>",
                f'<p class="sub">fabricsim plan · {plan.sites} sites × {plan.gpus_per_site:,} GPUs · '
                f"{plan.distance_km:g} km apart</p>",
                _cards([("GPUs", f"{plan.gpus:,}"), ("DCI", format_bits_per_s(plan.dci_capacity_bits_per_s)),
                        ("wavelengths", f"{plan.wavelengths}"), ("one-way latency", f"{plan.one_way_latency_s * 1e6:,.0f} us"),
                        ("DCI per year", format_usd(plan.dci_usd_per_year)),
                        ("DCI share of capex", f"{plan.dci_share(plan.capex_usd):.2%}"),
                        ("fibre cuts / year", f"{plan.fiber_cuts_per_year:.2g}")])]
    sections.append("<h2>Between the sites</h2>" + _figure(_route_drawing(plan), True))
    sections.append("<h3>DCI bill of materials</h3>" + _table(
        ["part", "kind", "units", "power", "capex", "upkeep / year"],
        [[d.part, d.kind, f"{d.units:,.0f} {d.unit}", format_watts(d.power_w), format_usd(d.price_usd),
          format_usd(d.annual_usd)] for d in plan.dci_lines]))
    sections.append("<h2>Where the power and the money go (all sites)</h2>"
                    + _pies(plan.power_w, plan.capex_usd, {"dci": "DCI"}, False))
    if curve:
        fig = go.Figure(go.Scatter(x=[c / 1e12 for c, _, _ in curve], y=[100 * m for _, _, m in curve],
                                   mode="lines+markers", name="across sites"))
        fig.add_vline(x=plan.dci_capacity_bits_per_s / 1e12, line_dash="dash", annotation_text="installed")
        fig.update_layout(title=f"{html.escape(model)}: MFU against the DCI's capacity", xaxis_type="log",
                          xaxis_title="DCI capacity per direction (Tb/s)", yaxis_title="MFU (%)")
        sections.append("<h2>What the DCI must carry</h2>" + _figure(fig, False))
    sections += [f'<p class="note">{html.escape(n)}</p>' for n in plan.notes]
    return page(plan.scenario, sections)


def write_page(text: str, path: str | Path) -> None:
    """Write an HTML page atomically (see :func:`fabricsim.io.write_text`)."""
    write_text(path, text, "--html report")
