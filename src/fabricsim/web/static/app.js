// fabricsim explorer: controls -> scenario -> /api/plan (fabric cards, cost and optics charts) and
// /api/run + /api/train per load-balancing policy (job cards, MTBI and step-time charts).
// The URL's query string carries every control; the scenario downloads as YAML for `fabricsim run`.

const POLICIES = ["ecmp", "flowlet", "adaptive", "spray"];
const PLANES = [1, 2, 4, 8];
const OVERSUB = [1, 1.5, 2, 3, 4];
// GPU counts of the slider: four steps per octave (x1, x1.25, x1.5, x1.75), 1,024 ... 1,048,576;
// every one a multiple of 256, so data-parallel degrees stay whole.
const STEPS = [];
for (let k = 10; k < 20; k++) for (const m of [4, 5, 6, 7]) STEPS.push(m * 2 ** (k - 2));
STEPS.push(2 ** 20);

const $ = (id) => document.getElementById(id);
const fmtInt = (x) => Math.round(x).toLocaleString("en-US");
const fmtPct = (x, d = 1) => (100 * x).toFixed(d) + "%";
const fmtW = (w) => (w >= 1e9 ? (w / 1e9).toFixed(2) + " GW" : w >= 1e6 ? (w / 1e6).toFixed(2) + " MW"
  : (w / 1e3).toFixed(1) + " kW");
const fmtUsd = (x) => (Math.abs(x) >= 1e9 ? "$" + (x / 1e9).toFixed(2) + "B" : Math.abs(x) >= 1e6
  ? "$" + (x / 1e6).toFixed(1) + "M" : Math.abs(x) >= 1e3 ? "$" + (x / 1e3).toFixed(1) + "k" : "$" + x.toFixed(2));
const fmtBits = (b) => {
  const units = [[1e15, "Pb/s"], [1e12, "Tb/s"], [1e9, "Gb/s"]];
  for (const [f, u] of units) if (b >= f) return (b / f).toPrecision(3) + " " + u;
  return (b / 1e6).toPrecision(3) + " Mb/s";
};
const fmtDuration = (s) => (s >= 86400 ? (s / 86400).toFixed(1) + " days" : s >= 3600 ? (s / 3600).toFixed(1) + " h"
  : s >= 60 ? (s / 60).toFixed(1) + " min" : s.toFixed(s >= 10 ? 1 : 2) + " s");
const NETWORK = ["switches", "optics_and_cables", "nics", "scale_up_fabric"];
const CATEGORY_NAMES = {gpus: "GPUs", servers: "servers", scale_up_fabric: "scale-up fabric", nics: "NICs",
  switches: "switches", optics_and_cables: "optics and cables"};
const CATEGORY_COLORS = {gpus: "#9aa5b8", servers: "#c5ccd8", scale_up_fabric: "#f2b134", nics: "#ef8a3d",
  switches: "#d9534f", optics_and_cables: "#7b3fa0"};
const LAYOUT = {margin: {l: 64, r: 20, t: 44, b: 20}, height: 320, font: {size: 12, family: "inherit"},
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

let options = null;
let state = {};
let planTimer = null, runTimer = null;
let planAbort = null, runAbort = null;
let planSeq = 0, runSeq = 0;

// ---------- state <-> URL ----------
function defaults() {
  const d = options.defaults;
  return {gpus: d.cluster.gpus, gpu: d.cluster.gpu, scale_up: "", switch: d.fabric.switch, planes: d.fabric.planes,
    oversub: d.fabric.oversubscription[0], optics: d.fabric.optics, transport: d.fabric.transport, lb: "",
    model: d.workload.train.model};
}

function readUrl() {
  const s = defaults();
  const q = new URLSearchParams(location.search);
  for (const key of Object.keys(s)) {
    if (!q.has(key)) continue;
    const v = q.get(key);
    s[key] = typeof s[key] === "number" ? Number(v) : v;
  }
  if (!Number.isFinite(s.gpus) || s.gpus < 1) s.gpus = defaults().gpus;
  s.gpus = STEPS[nearestStep(s.gpus)];
  return s;
}

function writeUrl() {
  const d = defaults();
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(state)) if (v !== d[k]) q.set(k, v);
  const text = q.toString();
  history.replaceState(null, "", text ? "?" + text : location.pathname);
}

