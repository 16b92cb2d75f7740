// The caller page (/try): a newcomer calls the IVR from a browser tab. SIP.js (served from
// node_modules by the engine) places the call over the engine's own /try/sip relay with the login
// GET /try/config gives; keys go as RFC 4733 tones, like a phone's. No toolchain: a plain ES module.
import { Web } from "/static/vendor/sip.js/index.js";

const $ = (id) => document.getElementById(id);
const keypad = [...document.querySelectorAll("#try-keypad button")];
let phone = null;
let target = "";
let answeredAt = 0;
let muted = false;

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
    answeredAt = 0;
    muted = false;
    $("try-mute").setAttribute("aria-pressed", "false");
    say("try-mute", "Mute");
    say("try-timer", "");
  }
}

async function start() {
  const answer = await fetch("/try/config", { credentials: "same-origin" });
  if (!answer.ok) {
    const why = (await answer.json().catch(() => ({}))).error || `HTTP ${answer.status}`;
    callState("offline", `The demo line is not available: ${why}`);
    return;
  }
  const config = await answer.json();
  target = config.target;
  phone = new Web.SimpleUser(config.websocket_url, {
    aor: config.aor,
    media: { constraints: { audio: true, video: false }, remote: { audio: $("try-audio") } },
    reconnectionAttempts: 0,
    sendDTMFUsingSessionDescriptionHandler: true,
    userAgentOptions: { authorizationUsername: config.auth_user, authorizationPassword: config.password, displayName: "Browser caller", logBuiltinEnabled: false },
    delegate: {
      onCallAnswered: () => { answeredAt = Date.now(); callState("talking", "Connected: speak or use the keypad"); },
      onCallHangup: () => callState("ready", "Call ended. Call again?"),
      onServerDisconnect: () => { callState("offline", "Connection lost: reload the page to call again"); },
    },
  });
  await phone.connect();
  callState("ready", "Ready to call");
}

$("try-call").addEventListener("click", async () => {
  callState("calling", "Calling…");
  say("try-keys", "");
  try {
    await phone.call(target);
  } catch (error) {
    callState("ready", "The call did not go through (is the microphone allowed?)");
  }
});
$("try-hangup").addEventListener("click", () => phone && phone.hangup().catch(() => callState("ready", "Call ended")));
$("try-mute").addEventListener("click", () => {
  if (!phone) return;
  muted = !muted;
  if (muted) phone.mute(); else phone.unmute();
  $("try-mute").setAttribute("aria-pressed", muted ? "true" : "false");
  say("try-mute", muted ? "Unmute" : "Mute");
});
keypad.forEach((button) => button.addEventListener("click", () => {
  if (!phone) return;
  phone.sendDTMF(button.dataset.key).then(() => { $("try-keys").textContent += button.dataset.key; }, () => {});
}));
setInterval(() => {
  if (answeredAt) {
    const seconds = Math.floor((Date.now() - answeredAt) / 1000);
    say("try-timer", `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`);
  }
}, 1000);
callState("offline", "Connecting…");
start().catch(() => callState("offline", "Could not reach the demo line: reload the page to try again"));
