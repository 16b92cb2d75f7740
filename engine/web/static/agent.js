// The agent desktop: state and screen-pops pushed over a websocket (protocol: GET /protocol).
// It reconnects by itself; the server sends the current state and pop again, so nothing is lost.
"use strict";
let socket = null;
let retry = 500;
let stateSince = Date.now();
let current = {};

function text(id, value) { document.getElementById(id).textContent = value ?? ""; }

function list(id, items, render) {
  const target = document.getElementById(id);
  target.replaceChildren(...items.map((item) => { const li = document.createElement("li"); li.textContent = render(item); return li; }));
}

function showState(message) {
  current = message;
  stateSince = Date.now() - (message.since_s || 0) * 1000;
  text("agent-id", message.agent);
  text("status", message.status.replace("_", " "));
  document.getElementById("status").dataset.status = message.status;
  text("reason", message.reason ? `(${message.reason})` : "");
  text("registration", message.registered ? "Phone registered" : "Phone NOT registered: calls cannot reach you");
}

function showPop(pop) {
  document.getElementById("pop").hidden = false;
  document.getElementById("no-pop").hidden = true;
  document.getElementById("pop").dataset.callId = pop.call_id;
  // Caller IDs can be forged by anyone: the page says so, so nobody trusts a CRM match on the number alone.
  text("pop-caller", `${pop.caller.name || ""} ${pop.caller.number}`.trim() + (pop.caller.verified ? "" : " (caller ID not verified)") + (pop.callback ? " (callback)" : ""));
  text("pop-customer", pop.customer ? Object.entries(pop.customer).map(([k, v]) => `${k}: ${v}`).join(", ") : "not identified");
  text("pop-intent", pop.intent || "unknown");
  text("pop-queue", pop.queue);
  text("pop-waited", `${Math.round(pop.waited_s)} s`);
  text("pop-transferred", pop.transferred_from || "–");
  text("transfer-result", "");
  text("secure-result", "");
  list("pop-utterances", pop.utterances, (u) => `“${u.text}” (${Math.round((u.confidence || 0) * 100)}%)`);
  const collected = document.getElementById("pop-collected");
  collected.replaceChildren(...Object.entries(pop.collected).flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = String(v);
    return [dt, dd];
  }));
  const steps = document.getElementById("pop-steps");
  steps.replaceChildren(...pop.steps.map((procedure) => {
    const block = document.createElement("div");
    const done = document.createElement("ol");
    done.replaceChildren(...procedure.done.map((s) => { const li = document.createElement("li"); li.textContent = `✓ ${s.text} — ${s.fixed ? "fixed it" : "did not help"}`; return li; }));
    const next = document.createElement("p");
    next.className = "next-step";
    next.textContent = procedure.next ? `Next step: ${procedure.next.text}` : "Every step was tried.";
    block.append(done, next);
    return block;
  }));
  list("pop-path", pop.path, (p) => (p.chose ? `→ ${p.chose} by ${p.how}` : `${p.node} (${p.type})`));
  list("pop-previous", pop.previous_calls, (c) => `${c.at} — ${c.intent || "?"} — ended by ${c.ended_by}` + (c.disposition ? ` — ${c.disposition}${c.notes ? `: ${c.notes}` : ""}` : ""));
  const select = document.getElementById("disposition");
  select.replaceChildren(...(pop.dispositions || []).map((code) => { const option = document.createElement("option"); option.textContent = code; return option; }));
  text("wrap-up-result", "");
}

function clearPop(callId) {
  const pop = document.getElementById("pop");
  if (!callId || pop.dataset.callId === callId) {
    pop.hidden = true;
    document.getElementById("no-pop").hidden = false;
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/ws`);
  socket.onopen = () => { retry = 500; text("connection", "connected"); };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "state") {
      showState(message);
      if (message.status === "available") clearPop();
    } else if (message.type === "pop") showPop(message);
    else if (message.type === "pop_cleared") clearPop(message.call_id);
    else if (message.type === "queues") list("queues", Object.entries(message.queues), ([name, q]) => `${name}: ${q.waiting} waiting` + (q.waiting ? `, longest ${q.longest_wait_s} s` : ""));
    else if (message.type === "wrap_up_saved") text("wrap-up-result", "saved");
    else if (message.type === "transfer_started") text("transfer-result", `transferring to ${message.to}`);
    else if (message.type === "secure_entry_started") text("secure-result", "the caller is keying their details");
    else if (message.type === "error") text("wrap-up-result", message.error);
  };
  socket.onclose = (event) => {
    text("connection", "reconnecting…");
    if (event.code === 1008 || event.code === 4401) { location.assign("/login?next=/agent"); return; }
    // A refused reconnect (the session ended while the page was away) shows only as 1006: ask the engine.
    fetch("/protocol", { credentials: "same-origin" }).then((r) => { if (r.status === 401 || r.status === 403) location.assign("/login?next=/agent"); }, () => {});
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 8000);
  };
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ v: 1, ...message }));
}

document.getElementById("go-available").addEventListener("click", () => send({ type: "set_state", status: "available" }));
document.getElementById("go-paused").addEventListener("click", () => send({ type: "set_state", status: "paused", reason: document.getElementById("pause-reason").value }));
document.getElementById("wrap-up").addEventListener("submit", (event) => {
  event.preventDefault();
  const callId = document.getElementById("pop").dataset.callId;
  send({ type: "wrap_up", call_id: callId, disposition: document.getElementById("disposition").value, notes: document.getElementById("notes").value });
});
document.getElementById("more-wrap-up").addEventListener("click", () => send({ type: "extend_wrap_up", seconds: 30 }));
document.getElementById("secure-entry").addEventListener("click", () => send({ type: "secure_entry", call_id: document.getElementById("pop").dataset.callId }));
document.getElementById("transfer").addEventListener("submit", (event) => {
  event.preventDefault();
  send({ type: "transfer", call_id: document.getElementById("pop").dataset.callId, to: document.getElementById("transfer-to").value.trim() });
});
document.getElementById("logout").addEventListener("submit", async (event) => {
  event.preventDefault();
  await fetch("/logout", { method: "POST", credentials: "same-origin" });
  location.assign("/login");
});
setInterval(() => {
  const seconds = Math.round((Date.now() - stateSince) / 1000);
  const left = current.status === "wrap_up" && current.wrap_up_left_s != null ? ` · wrap-up ends in ${Math.max(0, Math.round(current.wrap_up_left_s - seconds + (current.since_s || 0)))} s` : "";
  text("timer", `for ${seconds} s${left}`);
}, 1000);
connect();
