// fabricsim explorer: controls -> scenario -> /api/plan (fabric cards, cost and optics charts) and
// /api/run + /api/train per load-balancing policy (job cards, MTBI and step-time charts).
// The URL's query string carries every control; the scenario downloads as YAML for `fabricsim run`.

import {drawCost, drawMtbi, drawOptics, drawPolicies, fmtBits, fmtDuration, fmtInt, fmtPct, fmtUsd, fmtW}
  from "./charts.js";

const POLICIES = ["ecmp", "flowlet", "adaptive", "spray"];
const PLANES = [1, 2, 4, 8];
const OVERSUB = [1, 1.5, 2, 3, 4];
// GPU counts of the slider: four steps per octave (x1, x1.25, x1.5, x1.75), 1,024 ... 1,048,576;
// every one a multiple of 256, so data-parallel degrees stay whole.
const STEPS = [];
for (let k = 10; k < 20; k++) for (const m of [4, 5, 6, 7]) STEPS.push(m * 2 ** (k - 2));
STEPS.push(2 ** 20);

const $ = (id) => document.getElementById(id);
const NETWORK = ["switches", "optics_and_cables", "nics", "scale_up_fabric"];

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
    const doc = await post("/api/plan", {scenario: scenario(), count_only: true, evidence: false}, planAbort.signal);
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
  // the published runs nearest the job come with /api/run; the four policies' steps skip them
  const trains = POLICIES.map((lb) => post("/api/train", {scenario: scen, lb, evidence: false}, signal)
    .catch((e) => e));
  try {
    const doc = await post("/api/run", {scenario: scen}, signal);
    if (seq !== runSeq) return;
    showError("run", "");
    renderRun(doc);
    renderEvidence(doc.evidence ? doc : null);
  } catch (err) {
    if (isAbort(err) || seq !== runSeq) return;
    showError("run", err.message);
    clearCards(["mtbi", "goodput", "step", "tax", "cost"]);
    Plotly.purge($("chart-mtbi"));
    $("notes").innerHTML = "";
    $("notes-section").hidden = true;
    renderEvidence(null);
  }
  busy("run", false);
  const results = await Promise.all(trains);
  if (seq !== runSeq || results.some(isAbort)) return;
  drawPolicies(POLICIES, results);
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
  drawOptics(doc.optics_options, state.optics);
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

// the published measurements nearest the job (fabricsim validate's cases, re-run by the server)
function renderEvidence(doc) {
  const body = $("evidence");
  body.innerHTML = "";
  $("evidence-section").hidden = !doc;
  if (!doc) return;
  const ev = doc.evidence;
  const signed = ev.median_error == null ? "" :
    ` (median signed ${ev.median_error > 0 ? "+" : ""}${(100 * ev.median_error).toFixed(1)}%: + where fabricsim is above the published figure)`;
  $("evidence-summary").textContent = ev.count ? `fabricsim's |error| on them: median ` +
    `${fmtPct(ev.median_abs_error)}${signed}, ${ev.passed} of ${ev.count} within tolerance` :
    "no published measurement in fabricsim's validation set is near this job: treat its figures as unvalidated";
  for (const c of ev.cases) {
    const tr = document.createElement("tr");
    const error = c.error == null ? "–" : (c.error > 0 ? "+" : "") + (100 * c.error).toFixed(1) + "%";
    const d = c.display, num = (x) => x == null ? "–" : x.toLocaleString("en-US", {maximumSignificantDigits: 4});
    for (const text of [c.case_id, c.shared.join(", "), num(d.published), num(d.model), d.unit, error, c.role,
      c.status]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    tr.className = c.status;
    body.append(tr);
  }
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
