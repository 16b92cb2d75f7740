// Quality review: find calls, play a recording (the browser seeks with range requests), follow the
// transcript as it plays, see the auto-checks, and score the call against a scorecard. Every field a
// caller or agent could have typed goes in as text (textContent), never as markup. The page's own
// words come from messages/qa.json; a change of language re-renders what is shown.
"use strict";
let listed = null;   // the last /qa/calls answer
let current = null;  // the open call's /qa/recordings/{id} answer
let searches = 0;    // only the latest search's answer is shown (the first one may land after a reader's own)

const FLAG_KEYS = { repeated_question: "qa.flag_repeated_question", forbidden_words: "qa.flag_forbidden_words", long_hold: "qa.flag_long_hold", negative_sentiment: "qa.flag_negative_sentiment" };
const CHECKS = new Set(["greeted_with_name", "no_long_silence", "no_talk_over", "no_forbidden_words", "no_repeated_question"]);
const CHANNEL_KEYS = { phone: "qa.channel_phone", chat: "qa.channel_chat", api: "qa.channel_api" };
const ANSWER_KEYS = { yes: "qa.answer_yes", no: "qa.answer_no", na: "qa.answer_na" };

function el(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

/** A position in the recording as a player shows it (m:ss), the same in every language. */
function clock(seconds) {
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** An ISO timestamp as the reader's date and local time. */
function when(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${new Intl.DateTimeFormat(I18N.language, { year: "numeric", month: "2-digit", day: "2-digit" }).format(date)} ${I18N.time(date)}`;
}

function orDash(value) { return value === null || value === undefined || value === "" ? "–" : String(value); }
function flagName(flag) {
  if (flag.startsWith("keyword:")) return I18N.t("qa.flag_keyword", { word: flag.slice("keyword:".length) });
  return FLAG_KEYS[flag] ? I18N.t(FLAG_KEYS[flag]) : flag;
}
function channelName(channel) { return CHANNEL_KEYS[channel] ? I18N.t(CHANNEL_KEYS[channel]) : String(channel || "–"); }
/** The contact's other legs, oldest first: "chat 10:02 · phone 10:30", each with its channel. */
function history(legs) {
  const list = el("span", undefined, { class: "legs" });
  legs.forEach((leg, index) => {
    if (index) list.append(" · ");
    list.append(el("span", `${channelName(leg.channel)} ${when(leg.started_at)}`, { "data-channel": leg.channel, "data-call": leg.call_id }));
  });
  return list;
}
function signed(value) { return value === null || value === undefined ? "–" : I18N.number(value, { signDisplay: "exceptZero", maximumFractionDigits: 2 }); }
function total(value) { return value === null || value === undefined ? "–" : I18N.number(value, { maximumFractionDigits: 1 }); }

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (response.status === 401) { location.assign(`/login?next=${encodeURIComponent(location.pathname)}`); return null; }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

async function find(event) {
  if (event) event.preventDefault();
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(document.getElementById("find"))) if (String(value).trim()) params.set(name, String(value).trim());
  const result = document.getElementById("find-result");
  result.textContent = I18N.t("qa.searching");
  const search = ++searches;
  try {
    const body = await getJson(`/qa/calls?${params}`);
    if (!body || search !== searches) return;
    listed = body;
    showCalls();
  } catch (error) {
    if (search === searches) result.textContent = I18N.t("qa.load_failed", { error: error.message });
  }
}

function showCalls() {
  if (!listed) return;
  document.getElementById("who").textContent = I18N.t(listed.reviewer ? "qa.who_reviewer" : "qa.who_agent", { agent: listed.agent });
  document.getElementById("agent-filter").hidden = !listed.reviewer;
  const rows = document.querySelector("#calls tbody");
  rows.replaceChildren();
  for (const call of listed.calls) {
    const row = el("tr", undefined, { "data-recording": call.id, tabindex: "0" });
    if (current && current.recording.id === call.id) row.setAttribute("aria-current", "true");
    const flags = el("td");
    for (const flag of call.flags) flags.append(el("span", flagName(flag), { class: "flag", "data-flag": flag }), " ");
    if (!call.flags.length) flags.textContent = "–";
    const channel = el("td", undefined, { "data-channel": call.channel || "phone" });
    channel.append(el("span", channelName(call.channel || "phone")));
    if (call.legs && call.legs.length) {
      channel.append(el("br"), el("small", I18N.t("qa.other_legs"), { class: "quiet" }), " ", history(call.legs));
    }
    row.append(
      el("td", when(call.started_at)), channel, el("td", call.agent), el("td", call.queue), el("td", I18N.seconds(call.duration_s), { class: "number" }),
      el("td", orDash(call.intent)), el("td", orDash(call.disposition)), flags,
      el("td", signed(call.sentiment), { class: "number" }), el("td", call.csat == null ? "–" : I18N.number(call.csat), { class: "number" }),
      el("td", total(call.score), { class: "number" }),
    );
    row.addEventListener("click", () => open(call.id));
    row.addEventListener("keydown", (key) => { if (key.key === "Enter") open(call.id); });
    rows.append(row);
  }
  document.getElementById("calls").hidden = !listed.calls.length;
  document.getElementById("no-calls").hidden = listed.calls.length > 0;
  document.getElementById("find-result").textContent = I18N.t("qa.found", { n: listed.calls.length });
}

async function open(recordingId) {
  let body;
  try {
    body = await getJson(`/qa/recordings/${recordingId}`);
  } catch (error) {
    document.getElementById("find-result").textContent = I18N.t("qa.load_failed", { error: error.message });
    return;
  }
  if (!body) return;
  current = body;
  const recording = body.recording;
  document.getElementById("call").hidden = false;
  const player = document.getElementById("player");
  player.src = `/qa/recordings/${recording.id}/audio`;
  document.getElementById("download").href = `/qa/recordings/${recording.id}/audio?download=1`;
  document.getElementById("integrity").dataset.failed = "";
  document.getElementById("score-result").textContent = "";
  showCall(null);
  for (const row of document.querySelectorAll("#calls tbody tr")) {
    if (Number(row.dataset.recording) === recording.id) row.setAttribute("aria-current", "true"); else row.removeAttribute("aria-current");
  }
  document.getElementById("call").scrollIntoView({ block: "start" });
  document.getElementById("call-title").focus({ preventScroll: true });
}

/** The open call in the current language; `answers` keeps what the reviewer had chosen. */
function showCall(answers) {
  if (!current) return;
  const body = current;
  const recording = body.recording;
  const facts = document.getElementById("call-facts");
  facts.replaceChildren();
  const rows = [
    ["qa.fact_started", when(recording.started_at)], ["qa.fact_channel", channelName(body.journey.channel || "phone")], ["qa.fact_agent", recording.agent], ["qa.fact_queue", recording.queue],
    ["qa.fact_length", I18N.seconds(recording.duration_s)], ["qa.fact_intent", orDash(body.journey.intent)],
    ["qa.fact_disposition", orDash(body.journey.disposition)], ["qa.fact_csat", body.journey.csat == null ? "–" : I18N.number(body.journey.csat)],
  ];
  if (recording.pauses.length) rows.push(["qa.fact_pauses", recording.pauses.map(([a, b]) => `${clock(a)}–${clock(b)}`).join(", ")]);
  for (const [key, value] of rows) {
    const pair = el("div", undefined, { class: "fact" });
    pair.append(el("dt", I18N.t(key)), el("dd", value));
    facts.append(pair);
  }
  if (body.journey.legs && body.journey.legs.length) {
    const pair = el("div", undefined, { class: "fact", id: "contact-history" });
    const legs = el("dd");
    legs.append(history(body.journey.legs));
    pair.append(el("dt", I18N.t("qa.fact_history")), legs);
    facts.append(pair);
  }
  const integrity = document.getElementById("integrity");
  integrity.textContent = integrity.dataset.failed ? I18N.t("qa.cannot_play") : I18N.t("qa.integrity", { hash: recording.sha256.slice(0, 16) });
  showTranscript(body);
  showFindings(body);
  showScoreForm(body, answers);
  showScores(body.scores);
}

function showTranscript(body) {
  const player = document.getElementById("player");
  const lines = document.getElementById("transcript");
  lines.replaceChildren();
  const segments = body.transcript ? body.transcript.segments : [];
  for (const segment of segments) {
    const line = el("li", undefined, { "data-start": segment.start_s, "data-end": segment.end_s, class: segment.speaker, tabindex: "0",
      title: I18N.t("qa.hear_at", { time: clock(segment.start_s) }) });
    line.append(el("span", clock(segment.start_s), { class: "at" }), el("span", I18N.t(segment.speaker === "agent" ? "qa.speaker_agent" : "qa.speaker_caller"), { class: "who" }),
      el("span", segment.text, { class: "said" }));
    const play = () => { player.currentTime = segment.start_s; player.play().catch(() => {}); };
    line.addEventListener("click", play);
    line.addEventListener("keydown", (key) => { if (key.key === "Enter" || key.key === " ") { key.preventDefault(); play(); } });
    lines.append(line);
  }
  lines.hidden = !segments.length;
  document.getElementById("channels-hint").hidden = !segments.length;
  document.getElementById("not-transcribed").hidden = Boolean(body.transcript);
}

function showFindings(body) {
  const player = document.getElementById("player");
  const findings = document.getElementById("findings");
  findings.replaceChildren();
  const entries = Object.entries(body.transcript ? body.transcript.findings : {});
  for (const [check, finding] of entries) {
    const item = el("li", undefined, { "data-check": check, "data-passed": String(finding.passed) });
    item.append(el("span", finding.passed ? "✓" : "✗", { class: "mark", "aria-hidden": "true" }),
      el("span", I18N.t(finding.passed ? "qa.passed" : "qa.failed"), { class: "verdict" }),
      el("span", CHECKS.has(check) ? I18N.t(`qa.check_${check}`) : check, { class: "check" }));
    if (typeof finding.at_s === "number" && !finding.passed) {
      const jump = el("button", clock(finding.at_s), { type: "button", class: "link", "aria-label": I18N.t("qa.hear_at", { time: clock(finding.at_s) }) });
      jump.addEventListener("click", () => { player.currentTime = finding.at_s; player.play().catch(() => {}); });
      item.append(jump);
    }
    item.append(el("span", finding.detail, { class: "detail quiet", lang: "en" }));
    findings.append(item);
  }
  document.getElementById("checks").hidden = !entries.length;
}

function answerLabel(value) { return ANSWER_KEYS[value] ? I18N.t(ANSWER_KEYS[value]) : value; }

function showScoreForm(body, answers) {
  const form = document.getElementById("score");
  const names = Object.keys(body.scorecards);
  form.hidden = names.length === 0;
  const select = document.getElementById("scorecard");
  const chosen = names.includes(select.value) ? select.value : names[0];
  select.replaceChildren(...names.map((name) => el("option", body.scorecards[name].title, { value: name, title: `v${body.scorecards[name].version}` })));
  if (chosen) select.value = chosen;
  const questions = document.getElementById("questions");
  questions.replaceChildren();
  if (!chosen) return;
  const findings = body.transcript ? body.transcript.findings : {};
  for (const section of body.scorecards[chosen].sections) {
    const group = el("fieldset", undefined, { class: "section" });
    group.append(el("legend", section.name));
    for (const question of section.questions) {
      const id = `question-${question.id}`;
      const row = el("div", undefined, { class: "question" });
      const label = el("label", question.text, { for: id });
      const meta = el("span", I18N.t("qa.weight", { weight: I18N.number(question.weight) }), { class: "quiet weight" });
      const choices = question.answer === "yes_no" ? ["yes", "no", "na"] : ["5", "4", "3", "2", "1", "na"];
      const choice = el("select", undefined, { name: question.id, id });
      choice.append(...choices.map((value) => el("option", answerLabel(value), { value })));
      const auto = question.auto && findings[question.auto];
      if (auto) choice.value = auto.passed ? "yes" : "no";
      if (answers && answers[question.id]) choice.value = answers[question.id];
      row.append(label, choice, meta);
      if (auto) row.append(el("span", I18N.t("qa.auto_answer", { answer: answerLabel(auto.passed ? "yes" : "no") }), { class: "quiet auto", "data-passed": String(auto.passed) }));
      group.append(row);
    }
    questions.append(group);
  }
}

function chosenAnswers() {
  const answers = {};
  for (const choice of document.querySelectorAll("#questions select")) answers[choice.name] = choice.value;
  return answers;
}

function showScores(scores) {
  const list = document.getElementById("scores");
  const cards = current ? current.scorecards : {};
  list.replaceChildren(...scores.map((score) => el("li", I18N.t("qa.score_line", {
    total: total(score.total), card: cards[score.scorecard] ? cards[score.scorecard].title : score.scorecard, reviewer: score.reviewer, at: when(score.at),
  }), { title: `${score.scorecard} v${score.version}` })));
  list.hidden = !scores.length;
  document.getElementById("not-scored").hidden = scores.length > 0;
}

document.getElementById("scorecard").addEventListener("change", () => { if (current) showScoreForm(current, null); });
document.getElementById("score").addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = document.getElementById("score-result");
  const button = event.target.querySelector("button[type=submit]");
  result.textContent = I18N.t("qa.saving");
  button.disabled = true;
  try {
    const response = await fetch(`/qa/recordings/${current.recording.id}/scores`, {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ scorecard: document.getElementById("scorecard").value, answers: chosenAnswers() }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) { result.textContent = I18N.t("qa.not_saved", { error: body.error || `HTTP ${response.status}` }); return; }
    result.textContent = I18N.t("qa.saved", { total: total(body.total) });
    current.scores.unshift(body);
    showScores(current.scores);
    const row = document.querySelector(`#calls tr[data-recording="${current.recording.id}"] td:last-child`);
    if (row) row.textContent = total(body.total);
  } catch (error) {
    result.textContent = I18N.t("qa.not_saved", { error: error.message });
  } finally {
    button.disabled = false;
  }
});

