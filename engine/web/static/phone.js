// The agent's browser phone: SIP.js (served from node_modules by the engine) registers over the
// engine's own /phone/sip relay with the login GET /phone/config gives this agent's session.
// It rings when the ACD offers a call (at the same time as the pop on /ws); caller data is shown
// as text only. No toolchain: a plain ES module. Its text comes from messages/agent.json (I18N.t,
// keys agent.phone.*): what it shows is kept as keys and said again on "i18n:changed".
import { SessionState, Web } from "/static/vendor/sip.js/index.js";

const $ = (id) => document.getElementById(id);
const keypad = [...document.querySelectorAll("#phone-keypad button")];
// Close codes of the engine's /phone/sip relay (the same session rules as /ws).
const SESSION_ENDED = 4401;
const OPENED_ELSEWHERE = 4409;
let manager = null;   // Web.SessionManager: its onServerDisconnect carries the relay's close code
let session = null;   // the one call this phone handles at a time
let generation = 0;   // a newer start() makes an older one's late answers harmless
let stopped = false;  // no retries: the phone was taken over by another tab
let retry = 1000;
let pending = null;
let answeredAt = 0;
let held = false;
let muted = false;
let ringer = null;
let sound = null;     // one AudioContext for the ring, made on the first click or key (Chrome's autoplay rule)

const shown = {};     // element id -> [key, vars]: what the phone says, said again in a new language

function say(id, value) { $(id).textContent = value ?? ""; }

function sayKey(id, key, vars) {
  shown[id] = [key, vars];
  say(id, key ? I18N.t(key, vars) : "");
}

// `why` is [key, vars] of the reason, or nothing; `detail`: the engine's English words, shown
// (marked as English) only when the page cannot say the engine's error code.
function registered(yes, why, detail) {
  $("phone-registration").dataset.registered = yes ? "yes" : "no";
  if (yes) sayKey("phone-registration", "agent.phone.registered");
  else if (why) sayKey("phone-registration", "agent.phone.not_registered_why", { why: I18N.t(...why) });
  else sayKey("phone-registration", "agent.phone.not_registered");
  if (!yes) I18N.note($("phone-registration"), detail);
  shown.why = yes ? null : why;
  shown.detail = yes ? null : detail;
}

function problem(key, vars) { sayKey("phone-problem", key, vars); }

function callState(state, label) {
  $("phone-call").dataset.call = state;
  sayKey("phone-call", label);
  const inCall = state === "talking" || state === "held";
  $("phone-answer").disabled = state !== "ringing";
  $("phone-hangup").disabled = state === "idle";
  sayKey("phone-hangup", state === "ringing" ? "agent.phone.decline" : "agent.phone.hang_up");
  $("phone-hold").disabled = !inCall;
  $("phone-mute").disabled = !inCall;
  keypad.forEach((button) => { button.disabled = !inCall; });
  // Keyboard users keep their place: a ring focuses Answer only if nothing else has focus.
  if (state === "ringing" && (document.activeElement === document.body || !document.activeElement)) $("phone-answer").focus();
  if (state !== "ringing") stopRinging();
  if (state === "idle") {
    session = null;
    answeredAt = 0;
    held = muted = false;
    pressed("phone-hold", false, "agent.phone.hold", "agent.phone.resume");
    pressed("phone-mute", false, "agent.phone.mute", "agent.phone.unmute");
    say("phone-number", "");
    say("phone-timer", "");
  }
}

function pressed(id, on, offLabel, onLabel) {
  $(id).setAttribute("aria-pressed", on ? "true" : "false");
  sayKey(id, on ? onLabel : offLabel);
}

// Chrome keeps an AudioContext made without a user gesture suspended: make (or resume) the one
// context on the first click or key anywhere, and say so until then. The pop and the visible
// ringing state work without it.
function enableSound() {
  try {
    sound = sound || new AudioContext();
    sound.resume().then(() => {
      if (sound.state !== "running") return;
      $("phone-sound-hint").hidden = true;
      document.removeEventListener("pointerdown", enableSound, true);
      document.removeEventListener("keydown", enableSound, true);
    }, () => {});
  } catch (error) { sound = null; }
}

// A quiet two-tone ring made in the page (no audio file to fetch), stopped when the ringing ends.
function startRinging() {
  stopRinging();
  if (!sound || sound.state !== "running") return;
  const gain = sound.createGain();
  gain.gain.value = 0.05;
  gain.connect(sound.destination);
  const tones = [440, 480].map((hz) => { const tone = sound.createOscillator(); tone.frequency.value = hz; tone.connect(gain); tone.start(); return tone; });
  const cadence = setInterval(() => { gain.gain.value = gain.gain.value ? 0 : 0.05; }, 1000);
  ringer = { gain, tones, cadence };
}