function nearestStep(gpus) {
  let best = 0;
  STEPS.forEach((v, i) => { if (Math.abs(Math.log(v / gpus)) < Math.abs(Math.log(STEPS[best] / gpus))) best = i; });
  return best;
}

// ---------- scenario ----------
function recipe() {
  const t = options.defaults.workload.train;
  const dp = Math.floor(state.gpus / (t.tp * t.pp * t.cp));
  // the default global batch, raised to the next multiple of the data-parallel degree
  const gbs = dp > 0 ? dp * Math.ceil(t.global_batch / dp) : t.global_batch;
  return {tp: t.tp, pp: t.pp, cp: t.cp, dp, gbs, seq: t.seq};
}

function scenario() {
  const r = recipe();
  const fabric = {switch: state.switch, planes: state.planes, oversubscription: [state.oversub, 1],
    optics: state.optics, transport: state.transport};
  if (state.lb) fabric.load_balancing = state.lb;
  const cluster = {gpu: state.gpu, gpus: state.gpus};
  if (state.scale_up) cluster.scale_up = state.scale_up;
  return {
    name: `explorer: ${fmtInt(state.gpus)} ${state.gpu} on ${state.switch}, ${state.planes} plane(s), ` +
      `${state.optics} optics, training ${state.model}`,
    cluster, fabric,
    workload: {train: {model: state.model, global_batch: r.gbs}},
  };
}

// ---------- controls ----------
function fill(select, items, current) {
  select.innerHTML = "";
  for (const [value, text] of items) {
    const o = document.createElement("option");
    o.value = String(value);
    o.textContent = text;
    select.append(o);
  }
  select.value = String(current);
}

function syncControls() {
  $("gpus").value = nearestStep(state.gpus);
  $("gpus-out").textContent = fmtInt(state.gpus);
  fill($("gpu"), options.gpus.map((g) => [g.name, g.name]), state.gpu);
  const gpu = options.gpus.find((g) => g.name === state.gpu);
  fill($("scale_up"), [["", `GPU's own (${gpu ? gpu.default_scale_up : "default"})`],
    ...options.scale_up.map((s) => [s.name, `${s.name} (${s.gpus} GPUs)`])], state.scale_up);
  fill($("switch"), options.switches.map((s) => [s.name, s.name]), state.switch);
  fill($("planes"), PLANES.map((p) => [p, String(p)]), state.planes);
  fill($("oversub"), OVERSUB.map((o) => [o, `${o}:1`]), state.oversub);
  fill($("optics"), options.optics.map((o) => [o, o.toUpperCase()]), state.optics);
  const sw = options.switches.find((s) => s.name === state.switch);
  fill($("transport"), options.transports.map((t) => [t, t]), state.transport);
  for (const o of $("transport").options) o.disabled = !!sw && !sw.protocols.includes(o.value);
  fill($("lb"), [["", "default"], ...options.load_balancing.map((p) => [p, p])], state.lb);
  fill($("model"), options.models.map((m) => [m.name, m.name]), state.model);
  const r = recipe();
  $("recipe").textContent = `tp ${r.tp} · pp ${r.pp} · dp ${fmtInt(r.dp)} · global batch ${fmtInt(r.gbs)} ` +
    `sequences of ${fmtInt(r.seq)} tokens`;
}

function onControl(event) {
  const id = event.target.id;
  const v = event.target.value;
  if (id === "gpus") state.gpus = STEPS[Number(v)];
  else if (id === "planes" || id === "oversub") state[id] = Number(v);
  else state[id] = v;
  if (id === "switch") {  // keep a transport the switch speaks
    const sw = options.switches.find((s) => s.name === state.switch);
    if (sw && !sw.protocols.includes(state.transport)) state.transport = sw.protocols[0];
  }
  if (id === "gpu") state.scale_up = "";
  syncControls();
  writeUrl();
  schedule(id === "gpus" ? 60 : 0, id === "gpus" ? 400 : 150);
}

// ---------- requests ----------
async function post(path, body, signal) {
  const response = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify(body), signal});
  const data = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function schedule(planDelay, runDelay) {
  clearTimeout(planTimer);
  clearTimeout(runTimer);
  if (planAbort) planAbort.abort();
  if (runAbort) runAbort.abort();
  busy("plan", true);
  busy("run", true);
  planTimer = setTimeout(loadPlan, planDelay);
  runTimer = setTimeout(loadRun, runDelay);
}

