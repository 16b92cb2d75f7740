"""Runs a flow on a live call: the thin adapter between the pure interpreter and ARI, timers and HTTP.

It carries the interpreter's commands out (prompts rendered by TTS and played over ARI, timers as
asyncio handles that post TimerFired to the call's inbox, lookups as tasks of a TaskOwner that post
LookupAnswered) and turns what the call session hears into facts. It runs inside the call's
session and acts on the caller's channel through the session's CallControl. It keeps no journal
of its own: Journal commands and its own events go to the call's journey writer through `record`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from engine import metrics
from engine.asterisk.errors import AriRequestFailed, AsteriskError
from engine.flows.flow_facts import (
    CallStarted,
    CancelTimer,
    DigitPressed,
    FlowCommand,
    FlowFact,
    HangUp,
    Journal,
    Listen,
    Lookup,
    LookupAnswered,
    Play,
    PromptFinished,
    QUEUE_NOT_CONFIGURED,
    QueueLeft,
    SpeechRecognised,
    SpeechStarted,
    StartTimer,
    StopListening,
    StopPrompt,
    TimerFired,
    Transfer,
)
from engine.acd import queued_call_facts as acd
from engine.acd.acd_ports import CallSnapshot
from engine.acd.wait_announcements import announcement_playback_id
from engine.call.acd_link import AcdLink
from engine.call.call_control import CallControl
from engine.call.code_taking import CODE_TIMER, SPOKEN_CODE_END_OF_SPEECH_S, SPOKEN_CODE_MAX_SPEECH_S, CodeTaking, HandoffChecked
from engine.call.flow_services import FlowRuntime, answer_lookup
from engine.flows.interpreter import FlowInterpreter
from engine.flows.survey_answers import survey_answer
from engine.language.answer_words import NO_WORDS, YES_WORDS
from engine.speech.prompt_audio import PromptRenderFailed
from engine.store.journey_store import JourneyEvent
from engine.speech.call_listening import CallListening, HeardSpeech
from engine.handoff.handoff_port import ChatHandedOver
from engine.journey import events
from engine.journey.channel_events import ContinuedFrom
from engine.speech.endpointing import EndpointSettings
from engine.speech.utterance import SpeechBegan
from engine.task_owner import TaskOwner

log = logging.getLogger(__name__)
Decoded = TypeVar("Decoded", bound=events.JourneyEventModel)
ACD_END_OF_SPEECH_S, ACD_MAX_SPEECH_S = 0.6, 8.0
SENSITIVE_TAIL_S = 3.0
CALL_VARIABLES = ("caller_number", "caller_name", "dialed", "channel")
"""The call's own variables: a chat's values never replace them."""


@dataclass(frozen=True)
class ForCaller:
    """What the ACD wants done to a queued caller, carried out by the call's session in its order."""

    commands: tuple[acd.CallerCommand, ...]
    done: asyncio.Future[None] | None = None
    """Resolved once the session has carried them out, or the call has ended (the ACD may wait for it)."""

    def settle(self) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(None)


