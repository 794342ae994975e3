// weft dashboard: plain JavaScript, no build step. Reads the coordinator's JSON API
// (/api/...) and follows its server-sent events; every view is re-read when an event about
// it arrives, so what it shows is what the coordinator has committed.
"use strict";

const RUN_STATUS = ["unspecified", "running", "succeeded", "failed", "cancelled"];
const TASK_STATE = ["unspecified", "pending", "ready", "assigned", "running", "succeeded", "failed", "cancelled"];
const LIVENESS = ["unspecified", "live", "suspect", "dead", "draining"];
const EVENT_KIND = ["", "run started", "task ready", "task assigned", "task running", "task succeeded",
  "task failed", "task retrying", "task cancelled", "run succeeded", "run failed", "run cancelled", "run compensating", "run estimate", "task expanded"];
const ANOMALY_KIND = ["", "late_heartbeat", "stuck_task", "queue_backlog", "failing_worker", "recovered",
  "unservable_task", "deadline_at_risk"];

const app = document.getElementById("app");
let session = null;
let stream = null;
let refreshTimer = null;
let current = null; // the view being shown: { render }
const recent = []; // latest anomalies and liveness changes, newest first

// ---- helpers ----
function esc(v) {
  return String(v ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function badge(text, cls) { return `<span class="badge s-${esc(cls || text)}">${esc(text)}</span>`; }
function ms(v) {
  if (v === null || v === undefined || isNaN(v)) return "";
  if (v < 1000) return `${Math.round(v)} ms`;
  if (v < 60000) return `${(v / 1000).toFixed(v < 10000 ? 2 : 1)} s`;
  return `${Math.floor(v / 60000)} min ${Math.round((v % 60000) / 1000)} s`;
}
function time(at) { return at ? new Date(at).toISOString().replace("T", " ").replace("Z", "") : ""; }
function bytes(n) { return n ? `${(n / 1048576).toFixed(0)} MiB` : ""; }
function bar(fraction, wide) {
  const pct = Math.max(0, Math.min(1, fraction || 0)) * 100;
  return `<span class="bar${wide ? " wide" : ""}"><i style="width:${pct.toFixed(0)}%"></i></span>`;
}
function token() { return localStorage.getItem("weft-token") || ""; }
function can(role) { return !!session && session.roles.includes(role); }

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token()) headers["Authorization"] = `Bearer ${token()}`;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401) { showLogin("the coordinator wants a valid token"); throw new Error("unauthenticated"); }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(`${body.code || response.status}: ${body.message || response.statusText}`);
  return body;
}

function showLogin(message) {
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message || "";
}

document.getElementById("login").addEventListener("submit", e => {
  e.preventDefault();
  localStorage.setItem("weft-token", document.getElementById("token").value.trim());
  document.getElementById("login").hidden = true;
  start();
});

// ---- live events: one stream per view, read with fetch so it can carry the token ----
function follow(runId) {
  if (stream) stream.abort();
  const controller = new AbortController();
  stream = controller;
  const live = document.getElementById("live");
  const url = "/api/events" + (runId ? `?run=${encodeURIComponent(runId)}` : "");
  const headers = token() ? { Authorization: `Bearer ${token()}` } : {};
  (async () => {
    try {
      const response = await fetch(url, { headers, signal: controller.signal });
      if (!response.ok || !response.body) throw new Error(`events: ${response.status}`);
      live.classList.add("on");
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const data = block.split("\n").filter(l => l.startsWith("data:")).map(l => l.slice(5).trimStart()).join("\n");
          if (data) onEvent(JSON.parse(data));
        }
      }
    } catch (e) {
      if (controller.signal.aborted) return;
    }
    live.classList.remove("on");
    // The stream ended (a restart, a failover, a lagging watcher dropped): read again.
    if (stream === controller) setTimeout(() => { if (stream === controller) { follow(runId); refresh(); } }, 1000);
  })();
}

