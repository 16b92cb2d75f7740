// The agent's browser phone: SIP.js (served from node_modules by the engine) registers over the
// engine's own /phone/sip relay with the login GET /phone/config gives this agent's session.
// It rings when the ACD offers a call (at the same time as the pop on /ws); caller data is shown
// as text only. No toolchain: a plain ES module.
import { Web } from "/static/vendor/sip.js/index.js";

const $ = (id) => document.getElementById(id);
const keypad = [...document.querySelectorAll("#phone-keypad button")];
let phone = null;
let retry = 1000;
let answeredAt = 0;
let held = false;
let muted = false;
let ringer = null;
let pending = null;

function say(id, value) { $(id).textContent = value ?? ""; }

function registered(yes, why) {
  $("phone-registration").dataset.registered = yes ? "yes" : "no";
  say("phone-registration", yes ? "Phone registered (browser)" : `Browser phone not registered${why ? `: ${why}` : ""}`);
}

function callState(state, label) {
  $("phone-call").dataset.call = state;
  say("phone-call", label);
  const inCall = state === "talking" || state === "held";
  $("phone-answer").disabled = state !== "ringing";
  $("phone-hangup").disabled = state === "idle";
  $("phone-hold").disabled = !inCall;
  $("phone-mute").disabled = !inCall;
  keypad.forEach((button) => { button.disabled = !inCall; });
  if (state !== "ringing") stopRinging();
  if (state === "idle") {
    answeredAt = 0;
    held = muted = false;
    pressed("phone-hold", false, "Hold", "Resume");
    pressed("phone-mute", false, "Mute", "Unmute");
    say("phone-number", "");
    say("phone-timer", "");
  }
}

function pressed(id, on, offLabel, onLabel) {
  $(id).setAttribute("aria-pressed", on ? "true" : "false");
  say(id, on ? onLabel : offLabel);
}

// A quiet two-tone ring made in the page (no audio file to fetch), stopped when the ringing ends.
function startRinging() {
  stopRinging();
  try {
    const context = new AudioContext();
    const gain = context.createGain();
    gain.gain.value = 0.05;
    gain.connect(context.destination);
    [440, 480].forEach((hz) => { const tone = context.createOscillator(); tone.frequency.value = hz; tone.connect(gain); tone.start(); });
    const cadence = setInterval(() => { gain.gain.value = gain.gain.value ? 0 : 0.05; }, 1000);
    ringer = { context, cadence };
  } catch (error) { ringer = null; }
}

function stopRinging() {
  if (!ringer) return;
  clearInterval(ringer.cadence);
  ringer.context.close();
  ringer = null;
}

function callerOf(session) {
  const identity = session && session.remoteIdentity;
  if (!identity) return "";
  const number = identity.uri ? identity.uri.user : "";
  return identity.displayName && identity.displayName !== number ? `${identity.displayName} ${number}` : number;
}

async function start() {
  const answer = await fetch("/phone/config", { credentials: "same-origin" });
  if (!answer.ok) {
    registered(false, answer.status === 401 ? "log in again" : (await answer.json().catch(() => ({}))).error || `HTTP ${answer.status}`);
    if (answer.status !== 404 && answer.status !== 401) setTimeout(start, retry = Math.min(retry * 2, 30000));
    return;
  }
  const config = await answer.json();
  phone = new Web.SimpleUser(config.websocket_url, {
    aor: config.aor,
    media: { constraints: { audio: true, video: false }, remote: { audio: $("phone-audio") } },
    reconnectionAttempts: 0,
    sendDTMFUsingSessionDescriptionHandler: true,
    userAgentOptions: { authorizationUsername: config.auth_user, authorizationPassword: config.password, displayName: config.display_name, logBuiltinEnabled: false },
    delegate: {
      onRegistered: () => { retry = 1000; registered(true); },
      onUnregistered: () => registered(false),
      onServerDisconnect: () => { registered(false, "reconnecting…"); callState("idle", "No call"); reconnect(); },
      onCallReceived: () => { say("phone-number", callerOf(phone.session)); callState("ringing", "Ringing"); startRinging(); },
      onCallAnswered: () => { answeredAt = Date.now(); callState("talking", "On call"); },
      onCallHangup: () => callState("idle", "No call"),
      onCallHold: (isHeld) => { held = isHeld; pressed("phone-hold", held, "Hold", "Resume"); callState(held ? "held" : "talking", held ? "On hold" : "On call"); },
    },
  });
  await register();
}

async function register() {
  try {
    await phone.connect();
    await phone.register();
  } catch (error) {
    registered(false, "the phone server did not answer; retrying");
    reconnect();
  }
}

function reconnect() {
  if (pending) return;  // one retry at a time, however many failures reported it
  pending = setTimeout(() => { pending = null; register(); }, retry);
  retry = Math.min(retry * 2, 30000);
}

$("phone-answer").addEventListener("click", () => phone && phone.answer().catch(() => callState("idle", "The call was gone")));
$("phone-hangup").addEventListener("click", () => phone && phone.hangup().catch(() => callState("idle", "No call")));
$("phone-hold").addEventListener("click", () => phone && (held ? phone.unhold() : phone.hold()).catch(() => {}));
$("phone-mute").addEventListener("click", () => {
  if (!phone) return;
  muted = !muted;
  if (muted) phone.mute(); else phone.unmute();
  pressed("phone-mute", muted, "Mute", "Unmute");
});
keypad.forEach((button) => button.addEventListener("click", () => phone && phone.sendDTMF(button.dataset.key).catch(() => {})));
setInterval(() => {
  if (answeredAt) {
    const seconds = Math.floor((Date.now() - answeredAt) / 1000);
    say("phone-timer", `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`);
  }
}, 1000);
callState("idle", "No call");
start().catch(() => { registered(false, "could not start; retrying"); setTimeout(start, retry); });
