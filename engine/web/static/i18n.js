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
    const chosen = await fetch("/language", { credentials: "same-origin" }).then((r) => r.json()).catch(() => ({ language: "en", languages: { en: "English" } }));
    language = chosen.language;
    names = chosen.languages;
    const pages = ["common", ...(document.body.dataset.messages || "").split(/\s+/).filter(Boolean)];
    const books = await Promise.all(pages.map((name) => catalogue(name).catch((error) => { console.error(error); return {}; })));
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

  function number(value, options) { return new Intl.NumberFormat(language, options).format(value); }
  function percent(fraction) { return fraction == null ? "–" : new Intl.NumberFormat(language, { style: "percent", maximumFractionDigits: 1 }).format(fraction); }
  function seconds(value) {
    if (value == null) return "–";
    const whole = Math.max(0, Math.round(value));
    return whole < 60 ? t("common.seconds", { n: whole }) : t("common.minutes_seconds", { m: Math.floor(whole / 60), s: String(whole % 60).padStart(2, "0") });
  }
  function time(date) { return new Intl.DateTimeFormat(language, { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(date); }

  document.addEventListener("change", (event) => { if (event.target && event.target.id === "language") choose(event.target.value); });
  loaded = load();
  window.I18N = { t, apply, choose, number, percent, seconds, time, get language() { return language; }, get ready() { return loaded; } };
})();