function onEvent(event) {
  const e = event.event || {};
  if (e.Anomaly) recent.unshift({ at: e.Anomaly.at_ms, text: `${ANOMALY_KIND[e.Anomaly.kind] || e.Anomaly.kind}: ${e.Anomaly.detail}` });
  if (e.Worker) recent.unshift({ at: e.Worker.at_ms, text: `worker ${e.Worker.name} ${LIVENESS[e.Worker.liveness]}${e.Worker.detail ? ": " + e.Worker.detail : ""}` });
  recent.splice(20);
  refresh();
}

// Re-reads the current view soon; events in a burst cause one read.
function refresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(async () => {
    refreshTimer = null;
    if (current) await current.render().catch(showError);
  }, 100);
}

function showError(e) {
  if (String(e.message) === "unauthenticated") return;
  app.innerHTML = `<p class="error" id="error">${esc(e.message)}</p>` + app.innerHTML;
}

// ---- views ----
async function overview() {
  const c = await api("/api/cluster");
  const workers = (c.workers || []).map(w => {
    const age = c.now_ms - w.last_heartbeat_ms;
    return `<tr class="worker" data-worker="${esc(w.name)}" data-liveness="${LIVENESS[w.liveness]}">
      <td><a href="#/workers/${esc(w.worker_id)}">${esc(w.name)}</a></td>
      <td>${badge(LIVENESS[w.liveness])}</td>
      <td>${bar(w.load)} ${w.running}/${w.slots}</td>
      <td class="hide-narrow">${esc((w.queues || []).join(", "))}</td>
      <td>${(w.cpu_percent || 0).toFixed(0)} %</td>
      <td class="hide-narrow">${bytes(w.memory_used_bytes)}</td>
      <td>${ms(age)}</td>
      <td class="wrap">${w.penalized ? badge("penalized", "suspect") + " " + esc(w.penalty_reason) : ""}</td></tr>`;
  }).join("");
  const queues = (c.queues || []).map(q => `<tr><td>${esc(q.queue)}</td><td>${q.depth}</td>
      <td>${(q.by_priority || []).map(p => `p${p.priority}: ${p.depth}`).join(", ")}</td><td>${q.free_slots}</td></tr>`).join("");
  const live = (c.workers || []).filter(w => w.liveness === 1).length;
  app.innerHTML = `<h1>Overview</h1>
    <div class="cards">
      <div class="card"><div class="n" id="count-workers">${live}/${(c.workers || []).length}</div><div class="l">workers live</div></div>
      <div class="card"><div class="n">${c.runs_running}</div><div class="l">runs running</div></div>
      <div class="card"><div class="n">${c.runs_finished}</div><div class="l">runs finished</div></div>
      <div class="card"><div class="n">${esc(c.store ? c.store.backend : "")}</div><div class="l">store, durability ${esc(c.store ? c.store.durability : "")}</div></div>
    </div>
    ${(c.unserved || []).map(u => `<p class="error unserved">waiting: no live worker serves kind ${esc(u.kind)} on queue
      ${esc(u.queue)} (<a href="#/runs/${esc(u.run_id)}">${esc(u.workflow)}/${esc(u.task)}</a>${u.waiting > 1 ? ` and ${u.waiting - 1} more` : ""})</p>`).join("")}
    ${(c.at_limits || []).map(l => `<p class="at-limit">waiting: ${l.waiting} task(s) of ${esc(l.process)} at ${esc(l.reason)}</p>`).join("")}
    <h2>Workers</h2>
    <div class="scroll"><table id="workers"><tr><th>name</th><th>liveness</th><th>load</th><th class="hide-narrow">queues</th>
      <th>CPU</th><th class="hide-narrow">memory</th><th>heartbeat age</th><th>penalty</th></tr>${workers ||
        `<tr><td colspan="8" class="muted">no worker has registered</td></tr>`}</table></div>
    <h2>Queues</h2>
    <div class="scroll"><table><tr><th>queue</th><th>waiting</th><th>by priority</th><th>free slots</th></tr>${queues ||
      `<tr><td colspan="4" class="muted">no queue</td></tr>`}</table></div>
    <h2>Latest anomalies and liveness changes</h2>
    <div class="scroll"><table id="recent">${recent.map(r => `<tr><td>${time(r.at)}</td><td class="wrap">${esc(r.text)}</td></tr>`).join("") ||
      `<tr><td class="muted">nothing since this page opened</td></tr>`}</table></div>`;
}