function stopRinging() {
  if (!ringer) return;
  clearInterval(ringer.cadence);
  ringer.tones.forEach((tone) => tone.stop());
  ringer.gain.disconnect();
  ringer = null;
}

function callerOf(call) {
  const identity = call && call.remoteIdentity;
  if (!identity) return "";
  const number = identity.uri ? identity.uri.user : "";
  if (identity.displayName && /^monitor-/.test(number)) return identity.displayName;  // a monitoring call: its token says nothing to a person
  return identity.displayName && identity.displayName !== number ? `${identity.displayName} ${number}` : number;
}

function closeCode(error) {
  const found = /\(code: (\d+)\)/.exec((error && error.message) || "");
  return found ? Number(found[1]) : 0;
}

function toLogin() { location.assign(`/login?next=${location.pathname}`); }

// A page may answer some calls by itself: the supervisor page takes the monitoring call of the
// session it started itself (caller ID user `monitor-<session id>`: monitor.js puts it in
// <audio id="phone-audio" data-auto-answer> and says "phone:auto-answer", also when the call rang first).
function answersByItself(call) {
  const wanted = $("phone-audio").dataset.autoAnswer;
  const identity = call && call.remoteIdentity;
  return Boolean(wanted && identity && identity.uri && identity.uri.user === wanted);
}
document.addEventListener("phone:auto-answer", () => {
  if (session && session.state === SessionState.Initial && answersByItself(session)) answerCall();
});

// Another tab of this agent opened the phone: this one stays quiet until asked to take it back.
function takenOver() {
  stopped = true;
  clearTimeout(pending);
  pending = null;
  dispose();
  callState("idle", "agent.phone.no_call");
  registered(false, ["agent.phone.why.other_tab"]);
  $("phone-take-back").hidden = false;
}

function retryLater() {
  if (pending || stopped) return;  // one retry at a time, however many failures reported it
  pending = setTimeout(() => { pending = null; start().catch(() => { registered(false, ["agent.phone.why.could_not_start"]); retryLater(); }); }, retry);
  retry = Math.min(retry * 2, 30000);
}

function dispose() {
  if (!manager) return;
  const old = manager;
  manager = null;
  old.delegate = undefined;
  old.disconnect().catch(() => {});
}

function lost(error) {
  const code = closeCode(error);
  if (code === SESSION_ENDED) return toLogin();
  if (code === OPENED_ELSEWHERE) return takenOver();
  registered(false, [code === 1008 ? "agent.phone.why.message_refused" : "agent.phone.why.connection_lost"]);
  callState("idle", "agent.phone.no_call");
  dispose();
  retryLater();
}

function rejected(response) {
  const message = response && response.message;
  registered(false, ["agent.phone.why.login_refused", { reason: message ? `${message.statusCode} ${message.reasonPhrase}` : "–" }]);
  dispose();
  retryLater();
}

// Every (re)connection fetches the login again: the engine may have issued a new secret meanwhile.
async function start() {
  const mine = ++generation;
  stopped = false;
  dispose();
  let answer;
  try {
    const forPage = $("phone-audio").dataset.phoneFor;  // the supervisor page has a phone of its own
    answer = await fetch(forPage ? `/phone/config?for=${encodeURIComponent(forPage)}` : "/phone/config", { credentials: "same-origin", signal: AbortSignal.timeout(10000) });
  } catch (error) {
    registered(false, ["agent.phone.why.engine_silent"]);
    return retryLater();
  }
  if (mine !== generation) return;
  if (answer.status === 401) return toLogin();
  if (!answer.ok) {
    const refused = await answer.json().catch(() => ({}));
    const key = I18N.errorKey(refused.code);
    if (key) registered(false, [key]);
    else registered(false, ["agent.phone.why.engine_refused"], refused.error || `HTTP ${answer.status}`);
    if (answer.status !== 404) retryLater();
    return;
  }
  const config = await answer.json();
  if (mine !== generation) return;
  const phone = manager = new Web.SessionManager(config.websocket_url, {
    aor: config.aor,
    media: { constraints: { audio: true, video: false }, remote: { audio: $("phone-audio") } },
    reconnectionAttempts: 0,
    sendDTMFUsingSessionDescriptionHandler: true,
    userAgentOptions: { authorizationUsername: config.auth_user, authorizationPassword: config.password, displayName: config.display_name, logBuiltinEnabled: false },
    delegate: {
      onRegistered: () => { retry = 1000; $("phone-take-back").hidden = true; registered(true); },
      onUnregistered: () => registered(false, ["agent.phone.why.registering"]),
      onServerDisconnect: (error) => { if (error) lost(error); },
      onCallReceived: (call) => {
        // One call at a time: another INVITE while this phone has a call is declined (busy), never
        // put in the place of the call the agent is handling.
        if (session && session !== call) { phone.decline(call).catch(() => {}); return; }
        session = call; problem(""); say("phone-number", callerOf(call)); callState("ringing", "agent.phone.ringing");
        if (answersByItself(call)) answerCall(); else startRinging();
      },
      onCallAnswered: () => { answeredAt = Date.now(); problem(""); callState("talking", "agent.phone.on_call"); },
      onCallHangup: (call) => { if (call === session) callState("idle", "agent.phone.no_call"); },
      onCallHold: (_call, isHeld) => { held = isHeld; pressed("phone-hold", held, "agent.phone.hold", "agent.phone.resume"); callState(held ? "held" : "talking", held ? "agent.phone.on_hold" : "agent.phone.on_call"); },
    },
  });
  try {
    await phone.connect();
    await phone.register({ requestDelegate: { onReject: (response) => { if (phone === manager) rejected(response); } } });
  } catch (error) {
    if (phone !== manager) return;
    if ([SESSION_ENDED, OPENED_ELSEWHERE].includes(closeCode(error))) return lost(error);
    registered(false, ["agent.phone.why.server_silent"]);
    dispose();
    retryLater();
  }
}

