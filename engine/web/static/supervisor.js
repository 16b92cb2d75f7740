// The supervisor's live floor: a `floor` message a second over /ws/supervisor (protocol: GET /protocol),
// and the wallboard charts from `floor_history` (the whole day on connect, then the current minute).
// It reconnects by itself and the server sends the latest floor and the day's history at once.
"use strict";
let socket = null;
let retry = 500;
let lastFloor = null;
let history = null;
const SHOWN_STATES = ["available", "reserved", "on_call", "wrap_up", "paused"];
const FORMULA_TITLES = { asa: "supervisor.asa", aht: "supervisor.aht", abandon_rate: "supervisor.abandon_rate", service_level: "supervisor.service_level", service_level_2: "supervisor.service_level_2", occupancy: "supervisor.occupancy" };
const HISTORY_FIELDS = { waiting: null, service_level: null, agents: 0 };

function cell(value, attrs = {}) {
  const td = document.createElement("td");
  td.textContent = value ?? "–";
  Object.assign(td.dataset, attrs);
  return td;
}
function count(value) { return value == null ? "–" : I18N.number(value); }
function state(status) { return I18N.t(`status.${status}`); }
function row(cells, attrs = {}) { const tr = document.createElement("tr"); Object.assign(tr.dataset, attrs); tr.append(...cells); return tr; }

// The wall's big figures, over all queues: service level and ASA weighted by each queue's answered calls.
function showTiles(floor) {
  const kpis = Object.values(floor.kpis.queues || {});
  const queues = Object.values(floor.queues);
  const sum = (field) => kpis.reduce((n, k) => n + (k[field] || 0), 0);
  const answered = sum("answered");
  const weighted = (field) => (answered ? kpis.reduce((n, k) => n + (k[field] == null ? 0 : k[field] * (k.answered || 0)), 0) / answered : null);
  const decided = answered + sum("abandoned");
  const level = weighted("service_level");
  const target = queues.length ? Math.min(...queues.map((q) => q.target_percent)) / 100 : 0;
  const agents = Object.values(floor.agents);
  const inState = (status) => I18N.number(agents.filter((a) => a.status === status).length);
  const tiles = [
    ["waiting", "supervisor.tile_waiting", I18N.number(queues.reduce((n, q) => n + q.waiting.length, 0))],
    ["longest", "supervisor.longest_wait", I18N.seconds(Math.max(0, ...queues.map((q) => q.longest_wait_s)))],
    ["service_level", "supervisor.tile_service_level", I18N.percent(level), level != null && level < target ? "below" : ""],
    ["abandon_rate", "supervisor.abandon_rate", I18N.percent(decided ? sum("abandoned") / decided : null)],
    ["asa", "supervisor.asa", I18N.seconds(weighted("asa_s"))],
    ["available", "status.available", inState("available")],
    ["on_call", "status.on_call", inState("on_call")],
  ];
  document.getElementById("tiles").replaceChildren(...tiles.map(([name, label, value, mark]) => {
    const tile = document.createElement("div");
    tile.className = `tile ${mark || ""}`.trim();
    tile.dataset.tile = name;
    const figure = Object.assign(document.createElement("span"), { className: "tile-value", textContent: value });
    const caption = Object.assign(document.createElement("span"), { className: "tile-label", textContent: I18N.t(label) });
    tile.append(figure, caption);
    if (mark === "below") tile.append(Object.assign(document.createElement("span"), { className: "tile-note", textContent: I18N.t("supervisor.below_target") }));  // not by colour alone
    return tile;
  }));
}

