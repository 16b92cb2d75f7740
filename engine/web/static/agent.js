// The agent desktop: state, screen-pops, queue lines and the transfer directory pushed over a
// websocket (protocol: GET /protocol). It reconnects by itself; the server sends the current state
// and pop again, so nothing is lost. Every caller-controlled value is set as text, never as HTML.
// Text comes from /static/messages/agent.json (I18N.t); everything is drawn again on "i18n:changed".
"use strict";
let socket = null;
let retry = 500;
let current = {};        // the last state message
let stateAt = Date.now(); // when it arrived
let pop = null;          // the pop on screen, or null
let directory = [];      // the other agents: [{id, name, status}], sorted by name
let team = new Map();    // every agent of the directory, this one too: id -> {id, name, status}
let me = null;           // this agent's {id, name, status} from the directory
let queues = {};         // {queue: {waiting, longest_wait_s}}
let picked = "";         // the transfer target: "agent:ID" or "queue:NAME"
let connection = "common.connecting";
let lastAction = "wrap-up-result"; // where a server error is shown: next to what was last asked
const results = {};      // element id -> [key, vars]: said again in a new language

const $ = (id) => document.getElementById(id);
const KNOWN_FIELDS = ["account", "plan", "tier", "since", "segment", "status", "language", "city", "email", "balance", "vip", "birth_date"];
const NOT_SHOWN = new Set(["found", "name"]);
const KNOWN_DISPOSITIONS = new Set(["resolved", "refund_issued", "follow_up", "escalated", "technician_booked"]);
const SHORTCUTS = { KeyA: "phone-answer", KeyH: "phone-hangup", KeyO: "phone-hold", KeyV: "go-available" };

function text(id, value) { $(id).textContent = value ?? ""; }

function element(tag, className, content) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (content != null) made.textContent = content;
  return made;
}

// `vars` may be a function (its values are translated too: said again in a new language);
// `note`: the engine's English detail, shown after the text (see I18N.note).
function say(id, key, vars, note) {
  results[id] = key ? [key, vars, note] : null;
  text(id, key ? I18N.t(key, typeof vars === "function" ? vars() : vars) : "");
  if (key) I18N.note($(id), note);
}