function microphoneProblem(error) {
  if (error && error.name === "NotAllowedError") return ["agent.phone.mic.blocked"];
  if (error && error.name === "NotFoundError") return ["agent.phone.mic.missing"];
  if (error && error.name === "NotReadableError") return ["agent.phone.mic.busy"];
  return ["agent.phone.mic.failed", { error: (error && error.message) || "–" }];
}

// The microphone is asked for before accepting: a refusal inside SIP.js's accept would reject the call.
async function answerCall() {
  const call = session;
  if (!manager || !call) return;
  const byKeyboard = document.activeElement === $("phone-answer");
  $("phone-answer").disabled = true;  // no double answer while the microphone is asked for
  problem("");
  try {
    (await navigator.mediaDevices.getUserMedia({ audio: true })).getTracks().forEach((track) => track.stop());
  } catch (error) {
    if (session === call && call.state === SessionState.Initial) { $("phone-answer").disabled = false; if (byKeyboard) $("phone-answer").focus(); }
    problem(...microphoneProblem(error));
    return;
  }
  try {
    await manager.answer(call);
    if (byKeyboard && !$("phone-hangup").disabled) $("phone-hangup").focus();  // focus stays on the call's controls
  } catch (error) {
    const ringing = session === call && call.state === SessionState.Initial;
    if (ringing) $("phone-answer").disabled = false;
    problem(ringing ? "agent.phone.answer_failed_ringing" : "agent.phone.answer_failed", { error: (error && error.message) || "–" });
  }
}

$("phone-answer").addEventListener("click", answerCall);
$("phone-hangup").addEventListener("click", () => {
  if (manager && session) manager.hangup(session).catch(() => callState("idle", "agent.phone.no_call"));
});
$("phone-hold").addEventListener("click", () => manager && session && (held ? manager.unhold(session) : manager.hold(session)).catch(() => {}));
$("phone-mute").addEventListener("click", () => {
  if (!manager || !session) return;
  muted = !muted;
  if (muted) manager.mute(session); else manager.unmute(session);
  pressed("phone-mute", muted, "agent.phone.mute", "agent.phone.unmute");
});
keypad.forEach((button) => button.addEventListener("click", () => manager && session && manager.sendDTMF(session, button.dataset.key).catch(() => {})));
$("phone-take-back").addEventListener("click", () => {
  $("phone-take-back").hidden = true;
  registered(false, ["agent.phone.why.taking_back"]);
  retry = 1000;
  start().catch(() => { registered(false, ["agent.phone.why.could_not_start"]); retryLater(); });
});
document.addEventListener("pointerdown", enableSound, true);
document.addEventListener("keydown", enableSound, true);
setInterval(() => {
  if (answeredAt) {
    const seconds = Math.floor((Date.now() - answeredAt) / 1000);
    say("phone-timer", `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`);
  }
}, 1000);
document.addEventListener("i18n:changed", () => {
  for (const [id, said] of Object.entries(shown)) if (said && id !== "why" && id !== "phone-registration") sayKey(id, ...said);
  if (shown["phone-registration"]) registered($("phone-registration").dataset.registered === "yes", shown.why, shown.detail);
});
await I18N.ready;  // the catalogue first: the phone's first words are in the reader's language
callState("idle", "agent.phone.no_call");
start().catch(() => { registered(false, ["agent.phone.why.could_not_start"]); retryLater(); });
