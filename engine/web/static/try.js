// The caller page (/try): a newcomer calls the IVR from a browser tab. SIP.js (served from
// node_modules by the engine) places the call over the engine's own /try/sip relay with the login
// GET /try/config gives; keys go as RFC 4733 tones, like a phone's. No toolchain: a plain ES module.
import { Web } from "/static/vendor/sip.js/index.js";

const $ = (id) => document.getElementById(id);
const keypad = [...document.querySelectorAll("#try-keypad button")];
const KEYS = "0123456789*#";
let manager = null;   // Web.SessionManager of the open line, made when Call is pressed
let config = null;
let session = null;
let target = "";
let answeredAt = 0;
let muted = false;
let failure = null;   // why the current call attempt failed ({key, vars}), kept over SIP.js's later hang-up report
let retry = 2000;
let pending = null;
let shown = { key: "try.connecting", vars: undefined };  // the status line, kept as a message to re-say in another language
let keysNote = null;                                    // the line under the keypad, likewise

function say(id, value) { $(id).textContent = value ?? ""; }

/** Status messages are catalogue keys with their values, so a change of language re-says them. */
function sayStatus() { say("try-state", I18N.t(shown.key, shown.vars)); }
function sayKeys() { say("try-keys", keysNote ? I18N.t(keysNote.key, keysNote.vars) : ""); }
function sayMute() { say("try-mute", I18N.t(muted ? "try.unmute" : "try.mute")); }
function sayTimer() { say("try-timer", answeredAt ? I18N.t("try.talk_time", { time: I18N.seconds((Date.now() - answeredAt) / 1000 - 0.5) }) : ""); }
function labelKeypad() { keypad.forEach((button) => button.setAttribute("aria-label", I18N.t("try.key", { key: button.dataset.key }))); }

function callState(state, key, vars) {
  $("try-state").dataset.call = state;
  shown = { key, vars };
  sayStatus();
  const inCall = state === "talking";
  $("try-call").disabled = state !== "ready";
  $("try-hangup").disabled = state !== "calling" && !inCall;
  $("try-mute").disabled = !inCall;
  keypad.forEach((button) => { button.disabled = !inCall; });
  if (state === "ready" || state === "offline") {
    session = null;
    answeredAt = 0;
    muted = false;
    $("try-mute").setAttribute("aria-pressed", "false");
    sayMute();
    sayTimer();
  }
}

function retryLater(whyKey) {
  callState("offline", "try.retrying", { why: I18N.t(whyKey) });
  if (pending) return;
  pending = setTimeout(() => { pending = null; start().catch(() => retryLater("try.unreachable")); }, retry);
  retry = Math.min(retry * 2, 60000);
}

// A refused WebSocket upgrade shows only as a closed socket: ask the relay's URL for the reason (a message key).
async function relayRefusal() {
  const answer = await fetch("/try/sip", { credentials: "same-origin", signal: AbortSignal.timeout(10000) }).catch(() => null);
  return answer && answer.status === 429 ? "try.busy" : "try.unreachable";
}

// The page learns its login on load but opens the line only when Call is pressed: the engine closes
// a line that places no call within a minute, so an idle page holds nothing open.
async function start() {
  const answer = await fetch("/try/config", { credentials: "same-origin", signal: AbortSignal.timeout(10000) });
  if (!answer.ok) {
    const why = (await answer.json().catch(() => ({}))).error || `HTTP ${answer.status}`;
    callState("offline", "try.unavailable", { why });
    return;
  }
  config = await answer.json();
  target = config.target;
  retry = 2000;
  callState("ready", "try.ready");
}

function closeLine() {
  if (!manager) return;
  const old = manager;
  manager = null;
  old.delegate = undefined;
  old.disconnect().catch(() => {});
}

