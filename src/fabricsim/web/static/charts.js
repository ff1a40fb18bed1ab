// Number formats and the explorer's four plotly charts (plotly.js is loaded by the page as a global).

export const fmtInt = (x) => Math.round(x).toLocaleString("en-US");
export const fmtPct = (x, d = 1) => (100 * x).toFixed(d) + "%";
export const fmtW = (w) => (w >= 1e9 ? (w / 1e9).toFixed(2) + " GW" : w >= 1e6 ? (w / 1e6).toFixed(2) + " MW"
  : (w / 1e3).toFixed(1) + " kW");
export const fmtUsd = (x) => (Math.abs(x) >= 1e9 ? "$" + (x / 1e9).toFixed(2) + "B" : Math.abs(x) >= 1e6
  ? "$" + (x / 1e6).toFixed(1) + "M" : Math.abs(x) >= 1e3 ? "$" + (x / 1e3).toFixed(1) + "k" : "$" + x.toFixed(2));
export const fmtBits = (b) => {
  const units = [[1e15, "Pb/s"], [1e12, "Tb/s"], [1e9, "Gb/s"]];
  for (const [f, u] of units) if (b >= f) return (b / f).toPrecision(3) + " " + u;
  return (b / 1e6).toPrecision(3) + " Mb/s";
};
export const fmtDuration = (s) => (s >= 86400 ? (s / 86400).toFixed(1) + " days" : s >= 3600 ? (s / 3600).toFixed(1) + " h"
  : s >= 60 ? (s / 60).toFixed(1) + " min" : s.toFixed(s >= 10 ? 1 : 2) + " s");
const CATEGORY_NAMES = {gpus: "GPUs", servers: "servers", scale_up_fabric: "scale-up fabric", nics: "NICs",
  switches: "switches", optics_and_cables: "optics and cables"};
const CATEGORY_COLORS = {gpus: "#9aa5b8", servers: "#c5ccd8", scale_up_fabric: "#f2b134", nics: "#ef8a3d",
  switches: "#d9534f", optics_and_cables: "#7b3fa0"};
const LAYOUT = {margin: {l: 64, r: 20, t: 44, b: 20}, height: 320, font: {size: 12, family: "inherit"},
  title: {font: {size: 14}},
  paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fff",
  legend: {orientation: "h", x: 0, y: -0.2, yanchor: "top", font: {size: 11}}};
// 1-2-5 ticks between lo and hi, labelled with fmt (log axes otherwise label minor ticks "2" and "5")
function logTicks(lo, hi, fmt) {
  const vals = [];
  for (let e = Math.floor(Math.log10(lo)) - 1; e <= Math.ceil(Math.log10(hi)) + 1; e++) {
    for (const m of [1, 2, 5]) { const v = m * 10 ** e; if (v >= lo / 1.5 && v <= hi * 1.5) vals.push(v); }
  }
  return {tickvals: vals, ticktext: vals.map(fmt)};
}
const CONFIG = {displayModeBar: false, responsive: true};
// step-time parts keep their colour from one state to the next (unknown parts take the palette)
const PART_COLORS = {"compute": "#9aa5b8", "exposed TP comm": "#d9534f", "exposed CP comm": "#e377c2",
  "exposed EP comm": "#8c564b", "exposed PP comm": "#ef8a3d", "exposed DP comm": "#f2b134",
  "pipeline bubble": "#7b3fa0", "optimizer": "#5cb85c", "training loop (host)": "#6c8ebf", "stragglers": "#333"};
const PALETTE = ["#2b7bb9", "#17becf", "#bcbd22", "#999"];

export function drawCost(p) {
  const order = ["gpus", "servers", "scale_up_fabric", "nics", "switches", "optics_and_cables"]
    .filter((k) => k in p.power_w || k in p.capex_usd);
  const totW = Object.values(p.power_w).reduce((a, b) => a + b, 0);
  const totUsd = Object.values(p.capex_usd).reduce((a, b) => a + b, 0);
  const traces = order.map((k) => ({
    type: "bar", orientation: "h", name: CATEGORY_NAMES[k] || k, y: ["capex", "power"],
    x: [100 * (p.capex_usd[k] || 0) / totUsd, 100 * (p.power_w[k] || 0) / totW],
    customdata: [fmtUsd(p.capex_usd[k] || 0), fmtW(p.power_w[k] || 0)],
    marker: {color: CATEGORY_COLORS[k]},
    hovertemplate: "%{fullData.name}: %{x:.1f}% (%{customdata})<extra></extra>",
  }));
  Plotly.react(document.getElementById("chart-cost"), traces, {...LAYOUT, barmode: "stack",
    title: {...LAYOUT.title, text: `Power (${fmtW(totW)}) and capex (${fmtUsd(totUsd)}) by category`},
    legend: {...LAYOUT.legend, traceorder: "normal"},
    xaxis: {range: [0, 100], ticksuffix: "%"}}, CONFIG);
}