async function runsView(params) {
  const status = params.get("status") || "";
  const process = params.get("process") || "";
  const key = params.get("key") || "";
  const pageToken = params.get("page") || "";
  const q = new URLSearchParams({ status, process, key, page_token: pageToken, page_size: "50" });
  const page = await api(`/api/runs?${q}`);
  const rows = (page.runs || []).map(r => `<tr class="run" data-status="${RUN_STATUS[r.status]}">
      <td><a href="#/runs/${esc(r.run_id)}">${esc(r.run_id)}</a></td><td>${esc(r.process_name)}</td>
      <td>${badge(RUN_STATUS[r.status])}</td><td>${r.tasks_succeeded}/${r.tasks_total}${r.tasks_failed ? `, ${r.tasks_failed} failed` : ""}</td>
      <td class="hide-narrow">${esc(r.idempotency_key)}</td><td>${time(r.created_at_ms)}</td>
      <td>${r.finished_at_ms ? ms(r.finished_at_ms - r.created_at_ms) : ""}</td></tr>`).join("");
  const next = page.next_page_token
    ? `<a href="#/runs?${new URLSearchParams({ status, process, key, page: page.next_page_token })}">next page →</a>` : "";
  app.innerHTML = `<h1>Runs</h1>
    <form class="filters" id="run-filters">
      <select name="status">${["", "running", "succeeded", "failed", "cancelled"].map(s =>
        `<option value="${s}"${s === status ? " selected" : ""}>${s || "any status"}</option>`).join("")}</select>
      <input name="process" placeholder="process name" value="${esc(process)}">
      <input name="key" placeholder="idempotency key" value="${esc(key)}">
      <button type="submit">Search</button>
    </form>
    <div class="scroll"><table id="runs"><tr><th>run</th><th>process</th><th>status</th><th>tasks</th><th class="hide-narrow">key</th>
      <th>created</th><th>took</th></tr>${rows || `<tr><td colspan="7" class="muted">no run</td></tr>`}</table></div>
    <p>${next}</p>`;
  document.getElementById("run-filters").addEventListener("submit", e => {
    e.preventDefault();
    const f = new FormData(e.target);
    location.hash = `#/runs?${new URLSearchParams({ status: f.get("status"), process: f.get("process"), key: f.get("key") })}`;
  });
}

// Tasks in lanes (one per workflow, side by side), rows by depth along depends_on.
function dag(run) {
  const W = 132, H = 30, GX = 14, GY = 34, TOP = 28;
  let x0 = 10, svg = "", edges = "", width = 0, height = 0;
  for (const wf of run.workflows || []) {
    const tasks = wf.tasks || [];
    const byName = new Map(tasks.map(t => [t.name, t]));
    const depth = new Map();
    const depthOf = (t, seen = new Set()) => {
      if (depth.has(t.name)) return depth.get(t.name);
      if (seen.has(t.name)) return 0;
      seen.add(t.name);
      const d = Math.max(-1, ...(t.depends_on || []).filter(n => byName.has(n)).map(n => depthOf(byName.get(n), seen))) + 1;
      depth.set(t.name, d);
      return d;
    };
    tasks.forEach(t => depthOf(t));
    const rows = [];
    tasks.forEach(t => { const d = depth.get(t.name); (rows[d] = rows[d] || []).push(t); });
    const cols = Math.max(1, ...rows.map(r => (r || []).length));
    const pos = new Map();
    rows.forEach((row, d) => (row || []).forEach((t, i) => pos.set(t.name, { x: x0 + i * (W + GX), y: TOP + d * (H + GY) })));
    svg += `<text class="lane" x="${x0}" y="16">${esc(wf.name)} · ${RUN_STATUS[wf.status]}</text>`;
    for (const t of tasks) {
      const p = pos.get(t.name);
      for (const dep of t.depends_on || []) {
        const q = pos.get(dep);
        if (q) edges += `<path class="edge" d="M${q.x + W / 2},${q.y + H} C${q.x + W / 2},${q.y + H + GY / 2} ${p.x + W / 2},${p.y - GY / 2} ${p.x + W / 2},${p.y - 2}"/>`;
      }
      const state = TASK_STATE[t.state];
      const label = t.name.length > 17 ? t.name.slice(0, 16) + "…" : t.name;
      svg += `<g class="node n-${state}" data-task="${esc(wf.name)}/${esc(t.name)}" data-state="${state}">
        <title>${esc(wf.name)}/${esc(t.name)}: ${state}, attempt ${t.attempt}${t.error ? "\n" + esc(t.error.message) : ""}</title>
        <rect x="${p.x}" y="${p.y}" width="${W}" height="${H}"></rect>
        <text x="${p.x + 8}" y="${p.y + 19}">${esc(label)}</text></g>`;
      height = Math.max(height, p.y + H + 10);
    }
    x0 += cols * (W + GX) + 30;
    width = x0;
  }
  return `<svg width="${width}" height="${height}" role="img" aria-label="the run's tasks and their dependencies">
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto">
    <path d="M0,0 L10,5 L0,10 z" fill="#b6bdc9"/></marker></defs>${edges}${svg}</svg>`;
}

