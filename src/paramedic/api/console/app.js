// paramedic's console: reads the public API, stays live on the event stream. No framework,
// no build step. Every text from the API goes into the page through textContent (never
// innerHTML): a service, a config or an alert can carry markup, and it must stay text.
"use strict";

const TOKEN_KEY = "paramedic.operator_token";
const state = {
  lastSeq: null, source: null, retry: null, refreshTimer: null, busy: false, dirty: new Set(),
  offset: 0, logServices: new Set(), openIncidents: "?", firing: "?", incidents: [], alerts: [],
  gen: 0, logSeq: 0, drillsOpen: new Set(), hasMetrics: false, approvalsKey: "",
};
const BACKFILL = 200;  // events the live log shows from before the page was opened
const METRICS_EVERY_MS = 2000;  // /health values change without an event: re-read this often

function $(id) { return document.getElementById(id); }

// el("td", {className: "id"}, "text", childNode): strings become text nodes.
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) node[key] = value;
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (token()) h["Authorization"] = "Bearer " + token();
  return h;
}

async function getJSON(path) {
  const response = await fetch(path, { headers: headers(), cache: "no-store" });
  // /health answers 503 with its body when paramedic is unhealthy: that is a reading too.
  if (!response.ok && !(path === "/health" && response.status === 503)) {
    throw new Error(path + ": " + response.status + " " + (await detail(response)));
  }
  return response.json();
}

async function detail(response) {
  try {
    const body = await response.json();
    const d = body.detail;
    if (Array.isArray(d)) return d.map((x) => (x.loc || []).join(".") + ": " + x.msg).join("; ");
    return String(d === undefined ? response.statusText : d);
  } catch (e) {
    return response.statusText;
  }
}

function notice(text, ok) {
  const box = $("notice");
  box.textContent = text;
  box.className = ok ? "ok" : "";
  box.hidden = false;
}

// An operator's action: the API decides; a refusal is shown with the API's own reason.
async function act(path, what) {
  const reason = window.prompt("Reason (goes into the audit trail): " + what, what + " from the console");
  if (reason === null) return;
  const response = await fetch(path, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify({ reason: reason || what }),
  });
  if (response.ok) {
    notice(what + ": done", true);
  } else {
    await refused(response);
  }
  scheduleRefresh();
}

async function refused(response) {
  let why = await detail(response);
  if (response.status === 401 && !token()) why += " (enter an operator token at the top)";
  notice("refused (" + response.status + "): " + why, false);
}

// A drill causes a real failure (docs/drills.md): asked to confirm, then the API decides.
async function startDrill(service, kind) {
  if (!window.confirm("Start a " + kind + " drill on " + service + "? It causes a real failure.")) return;
  const response = await fetch("/api/drills", {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify({ service: service, kind: kind }),
  });
  if (response.ok) {
    notice(kind + " drill on " + service + " started: " + (await response.json()).drill, true);
  } else {
    await refused(response);
  }
  scheduleRefresh();
}

// How long, as the API's sentences spell it: 37.1 ms, 1.58 s.
function took(seconds) {
  return seconds < 1 ? (seconds * 1000).toFixed(1) + " ms" : seconds.toFixed(2) + " s";
}

function ago(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  if (seconds < 60) return seconds + " s";
  if (seconds < 3600) return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
  return Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min";
}

function serverNow() { return Date.now() / 1000 + state.offset; }

function when(wall) { return new Date(wall * 1000).toLocaleTimeString(); }

function incidentLink(id) { return el("a", { href: "#incident=" + encodeURIComponent(id) }, id); }

const LABELS = { healthy: "healthy", degraded: "degraded", recovering: "recovering",
  awaiting_approval: "awaiting approval", failed: "failed", manual: "manual" };

function num(value) {
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 1000) / 1000);
}

