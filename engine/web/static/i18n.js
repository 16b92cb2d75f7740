// Every page's text in the reader's language (ko, zh or en). A page names its catalogue in
// <body data-messages="agent">; /static/messages/common.json and /static/messages/agent.json are
// loaded, and each element with data-i18n="key" gets that message as its text, each element with
// data-i18n-attr="placeholder=key;aria-label=key" those attributes. Scripts use I18N.t(key, {vars})
// for text they build, after `await I18N.ready`, and re-render on the "i18n:changed" event.
// The language comes from GET /language (the reader's pick, their agent setting, the browser's);
// the <select id="language"> picker, when a page has one, changes it and remembers it a year.
"use strict";
(function () {
  let language = "en";
  let messages = {};
  let english = {};
  let names = {};
  let loaded = null;
  let generation = 0;  // a newer load (a second quick pick) makes an older one's late answers harmless
  // The engine's error codes (desktop_protocol.ERROR_CODES) and what the pages say for each; an
  // unknown code, or a generic one, is said as "not done" with the engine's English detail beside it.
  const ERROR_KEYS = {
    not_available: "common.error_code.not_available", phone_not_set_up: "common.error_code.phone_not_set_up",
    no_phone_yet: "common.error_code.no_phone_yet", internal_error: "common.error_code.internal_error",
    not_your_call: "common.error_code.not_your_call", not_latest_call: "common.error_code.not_latest_call",
    not_in_wrap_up: "common.error_code.not_in_wrap_up", bad_disposition: "common.error_code.bad_disposition",
    notes_too_long: "common.error_code.notes_too_long", call_record_missing: "common.error_code.call_record_missing",
    no_such_queue: "common.error_code.no_such_queue", no_such_agent: "common.error_code.no_such_agent",
    agent_not_available: "common.error_code.agent_not_available", bad_transfer_target: "common.error_code.bad_transfer_target",
    already_in_secure_entry: "common.error_code.already_in_secure_entry", no_secure_entry_flow: "common.error_code.no_secure_entry_flow",
  };
  // Pause reasons the engine or a person sets (engine/acd/agent_state.py): others say "other reason", never the raw code.
  const REASON_KEYS = {
    break: "status.reason.break", lunch: "status.reason.lunch", training: "status.reason.training", meeting: "status.reason.meeting",
    supervisor: "status.reason.supervisor", logged_in: "status.reason.logged_in", no_answer: "status.reason.no_answer",
    busy: "status.reason.busy", unavailable: "status.reason.unavailable", rejected: "status.reason.rejected",
    congestion: "status.reason.congestion", unregistered: "status.reason.unregistered",
  };

  function t(key, vars) {
    let text = messages[key] ?? english[key];
    if (text === undefined) { console.warn(`no message ${key}`); text = key; }
    return vars ? text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole)) : text;
  }

  function apply(root) {
    const scope = root || document;
    for (const element of scope.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
    for (const element of scope.querySelectorAll("[data-i18n-attr]")) {
      for (const pair of element.dataset.i18nAttr.split(";")) {
        const [attribute, key] = pair.split("=").map((part) => part.trim());
        if (attribute && key) element.setAttribute(attribute, t(key));
      }
    }
    const title = document.querySelector("title[data-i18n]");
    if (title) document.title = title.textContent;
  }

  async function catalogue(name) {
    const response = await fetch(`/static/messages/${name}.json`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`messages ${name}: ${response.status}`);
    return response.json();
  }

  async function load() {
    const mine = ++generation;
    const chosen = await fetch("/language", { credentials: "same-origin" }).then((r) => r.json()).catch(() => ({ language: "en", languages: { en: "English" } }));
    if (mine !== generation) return;  // a later pick is loading: this one's answer is stale
    const pages = ["common", ...(document.body.dataset.messages || "").split(/\s+/).filter(Boolean)];
    const books = await Promise.all(pages.map((name) => catalogue(name).catch((error) => { console.error(error); return {}; })));
    if (mine !== generation) return;
    language = chosen.language;
    names = chosen.languages;
    english = Object.assign({}, ...books.map((book) => book.en || {}));
    messages = Object.assign({}, english, ...books.map((book) => book[language] || {}));
    document.documentElement.lang = language;
    apply();
    fillPicker();
    document.dispatchEvent(new CustomEvent("i18n:changed", { detail: { language } }));
  }

  function fillPicker() {
    const picker = document.getElementById("language");
    if (!picker) return;
    picker.replaceChildren(...Object.entries(names).map(([code, name]) => {
      const option = document.createElement("option");
      option.value = code;
      option.textContent = name;
      option.lang = code;
      option.selected = code === language;
      return option;
    }));
  }

  function choose(code) {
    document.cookie = `tl_lang=${encodeURIComponent(code)}; path=/; max-age=31536000; samesite=lax`;
    loaded = load();
    return loaded;
  }

  // A pause reason in the reader's language ("no-answer" -> status.reason.no_answer).
  function reason(code) {
    if (!code) return "";
    return t(REASON_KEYS[String(code).replace(/-/g, "_")] || "status.reason.other");
  }

  // The catalogue key of an engine error code, or null when this page cannot say it (then the
  // English detail is shown too, see `note`).
  function errorKey(code) { return ERROR_KEYS[code] || null; }

  // The engine's English detail after a translated text, marked as English for screen readers.
  function note(element, detail) {
    if (!detail) return;
    const span = document.createElement("span");
    span.className = "engine-note";
    span.lang = "en";
    span.textContent = detail;
    element.append(" ", span);
  }

  function number(value, options) { return new Intl.NumberFormat(language, options).format(value); }
  function percent(fraction) { return fraction == null ? "–" : new Intl.NumberFormat(language, { style: "percent", maximumFractionDigits: 1 }).format(fraction); }
  function seconds(value) {
    if (value == null) return "–";
    const whole = Math.max(0, Math.round(value));
    if (whole < 60) return t("common.seconds", { n: whole });
    const template = t("common.minutes_seconds");  // a clock ("3:05") pads the seconds; words ("3분 5초") do not
    const clock = template.includes("{m}:{s}");
    return t("common.minutes_seconds", { m: Math.floor(whole / 60), s: clock ? String(whole % 60).padStart(2, "0") : whole % 60 });
  }
  function time(date) { return new Intl.DateTimeFormat(language, { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(date); }

  document.addEventListener("change", (event) => { if (event.target && event.target.id === "language") choose(event.target.value); });
  loaded = load();
  window.I18N = { t, apply, choose, reason, errorKey, note, number, percent, seconds, time, get language() { return language; }, get ready() { return loaded; } };
})();
