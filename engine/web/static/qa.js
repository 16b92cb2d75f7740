// Quality review: find calls, play a recording (the browser seeks with range requests), follow the
// transcript as it plays, see the auto-checks, and score the call against a scorecard.
"use strict";
let current = null;

function el(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function clock(seconds) {
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (response.status === 401) { location.assign(`/login?next=${encodeURIComponent(location.pathname)}`); return null; }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status}`);
  return body;
}

async function find(event) {
  if (event) event.preventDefault();
  const params = new URLSearchParams();
  for (const [name, value] of new FormData(document.getElementById("find"))) if (String(value).trim()) params.set(name, String(value).trim());
  const result = document.getElementById("find-result");
  try {
    const body = await getJson(`/qa/calls?${params}`);
    if (!body) return;
    document.getElementById("who").textContent = body.reviewer ? `${body.agent} (reviewer)` : `${body.agent}: your calls`;
    document.getElementById("agent-filter").hidden = !body.reviewer;
    const rows = document.querySelector("#calls tbody");
    rows.replaceChildren();
    for (const call of body.calls) {
      const row = el("tr", undefined, { "data-recording": call.id, tabindex: "0" });
      for (const value of [call.started_at.replace("T", " "), call.agent, call.queue, clock(call.duration_s), call.intent || "–", call.disposition || "–",
        call.flags.join(", ") || "–", call.sentiment === null ? "–" : call.sentiment, call.csat === null || call.csat === undefined ? "–" : call.csat, call.score === null || call.score === undefined ? "–" : call.score]) {
        row.append(el("td", String(value)));
      }
      row.addEventListener("click", () => open(call.id));
      row.addEventListener("keydown", (key) => { if (key.key === "Enter") open(call.id); });
      rows.append(row);
    }
    result.textContent = `${body.calls.length} call(s)`;
  } catch (error) {
    result.textContent = error.message;
  }
}

async function open(recordingId) {
  const body = await getJson(`/qa/recordings/${recordingId}`);
  if (!body) return;
  current = body;
  const recording = body.recording;
  document.getElementById("call").hidden = false;
  document.getElementById("call-facts").textContent =
    `${recording.started_at.replace("T", " ")} · ${recording.agent} · ${recording.queue} · ${clock(recording.duration_s)} · intent ${body.journey.intent || "–"} · ` +
    `disposition ${body.journey.disposition || "–"}` + (recording.pauses.length ? ` · paused for secure entry ${recording.pauses.map(([a, b]) => `${clock(a)}–${clock(b)}`).join(", ")}` : "");
  const player = document.getElementById("player");
  player.src = `/qa/recordings/${recording.id}/audio`;
  document.getElementById("download").href = `/qa/recordings/${recording.id}/audio?download=1`;
  document.getElementById("integrity").textContent = `sha256 ${recording.sha256.slice(0, 16)}…`;
  const lines = document.getElementById("transcript");
  lines.replaceChildren();
  for (const segment of (body.transcript ? body.transcript.segments : [])) {
    const line = el("li", undefined, { "data-start": segment.start_s, "data-end": segment.end_s, class: segment.speaker });
    line.append(el("span", `${clock(segment.start_s)} ${segment.speaker === "agent" ? "Agent" : "Caller"}: `, { class: "who" }), el("span", segment.text));
    line.addEventListener("click", () => { player.currentTime = segment.start_s; player.play(); });
    lines.append(line);
  }
  if (!body.transcript) lines.append(el("li", "not transcribed yet"));
  const findings = document.getElementById("findings");
  findings.replaceChildren();
  for (const [check, finding] of Object.entries(body.transcript ? body.transcript.findings : {})) {
    findings.append(el("li", `${finding.passed ? "✓" : "✗"} ${check}: ${finding.detail}`, { "data-check": check, "data-passed": String(finding.passed) }));
  }
  showScoreForm(body);
  showScores(body.scores);
}

function showScoreForm(body) {
  const form = document.getElementById("score");
  const names = Object.keys(body.scorecards);
  form.hidden = names.length === 0;
  const select = document.getElementById("scorecard");
  select.replaceChildren(...names.map((name) => el("option", `${body.scorecards[name].title} (v${body.scorecards[name].version})`, { value: name })));
  const questions = document.getElementById("questions");
  questions.replaceChildren();
  if (!names.length) return;
  const findings = body.transcript ? body.transcript.findings : {};
  for (const section of body.scorecards[names[0]].sections) {
    questions.append(el("h4", section.name));
    for (const question of section.questions) {
      const label = el("label", `${question.text} (${question.weight}) `);
      const choices = question.answer === "yes_no" ? ["yes", "no", "na"] : ["5", "4", "3", "2", "1", "na"];
      const choice = el("select", undefined, { name: question.id });
      choice.append(...choices.map((value) => el("option", value, { value })));
      const auto = question.auto && findings[question.auto];
      if (auto) { choice.value = auto.passed ? "yes" : "no"; label.append(el("span", ` auto: ${auto.passed ? "yes" : "no"}`, { class: "quiet" })); }
      label.append(choice);
      questions.append(label);
    }
  }
}

function showScores(scores) {
  const list = document.getElementById("scores");
  list.replaceChildren(...scores.map((score) => el("li", `${score.total} — ${score.scorecard} v${score.version} by ${score.reviewer} at ${score.at.replace("T", " ")}`)));
  if (!scores.length) list.append(el("li", "not scored yet"));
}

document.getElementById("score").addEventListener("submit", async (event) => {
  event.preventDefault();
  const answers = {};
  for (const choice of document.querySelectorAll("#questions select")) answers[choice.name] = choice.value;
  const result = document.getElementById("score-result");
  const response = await fetch(`/qa/recordings/${current.recording.id}/scores`, {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ scorecard: document.getElementById("scorecard").value, answers }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) { result.textContent = body.error || `not saved (${response.status})`; return; }
  result.textContent = `saved: ${body.total}`;
  current.scores.unshift(body);
  showScores(current.scores);
});

document.getElementById("player").addEventListener("timeupdate", (event) => {
  const now = event.target.currentTime;
  for (const line of document.querySelectorAll("#transcript li[data-start]")) {
    const speaking = now >= Number(line.dataset.start) && now <= Number(line.dataset.end) + 0.3;
    line.classList.toggle("now", speaking);
    if (speaking) line.setAttribute("aria-current", "true"); else line.removeAttribute("aria-current");
  }
});
document.getElementById("player").addEventListener("error", () => {
  document.getElementById("integrity").textContent = "this recording cannot be played (missing, or altered after it was filed)";
});
document.getElementById("find").addEventListener("submit", find);
document.getElementById("logout").addEventListener("submit", async (event) => {
  event.preventDefault();
  await fetch("/logout", { method: "POST", credentials: "same-origin" });
  location.assign("/login");
});
find();