export function drawOptics(rows, selected) {
  const ok = rows.filter((r) => !r.error);
  const x = ok.map((r) => r.family.toUpperCase());
  const big = Math.max(...ok.map((r) => r.optics_capex_usd)) >= 1e9;
  const [usdScale, usdUnit] = big ? [1e9, "$B"] : [1e6, "$M"];
  const [wattScale, wattUnit] = Math.max(...ok.map((r) => r.optics_power_w)) >= 1e6 ? [1e6, "MW"] : [1e3, "kW"];
  const at = ok.findIndex((r) => r.family === selected);
  const shade = at < 0 ? [] : [{type: "rect", xref: "x", yref: "paper", x0: at - 0.5, x1: at + 0.5, y0: 0, y1: 1,
    fillcolor: "rgba(43,123,185,0.10)", line: {width: 0}, layer: "below"}];
  Plotly.react(document.getElementById("chart-optics"), [
    {type: "bar", name: `optics power, ${wattUnit}`, x, y: ok.map((r) => r.optics_power_w / wattScale),
      offsetgroup: 0, marker: {color: "#7b3fa0"}, hovertemplate: `%{x}: %{y:.3~f} ${wattUnit}<extra></extra>`},
    {type: "bar", name: `optics capex, ${usdUnit}`, x, y: ok.map((r) => r.optics_capex_usd / usdScale), yaxis: "y2",
      offsetgroup: 1, marker: {color: "#2b7bb9"}, hovertemplate: `%{x}: %{y:.3~f} ${usdUnit}<extra></extra>`},
  ], {...LAYOUT, title: {...LAYOUT.title, text: `Optics families on this fabric (${selected.toUpperCase()} shaded)`},
    barmode: "group", shapes: shade, yaxis: {title: {text: `optics power, ${wattUnit}`}, rangemode: "tozero"},
    yaxis2: {title: {text: `optics capex, ${usdUnit}`}, overlaying: "y", side: "right", rangemode: "tozero",
      showgrid: false, tickmode: "auto"},
    margin: {...LAYOUT.margin, r: 64}}, CONFIG);
}

export function drawMtbi(rows, gpus) {
  const here = rows.filter((r) => r.gpus === gpus);
  const hours = rows.map((r) => r.mtbi_s / 3600);
  const xs = rows.map((r) => r.gpus);
  const yt = logTicks(Math.min(...hours), Math.max(...hours), (v) => +v.toPrecision(2) + " h");
  const sizes = {1024: "1k", 4096: "4k", 16384: "16k", 65536: "64k", 262144: "256k", 1048576: "1M"};
  const tickvals = Object.keys(sizes).map(Number).filter((v) => v >= Math.min(...xs) / 1.5 && v <= Math.max(...xs) * 1.5);
  const xt = {tickvals, ticktext: tickvals.map((v) => sizes[v])};
  Plotly.react(document.getElementById("chart-mtbi"), [
    {type: "scatter", mode: "lines+markers", name: "this hardware", x: rows.map((r) => r.gpus),
      y: rows.map((r) => r.mtbi_s / 3600), line: {color: "#2b7bb9"},
      hovertemplate: "%{x:,} GPUs: every %{y:.2f} h<extra></extra>"},
    {type: "scatter", mode: "markers", name: "this cluster", x: here.map((r) => r.gpus),
      y: here.map((r) => r.mtbi_s / 3600), marker: {size: 13, color: "#d9534f"},
      hovertemplate: "%{x:,} GPUs: every %{y:.2f} h<extra></extra>"},
  ], {...LAYOUT, title: {...LAYOUT.title, text: "Mean time between interruptions vs cluster size"},
    xaxis: {type: "log", title: {text: "GPUs", standoff: 4}, ...xt}, yaxis: {type: "log", ...yt}}, CONFIG);
}

export function drawPolicies(policies, results) {
  const ok = results.map((r, i) => [policies[i], r]).filter(([, r]) => !(r instanceof Error));
  if (!ok.length) {
    Plotly.purge(document.getElementById("chart-lb"));
    return;
  }
  const parts = Object.keys(ok[0][1].breakdown_s).filter((k) => ok.some(([, r]) => r.breakdown_s[k] > 0));
  const traces = parts.map((k, i) => ({type: "bar", name: k, x: ok.map(([p]) => p), y: ok.map(([, r]) => r.breakdown_s[k]),
    marker: {color: PART_COLORS[k] || PALETTE[i % PALETTE.length]},
    hovertemplate: "%{x}: " + k + " %{y:.3f} s<extra></extra>"}));
  const analytic = ok[0][1].communication !== "flow";
  Plotly.react(document.getElementById("chart-lb"), traces, {...LAYOUT, barmode: "stack",
    title: {...LAYOUT.title, text: "Step time by load-balancing policy" + (analytic ? " (analytic: policies not simulated)" : "")},
    yaxis: {title: {text: "seconds per step"}}}, CONFIG);
}