// The key metrics of the service's last /health, each beside the configured limit that makes
// it red (none configured: the value alone), and its components (red when false).
function keyMetrics(h) {
  if (!h || (h.metrics.length === 0 && h.components.length === 0)) return null;
  const unit = (m) => (m.unit ? " " + m.unit : "");
  const values = new Map(h.metrics.map((m) => [m.name, m.value]));
  // `x_up` beside `x_total` reads as the spec's "3/3 up".
  const shown = (m) => {
    const total = m.name.endsWith("_up") ? values.get(m.name.slice(0, -3) + "_total") : undefined;
    if (m.value === null) return "no reading";
    return total === undefined || total === null ? num(m.value) + unit(m) : num(m.value) + "/" + num(total) + " up";
  };
  const rows = h.metrics.map((m) => {
    const t = m.threshold;
    const row = el("tr", { className: m.breached ? "breached" : "" },
      el("td", { className: "metric-name" }, m.name),
      el("td", { className: "metric-value" }, shown(m)),
      el("td", { className: "metric-limit" }, t ? "red " + (t.op === ">" ? "above " : "below ") +
        num(t.bound) + unit(m) + " (" + t.kind + " after " + ago(t.for_s) + ")" : "no threshold"));
    row.dataset.metric = m.name;
    row.dataset.breached = String(m.breached);
    return row;
  });
  for (const c of h.components) {
    const row = el("tr", { className: c.ok ? "" : "breached" },
      el("td", { className: "metric-name" }, c.name),
      el("td", { className: "metric-value" }, c.ok ? "OK" : "false"),
      el("td", { className: "metric-limit" }, "red when false"));
    row.dataset.component = c.name;
    row.dataset.breached = String(!c.ok);
    rows.push(row);
  }
  const read = el("caption", {}, "key metrics");
  if (h.reported !== null) read.dataset.read = h.reported;
  return el("table", { className: "key-metrics" }, read, el("tbody", {}, ...rows));
}

// A small menu of the drills this service can take; it stays open across re-renders.
function drillMenu(s) {
  const d = s.drills;
  if (!d || d.kinds.length === 0) return null;
  const menu = el("details", { className: "drills", open: state.drillsOpen.has(s.name),
    ontoggle: () => { if (menu.open) state.drillsOpen.add(s.name); else state.drillsOpen.delete(s.name); } },
  el("summary", {}, "drill"),
  ...d.kinds.map((kind) => el("button", { type: "button", className: "drill-" + kind,
    onclick: () => startDrill(s.name, kind) }, kind)));
  if (d.active) menu.append(el("p", { className: "drill-active" }, "drill " + d.active + " running"));
  return menu;
}

// A card's frame, cloned for each service: cheaper than building its nodes one by one, and a
// first load builds 1,000 of them.
const CARD_FRAME = el("div", { className: "status-card" },
  el("h3", {}, el("span", { className: "name" }), el("span", { className: "state" })));

function card(s) {
  const status = s.status || {};
  const node = CARD_FRAME.cloneNode(true);
  node.className = "status-card " + s.state;
  node.id = "card-" + s.name;
  node.firstChild.firstChild.textContent = s.name;
  node.firstChild.lastChild.textContent = LABELS[s.state] || s.state;
  node.dataset.state = s.state;
  if (s.incident) {
    node.append(el("p", { className: "since", "data-opened": "" },
      "failure detected " + ago(serverNow() - s.incident.opened) + " ago"));
    node.lastChild.dataset.opened = s.incident.opened;
    node.append(el("p", { className: "reason" }, s.incident.reason));
    node.append(el("p", {}, "incident ", incidentLink(s.incident.id)));
  }
  if (s.state !== "healthy" && s.state !== "degraded" && s.incident) {
    const pct = Math.max(0, Math.min(100, Number(status.progress_percentage) || 0));
    const fill = el("div", { className: "progress-fill" }, el("span", {}, pct + "%"));
    fill.style.width = pct + "%";
    node.append(el("div", { className: "progress-bar" }, fill));
    node.dataset.progress = String(pct);
    node.append(el("p", { className: "step" }, "Current step: " + (status.current_step || "")));
    if (status.status_message) node.append(el("p", { className: "message" }, status.status_message));
    if (status.estimated_completion) {
      node.append(el("p", { className: "eta" },
        "ETA: " + new Date(status.estimated_completion).toLocaleTimeString()));
    }
  }
  const metrics = keyMetrics(s.health);
  if (metrics) node.append(metrics);
  const drills = drillMenu(s);
  if (drills) node.append(drills);
  return node;
}