function busy(which, on) {
  const group = which === "plan" ? $("fabric-group") : $("job-group");
  group.classList.toggle("busy", on);
  $(which + "-status").textContent = on ? (which === "plan" ? "counting…" : "simulating…") : "";
}

function showError(which, message) {
  const box = $(which + "-error");
  box.hidden = !message;
  box.textContent = message || "";
}

function isAbort(err) { return err && err.name === "AbortError"; }

async function loadPlan() {
  const seq = ++planSeq;
  planAbort = new AbortController();
  try {
    const doc = await post("/api/plan", {scenario: scenario(), count_only: true}, planAbort.signal);
    if (seq !== planSeq) return;
    showError("plan", "");
    renderPlan(doc);
  } catch (err) {
    if (isAbort(err) || seq !== planSeq) return;
    showError("plan", err.message);
    clearCards(["switches", "optics", "power", "capex", "bisection"]);
    Plotly.purge($("chart-cost"));
    Plotly.purge($("chart-optics"));
  }
  busy("plan", false);
}

async function loadRun() {
  const seq = ++runSeq;
  runAbort = new AbortController();
  const signal = runAbort.signal;
  const scen = scenario();
  const trains = POLICIES.map((lb) => post("/api/train", {scenario: scen, lb}, signal).catch((e) => e));
  try {
    const doc = await post("/api/run", {scenario: scen}, signal);
    if (seq !== runSeq) return;
    showError("run", "");
    renderRun(doc);
  } catch (err) {
    if (isAbort(err) || seq !== runSeq) return;
    showError("run", err.message);
    clearCards(["mtbi", "goodput", "step", "tax", "cost"]);
    Plotly.purge($("chart-mtbi"));
    $("notes").innerHTML = "";
    $("notes-section").hidden = true;
  }
  busy("run", false);
  const results = await Promise.all(trains);
  if (seq !== runSeq || results.some(isAbort)) return;
  renderPolicies(results);
}

// ---------- rendering ----------
function card(id, value, detail, raw) {
  const el = $("card-" + id);
  el.querySelector(".v").textContent = value;
  el.querySelector(".d").textContent = detail || "";
  if (raw === undefined || raw === null) el.removeAttribute("data-value");
  else el.dataset.value = String(raw);
}

function clearCards(ids) { for (const id of ids) card(id, "–", "", null); }

function renderPlan(doc) {
  const p = doc.plan;
  const modules = p.optical_modules ?? p.optical_ends;
  const sum = (table, keys) => keys.reduce((a, k) => a + (table[k] || 0), 0);
  const allKeys = (table) => Object.keys(table);
  const netW = sum(p.power_w, NETWORK), itW = sum(p.power_w, allKeys(p.power_w));
  const netUsd = sum(p.capex_usd, NETWORK), allUsd = sum(p.capex_usd, allKeys(p.capex_usd));
  card("switches", fmtInt(p.switches_total), `${p.tiers} tier${p.tiers > 1 ? "s" : ""} of ${p.radix}-port ` +
    `${p.switch}, ${p.planes} plane${p.planes > 1 ? "s" : ""}`, p.switches_total);
  const media = [...new Set(p.media_lines.filter((m) => m.kind !== "fiber").map((m) => m.name))].join(", ");
  card("optics", fmtInt(modules), media || "all copper", modules);
  card("power", fmtPct(p.network_power_share), `${fmtW(netW)} of ${fmtW(itW)} IT power`, p.network_power_share);
  card("capex", fmtPct(p.network_capex_share), `${fmtUsd(netUsd)} of ${fmtUsd(allUsd)}`, p.network_capex_share);
  const perGpu = 2 * p.bisection_bits_per_s / p.gpus;
  card("bisection", fmtBits(p.bisection_bits_per_s), `${fmtBits(perGpu)} per GPU, ` +
    `${p.switch_hops_worst} switch hops worst`, p.bisection_bits_per_s);
  $("title").textContent = `${fmtInt(p.gpus)} ${p.gpu} in ${fmtInt(p.servers)} servers (${p.scale_up}), ` +
    `${p.switch} at ${fmtBits(p.link_bits_per_s)} per link`;
  drawCost(p);
  drawOptics(doc.optics_options);
}