document.getElementById("player").addEventListener("timeupdate", (event) => {
  const now = event.target.currentTime;
  for (const line of document.querySelectorAll("#transcript li[data-start]")) {
    const speaking = now >= Number(line.dataset.start) && now <= Number(line.dataset.end) + 0.3;
    if (speaking && !line.classList.contains("now")) line.scrollIntoView({ block: "nearest" });
    line.classList.toggle("now", speaking);
    if (speaking) line.setAttribute("aria-current", "true"); else line.removeAttribute("aria-current");
  }
});
document.getElementById("player").addEventListener("error", () => {
  const integrity = document.getElementById("integrity");
  integrity.dataset.failed = "yes";
  integrity.textContent = I18N.t("qa.cannot_play");
});
document.getElementById("close-call").addEventListener("click", () => {
  const player = document.getElementById("player");
  player.pause();
  document.getElementById("call").hidden = true;
  const row = current && document.querySelector(`#calls tr[data-recording="${current.recording.id}"]`);
  current = null;
  for (const selected of document.querySelectorAll("#calls tr[aria-current]")) selected.removeAttribute("aria-current");
  if (row) row.focus();
});
document.getElementById("find").addEventListener("submit", find);
document.getElementById("find").addEventListener("reset", () => setTimeout(find, 0));
document.getElementById("logout").addEventListener("submit", async (event) => {
  event.preventDefault();
  await fetch("/logout", { method: "POST", credentials: "same-origin" });
  location.assign("/login");
});
// The first i18n:changed comes once the catalogues are in; later ones when the reader picks a language.
document.addEventListener("i18n:changed", () => { showCalls(); if (current) showCall(chosenAnswers()); });
I18N.ready.then(() => find());