function renderServices(body) {
  state.offset = body.now - Date.now() / 1000;
  $("cards").replaceChildren(...body.services.map(card));
  state.hasMetrics = body.services.some((s) => s.health && s.health.reported !== null);
  const waiting = body.services.filter((s) => s.approval);
  $("approvals-section").hidden = waiting.length === 0;
  // Redrawn only when they changed: the metrics' re-read must not move a button under a click.
  const key = JSON.stringify(waiting.map((s) => [s.name, s.incident.id, s.approval]));
  if (key === state.approvalsKey) { tick(); return; }
  state.approvalsKey = key;
  $("approvals").replaceChildren(...waiting.map((s) => {
    const a = s.approval;
    const id = s.incident.id;
    const remaining = el("span", { className: "remaining" });
    remaining.dataset.deadline = a.deadline;
    const box = el("div", { className: "approval", id: "approval-" + s.name },
      el("p", {}, el("strong", {}, s.name), " · " + a.method + " recovery · incident ", incidentLink(id)),
      el("p", { className: "sentence" }, a.sentence),
      el("p", {}, "time left to answer: ", remaining),
      el("button", { className: "approve", type: "button",
        onclick: () => act("/api/incidents/" + encodeURIComponent(id) + "/approve", "approve " + a.method) },
      "approve"),
      " ",
      el("button", { className: "reject", type: "button",
        onclick: () => act("/api/incidents/" + encodeURIComponent(id) + "/reject", "reject " + a.method) },
      "reject"));
    return box;
  }));
  tick();
}

function renderAlerts(body) {
  const rows = body.alerts.map((a) => {
    const paged = (a.notifications || []).filter((n) => n.action === "trigger")
      .map((n) => (n.receiver || "?") + " via " + n.channel + " (" + n.status + ")").join(", ");
    const open = a.state !== "resolved";
    const path = "/api/alerts/" + encodeURIComponent(a.id);
    const buttons = el("td", {});
    if (a.state === "firing") {
      buttons.append(el("button", { className: "ack", type: "button",
        onclick: () => act(path + "/ack", "acknowledge " + a.id) }, "ack"), " ");
    }
    if (open) {
      buttons.append(el("button", { className: "resolve", type: "button",
        onclick: () => act(path + "/resolve", "resolve " + a.id) }, "resolve"));
    }
    const ladder = a.ladder && a.ladder.sentence ? a.ladder.sentence : "";
    const row = el("tr", { id: "alert-" + a.id },
      el("td", { className: "sev-" + a.severity }, a.severity),
      el("td", {}, a.service || ""),
      el("td", { className: "id" }, a.id, el("br"), (a.alert && a.alert.summary) || ""),
      el("td", { className: "alert-state" }, a.state, ladder ? el("br") : null, ladder),
      el("td", {}, paged),
      buttons);
    row.dataset.state = a.state;
    return row;
  });
  document.querySelector("#alerts-table tbody").replaceChildren(...rows);
  return body.alerts.filter((a) => a.state === "firing").length;
}

function renderIncidents(body) {
  document.querySelector("#incidents-table tbody").replaceChildren(...body.incidents.slice(0, 50)
    .map((i) => el("tr", {}, el("td", {}, when(i.opened)), el("td", {}, i.service),
      el("td", { className: "id" }, incidentLink(i.id)), el("td", {}, i.kind),
      el("td", {}, i.closed ? "closed" : i.state), el("td", {}, i.reason))));
  return body.incidents.filter((i) => !i.closed).length;
}