function drawCost(p) {
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
  Plotly.react($("chart-cost"), traces, {...LAYOUT, barmode: "stack",
    title: {text: `Power (${fmtW(totW)}) and capex (${fmtUsd(totUsd)}) by category`},
    legend: {...LAYOUT.legend, traceorder: "normal"},
    xaxis: {range: [0, 100], ticksuffix: "%"}}, CONFIG);
}

function drawOptics(rows) {
  const ok = rows.filter((r) => !r.error);
  const x = ok.map((r) => r.family.toUpperCase());
  const outline = {color: "#111", width: ok.map((r) => (r.family === state.optics ? 2.5 : 0))};
  const big = Math.max(...ok.map((r) => r.optics_capex_usd)) >= 1e9;
  const [usdScale, usdUnit] = big ? [1e9, "$B"] : [1e6, "$M"];
  const wattScale = Math.max(...ok.map((r) => r.optics_power_w)) >= 1e6 ? [1e6, "MW"] : [1e3, "kW"];
  Plotly.react($("chart-optics"), [
    {type: "bar", name: `optics power, ${wattScale[1]}`, x, y: ok.map((r) => r.optics_power_w / wattScale[0]),
      offsetgroup: 0, marker: {color: "#7b3fa0", line: outline},
      hovertemplate: `%{x}: %{y:.3~f} ${wattScale[1]}<extra></extra>`},
    {type: "bar", name: `optics capex, ${usdUnit}`, x, y: ok.map((r) => r.optics_capex_usd / usdScale), yaxis: "y2",
      offsetgroup: 1, marker: {color: "#2b7bb9", line: outline},
      hovertemplate: `%{x}: %{y:.3~f} ${usdUnit}<extra></extra>`},
  ], {...LAYOUT, title: {text: `Optics families on this fabric (${state.optics.toUpperCase()} outlined)`},
    barmode: "group", yaxis: {title: {text: `optics power, ${wattScale[1]}`}, rangemode: "tozero"},
    yaxis2: {title: {text: `optics capex, ${usdUnit}`}, overlaying: "y", side: "right", rangemode: "tozero",
      showgrid: false, tickmode: "auto"},
    margin: {...LAYOUT.margin, r: 64}}, CONFIG);
}

function renderRun(doc) {
  const rel = doc.reliability;
  if (rel) {
    card("mtbi", fmtDuration(rel.mtbi_s), `${(86400 / rel.mtbi_s).toFixed(1)} interruptions a day; ` +
      `checkpoint every ${fmtDuration(rel.checkpoint_interval_s)}`, rel.mtbi_s);
    const mc = rel.monte_carlo;
    const g = mc ? mc.goodput.p50 : rel.expected_goodput;
    card("goodput", fmtPct(g), mc ? `Monte Carlo p5–p95 ${fmtPct(mc.goodput.p5)}–${fmtPct(mc.goodput.p95)}; ` +
      `analytic ${fmtPct(rel.expected_goodput)}` : "analytic", g);
  } else clearCards(["mtbi", "goodput"]);
  const t = doc.training;
  if (t) {
    card("step", `${t.step_time_s.toFixed(2)} s · ${fmtPct(t.mfu)}`, `${fmtInt(t.tokens_per_s)} tokens/s; ` +
      `communication ${t.communication === "flow" ? "simulated flow by flow" : "timed analytically"}, ` +
      `${t.load_balancing}`, t.step_time_s);
  } else card("step", "–", "training step skipped (see notes)", null);
  const tax = doc.bandwidth_tax;
  if (tax) card("tax", fmtUsd(tax.usd_per_year) + " / yr", `ECMP vs spraying: ${fmtPct(tax.wasted_share)} of ` +
    `GPU time, ${fmtInt(tax.gpu_hours_per_year)} GPU-hours a year`, tax.usd_per_year);
  else card("tax", "n/a", "needs the flow-level simulation (see notes)", null);
  const cost = doc.usd_per_million_tokens;
  card("cost", cost == null ? "–" : "$" + cost.toFixed(2), `${fmtUsd(doc.tco.usd_per_gpu_hour)} per GPU-hour ` +
    `(capex over ${doc.tco.years} years + energy)`, cost);
  drawMtbi(doc.reliability_vs_size, doc.plan.gpus);
  const notes = [...doc.notes, ...(t ? t.notes : [])];
  $("notes").innerHTML = "";
  $("notes-section").hidden = !notes.length;
  for (const n of notes) {
    const li = document.createElement("li");
    li.textContent = n;
    $("notes").append(li);
  }
}

