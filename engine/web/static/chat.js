// The customer chat (/chat): the engine runs the flow; this page shows its messages and sends what
// the customer types or picks. Everything shown is set with textContent: a message can never become
// markup. The token (localStorage) brings a reload or a reconnect back to the same chat, and only
// for the customer it was opened for: it is kept with a hash of that customer (from the site's signed
// identity), so on a shared browser the next customer's identity starts their own chat (the engine
// checks the same in its hello). The identity is read from the fragment once and the fragment cleared.
"use strict";
(function () {
  const TOKEN = "threadline.chat.token";
  const TAB = "threadline.chat.customer";  // sessionStorage: this tab had the customer's identity
  const NOTICES = {
    too_fast: "chat.error.too_fast", too_long: "chat.error.too_long", invalid: "chat.error.invalid", not_now: "chat.error.not_now",
    digits_expected: "chat.error.digits_expected", internal_error: "chat.error.internal_error", chat_full: "chat.error.chat_full",
    too_many_pages: "chat.error.too_many_pages", database_slow: "chat.unavailable", chat_busy: "chat.unavailable",
  };
  const REFUSALS = { bad_number: "chat.refused.bad_number", not_now: "chat.refused.not_now", no_handoff: "chat.refused.no_handoff",
    already_arranged: "chat.refused.already_arranged", too_many_handoffs: "chat.refused.too_many_handoffs" };
  const main = document.getElementById("chat");
  const log = document.getElementById("chat-log");
  const replies = document.getElementById("chat-replies");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const send = document.getElementById("chat-send");
  const notice = document.getElementById("chat-notice");
  const handoff = document.getElementById("chat-handoff");
  const callbackForm = document.getElementById("callback-form");
  const result = document.getElementById("handoff-result");
  const restart = document.getElementById("chat-restart");
  let socket = null;
  let state = { input: { kind: "waiting", replies: [] }, handoff: null, ended: false, language: "" };
  let items = [];
  let later = [];
  let retry = 0;
  let countdown = null;
  let fresh = false;
  const signed = readFragment();

  function readFragment() {
    const hash = new URLSearchParams(location.hash.slice(1));
    const identity = hash.get("identity");
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);  // not left in the address bar or the history
    return identity ? { identity, signature: hash.get("signature") || "" } : null;
  }

  async function customerOf(identity) {
    // Which customer a signed identity names, as a hash kept beside the token (never the identity itself).
    let named = identity;
    try {
      const data = JSON.parse(atob(identity.replace(/-/g, "+").replace(/_/g, "/")));
      named = `${data.customer || ""}\u0000${data.number || ""}`;
    } catch (error) { /* the engine refuses it; the hash of the text still tells two apart */ }
    if (!window.crypto || !crypto.subtle) return `unhashed:${named.length}`;
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(named));
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function stored() {
    const raw = localStorage.getItem(TOKEN);
    if (!raw) return null;
    try {
      const kept = JSON.parse(raw);
      if (kept && typeof kept.token === "string") return { token: kept.token, customer: kept.customer || "" };
    } catch (error) { /* an older page kept the token alone */ }
    return { token: raw, customer: "" };
  }

  function say(key, vars, detail) {
    notice.textContent = key ? I18N.t(key, vars) : "";
    if (detail) I18N.note(notice, detail);
  }

  function line(who, text, language) {
    const item = document.createElement("li");
    item.className = who;
    item.dataset.who = who;
    if (language) item.lang = language;
    item.textContent = text;
    return item;
  }

  function handoffItem(shown) {
    const item = line("handoff", "");
    if (shown.how === "callback") item.textContent = I18N.t("chat.callback_arranged", { number: shown.number });
    else item.textContent = I18N.t("chat.code_issued", { dial: shown.number || shown.dial });
    return item;
  }

  function laterItem(leg) {
    const item = line("later", "");
    const title = document.createElement("strong");
    title.textContent = `${I18N.t("chat.later_title")} ${I18N.t("chat.later_call")}`;
    const list = document.createElement("ul");
    const facts = [];
    if (leg.steps_done.length) facts.push(I18N.t("chat.later_steps", { steps: leg.steps_done.join(" · ") }));
    if (leg.fixed) facts.push(I18N.t("chat.later_fixed"));
    else if (leg.next_step) facts.push(I18N.t("chat.later_next", { step: leg.next_step }));
    if (leg.disposition) facts.push(I18N.t("chat.later_outcome", { disposition: leg.disposition }));
    for (const fact of facts) {
      const entry = document.createElement("li");
      entry.textContent = fact;
      list.append(entry);
    }
    item.replaceChildren(title, list);
    item.dataset.channel = leg.channel;
    return item;
  }

  function render() {
    const shown = items.map((item) => {
      if (item.who === "handoff") return handoffItem(item);
      if (item.who === "bot" && item.recording_only) {
        const quiet = line("bot", "");
        const span = document.createElement("span");
        span.className = "quiet";
        span.textContent = I18N.t("chat.recording_only");
        quiet.append(span);
        return quiet;
      }
      return line(item.who, item.text, item.who === "bot" ? state.language : "");
    });
    log.replaceChildren(...shown, ...later.map(laterItem));
    renderInput();
    renderHandoff();
    log.scrollTop = log.scrollHeight;  // after the hand-off box took its room: the newest message stays in view
  }

  function renderInput() {
    const wanted = state.input;
    main.dataset.input = wanted.kind;
    main.dataset.node = state.node || "";
    replies.replaceChildren(...(wanted.replies || []).map((reply, index) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = reply.label;
      if (state.language) button.lang = state.language;
      button.addEventListener("click", () => message({ type: "reply", index }));
      return button;
    }));
    const open = wanted.kind === "text" || wanted.kind === "digits";
    input.disabled = send.disabled = !open;
    form.hidden = state.ended || wanted.kind === "handoff";
    input.type = wanted.masked ? "password" : "text";
    input.inputMode = wanted.kind === "digits" ? "numeric" : "text";
    const placeholder = wanted.masked ? "chat.placeholder_secret" : wanted.kind === "digits" ? "chat.placeholder_digits" : "chat.placeholder";
    input.placeholder = I18N.t(placeholder);
    restart.hidden = !state.ended;
    if (state.ended && !notice.textContent) say("chat.ended");
  }

  function renderHandoff() {
    handoff.hidden = state.input.kind !== "handoff" && !state.handoff;
    const shown = state.handoff;
    document.getElementById("handoff-callback").hidden = document.getElementById("handoff-code").hidden = Boolean(shown);
    if (shown) callbackForm.hidden = true;
    if (countdown) { clearInterval(countdown); countdown = null; }
    if (!shown) return;
    if (shown.how === "callback") {
      result.textContent = I18N.t("chat.callback_arranged", { number: shown.number });
      return;
    }
    const intro = document.createElement("p");
    intro.textContent = I18N.t("chat.code_issued", { dial: shown.dial });
    const code = document.createElement("p");
    code.className = "handoff-code";
    code.id = "handoff-code-value";
    code.textContent = shown.code || "";
    const left = document.createElement("p");
    left.id = "handoff-countdown";
    const tick = () => {
      const remaining = (Date.parse(shown.expires_at) - Date.now()) / 1000;
      left.textContent = remaining > 0 ? I18N.t("chat.code_expires_in", { time: I18N.seconds(remaining) }) : I18N.t("chat.code_expired");
    };
    tick();
    countdown = setInterval(tick, 1000);
    result.replaceChildren(intro, code, left);
  }

  function message(body) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(body));
  }

  function received(data) {
    if (data.type === "hello" || data.type === "turn") {
      items = data.type === "hello" ? data.items : items.concat(data.items);
      state = { input: data.input, handoff: data.handoff, ended: data.ended, language: data.language, node: data.node };
      if (data.type === "turn") say(data.notice ? NOTICES[data.notice] : "", data.input);
      render();
    } else if (data.type === "later") {
      later = data.legs;
      render();
    } else if (data.type === "handoff") {
      if (data.refused) {
        result.textContent = I18N.t(REFUSALS[data.refused] || "chat.handoff_refused");
        if (!REFUSALS[data.refused]) I18N.note(result, data.detail);
        return;
      }
      state.handoff = data;
      items = items.concat([{ who: "handoff", how: data.how, number: data.how === "code" ? data.dial : data.number }]);
      render();
    } else if (data.type === "ended") {
      state.ended = true;
      state.input = { kind: "closed", replies: [] };
      render();
    } else if (data.type === "error") {
      if (data.code === "no_chat") return;
      say(NOTICES[data.code] || "chat.error.invalid", { max: data.max, reference: data.reference });
    }
  }

  async function newToken(customer) {
    const body = signed ? { identity: signed.identity, signature: signed.signature } : {};
    const answer = await fetch("/chat/session", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), credentials: "same-origin" });
    const data = await answer.json().catch(() => ({}));
    if (!answer.ok || !data.token) {
      say("chat.error.session", null, data.error);
      return null;
    }
    localStorage.setItem(TOKEN, JSON.stringify({ token: data.token, customer }));
    return data.token;
  }

  async function connect() {
    const customer = signed ? await customerOf(signed.identity) : "";
    if (customer) sessionStorage.setItem(TAB, customer);
    const kept = stored();
    // Another customer's chat (or a signed chat in a tab that never had its identity) is not resumed.
    const theirs = kept && (signed ? kept.customer === customer : !kept.customer || sessionStorage.getItem(TAB) === kept.customer);
    let token = theirs ? kept.token : null;
    if (!token) {
      localStorage.removeItem(TOKEN);
      fresh = true;
      token = await newToken(customer);
      if (!token) { main.dataset.connection = "refused"; return; }
    }
    main.dataset.connection = "connecting";
    socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/chat/ws`);
    socket.addEventListener("open", () => { socket.send(JSON.stringify({ type: "hello", token, ...(signed || {}) })); });
    socket.addEventListener("message", (event) => {
      main.dataset.connection = "connected";
      retry = 0;
      try { received(JSON.parse(event.data)); } catch (error) { console.error(error); }
    });
    socket.addEventListener("close", (event) => {
      socket = null;
      if (event.code === 4404 && !fresh) {  // the chat ended or expired: a new one
        localStorage.removeItem(TOKEN);
        connect();
        return;
      }
      if (event.code === 4404) { main.dataset.connection = "refused"; say("chat.unavailable"); return; }
      if (event.code === 4429) { main.dataset.connection = "refused"; say("chat.error.too_many_pages"); return; }
      main.dataset.connection = "reconnecting";
      say("chat.reconnecting");
      retry += 1;
      setTimeout(connect, Math.min(10_000, 500 * 2 ** retry));
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    const wanted = state.input;
    if (wanted.kind === "digits" && /^[0-9*#\s-]+$/.test(text)) {
      const digits = text.replace(/[^0-9]/g, "");
      if (digits.length < wanted.min_digits || digits.length > wanted.max_digits) {
        say("chat.digits_hint", { min: wanted.min_digits, max: wanted.max_digits });
        return;
      }
    }
    say("");
    message({ type: "text", text });
    input.value = "";
  });
  document.getElementById("handoff-callback").addEventListener("click", () => { callbackForm.hidden = false; document.getElementById("callback-number").focus(); });
  document.getElementById("handoff-code").addEventListener("click", () => message({ type: "code" }));
  callbackForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const number = document.getElementById("callback-number").value.trim();
    if (number) message({ type: "callback", number });
  });
  restart.addEventListener("click", () => { localStorage.removeItem(TOKEN); location.reload(); });
  document.addEventListener("i18n:changed", render);
  I18N.ready.then(connect);
})();