class FlowDriver:
    def __init__(
        self,
        runtime: FlowRuntime,
        channel_id: str,
        variables: Mapping[str, Any],
        ari: CallControl,
        inbox: asyncio.Queue[Any],
        record: Callable[[str, dict[str, Any]], None],
        hang_up: Callable[[str], Awaitable[None]],
    ) -> None:
        self.interpreter = FlowInterpreter(runtime.bundle.flow_set, runtime.bundle.inbound, variables)
        self._runtime = runtime
        self._channel_id = channel_id
        self._ari = ari
        self._inbox = inbox
        self._record = record
        self._hang_up = hang_up
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._lookups = TaskOwner(f"lookups of call {channel_id}")
        self._closing_prompt: str | None = None
        self._playback_prefix = f"flow-{channel_id}-{secrets.token_hex(3)}-"
        """Unique to this engine's run of the flow: an adopted call's old playbacks never clash with new ones."""
        speech = runtime.speech
        self._listening = CallListening(speech, channel_id, inbox.put_nowait) if speech is not None and speech.taps is not None else None
        self._listen_generation = 0
        self.acd_link = AcdLink(runtime.distributor, channel_id, self)
        self._announcing = False
        self._announced_media: str | None = None
        """What the announcement playing now plays (see announcement_finished)."""
        self._closed = False
        self._sensitive_now = False
        self._sensitive_tail_until = 0.0
        self._survey_for: tuple[str, str] | None = None
        """(queue, agent) while the caller answers a post-call survey."""
        self.journal: list[tuple[str, dict[str, Any]]] = []
        """What the flow recorded, kept for the agent's screen-pop (sensitive values already masked);
        a call that goes on from a chat has the chat's journal first."""
        self.codes = CodeTaking(runtime.handoff, channel_id, self)
        self._held: list[FlowFact] = []
        """The flow's facts that wait while a hand-off code is keyed or checked."""
        self._chat_language: str | None = None
        """The language of the chat this call went on from: the queue speaks it to the caller."""

    @property
    def keys_are_sensitive(self) -> bool:
        """While a sensitive collect runs, for SENSITIVE_TAIL_S after it (a terminator or an extra
        digit keyed after the entry was complete), and throughout an agent's secure entry."""
        if self.interpreter.keys_are_sensitive or asyncio.get_running_loop().time() < self._sensitive_tail_until:
            return True
        return self.acd_link.in_secure_entry or self.codes.takes_keys  # a hand-off code is never journaled

    async def stop_prompts(self) -> None:
        for prompt_id in self.interpreter.playing:
            await self._stop(prompt_id)

    def owns_playback(self, playback_id: str) -> bool:
        return playback_id.startswith(self._playback_prefix) or playback_id == announcement_playback_id(self._channel_id)

    async def start(self, checkpoint: Mapping[str, Any] | None = None) -> None:
        """Begin the flow, or, for a call adopted from an engine that stopped, go on from its checkpoint.
        The greeting starts at once; whether a chat waits for this call is checked beside it."""
        if checkpoint is not None:
            self.codes.flow_asks()  # an adopted call is past its greeting
            await self._execute(self.interpreter.resume(checkpoint))
            return
        if self.codes.checks_at_start:
            self._lookups.spawn(f"handoff-check-{self._channel_id}", self._check_handoff())
        await self._execute(self.interpreter.decide(CallStarted()))

    async def _check_handoff(self) -> None:
        checked = await self.codes.check_at_start(str(self.interpreter.variables.get("caller_number", "")))
        self._inbox.put_nowait(checked)

    async def handoff_checked(self, fact: HandoffChecked) -> None:
        """The start check's answer, in the session (the call may have moved on or ended meanwhile)."""
        await self.codes.checked(fact)

    async def on_fact(self, fact: FlowFact) -> None:
        if isinstance(fact, TimerFired) and fact.timer_id == CODE_TIMER:
            await self.codes.timer_fired()
            return
        if isinstance(fact, DigitPressed) and self.acd_link.has_caller:
            self.acd_link.key(fact.digit)
            return
        if isinstance(fact, QueueLeft):
            self.codes.flow_asks()  # back from the ACD (an overflow, a secure entry): keys are the flow's
            self._chat_language = None  # the flow speaks its own language again
        elif isinstance(fact, DigitPressed) and not self.interpreter.finished and not self.interpreter.keys_are_sensitive \
                and not self.acd_link.in_secure_entry and await self.codes.key(fact.digit):
            return  # a hand-off code's key
        if self.codes.holding and not isinstance(fact, (DigitPressed, QueueLeft)):
            self._held.append(fact)
            return
        if isinstance(fact, QueueLeft):  # the ACD let the caller go (the flow has it again), or lent it for a secure entry
            self.acd_link.flow_has_caller()
        await self._execute(self.interpreter.decide(fact))

    def announcement_finished(self, media_uri: str) -> bool:
        """True if the announcement playing now has ended. Every announcement has the same playback
        id, so the end of one stopped to make way for the next is reported too: told apart by its media."""
        if self._announced_media is not None and media_uri and media_uri != self._announced_media:
            return False
        self._announcing, self._announced_media = False, None
        return True

    async def on_playback_finished(self, playback_id: str) -> None:
        if playback_id == announcement_playback_id(self._channel_id):
            return  # the session asks announcement_finished
        prompt_id = playback_id.removeprefix(self._playback_prefix)
        if self.acd_link.in_secure_entry:
            await self._keep_audio_flowing()  # a prompt suspended the silence
        if prompt_id == self._closing_prompt:
            await self._hang_up("agent queue not configured yet")
            return
        await self.on_fact(PromptFinished(prompt_id))

    async def on_speech(self, heard: HeardSpeech) -> None:
        if heard.generation != self._listen_generation:
            return  # heard for a node the flow has already left
        if isinstance(heard.event, SpeechBegan):
            await self.on_fact(SpeechStarted())
            return
        utterance = heard.event
        said = [h.text for h in utterance.recognition.alternatives] or [utterance.recognition.text]
        code = self.codes.is_code(said, utterance.recognition.confidence)
        sensitive = self.keys_are_sensitive or code
        detail: dict[str, Any] = {
            "text": "****" if sensitive and utterance.recognition.text else utterance.recognition.text,
            "confidence": utterance.recognition.confidence,
            "latency_ms": utterance.latency_ms,
            "speech_ms": utterance.speech_ms,
            "ended": utterance.ended,
        }
        if utterance.audio is not None and not sensitive and self._runtime.speech is not None:
            detail["audio"] = await self._runtime.speech.keep_utterance(self._channel_id, utterance.audio)
        self._keep("speech_heard", detail)
        metrics.RECOGNITION_LATENCY_SECONDS.labels(self.language).observe(utterance.latency_ms / 1000)
        metrics.RECOGNITION_CONFIDENCE.labels(self.language).observe(utterance.recognition.confidence)
        if self.acd_link.has_caller:
            self.acd_link.heard(tuple((h.text, h.confidence) for h in utterance.recognition.alternatives))
            return
        if code and await self.codes.heard(said, utterance.recognition.confidence):
            return
        await self.on_fact(SpeechRecognised(utterance.recognition.alternatives))

    def close(self) -> None:
        """The call ended: no timer may fire (lookups are cancelled and awaited by aclose)."""
        self._closed = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._listening is not None:
            self._listening.stop()

    async def aclose(self, handing_over: bool = False) -> None:
        """close, cancel and await the lookups, then remove the call's audio tap (Asterisk keeps its
        media channel and bridge otherwise) and, unless the engine is handing the call over, take the
        caller out of the ACD."""
        self.close()
        await self._lookups.aclose()
        if not handing_over:
            await self.codes.end(self.acd_link.reached)
        await self.hush()  # an ACD announcement would hold up the next engine's commands on the channel
        if self._listening is not None:
            await self._listening.close()
        if not handing_over:
            await self.leave_acd()
            await self._runtime.forget_call(self._channel_id)  # the call's own prompts (its number, name) go with it

    async def adopt_conversation(self, earlier: Sequence[JourneyEvent], now: datetime, chat: Sequence[JourneyEvent] = ()) -> None:
        """An adopted caller who was talking to an agent: the ACD takes the conversation back (with
        what the IVR learned and, for a call that went on from a chat, the chat's journal first)."""
        answered = next((e for e in reversed(earlier) if e.kind == events.AgentAnswered.KIND), None)
        queued = next((e for e in reversed(earlier) if e.kind == events.Queued.KIND), None)
        if answered is None or queued is None:
            return
        self._learned(earlier, chat)
        talked_s = max(0.0, (now - answered.at).total_seconds())
        queue, agent = _decoded(queued, events.Queued).queue, _decoded(answered, events.AgentAnswered).agent or ""
        await self.acd_link.adopt(queue, agent, talked_s, self._snapshot(), self._record)

    async def requeue(self, earlier: Sequence[JourneyEvent], now: datetime, chat: Sequence[JourneyEvent] = ()) -> None:
        """An adopted caller who was waiting for an agent: back into the same queue, at its place,
        with what the IVR learned (from the journey the earlier engine wrote), without the menu again;
        a call that went on from a chat has the chat's journal first on the pop, as before the restart."""
        queued = next(e for e in reversed(earlier) if e.kind == events.Queued.KIND)
        first_queued = next(e for e in earlier if e.kind == events.Queued.KIND)
        self._learned(earlier, chat)
        self.interpreter.finished = True  # the flow's part is done: the call belongs to the ACD
        last = _decoded(queued, events.Queued)
        priority = last.priority if last.priority is not None else 5
        if not self.acd_link.serves(last.queue):
            await self._execute([Transfer(last.queue, last.skills, priority, {})])
            return
        waited_s = max(0.0, (now - first_queued.at).total_seconds())
        self.acd_link.enqueue(last.queue, last.skills, priority, self._snapshot(), self._record, waited_s or 0.001)
        await self._release_tap()

    def _learned(self, earlier: Sequence[JourneyEvent], chat: Sequence[JourneyEvent]) -> None:
        """An adopted call's variables (its last checkpoint) and journal (the chat's first, if it went on from one)."""
        checkpoint = next((e.detail for e in reversed(earlier) if e.kind == events.CheckpointSaved.KIND), {})
        saved = checkpoint.get("variables")
        self.interpreter.variables.update(saved if isinstance(saved, Mapping) else {})
        self.journal.extend((e.kind, dict(e.detail)) for e in (*chat, *earlier))

    @property
    def acd_phase(self) -> str | None:
        """waiting or talking while the ACD has the caller; None otherwise."""
        return self.acd_link.phase

    @property
    def language(self) -> str:
        """The flow's language, or, for a call that went on from a chat, the chat's while the ACD has the caller."""
        return self._chat_language or self.interpreter.language

    def for_caller(self, commands: Sequence[acd.CallerCommand], done: asyncio.Future[None] | None = None) -> None:
        """What the ACD wants done to the caller: into the call's inbox, carried out by its session in
        order. Once the call has ended (or is handed over) nothing is done, and nobody is kept waiting."""
        message = ForCaller(tuple(commands), done)
        if self._closed:
            message.settle()
            return
        self._inbox.put_nowait(message)

    async def announce(self, text: str) -> bool:
        """The ACD speaks to the waiting caller (position, wait, callback offer) over the hold music.
        True once it plays; an announcement that cannot play is logged and skipped (the caller
        still hears the queue's music), never a reason to end the call."""
        if self._closed:
            return False  # the call ended or is being handed to the next engine: its channel is not ours to play to
        await self.hush()  # a new sentence replaces one still playing
        try:
            media = await self._runtime.media_for(text, self.language, self._channel_id)
            self._announcing, self._announced_media = True, media  # before the request: a hush meanwhile must stop it
            await self._ari.play(self._channel_id, media, announcement_playback_id(self._channel_id))
        except (AsteriskError, PromptRenderFailed) as exc:
            log.info("call %s: announcement not played: %s", self._channel_id, exc)
            return False
        return True

    def listen_for(self, phrases: Sequence[str]) -> None:
        """The ACD listens to the waiting caller (the callback offer's phrases, yes and no)."""
        language = self.language
        extra = YES_WORDS.get(language[:2], ()) + NO_WORDS.get(language[:2], ())
        self._listen(Listen((*phrases, *extra), language, ACD_END_OF_SPEECH_S, ACD_MAX_SPEECH_S))

    async def stop_listening(self) -> None:
        """No more speech wanted (in the queue, or talking to an agent): the audio tap is removed too,
        so a waiting or talking caller holds no media websocket (see _release_tap)."""
        self._listen_generation += 1
        await self._release_tap()

    async def _release_tap(self) -> None:
        """Remove the caller's audio tap until speech is wanted again (listen reopens it). Fewer open
        media websockets: Asterisk 22.10.1 was seen to die when an engine was killed with several
        open at once (see README, "Known Asterisk issues")."""
        if self._listening is not None:
            await self._listening.close()

    async def start_survey(self, target: str, queue: str, agent: str) -> None:
        """After the agent hung up: the survey flow's `csat` and `nps` answers are stored for this queue and agent."""
        self._survey_for = (queue, agent)
        self.acd_link.lent_for_secure_entry = False  # the agent ended the call, also during a secure entry
        await self.on_fact(QueueLeft(target, "post-call survey"))

    async def continue_flow(self, target: str, reason: str) -> None:
        """The ACD's overflow into a flow, or an agent's secure entry (the caller, out of every
        bridge, hears silence between the flow's prompts: see _keep_audio_flowing)."""
        self.acd_link.lent_for_secure_entry = reason == "secure entry"
        if self.acd_link.lent_for_secure_entry:
            await self._keep_audio_flowing()
        await self.on_fact(QueueLeft(target, reason))

    async def _keep_audio_flowing(self) -> None:
        """Silence to a caller out of every bridge, between prompts: MixMonitor keeps the file's
        timeline only while audio is written to the channel both ways; without it the file loses the
        time the caller spent keying, and pauses no longer sit where they were."""
        try:
            await self._ari.start_silence(self._channel_id)
        except AriRequestFailed:
            pass  # the caller hung up meanwhile

    async def hush(self) -> None:
        if self._announcing:
            self._announcing = False
            try:
                await self._ari.stop_playback(announcement_playback_id(self._channel_id))
            except AsteriskError:
                pass  # it had finished

    async def leave_acd(self) -> None:
        """The caller is gone: out of the queue, or the end of their call with an agent (once)."""
        await self.acd_link.leave()

    async def _execute(self, commands: list[FlowCommand]) -> None:
        self._pause_recording_if_sensitive()
        for command in commands:
            await self._carry_out(command)

    def _pause_recording_if_sensitive(self) -> None:
        """A sensitive collect pauses the call's recording (if it has one) before its prompt plays,
        and leaving it resumes the recording: keys and spoken digits are never recorded."""
        sensitive = self.interpreter.keys_are_sensitive
        recorder = self.acd_link.recorder
        if sensitive != self._sensitive_now and recorder is not None:
            recorder.sensitive_entry(self._channel_id, sensitive)
        if self._sensitive_now and not sensitive:
            self._sensitive_tail_until = asyncio.get_running_loop().time() + SENSITIVE_TAIL_S
        self._sensitive_now = sensitive

    async def _carry_out(self, command: FlowCommand) -> None:
        if isinstance(command, (Transfer, HangUp)):
            self.codes.flow_asks()  # the flow is over: no code any more
        if isinstance(command, Journal):
            self._keep(command.kind, dict(command.detail))
        elif isinstance(command, Play):
            await self._play(command.prompt_id, command.text, command.file, command.language)
        elif isinstance(command, StopPrompt):
            await self._stop(command.prompt_id)
        elif isinstance(command, StartTimer):
            loop = asyncio.get_running_loop()
            self._timers[command.timer_id] = loop.call_later(command.seconds, self._fire, command.timer_id)
        elif isinstance(command, CancelTimer):
            handle = self._timers.pop(command.timer_id, None)
            if handle is not None:
                handle.cancel()
        elif isinstance(command, Lookup):
            if not self._lookups.closed:  # else the call is ending or handed over: nobody waits for the answer
                self._lookups.spawn(f"lookup-{self._channel_id}", self._lookup(command))
        elif isinstance(command, Transfer) and self.acd_link.lent_for_secure_entry:  # a secure-entry flow's queue node: back to the agent
            try:
                await self._ari.stop_silence(self._channel_id)
            except AsteriskError:
                pass  # it had stopped
            if not self.acd_link.give_back():
                log.info("call %s: secure entry done, but the agent has left: the ACD is ending the call", self._channel_id)
                return
            await self._release_tap()
        elif isinstance(command, Transfer) and self.acd_link.serves(command.queue):
            self.acd_link.enqueue(command.queue, command.skills, command.priority, self._snapshot(), self._record)
            await self._release_tap()
        elif isinstance(command, Transfer):
            self._closing_prompt = "queue-missing"
            language = self.language
            await self._play(self._closing_prompt, QUEUE_NOT_CONFIGURED.get(language, QUEUE_NOT_CONFIGURED["en"]), None, language)
        elif isinstance(command, HangUp):
            await self._hang_up(command.reason)
        elif isinstance(command, Listen):
            self.codes.flow_asks()  # the flow asks something: a code is no longer taken
            self._listen(command)
        elif isinstance(command, StopListening):
            self._listen_generation += 1
            if self._listening is not None:
                self._listening.stop()

    # -- a call that goes on from a chat (engine/call/code_taking.py's host) --------------------

    def write(self, event: events.JourneyEventModel) -> None:
        self._keep(*events.to_stored(event))

    @property
    def live(self) -> bool:
        return not self._closed

    def spawn(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        if self._lookups.closed:
            work.close()  # the call is ending: nothing more is started for it
            return
        self._lookups.spawn(name, work)

    def start_timer(self, timer_id: str, seconds: float) -> None:
        self.cancel_timer(timer_id)
        self._timers[timer_id] = asyncio.get_running_loop().call_later(seconds, self._fire, timer_id)

    def cancel_timer(self, timer_id: str) -> None:
        handle = self._timers.pop(timer_id, None)
        if handle is not None:
            handle.cancel()

    def listen_for_code(self, phrases: Sequence[str]) -> None:
        language = self.interpreter.language
        self._listen(Listen(tuple(phrases), language, SPOKEN_CODE_END_OF_SPEECH_S, SPOKEN_CODE_MAX_SPEECH_S))

    async def release_flow(self) -> None:
        """No code (any more): the flow goes on with the facts that waited, in order."""
        held, self._held = self._held, []
        for fact in held:
            await self._execute(self.interpreter.decide(fact))

    async def take_over(self, handed: ChatHandedOver) -> None:
        """This call goes on from the chat: no menu, straight to the chat's queue, with what the chat
        learned in the flow's variables and the chat's journal first on the agent's pop."""
        self._held.clear()
        self.write(ContinuedFrom(leg=handed.chat_leg, channel="chat", how=handed.how))
        self._chat_language = self._language_of(handed.journal)
        self.journal[:0] = [(kind, dict(detail)) for kind, detail in handed.journal]
        own = {name: self.interpreter.variables.get(name) for name in CALL_VARIABLES}
        self.interpreter.variables.update({**handed.variables, **own})
        # what a restart requeues the caller with (the chat's values are masked already; the greeting collected nothing)
        self.write(events.CheckpointSaved(flow=self._runtime.bundle.inbound, node=self.interpreter.node_name, variables=dict(self.interpreter.variables)))
        await self._execute(self.interpreter.hand_over(handed.queue, handed.skills, handed.priority, f"goes on from chat ({handed.how})"))

    def _language_of(self, journal: Sequence[tuple[str, Mapping[str, Any]]]) -> str | None:
        """The language of the flow a chat ran (its first flow_started), if this engine has that flow."""
        started = next((event for kind, detail in journal if isinstance(event := events.from_stored(kind, detail), events.FlowStarted)), None)
        flow = self._runtime.bundle.flow_set.flows.get(started.flow) if started is not None else None
        return flow.language if flow is not None else None

    def _snapshot(self) -> CallSnapshot:
        """What the IVR learned, as live references (the pop reads them when the agent's phone rings)."""
        variables = self.interpreter.variables
        return CallSnapshot(str(variables.get("caller_number", "")), str(variables.get("caller_name", "")), variables, self.journal,
                            self._runtime.bundle.flow_set.procedures, self.language)

    def _keep(self, kind: str, detail: dict[str, Any]) -> None:
        self.journal.append((kind, detail))
        self._record(kind, detail)
        if self._survey_for is not None:  # the post-call survey's answers are stored for this queue and agent
            answer = survey_answer(events.from_stored(kind, detail), *self._survey_for)
            if answer is not None:
                self._record(*events.to_stored(answer))

    def _listen(self, command: Listen) -> None:
        self._listen_generation += 1
        speech = self._runtime.speech
        model = speech.model(command.language) if speech is not None else None
        if self._listening is None or speech is None or model is None:
            return  # no model for this language, or no tap: keys work in every menu
        endpoints = EndpointSettings(command.end_of_speech_s, command.max_speech_s, speech.settings.early_end_s)
        keep_audio = speech.settings.keep_audio_dir is not None and not self.keys_are_sensitive
        self._listening.listen(self._listen_generation, model, command.phrases, endpoints, keep_audio)

    async def _play(self, prompt_id: str, text: str | None, file: str | None, language: str) -> None:
        media = await self._runtime.media_for(text, language, self._channel_id) if text is not None else self._runtime.file_media(file or "")
        await self._ari.play(self._channel_id, media, self._playback_prefix + prompt_id)

    async def _stop(self, prompt_id: str) -> None:
        await self._ari.stop_playback(self._playback_prefix + prompt_id)

    def _fire(self, timer_id: str) -> None:
        if self._timers.pop(timer_id, None) is not None:
            self._inbox.put_nowait(TimerFired(timer_id))

    async def _lookup(self, command: Lookup) -> None:
        self._inbox.put_nowait(await answer_lookup(self._runtime, command))


def _decoded(row: JourneyEvent, model: type[Decoded]) -> Decoded:
    """A stored row as its typed event; the model's defaults if the row does not fit it."""
    event = events.from_stored(row.kind, row.detail)
    return event if isinstance(event, model) else model()