function humanise(name) {
  const words = String(name).replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function fieldLabel(name) { return KNOWN_FIELDS.includes(name) ? I18N.t(`agent.field.${name}`) : humanise(name); }

function shownValue(value) {
  if (value === true) return I18N.t("agent.yes");
  if (value === false) return I18N.t("agent.no");
  if (value == null || value === "") return "–";
  if (Array.isArray(value)) return value.map(shownValue).join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function statusName(status) { return status ? I18N.t(`status.${status}`) : "…"; }
function reasonName(reason) { return I18N.reason(reason); }
function dispositionName(code) { return KNOWN_DISPOSITIONS.has(code) ? I18N.t(`agent.disposition.${code}`) : humanise(code); }
function agentName(id) { const found = directory.find((agent) => agent.id === id); return found ? `${found.name} (${id})` : id; }

function facts(target, pairs) {
  target.replaceChildren(...pairs.map(([label, value]) => { const pair = element("div", "fact"); pair.append(element("dt", "", label), element("dd", "", value)); return pair; }));
}

// -- my state ---------------------------------------------------------------------------------

function showState(message) {
  current = message;
  stateAt = Date.now();
  if (message.status === "available") clearPop();
  renderState();
  renderPhase();
}

function renderState() {
  const status = current.status;
  text("agent-id", current.agent || "…");
  text("agent-name", me && me.name ? me.name : "");
  text("status", statusName(status));
  $("status").dataset.status = status || "";
  text("reason", current.reason ? `(${reasonName(current.reason)})` : "");
  say("registration", status ? (current.registered ? "agent.registered" : "agent.not_registered") : "");
  $("registration").classList.toggle("error", Boolean(status) && !current.registered);
  say("idle-hint", status ? `agent.idle.${status}` : "", { reason: reasonName(current.reason || "") });
  tick();
}

function wrapUpLeft() {
  if (current.status !== "wrap_up" || current.wrap_up_left_s == null) return null;
  return Math.max(0, current.wrap_up_left_s - (Date.now() - stateAt) / 1000);
}

function tick() {
  if (!current.status) return;
  const seconds = (current.since_s || 0) + (Date.now() - stateAt) / 1000;
  const left = wrapUpLeft();
  text("timer", left == null ? I18N.t("agent.for", { time: I18N.seconds(seconds) }) : I18N.t("agent.wrap_up_ends", { time: I18N.seconds(left) }));
  if (left != null) {
    text("wrap-up-countdown", I18N.t("agent.wrap_up_ends", { time: I18N.seconds(left) }));
    $("wrap-up-countdown").classList.toggle("urgent", left < 10);
  }
}

// -- the pop ----------------------------------------------------------------------------------

function showPop(message) {
  const fresh = !pop || pop.call_id !== message.call_id;
  pop = message;
  if (fresh) {
    for (const id of ["transfer-result", "secure-result", "wrap-up-result"]) say(id, "");
    picked = "";
    $("notes").value = "";
    $("pop-more").open = false;
  }
  renderPop();
  // Last: bench/pop.py and a MutationObserver time the pop from this attribute being set.
  $("pop").dataset.callId = message.call_id;
}

function clearPop(callId) {
  if (!pop || (callId && pop.call_id !== callId)) return;
  pop = null;
  picked = "";
  $("pop").hidden = true;
  $("no-pop").hidden = false;
  renderAnswer();
}

function renderPop() {
  if (!pop) return;
  $("pop").hidden = false;
  $("no-pop").hidden = true;
  renderCustomer();
  renderBadges();
  renderSteps();
  renderJourney();
  renderPrevious();
  renderDispositions();
  renderPicker();
  renderPhase();
}

function renderCustomer() {
  // Caller IDs can be forged by anyone: the page says so, so nobody trusts a CRM match on the number alone.
  const record = pop.customer && pop.customer.found !== false ? pop.customer : null;
  const name = (record && record.name) || pop.caller.name || "";
  text("pop-customer", name || I18N.t("agent.pop.unknown_customer"));
  $("pop-customer").classList.toggle("unknown", !name);
  text("pop-caller", [pop.caller.name && pop.caller.name !== name ? pop.caller.name : "", pop.caller.number].filter(Boolean).join(" "));
  $("pop-caller-warning").hidden = Boolean(pop.caller.verified);
  const known = record ? KNOWN_FIELDS.filter((field) => record[field] != null && record[field] !== "").map((field) => [fieldLabel(field), shownValue(record[field])]) : [];
  if (!(record && record.account) && pop.collected && pop.collected.account) known.unshift([I18N.t("agent.pop.account_keyed"), shownValue(pop.collected.account)]);
  facts($("pop-customer-facts"), known);
  $("pop-customer-facts").hidden = known.length === 0;
  const others = record ? Object.entries(record).filter(([field]) => !NOT_SHOWN.has(field) && !KNOWN_FIELDS.includes(field)) : [];
  facts($("pop-more-facts"), others.map(([field, value]) => [fieldLabel(field), shownValue(value)]));
  $("pop-more").hidden = others.length === 0;
}

function renderBadges() {
  text("pop-intent", pop.intent || "");
  $("pop-intent").parentElement.hidden = !pop.intent;
  text("pop-queue", pop.queue);
  text("pop-waited", I18N.seconds(pop.waited_s));
  $("pop-callback").hidden = !pop.callback;
  text("pop-transferred", pop.transferred_from ? agentName(pop.transferred_from) : "");
  $("pop-transferred-badge").hidden = !pop.transferred_from;
}

function renderSteps() {
  const procedures = pop.steps || [];
  $("pop-steps-box").hidden = procedures.length === 0;
  $("pop-steps").replaceChildren(...procedures.map((procedure) => {
    const block = element("div", "procedure");
    const next = element("p", procedure.next ? "next-step" : "next-step all-tried");
    if (procedure.next) {
      next.append(element("span", "next-label", I18N.t("agent.steps.next")), " ", element("strong", "next-text", procedure.next.text));
    } else {
      next.textContent = I18N.t("agent.steps.all_tried");
    }
    const fixed = procedure.done.find((step) => step.fixed);
    const counted = pop.continued_from ? "agent.steps.done_in_chat" : "agent.steps.done_count";
    const summary = fixed ? I18N.t("agent.steps.fixed_by", { step: fixed.text }) : I18N.t(counted, { n: procedure.done.length });
    if (procedures.length > 1) block.append(element("p", "procedure-name", humanise(procedure.procedure)));  // which one, when there are several
    block.append(next, element("p", "quiet", summary));
    return block;
  }));
}

const CHANNEL_KEYS = { phone: "agent.channel.phone", chat: "agent.channel.chat", api: "agent.channel.api" };
const HOW_KEYS = { code: "agent.how.code", spoken_code: "agent.how.spoken_code", number: "agent.how.number", callback: "agent.how.callback" };

function channelName(channel) {
  return CHANNEL_KEYS[channel] ? I18N.t(CHANNEL_KEYS[channel]) : channel || I18N.t(CHANNEL_KEYS.phone);
}

function timelineOf(message) {
  if (Array.isArray(message.timeline)) return message.timeline;
  return (message.utterances || []).map((said) => ({ kind: "said", ...said }));  // an older engine's pop
}

function journeyItem(entry) {
  const item = element("li", `event ${entry.kind}`);
  const body = element("div", "what");
  let mark = "•";
  if (entry.kind === "said") {
    mark = "“";
    const chip = element("span", entry.confidence < 0.6 ? "chip low" : "chip", I18N.t("agent.journey.confidence", { n: Math.round((entry.confidence || 0) * 100) }));
    chip.title = I18N.t("agent.journey.confidence_title");
    body.append(element("span", "kind", I18N.t("agent.journey.said")), element("q", "said-text", entry.text), chip);
  } else if (entry.kind === "typed") {
    mark = "⌨";
    body.append(element("span", "kind", I18N.t("agent.journey.typed")), element("q", "said-text", entry.text));
    if (entry.button) body.append(element("span", "chip", I18N.t("agent.journey.button")));
  } else if (entry.kind === "continued") {
    mark = "⇄";
    item.classList.add("continued");
    body.append(element("span", "kind", I18N.t("agent.journey.continued", { channel: channelName(entry.channel) })),
      element("span", "chip", HOW_KEYS[entry.how] ? I18N.t(HOW_KEYS[entry.how]) : entry.how || ""));
  } else if (entry.kind === "chose") {
    mark = entry.key ? "#" : "→";
    const spoken = entry.typed
      ? (entry.confirmed ? "agent.journey.by_typing_confirmed" : "agent.journey.by_typing")
      : (entry.confirmed ? "agent.journey.by_speech_confirmed" : "agent.journey.by_speech");
    const how = entry.key ? I18N.t("agent.journey.by_key", { key: entry.key }) : I18N.t(spoken);
    body.append(element("span", "kind", I18N.t("agent.journey.chose")), element("strong", "", entry.intent), element("span", "chip", how));
  } else if (entry.kind === "collected") {
    mark = entry.keyed ? "#" : "✎";
    body.append(element("span", "kind", I18N.t(entry.keyed ? "agent.journey.keyed" : "agent.journey.gave")), element("span", "", `${fieldLabel(entry.field)}: ${shownValue(entry.value)}`));
  } else if (entry.kind === "step") {
    mark = entry.fixed ? "✓" : "✗";
    item.classList.add(entry.fixed ? "fixed" : "not-fixed");
    body.append(element("span", "kind", I18N.t("agent.journey.step")), element("span", "", entry.text || humanise(entry.step)),
      element("span", entry.fixed ? "chip good" : "chip bad", I18N.t(entry.fixed ? "agent.journey.fixed" : "agent.journey.not_fixed")));
  } else if (entry.kind === "queued") {
    mark = "☎";
    body.append(element("span", "kind", I18N.t("agent.journey.queued")), element("strong", "", entry.queue), element("span", "chip", I18N.t("agent.journey.waited", { time: I18N.seconds(entry.waited_s) })));
  }
  item.append(element("span", "mark", mark), body);
  item.firstChild.setAttribute("aria-hidden", "true");
  return item;
}

function renderJourney() {
  const timeline = timelineOf(pop);
  const events = [...timeline.filter((entry) => entry.kind !== "node"), { kind: "queued", queue: pop.queue, waited_s: pop.waited_s }];
  $("pop-timeline").replaceChildren(...events.map(journeyItem));
  const path = timeline.filter((entry) => entry.kind === "node" || entry.kind === "chose").map((entry) => (entry.kind === "node" ? entry.node
    : I18N.t(entry.key ? "agent.journey.path_key" : (entry.typed ? "agent.journey.path_typed" : "agent.journey.path_speech"), { intent: entry.intent, key: entry.key })));
  text("pop-path", path.join(" › "));
  $("pop-path").parentElement.hidden = path.length === 0;
}

function renderPrevious() {
  const calls = pop.previous_calls || [];
  $("previous").hidden = calls.length === 0;
  $("pop-previous").replaceChildren(...calls.map((call) => {
    const when = new Date(call.at);
    const item = element("li", "", "");
    item.append(element("time", "", Number.isNaN(when.getTime()) ? call.at : new Intl.DateTimeFormat(I18N.language, { dateStyle: "medium", timeStyle: "short" }).format(when)),
      " ", element("span", `chip channel ${CHANNEL_KEYS[call.channel] ? call.channel : "phone"}`, channelName(call.channel)),
      " ", element("strong", "", call.intent || I18N.t("agent.previous.no_intent")),
      " ", element("span", "quiet", I18N.t("agent.previous.ended_by", { who: ["caller", "agent", "system"].includes(call.ended_by) ? I18N.t(`agent.previous.by_${call.ended_by}`) : call.ended_by || "–" })));
    if (call.agent) item.append(" ", element("span", "chip", agentName(call.agent)));
    if (call.disposition) item.append(" ", element("span", "chip", dispositionName(call.disposition)));
    if (call.notes) item.append(element("p", "notes-text", call.notes));
    for (const event of call.events || []) item.append(element("p", "notes-text external", `${event.type}: ${event.text}`));
    return item;
  }));
}

function renderDispositions() {
  const select = $("disposition");
  const chosen = select.value;
  select.replaceChildren(...(pop.dispositions || []).map((code) => { const option = element("option", "", dispositionName(code)); option.value = code; return option; }));
  if ((pop.dispositions || []).includes(chosen)) select.value = chosen;
}

// What the agent can do depends on where the call is: ringing, talking, or wrapping up.
function renderPhase() {
  if (!pop) return;
  const status = current.status;
  const phase = status === "reserved" ? "ringing" : status === "on_call" ? "talking" : status === "wrap_up" ? "wrap-up" : "after";
  $("pop").dataset.phase = phase;
  say("pop-title", { ringing: "agent.pop.incoming", talking: "agent.pop.on_call", "wrap-up": "agent.pop.wrap_up" }[phase] || "agent.pop.last_call");
  $("transfer").hidden = phase !== "talking";
  $("secure").hidden = phase !== "talking";
  $("wrap-up").hidden = phase === "ringing";
  $("wrap-up-clock").hidden = wrapUpLeft() == null;
  renderAnswer();
  tick();
}

// The browser phone rings in the side column; while it rings, Answer is also in front of the call.
function renderAnswer() {
  $("pop-answer").hidden = !(pop && $("phone-call").dataset.call === "ringing" && !$("phone-answer").disabled);
}

// -- the transfer picker ----------------------------------------------------------------------

function syncPicks(container, items) {
  const existing = new Map([...container.children].map((row) => [row.dataset.to, row]));
  items.forEach((item, index) => {
    let row = existing.get(item.value);
    if (!row) {
      row = element("label", "pick");
      row.dataset.to = item.value;
      const radio = element("input");
      radio.type = "radio";
      radio.name = "transfer-to";
      radio.value = item.value;
      row.append(radio, element("span", "pick-name"), element("span", "pick-detail"));
    }
    existing.delete(item.value);
    row.querySelector(".pick-name").textContent = item.name;
    row.querySelector(".pick-detail").textContent = item.detail;
    row.dataset.status = item.status || "";
    row.classList.toggle("unavailable", item.disabled);
    const radio = row.querySelector("input");
    radio.disabled = item.disabled;
    radio.checked = item.value === picked && !item.disabled;
    if (container.children[index] !== row) container.insertBefore(row, container.children[index] || null);
  });
  existing.forEach((row) => row.remove());
}

function renderPicker() {
  const ready = (agent) => (agent.status === "available" ? 0 : 1);  // who can take it now, first
  const agents = [...directory].sort((a, b) => ready(a) - ready(b)).map((agent) => ({ value: `agent:${agent.id}`, name: agent.name, status: agent.status, disabled: agent.status !== "available",
    detail: agent.status === "available" ? statusName(agent.status) : I18N.t("agent.transfer.unavailable", { status: statusName(agent.status) }) }));
  const lines = Object.entries(queues).map(([name, line]) => ({ value: `queue:${name}`, name, status: line.waiting ? "busy" : "", disabled: false,
    detail: line.waiting ? I18N.t("agent.transfer.queue_line", { n: line.waiting, time: I18N.seconds(line.longest_wait_s) }) : I18N.t("agent.transfer.queue_empty") }));
  if ([...agents, ...lines].every((item) => item.value !== picked || item.disabled)) picked = "";
  syncPicks($("transfer-agents"), agents);
  syncPicks($("transfer-queues"), lines);
  $("transfer-agents-box").hidden = agents.length === 0;
  $("transfer-queues-box").hidden = lines.length === 0;
  const button = $("transfer-submit");
  button.disabled = !picked;
  text("transfer-submit", picked ? I18N.t("agent.transfer.to", { target: targetName(picked) }) : I18N.t("agent.transfer.pick_first"));
}

function targetName(to) {
  const [kind, id] = to.split(":");
  return kind === "agent" ? (directory.find((agent) => agent.id === id) || { name: id }).name : I18N.t("agent.transfer.queue_named", { queue: id });
}

function renderQueues() {
  $("queues").replaceChildren(...Object.entries(queues).map(([name, line]) => {
    const item = element("li", line.waiting ? "busy" : "");
    item.dataset.queue = name;
    item.append(element("span", "queue-name", name), " ", element("span", "queue-waiting", I18N.t("agent.queue.waiting", { n: line.waiting })));
    if (line.waiting) item.append(" ", element("span", "queue-longest", I18N.t("agent.queue.longest", { time: I18N.seconds(line.longest_wait_s) })));
    return item;
  }));
  if (!Object.keys(queues).length) $("queues").append(element("li", "quiet", I18N.t("agent.queue.none")));
}

// -- the websocket ----------------------------------------------------------------------------

function received(message) {
  if (message.type === "state") showState(message);
  else if (message.type === "pop") showPop(message);
  else if (message.type === "pop_cleared") clearPop(message.call_id);
  else if (message.type === "queues") { queues = message.queues; renderQueues(); if (pop) renderPicker(); }
  else if (message.type === "directory") { showDirectory(message); renderState(); if (pop) { renderPicker(); renderBadges(); } }
  else if (message.type === "wrap_up_saved") say("wrap-up-result", "agent.wrap_up.saved");
  else if (message.type === "transfer_started") say("transfer-result", "agent.transfer.started", { target: targetName(message.to) });
  else if (message.type === "secure_entry_started") say("secure-result", "agent.secure.started");
  else if (message.type === "error") showError(message);
}

// An engine error in the reader's language; its English detail only when this page cannot say the code.
function showError(message) {
  const key = I18N.errorKey(message.code);
  if (key) say(lastAction, "common.not_done_because", () => ({ error: I18N.t(key) }));
  else say(lastAction, "common.not_done", {}, message.error);
}

// Every page gets the same directory: the whole team on (re)connect, then the agents that changed.
// This agent is left out by its own id (the state message's `agent`, or `me`).
function showDirectory(message) {
  if (message.replace) { team = new Map(); me = message.me || null; }
  for (const agent of message.agents || []) team.set(agent.id, agent);
  for (const id of message.removed || []) team.delete(id);
  const own = current.agent || (me && me.id);
  if (own && team.has(own)) me = team.get(own);
  const key = (agent) => agent.name.toLowerCase();
  directory = [...team.values()].filter((agent) => agent.id !== own)
    .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a.id < b.id ? -1 : 1));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/ws`);
  socket.onopen = () => { retry = 500; connection = "common.connected"; say("connection", connection); };
  socket.onmessage = (event) => received(JSON.parse(event.data));
  socket.onclose = (event) => {
    connection = "common.reconnecting";
    say("connection", connection);
    if (event.code === 1008 || event.code === 4401) { location.assign("/login?next=/agent"); return; }
    // A refused reconnect (the session ended while the page was away) shows only as 1006: ask the engine then.
    if (event.code === 1006) fetch("/protocol", { credentials: "same-origin" }).then((r) => { if (r.status === 401 || r.status === 403) location.assign("/login?next=/agent"); }, () => {});
    // Jittered: after an engine restart 2,000 pages must not all come back in the same instant.
    setTimeout(connect, retry / 2 + Math.random() * retry);
    retry = Math.min(retry * 2, 8000);
  };
}

function send(message, resultId) {
  if (resultId) lastAction = resultId;
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ v: 1, ...message }));
}

// -- keyboard shortcuts: each presses its button, so phone.js and the state buttons stay the only actors.

function typing(target) {
  if (!target || !target.tagName) return false;
  if (target.isContentEditable || target.tagName === "TEXTAREA") return true;
  return target.tagName === "INPUT" && !["radio", "checkbox", "button", "submit"].includes(target.type);
}

document.addEventListener("keydown", (event) => {
  if (!event.altKey || event.ctrlKey || event.metaKey || event.shiftKey || event.repeat) return;
  const id = SHORTCUTS[event.code];
  if (!id || typing(event.target)) return;
  event.preventDefault();
  const button = $(id);
  if (!button.disabled && !button.hidden) button.click();
});

$("pop-answer").addEventListener("click", () => $("phone-answer").click());
new MutationObserver(renderAnswer).observe($("phone-call"), { attributes: true, attributeFilter: ["data-call"] });
new MutationObserver(renderAnswer).observe($("phone-answer"), { attributes: true, attributeFilter: ["disabled"] });
$("go-available").addEventListener("click", () => send({ type: "set_state", status: "available" }, "wrap-up-result"));
$("go-paused").addEventListener("click", () => send({ type: "set_state", status: "paused", reason: $("pause-reason").value }, "wrap-up-result"));
$("wrap-up").addEventListener("submit", (event) => {
  event.preventDefault();
  send({ type: "wrap_up", call_id: $("pop").dataset.callId, disposition: $("disposition").value, notes: $("notes").value }, "wrap-up-result");
});
$("more-wrap-up").addEventListener("click", () => send({ type: "extend_wrap_up", seconds: 30 }, "wrap-up-result"));
$("secure-entry").addEventListener("click", () => send({ type: "secure_entry", call_id: $("pop").dataset.callId }, "secure-result"));
$("transfer").addEventListener("change", (event) => {
  if (event.target.name !== "transfer-to") return;
  picked = event.target.value;
  renderPicker();
});
$("transfer").addEventListener("submit", (event) => {
  event.preventDefault();
  if (picked) send({ type: "transfer", call_id: $("pop").dataset.callId, to: picked }, "transfer-result");
});
$("logout").addEventListener("submit", async (event) => {
  event.preventDefault();
  await fetch("/logout", { method: "POST", credentials: "same-origin" });
  location.assign("/login");
});
document.addEventListener("i18n:changed", () => {
  say("connection", connection);
  for (const [id, said] of Object.entries(results)) if (said && id !== "connection") say(id, ...said);
  renderState();
  renderQueues();
  renderPop();
});
setInterval(tick, 1000);
I18N.ready.finally(connect);