function showFloor(floor) {
  showTiles(floor);
  document.getElementById("as-of").textContent = I18N.t("supervisor.as_of", { time: I18N.time(new Date(floor.at)) });
  const queues = Object.entries(floor.queues);
  document.querySelector("#queues tbody").replaceChildren(...queues.map(([name, q]) => row([
    cell(name),
    cell(count(q.waiting.length), { field: "waiting" }),
    cell(I18N.seconds(q.longest_wait_s), { field: "longest" }),
    cell(q.waiting.map((w) => w.ringing
      ? I18N.t("supervisor.caller_ringing", { agent: w.ringing, number: w.number, waited: I18N.seconds(w.waited_s) })
      : I18N.t("supervisor.caller_position", { position: w.position, number: w.number, waited: I18N.seconds(w.waited_s) })).join("; ") || "–", { field: "callers" }),
    cell(Object.entries(q.agents).map(([status, n]) => I18N.t("supervisor.state_count", { state: state(status), n: I18N.number(n) })).join(", ") || I18N.t("supervisor.no_agents"), { field: "agents" }),
  ], { queue: name })));
  const kpis = floor.kpis.queues || {};
  document.querySelector("#kpis tbody").replaceChildren(...queues.map(([name, q]) => {
    const k = kpis[name] || {};
    return row([
      cell(name), cell(count(k.offered), { field: "offered" }), cell(count(k.answered), { field: "answered" }), cell(count(k.abandoned), { field: "abandoned" }),
      cell(count(k.short_abandoned), { field: "short_abandoned" }), cell(count(k.callbacks), { field: "callbacks" }), cell(count(k.overflowed), { field: "overflowed" }),
      cell(I18N.seconds(k.asa_s), { field: "asa" }), cell(I18N.seconds(k.aht_s), { field: "aht" }), cell(I18N.percent(k.abandon_rate), { field: "abandon_rate" }),
      cell(I18N.t("supervisor.service_level_cell", { level: I18N.percent(k.service_level), seconds: I18N.seconds(q.service_level_s), target: I18N.percent(q.target_percent / 100) }), { field: "service_level" }),
      cell(I18N.t("supervisor.service_level_2_cell", { level: I18N.percent(k.service_level_2), seconds: I18N.seconds(q.service_level_s) }), { field: "service_level_2" }),
    ], { queue: name });
  }));
  document.getElementById("occupancy").textContent = I18N.percent(floor.kpis.occupancy);
  document.getElementById("formulas").replaceChildren(...Object.entries(floor.formulas).flatMap(([name, text]) => {
    const dt = document.createElement("dt"); dt.textContent = name in FORMULA_TITLES ? I18N.t(FORMULA_TITLES[name]) : name;
    const dd = document.createElement("dd"); dd.textContent = name in FORMULA_TITLES ? I18N.t(`supervisor.formula.${name}`) : text;
    return [dt, dd];
  }));
  const failed = floor.failed_callbacks || [];
  document.getElementById("failed-callbacks").replaceChildren(...(failed.length ? failed.map((f) => {
    const li = document.createElement("li");
    li.textContent = I18N.t("supervisor.failed_callback", { time: I18N.time(new Date(f.at * 1000)), queue: f.queue, number: f.number, attempts: I18N.number(f.attempts) });
    return li;
  }) : [Object.assign(document.createElement("li"), { className: "quiet", textContent: I18N.t("common.none") })]));
  const occupancy = floor.kpis.agents || {};
  document.querySelector("#agents tbody").replaceChildren(...Object.entries(floor.agents).map(([id, a]) => {
    const actions = document.createElement("td");
    for (const [status, label] of [["available", "supervisor.make_available"], ["paused", "supervisor.make_paused"], ["logged_out", "supervisor.make_logged_out"]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = I18N.t(label);
      button.dataset.action = status;
      button.addEventListener("click", () => send({ type: "set_agent_state", agent: id, status }));
      actions.append(button);
    }
    const shown = cell(`${state(a.status)}${a.reason ? ` (${I18N.reason(a.reason)})` : ""}`, { field: "status", status: a.status });
    shown.className = "status";
    const phone = a.registered === false ? I18N.t("supervisor.not_registered") : I18N.t("supervisor.registered");
    return row([cell(`${a.name} (${id})`), shown, cell(I18N.seconds(a.since_s)), cell(phone), cell(I18N.percent(occupancy[id])), actions], { agent: id });
  }));
}

// A `floor_history` message: the whole day (replace) or one minute's column, put in its place.
function mergeHistory(message) {
  if (message.replace || !history || history.day_start !== message.day_start) { history = message; return; }
  const at = message.at[0];
  if (at === undefined) return;
  let index = history.at.lastIndexOf(at);
  if (index < 0) { history.at.push(at); index = history.at.length - 1; }
  for (const [field, missing] of Object.entries(HISTORY_FIELDS)) {
    for (const key of Object.keys(message[field])) if (!history[field][key]) history[field][key] = history.at.map(() => missing);
    for (const [key, values] of Object.entries(history[field])) values[index] = key in message[field] ? message[field][key][0] : missing;
  }
  history.since = message.since;
}

// A day of minutes is too dense for a wall: the charts group them (1 to 15 minutes, so a day is
// about a hundred points) — callers waiting by the group's peak, service level by its last value,
// agents by their mean — so the shape reads from across the room and no peak is lost.
const PEAK = (values) => (values.some((v) => v != null) ? Math.max(...values.filter((v) => v != null)) : null);
const LAST = (values) => { const known = values.filter((v) => v != null); return known.length ? known[known.length - 1] : null; };
const MEAN = (values) => (values.length ? Math.round((values.reduce((n, v) => n + (v || 0), 0) / values.length) * 10) / 10 : null);

function groups(min) {
  const first = history.at.findIndex((at) => at * 1000 >= min);
  const span = (history.at[history.at.length - 1] - history.at[Math.max(first, 0)]) / 60;
  const size = (span <= 120 ? 1 : span <= 360 ? 5 : span <= 720 ? 10 : 15) * 60;
  const found = new Map();
  history.at.forEach((at, i) => {
    if (at * 1000 < min) return;
    const start = Math.floor(at / size) * size;
    if (!found.has(start)) found.set(start, []);
    found.get(start).push(i);
  });
  // Plotted at the group's last minute: its value is that minute's (service level) or a peak up to it, not the group's start.
  return [...found].map(([, indexes]) => ({ x: history.at[indexes[indexes.length - 1]] * 1000, indexes }));
}
function points(grouped, values, reduce) { return grouped.map((group) => ({ x: group.x, y: reduce(group.indexes.map((i) => values[i])) })); }
// Lines are drawn without dots, but a value with no neighbour (one minute after a quiet morning) and the latest one get a dot.
function dotted(context) {
  const data = context.dataset.data;
  const i = context.dataIndex;
  if (data[i].y == null) return 0;
  const lonely = (i === 0 || data[i - 1].y == null) && (i === data.length - 1 || data[i + 1].y == null);
  return lonely || i === data.length - 1 ? 3 : 0;
}

// Where the charts start: a little before the day's first activity (not an empty midnight), never before `since`.
function chartStart() {
  const active = history.at.findIndex((_, i) => Object.values(history.waiting).some((v) => v[i] > 0) || Object.values(history.agents).some((v) => v[i] > 0) || Object.values(history.service_level).some((v) => v[i] != null));
  const first = active < 0 ? history.at[history.at.length - 1] - 3600 : history.at[active] - 1800;
  return Math.max(first, history.since ?? first, history.day_start) * 1000;
}

// Ticks on whole hours (or half hours on a short span), so the axis reads like a clock.
function timeAxis(min, max) {
  const hours = (max - min) / 3600000;
  const step = (hours <= 3 ? 0.5 : hours <= 8 ? 1 : hours <= 16 ? 2 : 3) * 3600000;
  const axis = Charts.timeAxis(min, max);
  axis.afterBuildTicks = (scale) => {
    const offset = new Date(min).getTimezoneOffset() * 60000;
    const ticks = [];
    for (let t = Math.ceil((min - offset) / step) * step + offset; t <= max; t += step) ticks.push({ value: t });
    scale.ticks = ticks;
  };
  return axis;
}

function drawCharts() {
  if (!history || !window.Charts) return;
  const since = document.getElementById("history-since");
  if (history.since == null) since.textContent = I18N.t("supervisor.no_history");
  else since.textContent = history.since > history.day_start ? I18N.t("supervisor.since", { time: Charts.clock(history.since * 1000) }) : "";
  describeCharts();
  if (!history.at.length) return;
  const min = chartStart();
  const max = (history.at[history.at.length - 1] + history.minute_s) * 1000;
  const grouped = groups(min);
  const queues = Object.keys(history.waiting);
  const legend = { position: "bottom", labels: { boxWidth: 14 } };
  const title = (items) => Charts.clock(items[0].parsed.x);
  chart("chart-waiting", {
    type: "line",
    data: { datasets: queues.map((queue, i) => ({ label: queue, data: points(grouped, history.waiting[queue], PEAK), borderColor: Charts.color(i), backgroundColor: Charts.color(i), pointRadius: dotted, borderWidth: 2, cubicInterpolationMode: "monotone" })) },
    options: { scales: { x: timeAxis(min, max), y: { beginAtZero: true, suggestedMax: 3, ticks: { precision: 0, callback: (v) => I18N.number(v) }, title: { display: true, text: I18N.t("supervisor.axis_callers") } } },
      plugins: { legend, tooltip: { callbacks: { title, label: (item) => I18N.t("supervisor.tooltip_waiting", { queue: item.dataset.label, n: I18N.number(item.parsed.y) }) } } } },
  });
  // One dashed target line per distinct target (queues usually share one), named by its queues when they differ.
  const byTarget = new Map();
  for (const queue of queues) {
    const target = lastFloor && lastFloor.queues[queue] ? lastFloor.queues[queue].target_percent : null;
    if (target != null) byTarget.set(target, [...(byTarget.get(target) || []), queue]);
  }
  const targetLines = [...byTarget].map(([target, named]) => ({
    label: byTarget.size === 1 ? I18N.t("supervisor.target_all", { target: I18N.percent(target / 100) }) : I18N.t("supervisor.target_line", { queue: named.join(", "), target: I18N.percent(target / 100) }),
    data: [{ x: min, y: target }, { x: max, y: target }], borderColor: "#5d6d7e", borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0, backgroundColor: "transparent",
  }));
  chart("chart-service-level", {
    type: "line",
    data: { datasets: [...queues.map((queue, i) => ({ label: queue, data: points(grouped, history.service_level[queue].map((v) => (v == null ? null : v * 100)), LAST),
      borderColor: Charts.color(i), backgroundColor: Charts.color(i), pointRadius: dotted, borderWidth: 2, spanGaps: false })), ...targetLines] },
    options: { scales: { x: timeAxis(min, max), y: { min: 0, max: 100, ticks: { callback: (v) => I18N.percent(v / 100) } } },
      plugins: { legend, tooltip: { callbacks: { title, label: (item) => `${item.dataset.label}: ${I18N.percent(item.parsed.y / 100)}` } } } },
  });
  const states = SHOWN_STATES.filter((status) => status in history.agents);
  chart("chart-agents", {
    type: "line",
    data: { datasets: states.map((status) => ({ label: state(status), data: points(grouped, history.agents[status], MEAN), fill: "stack", pointRadius: 0, borderWidth: 1, cubicInterpolationMode: "monotone",
      borderColor: Charts.STATUS_COLORS[status], backgroundColor: `${Charts.STATUS_COLORS[status]}b3` })) },
    options: { scales: { x: timeAxis(min, max), y: { stacked: true, beginAtZero: true, ticks: { precision: 0, callback: (v) => I18N.number(v) }, title: { display: true, text: I18N.t("supervisor.axis_agents") } } },
      plugins: { legend, tooltip: { mode: "index", intersect: false, callbacks: { title, label: (item) => I18N.t("supervisor.state_count", { state: item.dataset.label, n: I18N.number(item.parsed.y) }) } } } },
  });
}

// Each chart's text alternative (WCAG 1.1.1), the paragraph its canvas is described by: what the
// chart shows, in words, from the same history, redrawn with it.
function describeCharts() {
  const queues = Object.keys(history.waiting);
  const last = history.at.length - 1;
  const waiting = queues.map((queue) => {
    const values = history.waiting[queue].map((v) => v || 0);
    const peak = Math.max(0, ...values);
    if (!peak) return I18N.t("supervisor.summary_waiting_quiet", { queue });
    return I18N.t("supervisor.summary_waiting", { queue, now: I18N.number(values[last]), peak: I18N.number(peak), time: Charts.clock(history.at[values.indexOf(peak)] * 1000) });
  });
  const levels = queues.map((queue) => {
    const target = lastFloor && lastFloor.queues[queue] ? lastFloor.queues[queue].target_percent : null;
    const level = LAST(history.service_level[queue]);
    const words = { queue, level: I18N.percent(level), target: target == null ? "–" : I18N.percent(target / 100) };
    if (level == null) return I18N.t("supervisor.summary_no_answer", words);
    return I18N.t(target != null && level * 100 < target ? "supervisor.summary_service_level_below" : "supervisor.summary_service_level", words);
  });
  const now = SHOWN_STATES.filter((status) => (history.agents[status] || [])[last] > 0)
    .map((status) => I18N.t("supervisor.state_count", { state: state(status), n: I18N.number(history.agents[status][last]) }));
  const agents = now.length ? I18N.t("supervisor.summary_agents", { states: now.join(", ") }) : I18N.t("supervisor.summary_agents_none");
  for (const [id, text] of [["chart-waiting-summary", waiting.join(" ")], ["chart-service-level-summary", levels.join(" ")], ["chart-agents-summary", agents]]) {
    const paragraph = document.getElementById(id);
    if (paragraph) paragraph.textContent = text;
  }
}

// One chart per canvas, updated in place (a wall screen redraws every minute all day).
function chart(id, config) {
  const canvas = document.getElementById(id);
  if (!canvas) return;
  const existing = Charts.ready ? Chart.getChart(canvas) : null;
  if (existing && existing.config.type === config.type) {
    existing.data = config.data;
    existing.options = config.options;
    existing.update("none");
  } else {
    Charts.draw(canvas, config);
  }
  canvas.dataset.points = String(config.data.datasets.reduce((n, set) => n + set.data.filter((p) => p.y != null).length, 0));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/ws/supervisor`);
  socket.onopen = () => { retry = 500; document.getElementById("connection").textContent = I18N.t("common.connected"); };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "floor") {
      const first = lastFloor === null;
      lastFloor = message;
      showFloor(message);
      document.dispatchEvent(new CustomEvent("floor:update", { detail: message }));
      if (first) drawCharts();  // the target lines come with the floor
    } else if (message.type === "floor_history") {
      mergeHistory(message);
      drawCharts();
    } else if (message.type === "agent_state_set") {
      document.getElementById("action-result").textContent = I18N.t("supervisor.agent_set", { agent: message.agent, state: state(message.status) });
    } else if (message.type === "error") {
      const key = I18N.errorKey(message.code);  // the English detail only when this page cannot say the code
      const result = document.getElementById("action-result");
      result.textContent = key ? I18N.t("common.not_done_because", { error: I18N.t(key) }) : I18N.t("common.not_done");
      if (!key) I18N.note(result, message.error);
    }
  };
  socket.onclose = (event) => {
    document.getElementById("connection").textContent = I18N.t("common.reconnecting");
    if (event.code === 1008 || event.code === 4401) { location.assign("/login?next=/supervisor"); return; }
    // A refused reconnect (the session ended while the page was away) shows only as 1006: ask the engine then.
    if (event.code === 1006) fetch("/protocol", { credentials: "same-origin" }).then((r) => { if (r.status === 401 || r.status === 403) location.assign("/login?next=/supervisor"); }, () => {});
    setTimeout(connect, retry / 2 + Math.random() * retry);  // jittered: pages dropped together come back spread out
    retry = Math.min(retry * 2, 8000);
  };
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ v: 1, ...message }));
}

document.getElementById("logout").addEventListener("submit", async (event) => {
  event.preventDefault();
  await fetch("/logout", { method: "POST", credentials: "same-origin" });
  location.assign("/login");
});
document.addEventListener("i18n:changed", () => {
  if (socket && socket.readyState === WebSocket.OPEN) document.getElementById("connection").textContent = I18N.t("common.connected");
  if (lastFloor) showFloor(lastFloor);
  drawCharts();
});
I18N.ready.then(connect);