async function openLine() {
  closeLine();
  const phone = manager = new Web.SessionManager(config.websocket_url, {
    aor: config.aor,
    media: { constraints: { audio: true, video: false }, remote: { audio: $("try-audio") } },
    reconnectionAttempts: 0,
    sendDTMFUsingSessionDescriptionHandler: true,
    userAgentOptions: { authorizationUsername: config.auth_user, authorizationPassword: config.password, displayName: "Browser caller", logBuiltinEnabled: false },
    delegate: {
      onCallCreated: (call) => { session = call; },
      onCallAnswered: () => { answeredAt = Date.now(); callState("talking", "try.talking"); },
      onCallHangup: () => {
        if (phone !== manager) return;
        if (failure) callState("ready", failure.key, failure.vars);
        else callState("ready", answeredAt ? "try.ended_again" : "try.not_through");
        closeLine();  // one call per line: the next Call opens a new one, and an idle tab holds nothing
      },
      // A dropped line ends any call on it (SIP.js disposes it); the next Call opens a new one.
      onServerDisconnect: () => {
        if (phone !== manager) return;
        manager = null;
        if ($("try-state").dataset.call !== "ready") callState("ready", "try.cut");
      },
    },
  });
  try {
    await phone.connect();
    return null;
  } catch (error) {
    if (phone === manager) manager = null;
    return relayRefusal();
  }
}

/** What went wrong placing a call, as a status message (key and values). */
function notThrough(error) { return { key: "try.failed", vars: { error: (error && error.message) || I18N.t("try.unknown_error") } }; }

function microphoneProblem(error) {
  if (error && error.name === "NotAllowedError") return { key: "try.mic_blocked" };
  if (error && error.name === "NotFoundError") return { key: "try.mic_missing" };
  return notThrough(error);
}

$("try-call").addEventListener("click", async () => {
  if (!config) return;
  failure = null;
  callState("calling", "try.calling");
  $("try-keys").dataset.keys = "";
  keysNote = null;
  sayKeys();
  try {
    (await navigator.mediaDevices.getUserMedia({ audio: true })).getTracks().forEach((track) => track.stop());
  } catch (error) {
    const problem = microphoneProblem(error);
    callState("ready", problem.key, problem.vars);
    return;
  }
  if (!manager) {
    const refused = await openLine();
    if (refused) {
      callState("ready", refused);
      return;
    }
  }
  try {
    await manager.call(target);  // onCallCreated keeps the session; a call already over stays forgotten
  } catch (error) {
    failure = notThrough(error);
    if (manager) callState("ready", failure.key, failure.vars);
  }
});
$("try-hangup").addEventListener("click", () => {
  if (manager && session) manager.hangup(session).catch(() => callState(manager ? "ready" : "offline", "try.ended"));
});
$("try-mute").addEventListener("click", () => {
  if (!manager || !session) return;
  muted = !muted;
  if (muted) manager.mute(session); else manager.unmute(session);
  $("try-mute").setAttribute("aria-pressed", muted ? "true" : "false");
  sayMute();
});

function sendKey(key) {
  if (!manager || !session || $("try-state").dataset.call !== "talking") return;
  manager.sendDTMF(session, key).then(() => {
    const sent = ($("try-keys").dataset.keys || "") + key;
    $("try-keys").dataset.keys = sent;
    keysNote = { key: "try.keys_sent", vars: { keys: sent } };
    sayKeys();
  }, () => { keysNote = { key: "try.key_failed", vars: { key } }; sayKeys(); });
}

keypad.forEach((button) => button.addEventListener("click", () => sendKey(button.dataset.key)));
// The computer's own keys work as the keypad during a call (focus on a page button, not a text field).
document.addEventListener("keydown", (event) => {
  if (event.repeat || event.ctrlKey || event.altKey || event.metaKey || event.key.length !== 1 || !KEYS.includes(event.key)) return;
  sendKey(event.key);
});
setInterval(() => { if (answeredAt) sayTimer(); }, 1000);
// The page's own words follow the language picker; the call and its state stay as they are.
document.addEventListener("i18n:changed", () => { sayStatus(); sayKeys(); sayMute(); sayTimer(); labelKeypad(); });
await I18N.ready;
labelKeypad();
callState("offline", "try.connecting");
start().catch(() => retryLater("try.unreachable"));
