// The workbus dashboard: plain JavaScript, no build step, no network but this server.
// State comes from the REST API once, then from the events websocket (/api/events/out):
// an event about a pool, queue or automation re-reads just that thing.

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem("workbus-token"),
  pools: new Map(),        // name -> pool
  order: [],               // pool names, sorted, filtered
  selected: null,
  detail: { queues: [], workers: [] },
  settings: { inactivity_multiple: 3, fallback_heartbeat_interval_seconds: 30 },
  events: [],              // newest last, at most MAX_EVENTS
  kinds: new Set(),
  perSecond: new Map(),    // second -> Map(kind -> count)
  automations: [],
  fired: new Map(),        // automation id -> { last, caused }
};
const MAX_EVENTS = 500;
const SHOWN_EVENTS = 200;
const ROW = 28;

class Unauthorized extends Error {}

async function api(method, path, body) {
  const headers = { "content-type": "application/json" };
  if (state.token) headers.authorization = "Basic " + btoa(state.token);
  const res = await fetch("/api" + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401) throw new Unauthorized();
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status}`);
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

// ---- sign in ------------------------------------------------------------------------

function askToken(error) {
  $("login-error").textContent = error || "";
  if (!$("login").open) $("login").showModal();
}

$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  state.token = $("token").value;
  sessionStorage.setItem("workbus-token", state.token);
  $("login").close();
  start();
});

// ---- pools --------------------------------------------------------------------------

async function loadPools() {
  const all = [];
  for (let offset = 0; ; offset += 200) {
    const page = await api("POST", "/work_pools/filter", { limit: 200, offset });
    all.push(...page);
    if (page.length < 200) break;
  }
  state.pools = new Map(all.map((p) => [p.name, p]));
  sortPools();
}

function sortPools() {
  const q = $("pool-search").value.trim().toLowerCase();
  state.order = [...state.pools.keys()].filter((n) => !q || n.toLowerCase().includes(q)).sort();
  $("pools-space").style.height = state.order.length * ROW + "px";
  $("counts").textContent = `${state.pools.size} pools`;
  renderPools();
}

function statusOf(pool) {
  return pool.is_paused ? "PAUSED" : (pool.status || "NOT_READY");
}

// Only the rows in view are in the page: thousands of pools scroll without a freeze.
function renderPools() {
  const box = $("pools");
  const first = Math.max(0, Math.floor(box.scrollTop / ROW) - 5);
  const last = Math.min(state.order.length, first + Math.ceil(box.clientHeight / ROW) + 10);
  const space = $("pools-space");
  space.replaceChildren();
  for (let i = first; i < last; i++) {
    const pool = state.pools.get(state.order[i]);
    const row = document.createElement("div");
    row.className = "row pool" + (pool.name === state.selected ? " selected" : "");
    row.style.top = i * ROW + "px";
    row.dataset.pool = pool.name;
    const status = statusOf(pool);
    row.innerHTML = `<span class="name"></span><span class="dim type"></span><span class="status ${status}">${status}</span>`;
    row.querySelector(".name").textContent = pool.name;
    row.querySelector(".type").textContent = pool.type;
    row.addEventListener("click", () => select(pool.name));
    space.appendChild(row);
  }
}
$("pools").addEventListener("scroll", renderPools);
$("pool-search").addEventListener("input", sortPools);

const pending = new Map();
function later(key, f, ms = 100) {
  if (pending.has(key)) return;
  pending.set(key, setTimeout(() => { pending.delete(key); f().catch(failed); }, ms));
}

async function refreshPool(name) {
  const pool = await api("GET", `/work_pools/${encodeURIComponent(name)}`);
  if (pool) state.pools.set(name, pool); else state.pools.delete(name);
  sortPools();
  if (name === state.selected) await loadDetail();
}

// ---- one pool: its queues and workers ------------------------------------------------

async function select(name) {
  state.selected = name;
  renderPools();
  await loadDetail();
}

async function loadDetail() {
  const name = state.selected;
  if (!name) return;
  const p = encodeURIComponent(name);
  const [queues, workers] = await Promise.all([
    api("POST", `/work_pools/${p}/queues/filter`, {}),
    api("POST", `/work_pools/${p}/workers/filter`, {}),
  ]);
  state.detail = { queues: queues || [], workers: workers || [] };
  renderDetail();
}

function ago(iso) {
  if (!iso) return "never";
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

function offlineIn(worker) {
  const interval = worker.heartbeat_interval_seconds || state.settings.fallback_heartbeat_interval_seconds;
  const at = Date.parse(worker.last_heartbeat_time) + interval * state.settings.inactivity_multiple * 1000;
  const s = Math.round((at - Date.now()) / 1000);
  return s > 0 ? `offline in ${s}s` : "offline";
}

function renderDetail() {
  const pool = state.pools.get(state.selected);
  $("detail-title").textContent = pool ? `${pool.name} (${statusOf(pool)})` : "Select a pool";
  const d = $("detail");
  if (!pool) { d.replaceChildren(); return; }
  const table = (head, rows) => {
    const t = document.createElement("table");
    t.innerHTML = `<thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead>`;
    const body = document.createElement("tbody");
    for (const cells of rows) {
      const tr = document.createElement("tr");
      for (const [text, cls] of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    t.appendChild(body);
    return t;
  };
  const queues = table(["queue", "status", "priority", "last poll"], state.detail.queues.map((q) => [
    [q.name], [q.is_paused ? "PAUSED" : q.status, "status " + (q.is_paused ? "PAUSED" : q.status)], [String(q.priority)], [ago(q.last_polled)],
  ]));
  const workers = table(["worker", "status", "last heartbeat", ""], state.detail.workers.map((w) => [
    [w.name], [w.status, "status " + w.status], [ago(w.last_heartbeat_time)], [offlineIn(w), "dim countdown"],
  ]));
  queues.id = "queues";
  workers.id = "workers";
  d.replaceChildren(queues, document.createElement("br"), workers);
}
setInterval(renderDetail, 1000);

// ---- events -------------------------------------------------------------------------

function poolOf(e) {
  if (e.event.startsWith("prefect.work-pool.")) return e.resource["prefect.resource.name"];
  const rel = (e.related || []).find((r) => r["prefect.resource.role"] === "work-pool");
  return rel ? rel["prefect.resource.name"] : undefined;
}

function onEvent(e) {
  state.events.push(e);
  if (state.events.length > MAX_EVENTS) state.events.shift();
  if (!state.kinds.has(e.event)) {
    state.kinds.add(e.event);
    const o = document.createElement("option");
    o.value = o.textContent = e.event;
    $("event-kind").appendChild(o);
  }
  const second = Math.floor(Date.now() / 1000);
  const counts = state.perSecond.get(second) || new Map();
  counts.set(e.event, (counts.get(e.event) || 0) + 1);
  state.perSecond.set(second, counts);

  const pool = poolOf(e);
  if (e.event.startsWith("prefect.work-pool.") && pool) later("pool:" + pool, () => refreshPool(pool));
  else if (pool && pool === state.selected) later("detail", loadDetail);
  if (e.event.startsWith("prefect.automation.")) {
    const id = e.resource["prefect.resource.id"].replace("prefect.automation.", "");
    const f = state.fired.get(id) || { last: null, caused: 0 };
    if (e.event === "prefect.automation.triggered") f.last = e.occurred;
    if (e.event.startsWith("prefect.automation.action.")) f.caused += 1;
    state.fired.set(id, f);
    later("automations", loadAutomations, 200);
  }
  later("events", async () => renderEvents(), 100);
}

function renderEvents() {
  const kind = $("event-kind").value;
  const pool = $("event-pool").value.trim();
  const shown = [];
  for (let i = state.events.length - 1; i >= 0 && shown.length < SHOWN_EVENTS; i--) {
    const e = state.events[i];
    if (kind && e.event !== kind) continue;
    if (pool && poolOf(e) !== pool) continue;
    shown.push(e);
  }
  const list = $("events");
  list.replaceChildren(...shown.map((e) => {
    const li = document.createElement("li");
    li.textContent = `${e.occurred.slice(11, 23)} ${e.event} ${e.resource["prefect.resource.name"] || e.resource["prefect.resource.id"]}`;
    li.addEventListener("click", () => {
      const open = li.querySelector("pre");
      if (open) { open.remove(); return; }
      const pre = document.createElement("pre");
      pre.textContent = JSON.stringify(e, null, 2);
      li.appendChild(pre);
    });
    return li;
  }));
}
$("event-kind").addEventListener("change", renderEvents);
$("event-pool").addEventListener("input", renderEvents);

const COLORS = ["#4ea1ff", "#2fbf71", "#e5484d", "#f5a524", "#b48cff", "#8a9bab"];
function renderChart() {
  const now = Math.floor(Date.now() / 1000);
  for (const s of state.perSecond.keys()) if (s < now - 60) state.perSecond.delete(s);
  const totals = new Map();
  for (const m of state.perSecond.values()) for (const [k, n] of m) totals.set(k, (totals.get(k) || 0) + n);
  const top = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k]) => k);
  const colour = (k) => COLORS[top.includes(k) ? top.indexOf(k) : 5];
  const c = $("chart");
  const g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  let max = 1;
  for (const m of state.perSecond.values()) max = Math.max(max, [...m.values()].reduce((a, b) => a + b, 0));
  const w = c.width / 60;
  for (let i = 0; i < 60; i++) {
    const m = state.perSecond.get(now - 59 + i);
    if (!m) continue;
    let y = c.height;
    for (const [k, n] of m) {
      const h = (n / max) * (c.height - 10);
      g.fillStyle = colour(k);
      g.fillRect(i * w, y - h, w - 1, h);
      y -= h;
    }
  }
  g.fillStyle = "#8a9bab";
  g.fillText(`${max}/s`, 2, 10);
  $("legend").innerHTML = top.map((k, i) => `<span style="color:${COLORS[i]}">■ ${k}</span>`).join("");
}
setInterval(renderChart, 1000);

// ---- automations ----------------------------------------------------------------------

async function loadAutomations() {
  let all;
  try { all = await api("POST", "/automations/filter", {}); } catch (e) { if (e instanceof Unauthorized) throw e; all = null; }
  state.automations = all || [];
  const body = $("automations").querySelector("tbody");
  body.replaceChildren(...state.automations.map((a) => {
    const f = state.fired.get(a.id) || { last: null, caused: 0 };
    const tr = document.createElement("tr");
    for (const [text, cls] of [[a.name], [a.enabled ? "enabled" : "disabled", a.enabled ? "ONLINE" : "dim"], [f.last ? ago(f.last) : "not since this page opened"], [String(f.caused)]]) {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    return tr;
  }));
}

// ---- the websocket ----------------------------------------------------------------------

let socket = null;
function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/events/out";
  socket = new WebSocket(url, ["prefect"]);
  socket.onopen = () => socket.send(JSON.stringify({ type: "auth", token: state.token || null }));
  socket.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "auth_success") {
      socket.send(JSON.stringify({ type: "filter", filter: {}, backfill: true }));
      $("live").textContent = "live";
      $("live").className = "on";
    } else if (msg.type === "event") {
      onEvent(msg.event);
    }
  };
  socket.onclose = (c) => {
    $("live").textContent = "reconnecting…";
    $("live").className = "off";
    if (c.code === 1008) { askToken("the auth string was refused"); return; }
    setTimeout(connect, 1000);
  };
}

function failed(e) {
  if (e instanceof Unauthorized) askToken(state.token ? "the auth string was refused" : "");
  else console.error(e);
}

async function start() {
  try {
    const settings = await fetch("/ui/settings.json").then((r) => r.json());
    Object.assign(state.settings, settings);
    await loadPools();
    await loadAutomations();
    if (socket) { socket.onclose = null; socket.close(); }
    connect();
  } catch (e) {
    failed(e);
  }
}

start();
