"""A sweep's results as one self-contained HTML page: Pareto fronts, trends along every axis, and the
table of Pareto-optimal points (plotly, its JavaScript embedded once, no network needed to view)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from fabricsim.errors import FabricsimError
from fabricsim.explore import store
from fabricsim.io import write_atomic

OBJECTIVES = {  # column: (label, sense); min = lower is better
    "capex_per_gpu_usd": ("capex per GPU ($)", "min"),
    "step_time_s": ("step time (s)", "min"),
    "usd_per_million_tokens": ("$ per million tokens", "min"),
    "mfu": ("MFU", "max"),
    "network_power_share": ("network share of IT power", "min"),
    "network_capex_share": ("network share of capex", "min"),
    "mtbi_s": ("interruption interval (s)", "max"),
    "expected_goodput": ("goodput", "max"),
    "usd_per_gpu_hour": ("$ per GPU-hour", "min"),
    "it_power_w": ("IT power (W)", "min"),
}
TREND_METRICS = ("capex_per_gpu_usd", "network_power_share", "mtbi_s", "step_time_s", "mfu", "usd_per_million_tokens")
"""Columns drawn against every sweep axis."""
DEFAULT_FRONTS = [("capex_per_gpu_usd", "step_time_s"), ("usd_per_million_tokens", "mfu"),
                  ("capex_per_gpu_usd", "network_power_share"), ("usd_per_gpu_hour", "mtbi_s")]


def pareto_mask(x: np.ndarray, y: np.ndarray, sense_x: str = "min", sense_y: str = "min") -> np.ndarray:
    """True for points no other point beats (<= on both objectives, < on one); of identical points
    the first is kept."""
    a = x if sense_x == "min" else -x
    b = y if sense_y == "min" else -y
    order = np.lexsort((b, a))
    keep = np.zeros(a.size, dtype=bool)
    best = np.inf
    for i in order:
        if b[i] < best:
            keep[i] = True
            best = b[i]
    return keep


def _columns(table) -> dict[str, list]:
    return {name: table.column(name).to_pylist() for name in table.column_names}


def _numeric(values) -> np.ndarray | None:
    try:
        arr = np.array([np.nan if v is None else float(v) for v in values])
    except (TypeError, ValueError):
        return None
    return arr if np.isfinite(arr).any() else None


def sweep_report(out: str | Path, html_path: str | Path, fronts: list[tuple[str, str]] | None = None) -> dict:
    """Write the report of the results in ``out`` to ``html_path``; returns what it drew."""
    import plotly.graph_objects as go
    import plotly.io as pio

    table = store.read_results(Path(out))
    cols = _columns(table)
    ok = np.array([s == "ok" for s in cols["status"]])
    axes = [c for c in cols if c.startswith("in.")]
    figures, pareto_rows, drawn = [], [], []
    for fx, fy in (fronts or DEFAULT_FRONTS):
        x, y = _numeric(cols.get(fx, [])), _numeric(cols.get(fy, []))
        if x is None or y is None:
            continue
        valid = ok & np.isfinite(x) & np.isfinite(y)
        if valid.sum() < 2:
            continue
        idx = np.nonzero(valid)[0]
        mask = pareto_mask(x[idx], y[idx], OBJECTIVES.get(fx, ("", "min"))[1], OBJECTIVES.get(fy, ("", "min"))[1])
        label = [", ".join(f"{a[3:]}={cols[a][i]}" for a in axes) for i in idx]
        fig = go.Figure()
        fig.add_scatter(x=x[idx], y=y[idx], mode="markers", name="points", text=label, marker={"color": "#9aa"})
        front = idx[mask][np.argsort(x[idx][mask])]
        fig.add_scatter(x=x[front], y=y[front], mode="lines+markers", name="Pareto front",
                        text=[label[list(idx).index(i)] for i in front], marker={"color": "#d62728"})
        fig.update_layout(title=f"Pareto front: {_label(fx)} vs {_label(fy)}", xaxis_title=_label(fx),
                          yaxis_title=_label(fy), height=420)
        figures.append(fig)
        drawn.append((fx, fy, int(mask.sum())))
        pareto_rows += [(fx, fy, i) for i in front]
    trends = {metric: _numeric(cols.get(metric, [])) for metric in TREND_METRICS}
    trends = {metric: y for metric, y in trends.items() if y is not None}
    for axis in axes:
        xs = cols[axis]
        for metric, y in trends.items():
            other = next((a for a in axes if a != axis), None)
            fig = go.Figure()
            groups = sorted({str(cols[other][i]) for i in range(len(xs))}, key=_natural) if other else [None]
            for g in groups:
                sel = [i for i in range(len(xs)) if ok[i] and np.isfinite(y[i]) and (g is None or str(cols[other][i]) == g)]
                if not sel:
                    continue
                sel.sort(key=lambda i: (xs[i] is None, xs[i]))
                fig.add_scatter(x=[xs[i] for i in sel], y=[y[i] for i in sel], mode="lines+markers",
                                name=f"{other[3:]}={g}" if g is not None else metric)
            fig.update_layout(title=f"{_label(metric)} along {axis[3:]}", xaxis_title=axis[3:],
                              yaxis_title=_label(metric), height=360)
            figures.append(fig)
    if not figures:
        raise FabricsimError(f"{out}: nothing to draw (no successful points with numeric outputs)")
    parts = [pio.to_html(f, include_plotlyjs=(k == 0), full_html=False) for k, f in enumerate(figures)]
    failed = int((~ok).sum())
    page = _page(table.num_rows, failed, parts, _pareto_table(cols, axes, pareto_rows))
    write_atomic(html_path, page)
    return {"points": table.num_rows, "failed": failed, "fronts": drawn, "figures": len(figures)}


def _natural(text: str):
    """Numbers in numeric order, then text."""
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)


def _label(column: str) -> str:
    return OBJECTIVES.get(column, (column.replace("_", " "), ""))[0]


def _pareto_table(cols, axes, rows) -> str:
    if not rows:
        return ""
    shown = [c for c in ("capex_per_gpu_usd", "step_time_s", "mfu", "usd_per_million_tokens", "network_power_share",
                         "mtbi_s") if c in cols]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["front"] + [a[3:] for a in axes] + shown)
    body = []
    for fx, fy, i in rows:
        cells = [f"{fx} / {fy}"] + [str(cols[a][i]) for a in axes] + [_fmt(cols[c][i]) for c in shown]
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<h2>Pareto-optimal points</h2><table><tr>{head}</tr>{''.join(body)}</table>"


def _fmt(v) -> str:
    return "" if v is None else f"{v:,.4g}" if isinstance(v, float) else str(v)


def _page(points: int, failed: int, parts: list[str], table: str) -> str:
    style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px} table{border-collapse:collapse;"
             "font-size:13px} td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>fabricsim sweep report</title>"
            f"<style>{style}</style></head><body><h1>Sweep report</h1>"
            f"<p>{points:,} points, {failed:,} failed (their error is in the <code>error</code> column).</p>"
            + "".join(parts) + table + "</body></html>")
