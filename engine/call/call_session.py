"""One call from StasisStart to StasisEnd: the only task that commands the caller's channel.

It takes the call (call_start.py decides how), runs the flow or the greeting, carries out what the
ACD wants done to the caller (ForCaller), and answers every failed command the same way
(`_guarded`). It acts through CallControl (call_control.py) and journals every step.
The journey is written by the call's JourneyWriter in its own task: the session hands each step
over and moves on, so a slow database never delays what the caller hears.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from engine.asterisk.ari_events import (
    AriEvent,
    Channel,
    ChannelDestroyed,
    ChannelHangupRequested,
    DtmfReceived,
    PlaybackFinished,
    PlaybackStarted,
    StasisEnded,
)
from engine.asterisk.errors import AriRequestFailed, AriUnavailable, ChannelGone
from engine.call.arrival_order import ArrivalOrder
from engine.acd.journey_marks import acd_phase, continued_from
from engine.acd import queued_call_facts as acd
from engine.acd.wait_announcements import announcement_playback_id
from engine.call.call_control import CallControl
from engine.call.call_start import CallArrived, CallStart, PromptFinished, PromptTimedOut, refused_reason
from engine.call.caller_commands import Answer, CancelEngineWait, ChannelCommand, HangUp, PlayPrompt, StartFlow, StopHold, StopPrompt
from engine.call.code_taking import HandoffChecked
from engine.call.flow_driver import FlowDriver, ForCaller
from engine.speech.call_listening import HeardSpeech
from engine.flows.flow_facts import DigitPressed, LookupAnswered, QueueLeft, TimerFired
from engine.call.flow_services import FlowRuntime
from engine.journey import events
from engine.journey.journey_writer import JourneyWriter
from engine.log_format import log_call_event
from engine.settings import CallSettings
from engine.speech.prompt_audio import PromptRenderFailed
from engine.store.journey_store import CallerInfo, JourneyEvent

log = logging.getLogger(__name__)
MIN_PATIENCE_S = 20
"""A saturated Asterisk can take several request timeouts to answer one command: never give up on it sooner."""

Clock = Callable[[], datetime]
CHAT_JOURNEY_TIMEOUT_S = 2.0
ENGINE_WAIT = "TIMEOUT(absolute)"
"""The dialplan sets it before Stasis(); at 0 it is off. See asterisk_conf/templates/extensions.conf.j2."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def patience_s(calls: CallSettings) -> float:
    """How long a caller's commands are retried with a busy Asterisk (the caller on hold) before
    _guarded's failure policy sees them: engine_wait_s, at least MIN_PATIENCE_S. A caller is never
    cut off because Asterisk was slow for a moment. Give it to `AriClient.for_call`."""
    return max(calls.engine_wait_s, MIN_PATIENCE_S)


@dataclass(frozen=True)
class CallLost:
    """Asterisk no longer has the channel, and we never heard it end (we were disconnected)."""

    reason: str


SessionInput = AriEvent | CallLost | TimerFired | LookupAnswered | QueueLeft | HeardSpeech | ForCaller | HandoffChecked
GOODBYE_WAIT_S = 30.0
"""A last sentence from the ACD (the callback is arranged, the queue's maximum wait) is heard to
its end before the caller is hung up, but never longer than this."""
CHECK_AFTER_S = 5.0
"""After a command found the channel gone, or Asterisk did not answer, how long to wait for events
before asking Asterisk directly whether the channel still exists."""


