// The supervisor's live floor: a `floor` message a second over /ws/supervisor (protocol: GET /protocol).
// It reconnects by itself and the server sends the latest floor at once.
"use strict";
let socket = null;
let retry = 500;

function cell(value, attrs = {}) {
  const td = document.createElement("td");
  td.textContent = value ?? "–";
  Object.assign(td.dataset, attrs);
  return td;
}
function seconds(value) { return value == null ? "–" : `${Math.round(value)} s`; }
function percent(value) { return value == null ? "–" : `${Math.round(value * 1000) / 10}%`; }
function row(cells, attrs = {}) { const tr = document.createElement("tr"); Object.assign(tr.dataset, attrs); tr.append(...cells); return tr; }

function showFloor(floor) {
  document.getElementById("as-of").textContent = `as of ${floor.at}`;
  const queues = Object.entries(floor.queues);
  document.querySelector("#queues tbody").replaceChildren(...queues.map(([name, q]) => row([
    cell(name),
    cell(String(q.waiting.length), { field: "waiting" }),
    cell(seconds(q.longest_wait_s), { field: "longest" }),
    cell(q.waiting.map((w) => `${w.ringing ? `ringing ${w.ringing}` : `#${w.position}`} ${w.number} · ${Math.round(w.waited_s)} s`).join("; ") || "–", { field: "callers" }),
    cell(Object.entries(q.agents).map(([status, n]) => `${status.replace("_", " ")} ${n}`).join(", ") || "no agents", { field: "agents" }),
  ], { queue: name })));
  const kpis = floor.kpis.queues || {};
  document.querySelector("#kpis tbody").replaceChildren(...queues.map(([name, q]) => {
    const k = kpis[name] || {};
    return row([
      cell(name), cell(k.offered, { field: "offered" }), cell(k.answered, { field: "answered" }), cell(k.abandoned, { field: "abandoned" }),
      cell(k.short_abandoned, { field: "short_abandoned" }), cell(k.callbacks, { field: "callbacks" }), cell(k.overflowed, { field: "overflowed" }),
      cell(seconds(k.asa_s), { field: "asa" }), cell(seconds(k.aht_s), { field: "aht" }), cell(percent(k.abandon_rate), { field: "abandon_rate" }),
      cell(`${percent(k.service_level)} (${q.service_level_s} s, target ${q.target_percent}%)`, { field: "service_level" }),
      cell(`${percent(k.service_level_2)} (${q.service_level_s} s)`, { field: "service_level_2" }),
    ], { queue: name });
  }));
  document.getElementById("occupancy").textContent = percent(floor.kpis.occupancy);
  document.getElementById("formulas").replaceChildren(...Object.entries(floor.formulas).flatMap(([name, text]) => {
    const dt = document.createElement("dt"); dt.textContent = name.replaceAll("_", " ");
    const dd = document.createElement("dd"); dd.textContent = text;
    return [dt, dd];
  }));
  const failed = floor.failed_callbacks || [];
  document.getElementById("failed-callbacks").replaceChildren(...(failed.length ? failed.map((f) => {
    const li = document.createElement("li");
    li.textContent = `${new Date(f.at * 1000).toLocaleTimeString()} · ${f.queue} · ${f.number} · ${f.attempts} attempts`;
    return li;
  }) : [Object.assign(document.createElement("li"), { className: "quiet", textContent: "None." })]));
  const occupancy = floor.kpis.agents || {};
  document.querySelector("#agents tbody").replaceChildren(...Object.entries(floor.agents).map(([id, a]) => {
    const actions = document.createElement("td");
    for (const [status, label] of [["available", "Available"], ["paused", "Pause"], ["logged_out", "Log out"]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.dataset.action = status;
      button.addEventListener("click", () => send({ type: "set_agent_state", agent: id, status }));
      actions.append(button);
    }
    const state = cell(`${a.status.replace("_", " ")}${a.reason ? ` (${a.reason})` : ""}`, { field: "status", status: a.status });
    state.className = "status";
    return row([cell(`${a.name} (${id})`), state, cell(seconds(a.since_s)), cell(a.registered === false ? "not registered" : "registered"), cell(percent(occupancy[id])), actions], { agent: id });
  }));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/ws/supervisor`);
  socket.onopen = () => { retry = 500; document.getElementById("connection").textContent = "connected"; };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "floor") { showFloor(message); document.dispatchEvent(new CustomEvent("floor:update", { detail: message })); }
    else if (message.type === "agent_state_set") document.getElementById("action-result").textContent = `${message.agent} set to ${message.status.replace("_", " ")}`;
    else if (message.type === "error") document.getElementById("action-result").textContent = message.error;
  };
  socket.onclose = (event) => {
    document.getElementById("connection").textContent = "reconnecting…";
    if (event.code === 1008 || event.code === 4401) { location.assign("/login?next=/supervisor"); return; }
    // A refused reconnect (the session ended while the page was away) shows only as 1006: ask the engine.
    fetch("/protocol", { credentials: "same-origin" }).then((r) => { if (r.status === 401 || r.status === 403) location.assign("/login?next=/supervisor"); }, () => {});
    setTimeout(connect, retry);
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
connect();