// This run's ready tasks of a queue and kind no live worker serves (the coordinator's
// `unserved`), said out loud as `weftctl run` says it.
function unservable(run, cluster) {
  const unserved = new Set((cluster.unserved || []).map(u => `${u.kind} on queue ${u.queue}`));
  const notes = new Set();
  for (const w of run.workflows || []) for (const t of w.tasks || []) {
    const key = `${t.kind} on queue ${t.queue}`;
    if (t.state === 2 && unserved.has(key)) notes.add(`waiting: no live worker serves kind ${key}`);
  }
  return [...notes];
}

async function runView(id) {
  const [run, history, cluster] = await Promise.all([api(`/api/runs/${encodeURIComponent(id)}`),
    api(`/api/runs/${encodeURIComponent(id)}/history`), api("/api/cluster")]);
  const notes = unservable(run, cluster);
  const status = RUN_STATUS[run.status];
  const est = run.estimate || {};
  const progress = (run.workflows || []).map(w => {
    const done = (w.tasks || []).filter(t => t.state === 5).length, all = (w.tasks || []).length;
    return `<tr><td>${esc(w.name)}</td><td>${badge(RUN_STATUS[w.status])}</td><td>${bar(all ? done / all : 0, true)} ${done}/${all}</td></tr>`;
  }).join("");
  const tasks = (run.workflows || []).flatMap(w => (w.tasks || []).map(t => `<tr class="task" data-task="${esc(w.name)}/${esc(t.name)}">
      <td>${esc(w.name)}</td><td>${esc(t.name)}</td><td>${esc(t.kind)}</td><td>${badge(TASK_STATE[t.state])}</td><td>${t.attempt}</td>
      <td class="hide-narrow">${esc(t.worker_id ? t.worker_id.slice(-12) : "")}</td>
      <td class="hide-narrow">${t.started_at_ms ? "+" + ms(t.started_at_ms - run.created_at_ms) : ""}</td>
      <td>${t.finished_at_ms && t.started_at_ms ? ms(t.finished_at_ms - t.started_at_ms) : ""}</td>
      <td class="wrap result">${esc((t.result_json || "").slice(0, 300))}</td>
      <td class="wrap task-error error">${t.waiting ? "waiting: " + esc(t.waiting) : t.error ? esc(t.error.message) : ""}</td></tr>`)).join("");
  const events = (history.events || []).map(e => `<tr><td>${e.seq}</td><td>${time(e.at_ms)}</td><td>${esc(EVENT_KIND[e.kind] || e.kind)}</td>
      <td>${esc(e.workflow ? e.workflow + "/" + e.task : "")}</td><td>${e.attempt || ""}</td><td class="wrap">${esc(e.detail)}</td></tr>`).join("");
  // The same judgement as the deadline_at_risk anomaly: a running run predicted past it.
  const late = status === "running" && run.deadline_ms && est.predicted_finish_ms ? est.predicted_finish_ms - run.deadline_ms : 0;
  const atRisk = late > 0 ? ` <span class="error">at risk: predicted ${ms(late)} late</span>` : "";
  const cancel = status === "running" && can("admin") ? `<button class="danger" id="cancel">Cancel run</button>` : "";
  app.innerHTML = `<h1>Run <span class="muted">${esc(run.run_id)}</span></h1>
    <dl class="kv"><dt>process</dt><dd>${esc(run.process_name)}${run.definition_name ? ` (definition ${esc(run.definition_name)} v${run.definition_version})` : " (inline spec)"}</dd>
      <dt>status</dt><dd id="run-status" data-status="${status}">${badge(status)} ${run.compensated ? badge("compensated", "cancelled") : ""} ${cancel}</dd>
      ${run.reason ? `<dt>reason</dt><dd class="error">${esc(run.reason)}</dd>` : ""}
      ${notes.length ? `<dt>waiting</dt><dd class="error" id="unservable">${notes.map(esc).join("<br>")}</dd>` : ""}
      <dt>created</dt><dd>${time(run.created_at_ms)}</dd>
      ${run.finished_at_ms ? `<dt>took</dt><dd>${ms(run.finished_at_ms - run.created_at_ms)}</dd>` : ""}
      ${run.idempotency_key ? `<dt>idempotency key</dt><dd>${esc(run.idempotency_key)}</dd>` : ""}
      <dt>estimate</dt><dd>T ${ms(est.scheduling_seconds * 1000)} scheduling, E ${ms(est.execution_seconds * 1000)} execution,
        M ${ms(est.monitoring_seconds * 1000)} monitoring; ${ms(est.remaining_seconds * 1000)} remaining,
        predicted finish ${time(est.predicted_finish_ms)}</dd>
      ${run.deadline_ms ? `<dt>deadline</dt><dd id="deadline">${time(run.deadline_ms)}${atRisk}</dd>` : ""}</dl>
    <h2>Progress</h2><div class="scroll"><table>${progress}</table></div>
    <h2>Tasks</h2><div id="dag">${dag(run)}</div>
    <div class="scroll" style="margin-top:10px"><table id="tasks"><tr><th>workflow</th><th>task</th><th>kind</th><th>state</th><th>attempt</th>
      <th class="hide-narrow">worker</th><th class="hide-narrow">start</th><th>took</th><th>result</th><th>error</th></tr>${tasks}</table></div>
    <h2>History</h2><div class="scroll"><table id="history"><tr><th>#</th><th>at</th><th>event</th><th>task</th><th>attempt</th><th>detail</th></tr>${events}</table></div>`;
  const button = document.getElementById("cancel");
  if (button) button.addEventListener("click", async () => {
    if (!confirm("Cancel this run?")) return;
    await api(`/api/runs/${encodeURIComponent(id)}/cancel`, { method: "POST" }).catch(showError);
    refresh();
  });
}