// RTO over time: one bar per recovery, oldest on the left, red when it failed. Built as SVG
// elements (no chart library, nothing parsed from strings).
function rtoChart(recoveries) {
  const NS = "http://www.w3.org/2000/svg";
  const rows = recoveries.filter((r) => r.rto_s !== null).slice().reverse();
  if (rows.length === 0) return el("p", { className: "state" }, "no recovery yet");
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("id", "rto-chart");
  svg.setAttribute("viewBox", "0 0 400 100");
  svg.setAttribute("preserveAspectRatio", "none");
  const top = Math.max(...rows.map((r) => r.rto_s), 0.001);
  const width = Math.min(40, 400 / Math.max(rows.length, 1));
  rows.forEach((r, i) => {
    const bar = document.createElementNS(NS, "rect");
    const height = Math.max(1, (r.rto_s / top) * 90);
    bar.setAttribute("x", String(i * width + 1));
    bar.setAttribute("y", String(100 - height));
    bar.setAttribute("width", String(Math.max(1, width - 2)));
    bar.setAttribute("height", String(height));
    bar.setAttribute("class", r.success ? "ok" : "bad");
    const title = document.createElementNS(NS, "title");
    title.textContent = (r.service || "") + " " + (r.method || "") + ": " + took(r.rto_s);
    bar.append(title);
    svg.append(bar);
  });
  return el("figure", { className: "chart" }, svg,
    el("figcaption", {}, "RTO of the last " + rows.length + " recoveries (highest " +
      (rows.length ? took(top) : "-") + ")"));
}

function renderHistory(body) {
  $("rto").replaceChildren(rtoChart(body.recoveries));
  document.querySelector("#history-table tbody").replaceChildren(...body.recoveries.map((r) =>
    el("tr", {}, el("td", {}, when(r.time)), el("td", {}, r.service || ""),
      el("td", {}, r.failure_type || ""), el("td", {}, r.method || ""),
      el("td", {}, r.rto_s === null ? "" : took(r.rto_s)),
      el("td", {}, r.success ? "recovered" : "failed"))));
}

// Trading's resumption after the recovery, as /api/incidents reports it.
function resumptionLine(id) {
  const found = state.incidents.find((i) => i.id === id);
  const r = found && found.resumption;
  if (!r) return null;
  return el("p", { className: "resumption" }, "resumption: " + r.phase + " at " +
    r.size_multiplier + "x size" + (r.held ? " (held)" : "") +
    (r.should_trade ? "" : ", not trading"));
}

// Who was paged about this incident, on which channel, and how delivery went.
function pagesOf(id) {
  const lines = [];
  for (const a of state.alerts.filter((x) => x.incident === id)) {
    for (const n of a.notifications || []) {
      lines.push(el("li", {}, a.severity + " " + n.action + " to " + (n.receiver || "?") +
        " via " + n.channel + ": " + n.status + " (alert " + a.id + ", " + a.state + ")"));
    }
  }
  return lines.length ? lines : [el("li", {}, "nobody paged")];
}

async function renderIncidentPage() {
  const match = /^#incident=(.+)$/.exec(location.hash);
  $("incident-page").hidden = !match;
  if (!match) return;
  const id = decodeURIComponent(match[1]);
  $("incident-id").textContent = id;
  const i = await getJSON("/api/incidents/" + encodeURIComponent(id));
  $("incident-body").replaceChildren(
    el("p", {}, i.service + " · " + i.kind + " · " + i.state + (i.method ? " · " + i.method : "")),
    el("p", {}, i.reason),
    i.decision ? el("p", {}, "decision: " + i.decision) : null,
    i.rto_s !== null ? el("p", {}, "RTO: " + took(i.rto_s)) : null,
    resumptionLine(id),
    el("h3", {}, "pages"),
    el("ul", {}, ...pagesOf(id)),
    el("h3", {}, "steps"),
    el("ol", {}, ...i.steps.map((s) => el("li", {},
      s.step + ": " + (s.ok ? "ok" : "failed") + " in " + took(s.duration_s)))),
    el("h3", {}, "timeline"),
    el("ol", { className: "timeline" }, ...i.timeline.map((e) =>
      el("li", {}, when(e.at) + " " + e.kind + ": " + e.summary))));
}

