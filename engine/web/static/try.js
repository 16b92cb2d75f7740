// The caller page (/try): a newcomer calls the IVR from a browser tab. SIP.js (served from
// node_modules by the engine) places the call over the engine's own /try/sip relay with the login
// GET /try/config gives; keys go as RFC 4733 tones, like a phone's. No toolchain: a plain ES module.
import { Web } from "/static/vendor/sip.js/index.js";

const $ = (id) => document.getElementById(id);
const keypad = [...document.querySelectorAll("#try-keypad button")];
const BUSY = "The demo line is busy; try again in a minute";
const KEYS = "0123456789*#";
let manager = null;   // Web.SessionManager of the open line, made when Call is pressed
let config = null;
let session = null;
let target = "";
let answeredAt = 0;
let muted = false;
let failure = "";     // why the current call attempt failed, kept over SIP.js's later hang-up report
let retry = 2000;
let pending = null;

function say(id, value) { $(id).textContent = value ?? ""; }

function callState(state, label) {
  $("try-state").dataset.call = state;
  say("try-state", label);
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
    say("try-mute", "Mute");
    say("try-timer", "");
  }
}

function retryLater(why) {
  callState("offline", `${why}; retrying…`);
  if (pending) return;
  pending = setTimeout(() => { pending = null; start().catch(() => retryLater("Could not reach the demo line")); }, retry);
  retry = Math.min(retry * 2, 60000);
}

// A refused WebSocket upgrade shows only as a closed socket: ask the relay's URL for the reason.
async function relayRefusal() {
  const answer = await fetch("/try/sip", { credentials: "same-origin", signal: AbortSignal.timeout(10000) }).catch(() => null);
  return answer && answer.status === 429 ? BUSY : "Could not reach the demo line";
}

// The page learns its login on load but opens the line only when Call is pressed: the engine closes
// a line that places no call within a minute, so an idle page holds nothing open.
async function start() {
  const answer = await fetch("/try/config", { credentials: "same-origin", signal: AbortSignal.timeout(10000) });
  if (!answer.ok) {
    const why = (await answer.json().catch(() => ({}))).error || `HTTP ${answer.status}`;
    callState("offline", `The demo line is not available: ${why}`);
    return;
  }
  config = await answer.json();
  target = config.target;
  retry = 2000;
  callState("ready", "Ready to call");
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
      onCallAnswered: () => { answeredAt = Date.now(); callState("talking", "Connected: speak or use the keypad"); },
      onCallHangup: () => {
        if (phone !== manager) return;
        callState("ready", failure || (answeredAt ? "Call ended. Call again?" : "The call did not go through; try again"));
        closeLine();  // one call per line: the next Call opens a new one, and an idle tab holds nothing
      },
      // A dropped line ends any call on it (SIP.js disposes it); the next Call opens a new one.
      onServerDisconnect: () => {
        if (phone !== manager) return;
        manager = null;
        if ($("try-state").dataset.call !== "ready") callState("ready", "The line was cut; call again");
      },
    },
  });
  try {
    await phone.connect();
  } catch (error) {
    if (phone === manager) manager = null;
    throw new Error(await relayRefusal());
  }
}

function microphoneProblem(error) {
  if (error && error.name === "NotAllowedError") return "The microphone is blocked: allow the microphone for this page, then call again";
  if (error && error.name === "NotFoundError") return "No microphone found: plug one in, then call again";
  return `The call did not go through (${(error && error.message) || "unknown error"})`;
}

$("try-call").addEventListener("click", async () => {
  if (!config) return;
  failure = "";
  callState("calling", "Calling…");
  $("try-keys").dataset.keys = "";
  say("try-keys", "");
  try {
    (await navigator.mediaDevices.getUserMedia({ audio: true })).getTracks().forEach((track) => track.stop());
  } catch (error) {
    callState("ready", microphoneProblem(error));
    return;
  }
  if (!manager) {
    try {
      await openLine();
    } catch (error) {
      callState("ready", error.message);
      return;
    }
  }
  try {
    await manager.call(target);  // onCallCreated keeps the session; a call already over stays forgotten
  } catch (error) {
    failure = `The call did not go through (${(error && error.message) || "unknown error"})`;
    if (manager) callState("ready", failure);
  }
});
$("try-hangup").addEventListener("click", () => {
  if (manager && session) manager.hangup(session).catch(() => callState(manager ? "ready" : "offline", "Call ended"));
});
$("try-mute").addEventListener("click", () => {
  if (!manager || !session) return;
  muted = !muted;
  if (muted) manager.mute(session); else manager.unmute(session);
  $("try-mute").setAttribute("aria-pressed", muted ? "true" : "false");
  say("try-mute", muted ? "Unmute" : "Mute");
});

function sendKey(key) {
  if (!manager || !session || $("try-state").dataset.call !== "talking") return;
  manager.sendDTMF(session, key).then(() => {
    const sent = ($("try-keys").dataset.keys || "") + key;
    $("try-keys").dataset.keys = sent;
    say("try-keys", `Keys sent: ${sent}`);
  }, () => say("try-keys", `Key ${key} could not be sent`));
}

keypad.forEach((button) => button.addEventListener("click", () => sendKey(button.dataset.key)));
// The computer's own keys work as the keypad during a call (focus on a page button, not a text field).
document.addEventListener("keydown", (event) => {
  if (event.repeat || event.ctrlKey || event.altKey || event.metaKey || event.key.length !== 1 || !KEYS.includes(event.key)) return;
  sendKey(event.key);
});
setInterval(() => {
  if (answeredAt) {
    const seconds = Math.floor((Date.now() - answeredAt) / 1000);
    say("try-timer", `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`);
  }
}, 1000);
callState("offline", "Connecting…");
start().catch(() => retryLater("Could not reach the demo line"));