function chart(samples, slots) {
  const Wd = 480, Ht = 120;
  if (!samples.length) return `<p class="muted">no heartbeat yet</p>`;
  const t0 = samples[0].at_ms, t1 = samples[samples.length - 1].at_ms || t0 + 1;
  const x = at => ((at - t0) / Math.max(1, t1 - t0)) * (Wd - 10) + 5;
  const line = (value, color) => `<polyline stroke="${color}" points="${samples.map(s => `${x(s.at_ms).toFixed(1)},${(Ht - 5 - value(s) * (Ht - 10)).toFixed(1)}`).join(" ")}"/>`;
  const maxGap = Math.max(1000, ...samples.map(s => s.gap_ms || 0));
  return `<svg class="chart" width="${Wd}" height="${Ht}" viewBox="0 0 ${Wd} ${Ht}">
    ${line(s => slots ? s.used / slots : 0, "#2f6fdb")}${line(s => (s.cpu_percent || 0) / 100, "#1f8a4c")}${line(s => (s.gap_ms || 0) / maxGap, "#c77c0e")}</svg>
    <div class="legend"><span style="color:#2f6fdb">■ load</span><span style="color:#1f8a4c">■ CPU</span>
    <span style="color:#c77c0e">■ gap between heartbeats (max ${ms(maxGap)})</span></div>`;
}

