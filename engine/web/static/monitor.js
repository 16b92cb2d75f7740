// Monitoring live calls from the supervisor page: the live calls (from each floor message, passed on
// by supervisor.js as the "floor:update" event) with Listen / Whisper / Barge, the supervisor's own
// session with its mode and Stop. Commands are POST /monitor and POST /monitor/stop; the engine
// rings the supervisor's phone: this page's own phone (GET /phone/config?for=supervisor, not the
// agent page's) answers by itself only the call whose caller ID is `monitor-<session id>` of the
// session this page started. Caller-controlled fields are shown as text only.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const MODES = ["listen", "whisper", "barge"];
  let me = "";
  let floor = { calls: [], monitoring: [] };
  let mine = null;        // the supervisor's session as the engine last said
  let busy = false;       // a command is on its way

  function t(key, vars) { return window.I18N ? I18N.t(key, vars) : key; }
  function clock(seconds) { const s = Math.max(0, Math.round(seconds || 0)); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`; }

  function showError(text) { $("monitor-error").textContent = text || ""; }

  async function command(path, body) {
    busy = true;
    render();
    try {
      const response = await fetch(path, {
        method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body || {}), signal: AbortSignal.timeout(15000),
      });
      if (response.status === 401) { location.assign("/login?next=/supervisor"); return; }
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) { showError(t("monitor.failed", { error: answer.error || `HTTP ${response.status}` })); return; }
      showError("");
      mine = answer.session || null;
      expectCall(mine);
      setTimeout(loadAudit, 1500);
    } catch (error) {
      showError(t("monitor.offline"));
    } finally {
      busy = false;
      render();
    }
  }

  function modeButton(agent, mode) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.mode = mode;
    button.addEventListener("click", () => command("/monitor", { agent, mode }));
    return button;
  }

  // Rows are kept and updated in place (keyed by agent), so a button under the pointer or with the
  // keyboard focus is never replaced by the floor message that arrives each second.
  function callRow(agent) {
    const tr = document.createElement("tr");
    tr.dataset.agent = agent;
    const cells = ["name", "number", "queue", "talk"].map((field) => Object.assign(document.createElement("td"), { className: `monitor-${field}` }));
    const actions = document.createElement("td");
    actions.className = "actions";
    const taken = Object.assign(document.createElement("span"), { className: "monitor-taken" });
    actions.append(taken, ...MODES.map((mode) => modeButton(agent, mode)));
    tr.append(...cells, actions);
    return tr;
  }

  function renderCalls() {
    const calls = floor.calls || [];
    const running = mine && mine.phase !== "ended" ? mine : null;
    $("monitor-no-calls").hidden = calls.length > 0;
    $("monitor-calls").hidden = calls.length === 0;
    const body = $("monitor-calls").querySelector("tbody");
    const rows = new Map([...body.children].map((tr) => [tr.dataset.agent, tr]));
    calls.forEach((call, index) => {
      const tr = rows.get(call.agent) || callRow(call.agent);
      rows.delete(call.agent);
      if (body.children[index] !== tr) body.insertBefore(tr, body.children[index] || null);
      tr.querySelector(".monitor-name").textContent = `${call.name} (${call.agent})`;
      tr.querySelector(".monitor-number").textContent = call.number || "–";
      tr.querySelector(".monitor-queue").textContent = call.queue;
      tr.querySelector(".monitor-talk").textContent = clock(call.talk_s);
      const watched = (floor.monitoring || []).find((s) => s.agent === call.agent && s.phase !== "ended");
      const byOther = Boolean(watched && watched.supervisor !== me);
      const taken = tr.querySelector(".monitor-taken");
      taken.hidden = !byOther;
      taken.textContent = byOther ? t("monitor.busy", { supervisor: watched.supervisor, mode: t(`monitor.${watched.mode}`) }) : "";
      for (const button of tr.querySelectorAll("button[data-mode]")) {
        const mode = button.dataset.mode;
        button.hidden = byOther;
        button.textContent = t(`monitor.${mode}`);
        button.setAttribute("aria-pressed", running !== null && running.agent === call.agent && running.mode === mode ? "true" : "false");
        button.disabled = busy || (running !== null && running.agent !== call.agent);
      }
    });
    rows.forEach((tr) => tr.remove());
  }

  function renderSession() {
    const box = $("monitor-session");
    if (!mine || mine.phase === "ended") { box.hidden = true; box.dataset.phase = ""; box.dataset.mode = ""; return; }
    box.hidden = false;
    box.dataset.phase = mine.phase;
    box.dataset.mode = mine.mode;
    const call = (floor.calls || []).find((c) => c.agent === mine.agent);
    $("monitor-session-line").textContent = t("monitor.session_line", {
      mode: t(`monitor.${mine.mode}`), agent: call ? `${call.name} (${mine.agent})` : mine.agent,
      number: call ? call.number || "–" : "–", time: clock(mine.for_s),
    });
    $("monitor-session-phase").textContent = t(`monitor.phase.${mine.phase}`);
    for (const button of box.querySelectorAll("button[data-mode]")) {
      button.setAttribute("aria-pressed", button.dataset.mode === mine.mode ? "true" : "false");
      button.disabled = busy || mine.phase === "ringing";
    }
    $("monitor-stop").disabled = busy;
  }

  // The audit (GET /monitor/audit): newest first, each session's modes in order and how it ended.
  let audit = [];
  async function loadAudit() {
    try {
      const answer = await fetch("/monitor/audit?hours=24", { credentials: "same-origin", signal: AbortSignal.timeout(10000) });
      if (answer.ok) audit = (await answer.json()).sessions || [];
    } catch (error) { /* the list stays as it was; the next ended session tries again */ }
    renderAudit();
  }

  function renderAudit() {
    const list = $("monitor-audit");
    const newest = audit.slice(-20).reverse();
    if (!newest.length) {
      list.replaceChildren(Object.assign(document.createElement("li"), { className: "quiet", textContent: t("monitor.audit_none") }));
      return;
    }
    list.replaceChildren(...newest.map((session) => Object.assign(document.createElement("li"), {
      textContent: t("monitor.audit_line", {
        time: session.started_at ? new Date(session.started_at).toLocaleTimeString() : "–",
        supervisor: session.supervisor, agent: session.agent,
        modes: session.modes.map((m) => t(`monitor.${m.mode}`)).join(" → ") || "–",
        end: session.ended_at ? t(`monitor.reason.${session.end_reason}`) : t("monitor.audit_running"),
      }),
    })));
  }

  function render() { renderCalls(); renderSession(); renderAudit(); }

  // The phone answers only the monitoring call of the session this page started.
  function expectCall(session) {
    const audio = $("phone-audio");
    const wanted = session && session.phase !== "ended" && session.session_id ? `monitor-${session.session_id}` : "";
    if (!audio || audio.dataset.autoAnswer === wanted) return;
    audio.dataset.autoAnswer = wanted;
    if (wanted) document.dispatchEvent(new CustomEvent("phone:auto-answer"));
  }

  // An ended session stays in the floor a few seconds with its reason: said once, then gone.
  let told = "";
  function sayEnded(session) {
    if (!session || session.phase !== "ended" || told === session.session_id) return;
    told = session.session_id;
    $("monitor-ended").textContent = t(`monitor.ended.${session.end_reason}`);
    setTimeout(loadAudit, 1500);  // its last row is written within about a second
  }

  document.addEventListener("floor:update", (event) => {
    floor = event.detail || floor;
    if (!busy) {
      mine = (floor.monitoring || []).find((s) => s.supervisor === me) || null;
      sayEnded(mine);
      if (!mine || mine.phase === "ended") expectCall(null);
      if (mine && mine.phase !== "ended") $("monitor-ended").textContent = "";
    }
    render();
  });
  document.addEventListener("i18n:changed", render);
  for (const button of document.querySelectorAll("#monitor-session button[data-mode]")) {
    button.addEventListener("click", () => mine && command("/monitor", { agent: mine.agent, mode: button.dataset.mode }));
  }
  $("monitor-stop").addEventListener("click", () => command("/monitor/stop", {}));

  async function start() {
    if (window.I18N) await I18N.ready;
    try {
      const answer = await (await fetch("/monitor", { credentials: "same-origin", signal: AbortSignal.timeout(10000) })).json();
      me = answer.supervisor || "";
      mine = answer.session || null;
      floor = { ...floor, calls: answer.calls || [], monitoring: answer.sessions || [] };
    } catch (error) {
      showError(t("monitor.offline"));
    }
    render();
    loadAudit();
  }
  start();
})();