class CallSession:
    """One call, from StasisStart to StasisEnd. Runs as one task; its journey is written in order by `journey`."""

    def __init__(
        self,
        channel: Channel,
        control: CallControl,
        journey: JourneyWriter,
        calls: CallSettings,
        clock: Clock,
        arrival_order: ArrivalOrder,
        flows: FlowRuntime | None = None,
    ) -> None:
        self.channel = channel
        self.inbox: asyncio.Queue[SessionInput] = asyncio.Queue()
        self.journey = journey
        self._ari = control
        """The caller's channel; in the engine `AriClient.for_call(channel.id, patience_s(calls))`."""
        self._ari.may_hold = lambda: self._driver is None or self._driver.acd_phase is None
        self._ari.may_retry = lambda: not self._leaving
        self._clock = clock
        self._start = CallStart(None if flows is not None else calls.greeting)
        self._flows = flows
        self._driver: FlowDriver | None = None
        self._max_prompt_s = calls.max_prompt_s
        self._engine_wait_s = calls.engine_wait_s
        self._arrival_order = arrival_order
        self._arrived_at = self._arrival_time(clock())
        self._arrival_key = (self._arrived_at, channel.id)
        arrival_order.register(self._arrival_key)
        self._prompt_deadline: float | None = None
        self._goodbye: str | None = None
        """Set while the ACD's last sentence plays: the reason the caller is hung up once it ends."""
        self._goodbye_deadline: float | None = None
        self._check_deadline: float | None = None
        self._engine_hangup_reason: str | None = None
        self._hangup_request: ChannelHangupRequested | None = None
        self._ended = False
        self._leaving = False
        self._resumed = False

    @property
    def ended(self) -> bool:
        return self._ended

    async def run(self, resumed: bool) -> None:
        self._resumed = resumed
        try:
            self._open(resumed)
            if self.channel.state == "Up":
                self._arrival_order.done(self._arrival_key)  # answered long ago: no turn to wait for
            if not await self._ended_before_we_started():
                arrival = CallArrived(self.channel.id, already_answered=self.channel.state == "Up", resumed=resumed)
                await self._execute(self._start.take(arrival))
            while not self._ended:
                await self._handle(await self._next_input())
        except asyncio.CancelledError:
            raise  # engine shutdown: the row stays open and the next engine adopts the call
        except Exception:
            log.exception("call %s: unexpected failure; hanging up and closing its record", self.channel.id)
            await self._abandon()
        finally:
            self._arrival_order.done(self._arrival_key)
            self._settle_acd_requests()
            if self._driver is not None:
                # A call still live here is being left to the next engine (shutdown): its agent leg and
                # bridge must stay; a call that ended has already left the ACD.
                await self._driver.aclose(handing_over=not self._ended)

    async def _ended_before_we_started(self) -> bool:
        """Events Asterisk kept while no engine ran may already say the call is over (the caller hung
        up, or the engine-wait bound sent it to the apology): then there is nothing to do but record it.
        Acting first would hang up a caller who is hearing the apology."""
        queued = [self.inbox.get_nowait() for _ in range(self.inbox.qsize())]
        if not any(isinstance(item, (StasisEnded, ChannelDestroyed)) for item in queued):
            for item in queued:
                self.inbox.put_nowait(item)
            return False
        for item in queued:
            await self._handle(item)
        return True

    async def hand_over(self) -> None:
        """The engine is stopping: leave the caller to the next engine, on hold, bounded by engine_wait_s.

        Raises on ARI errors; the caller (StasisApp) bounds the time and logs what failed.
        """
        if self._ended:
            return
        self._leaving = True  # from now on this engine does nothing more with the call
        if self._start.playback_id:  # first: Asterisk queues channel commands behind a running playback
            await self._ari.stop_playback(self._start.playback_id)
        phase = self._driver.acd_phase if self._driver is not None else None
        if self._driver is not None:
            self._driver.close()
            await self._driver.stop_prompts()  # first, then the tap: the caller must not sit through a prompt
            await self._driver.aclose(handing_over=True)
        if phase == "talking":
            # Caller and agent talk in their own bridge, which Asterisk keeps without an engine: no
            # hold music over the conversation and no bound that would cut it off.
            self._write(events.HandedOver(reason="engine stopping", talking_to_agent=True))
            return
        await self._ari.set_variable(self.channel.id, ENGINE_WAIT, str(self._engine_wait_s))
        if phase != "waiting":  # a waiting caller already hears the queue's music in its holding bridge
            await self._ari.start_hold_music(self.channel.id)
        self._write(events.HandedOver(wait_s=self._engine_wait_s, reason="engine stopping"))

    async def _abandon(self) -> None:
        """Never leave a caller in silence in Stasis: hang up, then record it."""
        try:
            await self._ari.hangup(self.channel.id)
        except Exception as exc:  # already gone, or Asterisk away: nothing more to do for the caller
            log.warning("call %s: hangup after failure did not go through: %s", self.channel.id, exc)
        await self._leave_acd_before_closing()
        self._close("engine", None, "engine error", kind=events.CallFailed.KIND)

    async def _leave_acd_before_closing(self) -> None:
        """What the ACD records about the end of the call goes into the journey before it closes."""
        if self._driver is None:
            return
        self._driver.close()
        self._settle_acd_requests()
        try:
            await self._driver.leave_acd()
        except Exception as exc:  # the call is closing anyway: the ACD's record of it is best effort
            log.warning("call %s: the ACD did not record the end: %s", self.channel.id, exc)

    def _arrival_time(self, now: datetime) -> datetime:
        """When the caller called: Asterisk's creation time, even if no engine was up then."""
        created = self.channel.created_at
        return created if created is not None and created <= now else now

    def _open(self, resumed: bool) -> None:
        ch = self.channel
        now = self._clock()
        arrived_at = self._arrived_at
        caller = CallerInfo(ch.id, ch.caller_number, ch.caller_name, ch.dialed)
        waited_ms = int((now - arrived_at).total_seconds() * 1000)
        arrived = events.Arrived(channel=ch.name, caller_number=ch.caller_number, dialed=ch.dialed)
        if waited_ms > 0:
            arrived = arrived.model_copy(update={"waited_for_engine_ms": waited_ms})
        self.journey.open(caller, arrived_at, events.to_stored(arrived)[1], resumed)
        self._log(
            "adopted" if resumed else "arrived",
            caller=ch.caller_number or "unknown", dialed=ch.dialed or "-", channel=ch.name, waited_ms=waited_ms,
        )

    async def _next_input(self) -> SessionInput:
        """The next event for this call, or what the passing of a deadline means."""
        loop = asyncio.get_running_loop()
        while True:
            pending = [d for d in (self._prompt_deadline, self._check_deadline, self._goodbye_deadline) if d is not None]
            try:
                async with asyncio.timeout_at(min(pending) if pending else None):
                    return await self.inbox.get()
            except TimeoutError:
                if self._goodbye_deadline is not None and loop.time() >= self._goodbye_deadline:
                    await self._say_goodbye()
                elif self._check_deadline is not None and loop.time() >= self._check_deadline:
                    self._check_deadline = None
                    lost = await self._check_channel()
                    if lost is not None:
                        return lost
                elif self._prompt_deadline is not None and loop.time() >= self._prompt_deadline:
                    self._prompt_deadline = None
                    await self._execute(self._start.prompt_ended(PromptTimedOut(self._start.playback_id)))

    async def _check_channel(self) -> SessionInput | None:
        """No word from Asterisk after a failed command: ask whether the channel still exists."""
        try:
            channel = await self._ari.get_channel(self.channel.id)
        except ChannelGone:
            return CallLost("channel gone but Asterisk sent no StasisEnd")
        except AriUnavailable:
            self._arm_check()  # still unreachable: look again later
            return None
        if channel.dialplan_app != "Stasis":
            return StasisEnded(self.channel.id)  # back in the dialplan (the apology): not ours to hang up
        commands = self._start.hang_up(refused_reason("request", "Asterisk did not confirm it in time"))
        await self._execute(commands or [HangUp("hanging up again: the first hangup was not confirmed")])
        return None

    def _arm_check(self) -> None:
        self._check_deadline = asyncio.get_running_loop().time() + CHECK_AFTER_S

    async def _handle(self, item: SessionInput) -> None:
        if self._leaving:
            if isinstance(item, ForCaller):
                item.settle()
            return  # handed over: the next engine takes it from Asterisk's state, not from ours
        if isinstance(item, PlaybackStarted):
            self._write(events.PromptStarted(media=item.media_uri, playback_id=item.playback_id))
        elif isinstance(item, PlaybackFinished):
            if item.playback_id == self._start.playback_id:
                self._prompt_deadline = None
            self._write(events.PromptFinished(media=item.media_uri, state=item.state))
            if self._driver is not None and item.playback_id == announcement_playback_id(self.channel.id):
                if self._driver.announcement_finished(item.media_uri) and self._goodbye is not None:
                    await self._say_goodbye()
            elif self._driver is not None and self._driver.owns_playback(item.playback_id):
                await self._flow_step(self._driver.on_playback_finished(item.playback_id))
            else:
                await self._execute(self._start.prompt_ended(PromptFinished(item.playback_id, item.state)))
        elif isinstance(item, DtmfReceived):
            sensitive = self._driver is not None and self._driver.keys_are_sensitive
            self._write(events.DtmfReceived(digit="masked" if sensitive else item.digit, duration_ms=item.duration_ms))
            if self._driver is not None:
                await self._flow_step(self._driver.on_fact(DigitPressed(item.digit)))
        elif isinstance(item, HeardSpeech):
            if self._driver is not None:
                await self._flow_step(self._driver.on_speech(item))
        elif isinstance(item, (TimerFired, LookupAnswered, QueueLeft)):
            if self._driver is not None:
                await self._flow_step(self._driver.on_fact(item))
        elif isinstance(item, HandoffChecked):
            if self._driver is not None and not self._ended:
                await self._flow_step(self._driver.handoff_checked(item))
        elif isinstance(item, ChannelHangupRequested):
            self._hangup_request = self._hangup_request or item
        elif isinstance(item, (StasisEnded, ChannelDestroyed)):
            if self._driver is not None:
                self._driver.close()  # from now on the ACD's requests are settled at once, not queued
            self._settle_acd_requests()
            if self._driver is not None:
                await self._flow_step(self._driver.leave_acd())  # recorded before the journey closes
            self._finish(item)
        elif isinstance(item, CallLost):
            await self._lose(item)
        elif isinstance(item, ForCaller):
            try:
                for command in item.commands:
                    what = "flow" if isinstance(command, (acd.ContinueFlow, acd.StartSurvey)) else type(command).__name__  # as a flow step's failure
                    if self._ended or not await self._guarded(what, self._for_caller(command)):
                        return
            finally:
                item.settle()

    def _settle_acd_requests(self) -> None:
        """The call is over: what the ACD still asked of it will not be done; nobody waits for it."""
        pending = [self.inbox.get_nowait() for _ in range(self.inbox.qsize())]
        for item in pending:
            if isinstance(item, ForCaller):
                item.settle()
            else:
                self.inbox.put_nowait(item)

    async def _for_caller(self, command: acd.CallerCommand) -> None:
        """What the ACD wants done to this caller: this session is the only one that commands the
        caller's channel, so it happens here, in the call's order, under _guarded's policy."""
        driver = self._driver
        if isinstance(command, acd.HangUpCaller) or driver is None:
            await self._execute([HangUp(command.reason if isinstance(command, acd.HangUpCaller) else "the ACD let the caller go")])
        elif isinstance(command, acd.Say):
            played = await driver.announce(command.text)
            if command.hang_up_after is not None:
                self._goodbye = command.hang_up_after
                self._goodbye_deadline = asyncio.get_running_loop().time() + GOODBYE_WAIT_S
                if not played:
                    await self._say_goodbye()
        elif isinstance(command, acd.Hush):
            await driver.hush()
        elif isinstance(command, acd.ListenFor):
            driver.listen_for(command.phrases)
        elif isinstance(command, acd.StopListening):
            await driver.stop_listening()
        elif isinstance(command, acd.ContinueFlow):
            await driver.continue_flow(command.target, command.reason)
        elif isinstance(command, acd.StartSurvey):
            await driver.start_survey(command.target, command.queue, command.agent)

    async def _say_goodbye(self) -> None:
        """The ACD's last sentence ended (or ran too long): hang up with the reason it gave."""
        reason, self._goodbye, self._goodbye_deadline = self._goodbye, None, None
        if reason is not None and not self._ended and not self._leaving:
            await self._execute([HangUp(reason)])

    async def _lose(self, item: CallLost) -> None:
        """Asterisk says the channel is gone; hang up anyway in case it only looked gone, then close."""
        try:
            await self._ari.hangup(self.channel.id)
        except (AriRequestFailed, AriUnavailable):
            pass  # gone indeed, or Asterisk away: either way no caller is waiting on us
        await self._leave_acd_before_closing()
        self._close("lost", None, item.reason, kind=events.CallLost.KIND)

    def _finish(self, item: StasisEnded | ChannelDestroyed) -> None:
        request = self._hangup_request
        cause = item.cause if isinstance(item, ChannelDestroyed) else (request.cause if request else None)
        cause_txt = item.cause_txt if isinstance(item, ChannelDestroyed) else None
        by = self._who_hung_up(request)
        if by == "engine":
            self._close("engine", cause or 16, self._engine_hangup_reason)
        elif request is None and self._engine_hangup_reason is None and isinstance(item, StasisEnded):
            # No hangup at all: the channel went back to the dialplan, which is what the engine-wait
            # bound (TIMEOUT(absolute) -> T) does; Asterisk apologises and hangs up from there.
            self._close("system", None, "no engine took the call in time: back to the dialplan's apology")
        else:
            self._close(by, cause, cause_txt)

    def _who_hung_up(self, request: ChannelHangupRequested | None) -> str:
        """The first hangup request tells: a hard one is the caller's BYE, a soft one ours or Asterisk's."""
        if request is not None and not request.soft:
            return "caller"
        if self._engine_hangup_reason is not None:
            return "engine"
        return "system" if request is not None else "caller"

    async def _execute(self, commands: list[ChannelCommand]) -> None:
        for command in commands:
            # A 409 while taking the call means it already left Stasis: its StasisEnd is on its way.
            if not await self._guarded(type(command).__name__, self._carry_out(command), isinstance(command, CancelEngineWait)):
                return

    async def _guarded(self, what: str, work: Awaitable[None], left_stasis_is_normal: bool = False) -> bool:
        """Carry out one step of the call; True if it went through. Every failure has one answer:
        a gone or silent Asterisk is checked on later, a refused request or prompt hangs up (once:
        call_start decides that a second refusal adds no second hang-up)."""
        try:
            await work
            return True
        except ChannelGone:
            self._arm_check()  # the caller hung up first; StasisEnd is on its way
        except AriUnavailable as exc:
            log.warning("call %s: Asterisk did not answer %s (%s)", self.channel.id, what, exc)
            self._arm_check()
        except AriRequestFailed as exc:
            if left_stasis_is_normal and exc.status == 409:
                self._arm_check()
            else:
                await self._execute(self._start.hang_up(refused_reason(what, exc.message)))
        except PromptRenderFailed as exc:
            await self._execute(self._start.hang_up(refused_reason(what, str(exc))))
        return False

    async def _carry_out(self, command: ChannelCommand) -> None:
        if isinstance(command, CancelEngineWait):
            await self._ari.set_variable(self.channel.id, ENGINE_WAIT, "0")
        elif isinstance(command, StopHold):
            await self._stop_hold()
        elif isinstance(command, Answer):
            async with self._arrival_order.turn(self._arrival_key):
                await self._ari.answer(self.channel.id)
                self._write(events.Answered())
        elif isinstance(command, PlayPrompt):
            await self._ari.play(self.channel.id, command.media, command.playback_id)
            self._prompt_deadline = asyncio.get_running_loop().time() + self._max_prompt_s
        elif isinstance(command, StopPrompt):
            await self._ari.stop_playback(command.playback_id)
        elif isinstance(command, HangUp):
            await self._ari.hangup(self.channel.id)
            self._engine_hangup_reason = command.reason
        elif isinstance(command, StartFlow):
            assert self._flows is not None
            ch = self.channel
            variables = {"caller_number": ch.caller_number, "caller_name": ch.caller_name, "dialed": ch.dialed, "channel": ch.name}
            self._driver = FlowDriver(self._flows, ch.id, variables, self._ari, self.inbox, self._record_detail, self._flow_hang_up)
            earlier = await self.journey.earlier_events() if self._resumed else []
            phase = acd_phase([event.kind for event in earlier])
            chat = await self._chat_journey(earlier) if phase in ("talking", "waiting") else []
            if phase == "talking":
                self._write(events.LeftWithAgent(reason="the caller was talking to an agent when the last engine stopped; the call stays in its bridge"))
                await self._flow_step(self._driver.adopt_conversation(earlier, self._clock(), chat))
                return
            if phase == "waiting":
                await self._flow_step(self._driver.requeue(earlier, self._clock(), chat))
                return
            checkpoint = next((dict(e.detail) for e in reversed(earlier) if e.kind == events.CheckpointSaved.KIND), None)
            await self._flow_step(self._driver.start(checkpoint))

    async def _chat_journey(self, earlier: list[JourneyEvent]) -> list[JourneyEvent]:
        """An adopted call that went on from a chat: the chat leg's journey, for the pop (empty if the database is slow)."""
        chat_leg = continued_from(earlier)
        if chat_leg is None:
            return []
        try:
            async with asyncio.timeout(CHAT_JOURNEY_TIMEOUT_S):
                record = await self.journey.store.get_call(chat_leg)
        except Exception as exc:  # the caller is waiting: requeued without the chat on the pop
            log.warning("call %s: the chat %s it went on from not read back (%s)", self.channel.id, chat_leg, exc or type(exc).__name__)
            return []
        return list(record.events) if record is not None else []

    async def _flow_step(self, step: Awaitable[None]) -> None:
        await self._guarded("flow", step)

    async def _flow_hang_up(self, reason: str) -> None:
        await self._execute([HangUp(reason)])

    def _record_detail(self, kind: str, detail: dict[str, Any]) -> None:
        """The flow's and the ACD's journal entries, already in their stored form."""
        self._log(kind, **detail)
        self.journey.add(kind, self._clock(), detail)

    async def _stop_hold(self) -> None:
        """409: the channel is not in Stasis, so no hold music of ours plays on it; a gone channel still raises."""
        try:
            await self._ari.stop_hold_music(self.channel.id)
        except ChannelGone:
            raise
        except AriRequestFailed as exc:
            if exc.status != 409:
                raise

    def _write(self, event: events.JourneyEventModel) -> None:
        """One step of the session's own: its log line first, then the journey."""
        kind, detail = events.to_stored(event)
        self._log(kind, **detail)
        self.journey.write(event, self._clock())

    def _close(self, by: str, cause: int | None, cause_txt: str | None, kind: str = events.HungUp.KIND) -> None:
        """Log and journal the end, once; the log line is written first, so it stays even if the write fails."""
        if self._ended:
            return
        self._ended = True
        self._log(kind, by=by, cause=cause if cause is not None else "-", reason=cause_txt or "-")
        self.journey.close(self._clock(), by, cause, cause_txt, kind)

    def _log(self, event: str, **fields: Any) -> None:
        log_call_event(self.channel.id, event, **fields)