async function workerView(id) {
  const c = await api("/api/cluster");
  const w = (c.workers || []).find(w => w.worker_id === id);
  if (!w) { app.innerHTML = `<p class="error">no worker ${esc(id)}</p>`; return; }
  const attempts = (w.attempts || []).map(a => `<tr><td><a href="#/runs/${esc(a.run_id)}">${esc(a.run_id)}</a></td>
      <td>${esc(a.workflow)}/${esc(a.task)}</td><td>${a.attempt}</td></tr>`).join("");
  const drain = can("admin") && LIVENESS[w.liveness] === "live" ? `<button class="danger" id="drain">Drain (no new attempts)</button>` : "";
  app.innerHTML = `<h1>Worker ${esc(w.name)}</h1>
    <dl class="kv"><dt>liveness</dt><dd id="liveness">${badge(LIVENESS[w.liveness])} ${drain}</dd>
      <dt>id</dt><dd>${esc(w.worker_id)}</dd><dt>version</dt><dd>${esc(w.version)}</dd>
      <dt>load</dt><dd>${bar(w.load)} ${w.running}/${w.slots} slots</dd>
      <dt>queues</dt><dd>${esc((w.queues || []).join(", "))}</dd><dt>kinds</dt><dd>${esc((w.kinds || []).join(", "))}</dd>
      <dt>CPU, memory</dt><dd>${(w.cpu_percent || 0).toFixed(0)} %, ${bytes(w.memory_used_bytes)} of ${bytes(w.memory_total_bytes)}</dd>
      <dt>heartbeat</dt><dd>${ms(c.now_ms - w.last_heartbeat_ms)} ago, lag ${ms(w.heartbeat_lag_ms)}</dd>
      <dt>speed, failures</dt><dd>${(w.speed || 0).toFixed(2)}, ${((w.failure_rate || 0) * 100).toFixed(0)} % of recent attempts failed</dd>
      ${w.penalized ? `<dt>penalty</dt><dd>${esc(w.penalty_reason)}</dd>` : ""}</dl>
    <h2>Last heartbeats</h2>${chart(w.recent || [], w.slots)}
    <h2>Attempts held</h2><div class="scroll"><table id="attempts"><tr><th>run</th><th>task</th><th>attempt</th></tr>${attempts ||
      `<tr><td colspan="3" class="muted">none</td></tr>`}</table></div>`;
  const button = document.getElementById("drain");
  if (button) button.addEventListener("click", async () => {
    if (!confirm("Give this worker no new attempts?")) return;
    await api(`/api/workers/${encodeURIComponent(id)}/drain`, { method: "POST" }).catch(showError);
    refresh();
  });
}

// ---- routing ----
function route() {
  const hash = location.hash || "#/";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  document.getElementById("nav-overview").classList.toggle("current", parts.length === 0);
  document.getElementById("nav-runs").classList.toggle("current", parts[0] === "runs");
  if (parts[0] === "runs" && parts[1]) { current = { render: () => runView(parts[1]) }; follow(parts[1]); }
  else if (parts[0] === "runs") { current = { render: () => runsView(params) }; follow(null); }
  else if (parts[0] === "workers" && parts[1]) { current = { render: () => workerView(parts[1]) }; follow(null); }
  else { current = { render: overview }; follow(null); }
  current.render().catch(showError);
}

async function start() {
  try {
    session = await api("/api/session");
  } catch (e) {
    if (String(e.message) !== "unauthenticated") showError(e);
    return;
  }
  document.getElementById("who").textContent = (session.auth ? `${session.name} (${session.roles.join(", ")})` : "no tokens: open")
    + (session.leading ? "" : " · this coordinator is a standby");
  if (!start.routing) { window.addEventListener("hashchange", route); start.routing = true; }
  route();
}

start();
// Heartbeat ages and the worker chart move without events: re-read the overview and a
// worker's page every few seconds.
setInterval(() => { if (!location.hash.startsWith("#/runs")) refresh(); }, 3000);