// What each view reads and how it is drawn; an event marks only the views it can change.
const VIEWS = {
  services: ["/api/services", renderServices],
  health: ["/health", (health) => {
    const self = $("self");
    self.textContent = "paramedic: " + (health.healthy ? "healthy" : "unhealthy");
    self.className = "pill " + (health.healthy ? "ok" : "bad");
  }],
  incidents: ["/api/incidents", (body) => {
    state.incidents = body.incidents;
    state.openIncidents = renderIncidents(body);
  }],
  alerts: ["/api/alerts?limit=50", (body) => {
    state.alerts = body.alerts;
    state.firing = renderAlerts(body);
  }],
  history: ["/api/recoveries?limit=20", renderHistory],
};
const ALL = Object.keys(VIEWS);

function viewsFor(kind) {
  if (kind.startsWith("alert.")) return ["alerts", "health"];
  if (kind.startsWith("note.")) return ["incidents"];
  if (kind === "recovery.finished") return ["services", "incidents", "history", "health"];
  return ["services", "incidents", "health"];
}

async function refresh() {
  if (state.busy) {  // one refresh at a time, so an older answer never overwrites a newer one
    state.refreshTimer = setTimeout(refresh, 100);
    return;
  }
  state.refreshTimer = null;
  state.busy = true;
  try {
    await refreshViews();
  } finally {
    state.busy = false;
  }
}

async function refreshViews() {
  const names = Array.from(state.dirty);
  state.dirty.clear();
  // One failing read (alerting not running, say) must not blank the others.
  const results = await Promise.allSettled(names.map(async (name) => {
    const [path, render] = VIEWS[name];
    render(await getJSON(path));
  }));
  const failed = results.filter((r) => r.status === "rejected");
  if (failed.length) notice(String(failed[0].reason.message || failed[0].reason), false);
  if (names.includes("incidents") || names.includes("alerts")) {
    $("counts").textContent = "open incidents: " + state.openIncidents +
      " · unacknowledged alerts: " + state.firing;
    await renderIncidentPage().catch((e) => notice(String(e.message || e), false));
  }
}

function scheduleRefresh(views) {
  for (const name of views || ALL) state.dirty.add(name);
  if (state.refreshTimer === null) state.refreshTimer = setTimeout(refresh, 100);
}

function logLine(data) {
  if (data.seq) {  // the backfill and the stream meet at one seq: each line is shown once
    if (data.seq <= state.logSeq) return;
    state.logSeq = data.seq;
  }
  const filter = $("log-filter").value;
  if (data.service && !state.logServices.has(data.service)) {
    state.logServices.add(data.service);
    $("log-filter").append(el("option", { value: data.service }, data.service));
  }
  const line = el("li", {}, when(data.wall) + " [" + (data.service || "paramedic") + "] " +
    data.kind + ": " + data.summary);
  line.dataset.service = data.service || "";
  line.dataset.seq = String(data.seq);
  line.hidden = filter !== "" && filter !== line.dataset.service;
  const list = $("log-lines");
  list.prepend(line);
  while (list.children.length > 500) list.lastChild.remove();
}

function connected(live) {
  const conn = $("conn");
  conn.textContent = live ? "live" : "disconnected, retrying";
  conn.className = "pill " + (live ? "ok" : "bad");
}