function drawMtbi(rows, gpus) {
  const here = rows.filter((r) => r.gpus === gpus);
  const hours = rows.map((r) => r.mtbi_s / 3600);
  const xs = rows.map((r) => r.gpus);
  const yt = logTicks(Math.min(...hours), Math.max(...hours), (v) => +v.toPrecision(2) + " h");
  const sizes = {1024: "1k", 4096: "4k", 16384: "16k", 65536: "64k", 262144: "256k", 1048576: "1M"};
  const tickvals = Object.keys(sizes).map(Number).filter((v) => v >= Math.min(...xs) / 1.5 && v <= Math.max(...xs) * 1.5);
  const xt = {tickvals, ticktext: tickvals.map((v) => sizes[v])};
  Plotly.react($("chart-mtbi"), [
    {type: "scatter", mode: "lines+markers", name: "this hardware", x: rows.map((r) => r.gpus),
      y: rows.map((r) => r.mtbi_s / 3600), line: {color: "#2b7bb9"},
      hovertemplate: "%{x:,} GPUs: every %{y:.2f} h<extra></extra>"},
    {type: "scatter", mode: "markers", name: "this cluster", x: here.map((r) => r.gpus),
      y: here.map((r) => r.mtbi_s / 3600), marker: {size: 13, color: "#d9534f"},
      hovertemplate: "%{x:,} GPUs: every %{y:.2f} h<extra></extra>"},
  ], {...LAYOUT, title: {text: "Mean time between interruptions vs cluster size"},
    xaxis: {type: "log", title: {text: "GPUs", standoff: 4}, ...xt}, yaxis: {type: "log", ...yt}}, CONFIG);
}

function renderPolicies(results) {
  const ok = results.map((r, i) => [POLICIES[i], r]).filter(([, r]) => !(r instanceof Error));
  if (!ok.length) {
    Plotly.purge($("chart-lb"));
    return;
  }
  const parts = Object.keys(ok[0][1].breakdown_s).filter((k) => ok.some(([, r]) => r.breakdown_s[k] > 0));
  const palette = ["#9aa5b8", "#d9534f", "#ef8a3d", "#f2b134", "#7b3fa0", "#2b7bb9", "#5cb85c", "#999", "#333"];
  const traces = parts.map((k, i) => ({type: "bar", name: k, x: ok.map(([p]) => p), y: ok.map(([, r]) => r.breakdown_s[k]),
    marker: {color: palette[i % palette.length]}, hovertemplate: "%{x}: " + k + " %{y:.3f} s<extra></extra>"}));
  const analytic = ok[0][1].communication !== "flow";
  Plotly.react($("chart-lb"), traces, {...LAYOUT, barmode: "stack",
    title: {text: "Step time by load-balancing policy" + (analytic ? " (analytic: policies not simulated)" : "")},
    yaxis: {title: {text: "seconds per step"}}}, CONFIG);
}

// ---------- buttons ----------
async function downloadYaml() {
  const response = await fetch("/api/yaml", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({scenario: scenario()})});
  if (!response.ok) {
    const data = await response.json().catch(() => ({}));
    showError("plan", data.error || `HTTP ${response.status}`);
    return;
  }
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = `fabricsim-${state.gpus}-${state.gpu}-${state.switch}.yaml`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function copyLink() {
  try {
    await navigator.clipboard.writeText(location.href);
    $("copy-link").textContent = "Link copied";
  } catch {
    $("copy-link").textContent = "Copy the address bar";
  }
  setTimeout(() => { $("copy-link").textContent = "Copy link"; }, 1500);
}

// ---------- start ----------
async function start() {
  options = await (await fetch("/api/options")).json();
  state = readUrl();
  $("version").textContent = options.version;
  $("flow-limit").textContent = fmtInt(options.limits.flow_gpus);
  syncControls();
  for (const id of ["gpus", "gpu", "scale_up", "switch", "planes", "oversub", "optics", "transport", "lb", "model"]) {
    $(id).addEventListener(id === "gpus" ? "input" : "change", onControl);
  }
  $("download").addEventListener("click", downloadYaml);
  $("copy-link").addEventListener("click", copyLink);
  schedule(0, 0);
}

// for scripts and tests driving the page: the scenario the controls describe
window.explorer = {scenario, state: () => ({...state})};
start().catch((err) => showError("plan", "could not start: " + err.message));