// The stream: with a token, a short-lived ticket opens it (an EventSource sends no headers).
// A closed stream is reopened from the last event id seen, so nothing is missed.
async function connect() {
  const gen = ++state.gen;  // a newer connect() (a token entered meanwhile) wins
  state.retry = null;
  if (state.source) state.source.close();
  const params = new URLSearchParams();
  try {
    if (state.lastSeq === null) await backfill();
    params.set("after", state.lastSeq);
    if (token()) {
      const response = await fetch("/api/events/ticket", { headers: headers(), cache: "no-store" });
      if (!response.ok) throw new Error("ticket: " + response.status);
      params.set("ticket", (await response.json()).ticket);
    }
  } catch (e) {
    connected(false);
    if (gen === state.gen) state.retry = setTimeout(connect, 2000);
    return;
  }
  if (gen !== state.gen) return;
  const source = new EventSource("/api/events/stream?" + params.toString());
  state.source = source;
  source.onopen = () => { connected(true); scheduleRefresh(); };
  source.onmessage = (message) => {
    if (message.lastEventId) state.lastSeq = Number(message.lastEventId);
    const data = JSON.parse(message.data);
    logLine(data);
    scheduleRefresh(viewsFor(data.kind));
  };
  source.onerror = () => {
    connected(false);
    if (source.readyState === EventSource.CLOSED && state.retry === null) {
      state.retry = setTimeout(connect, 1000);
    }
  };
}

// The live log starts with the newest events from before the page was opened; the stream
// then continues after the last of them, so nothing falls between and nothing comes twice.
async function backfill() {
  const body = await getJSON("/api/timeline?last=" + BACKFILL);
  for (const event of body.events) logLine(event);
  state.lastSeq = body.next_after;
}

// Times that count (since detection, left to approve) move every second without a request.
function tick() {
  const now = serverNow();
  for (const p of document.querySelectorAll("[data-opened]")) {
    if (p.dataset.opened) p.textContent = "failure detected " + ago(now - Number(p.dataset.opened)) + " ago";
  }
  for (const span of document.querySelectorAll("[data-deadline]")) {
    const left = Number(span.dataset.deadline) - now;
    span.textContent = left > 0 ? ago(left) : "timed out " + ago(-left) + " ago (still answerable)";
  }
  for (const caption of document.querySelectorAll("[data-read]")) {
    caption.textContent = "key metrics, read " + ago(now - Number(caption.dataset.read)) + " ago";
  }
}

function showRole() {
  $("role").textContent = token() ? "operator token set" : "read-only";
  $("role").className = "pill " + (token() ? "ok" : "");
}

document.addEventListener("DOMContentLoaded", () => {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token").value.trim();
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    $("token").value = "";
    showRole();
    connect();
  });
  $("token-clear").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showRole();
    connect();
  });
  $("log-filter").addEventListener("change", () => {
    const filter = $("log-filter").value;
    for (const li of $("log-lines").children) {
      li.hidden = filter !== "" && filter !== li.dataset.service;
    }
  });
  window.addEventListener("hashchange", () => { renderIncidentPage().catch((e) => notice(String(e.message), false)); });
  showRole();
  setInterval(tick, 1000);
  setInterval(() => {
    const live = state.source && state.source.readyState === EventSource.OPEN;
    if (live && state.hasMetrics && document.visibilityState === "visible") scheduleRefresh(["services"]);
  }, METRICS_EVERY_MS);
  // The first load reads the cards alone, at once: nothing else on paramedic's loop or this
  // page's thread while they are built. Once they are on screen, every other view and the
  // stream (whose opening re-reads every view: nothing between the two reads is missed).
  state.dirty.add("services");
  refresh().finally(() => afterPaint(() => {
    for (const name of ALL) if (name !== "services") state.dirty.add(name);
    refresh();
    connect();
  }));
});

// `then` once the browser has painted what is on screen (a frame, then a task), or after
// 100 ms at most: a page opened in a background tab gets no frame until it is shown.
function afterPaint(then) {
  let done = false;
  const once = () => { if (!done) { done = true; then(); } };
  requestAnimationFrame(() => setTimeout(once, 0));
  setTimeout(once, 100);
}
