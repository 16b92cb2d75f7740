"""One call from StasisStart to StasisEnd: runs the call script and writes every step to the journey.

Carries out the pure core's commands over ARI and turns what Asterisk reports into facts for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from engine.asterisk.ari_client import AriClient
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
from engine.journey.call_script import (
    Answer,
    CallArrived,
    CallFact,
    Command,
    CommandFailed,
    GreetingScript,
    HangUp,
    PlayPrompt,
    PromptFinished,
    PromptTimedOut,
    StopPrompt,
)
from engine.log_format import log_call_event
from engine.settings import CallSettings
from engine.store.journey_store import CallerInfo, JourneyStore

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CallLost:
    """Asterisk no longer has the channel, and we never heard it end (we were disconnected)."""

    reason: str


SessionInput = AriEvent | CallLost
CHECK_AFTER_S = 5.0
"""After a command found the channel gone, or Asterisk did not answer, how long to wait for events
before asking Asterisk directly whether the channel still exists."""
STORE_RETRY_DELAYS_S = (0.5, 1.0, 2.0)
STORE_TIMEOUT_S = 5.0
T = TypeVar("T")


class CallSession:
    """One call, from StasisStart to StasisEnd. Runs as one task; writes its own journey in order."""

    def __init__(self, channel: Channel, ari: AriClient, store: JourneyStore, calls: CallSettings, clock: Clock) -> None:
        self.channel = channel
        self.inbox: asyncio.Queue[SessionInput] = asyncio.Queue()
        self._ari = ari
        self._store = store
        self._clock = clock
        self._script = GreetingScript(calls.greeting)
        self._max_prompt_s = calls.max_prompt_s
        self._call_id = 0
        self._prompt_deadline: float | None = None
        self._check_deadline: float | None = None
        self._engine_hangup_reason: str | None = None
        self._hangup_request: ChannelHangupRequested | None = None
        self._ended = False

    async def run(self, resumed: bool) -> None:
        try:
            await self._open(resumed)
            arrival = CallArrived(self.channel.id, already_answered=self.channel.state == "Up", resumed=resumed)
            await self._execute(self._script.decide(arrival))
            while not self._ended:
                await self._handle(await self._next_input())
        except asyncio.CancelledError:
            raise  # engine shutdown: the row stays open and the next start reconciles it
        except Exception:
            log.exception("call %s: unexpected failure; hanging up and closing its record", self.channel.id)
            await self._abandon()

    async def _abandon(self) -> None:
        """Never leave a caller in silence in Stasis: hang up, then record it if the store still answers."""
        try:
            await self._ari.hangup(self.channel.id)
        except Exception as exc:  # already gone, or Asterisk away: nothing more to do for the caller
            log.warning("call %s: hangup after failure did not go through: %s", self.channel.id, exc)
        await self._close("engine", None, "engine error", kind="failed")  # _persist never raises

    async def _open(self, resumed: bool) -> None:
        ch = self.channel
        caller = CallerInfo(ch.id, ch.caller_number, ch.caller_name, ch.dialed)
        detail = {"channel": ch.name, "caller_number": ch.caller_number, "dialed": ch.dialed}
        opened = await self._persist("arrival", lambda: self._store.open_call(caller, self._clock(), detail))
        if opened is None:
            raise RuntimeError("the call could not be recorded: the database is not answering")
        self._call_id, created = opened
        if created:
            self._log("arrived", caller=ch.caller_number or "unknown", dialed=ch.dialed or "-", channel=ch.name)
        if resumed or not created:
            await self._record("resumed", reason="engine reconnected to a call already in progress")

    async def _next_input(self) -> SessionInput:
        """The next event for this call, or what the passing of a deadline means."""
        loop = asyncio.get_running_loop()
        while True:
            pending = [d for d in (self._prompt_deadline, self._check_deadline) if d is not None]
            try:
                async with asyncio.timeout_at(min(pending) if pending else None):
                    return await self.inbox.get()
            except TimeoutError:
                if self._check_deadline is not None and loop.time() >= self._check_deadline:
                    self._check_deadline = None
                    lost = await self._check_channel()
                    if lost is not None:
                        return lost
                elif self._prompt_deadline is not None and loop.time() >= self._prompt_deadline:
                    self._prompt_deadline = None
                    await self._decide(PromptTimedOut(self._script.playback_id))

    async def _check_channel(self) -> CallLost | None:
        """No word from Asterisk after a failed command: ask whether the channel still exists."""
        try:
            await self._ari.get_channel(self.channel.id)
        except ChannelGone:
            return CallLost("channel gone but Asterisk sent no StasisEnd")
        except AriUnavailable:
            self._arm_check()  # still unreachable: look again later
            return None
        commands = self._script.decide(CommandFailed("request", "Asterisk did not confirm it in time"))
        await self._execute(commands or [HangUp("hanging up again: the first hangup was not confirmed")])
        return None

    def _arm_check(self) -> None:
        self._check_deadline = asyncio.get_running_loop().time() + CHECK_AFTER_S

    async def _handle(self, item: SessionInput) -> None:
        if isinstance(item, PlaybackStarted):
            await self._record("prompt_started", media=item.media_uri, playback_id=item.playback_id)
        elif isinstance(item, PlaybackFinished):
            if item.playback_id == self._script.playback_id:
                self._prompt_deadline = None
            await self._record("prompt_finished", media=item.media_uri, state=item.state)
            await self._decide(PromptFinished(item.playback_id, item.state))
        elif isinstance(item, DtmfReceived):
            await self._record("dtmf", digit=item.digit, duration_ms=item.duration_ms)
        elif isinstance(item, ChannelHangupRequested):
            self._hangup_request = self._hangup_request or item
        elif isinstance(item, (StasisEnded, ChannelDestroyed)):
            await self._finish(item)
        elif isinstance(item, CallLost):
            await self._close("lost", None, item.reason, kind="lost")

    async def _finish(self, item: StasisEnded | ChannelDestroyed) -> None:
        request = self._hangup_request
        cause = item.cause if isinstance(item, ChannelDestroyed) else (request.cause if request else None)
        cause_txt = item.cause_txt if isinstance(item, ChannelDestroyed) else None
        by = self._who_hung_up(request)
        if by == "engine":
            await self._close("engine", cause or 16, self._engine_hangup_reason)
        else:
            await self._close(by, cause, cause_txt)

    def _who_hung_up(self, request: ChannelHangupRequested | None) -> str:
        """The first hangup request tells: a hard one is the caller's BYE, a soft one ours or Asterisk's."""
        if request is not None and not request.soft:
            return "caller"
        if self._engine_hangup_reason is not None:
            return "engine"
        return "system" if request is not None else "caller"

    async def _decide(self, fact: CallFact) -> None:
        await self._execute(self._script.decide(fact))

    async def _execute(self, commands: list[Command]) -> None:
        for command in commands:
            try:
                await self._carry_out(command)
            except ChannelGone:
                self._arm_check()
                return  # the caller hung up first; StasisEnd is on its way
            except AriUnavailable as exc:
                log.warning("call %s: Asterisk did not answer %s (%s)", self.channel.id, type(command).__name__, exc)
                self._arm_check()
                return
            except AriRequestFailed as exc:
                await self._decide(CommandFailed(type(command).__name__, exc.message))
                return

    async def _carry_out(self, command: Command) -> None:
        if isinstance(command, Answer):
            await self._ari.answer(self.channel.id)
            await self._record("answered")
        elif isinstance(command, PlayPrompt):
            await self._ari.play(self.channel.id, command.media, command.playback_id)
            self._prompt_deadline = asyncio.get_running_loop().time() + self._max_prompt_s
        elif isinstance(command, StopPrompt):
            try:
                await self._ari.stop_playback(command.playback_id)
            except AriRequestFailed as exc:
                if exc.status != 404:  # 404: nothing was playing, which is fine
                    raise
        elif isinstance(command, HangUp):
            await self._ari.hangup(self.channel.id)
            self._engine_hangup_reason = command.reason

    async def _record(self, kind: str, **detail: Any) -> None:
        at = self._clock()
        self._log(kind, **detail)
        await self._persist(kind, lambda: self._store.add_event(self._call_id, kind, at, detail))

    async def _close(self, by: str, cause: int | None, cause_txt: str | None, kind: str = "hung_up") -> None:
        self._ended = True
        if not self._call_id:
            return
        at = self._clock()
        closed = await self._persist(kind, lambda: self._store.close_call(self._call_id, at, by, cause, cause_txt, kind))
        if closed:
            self._log(kind, by=by, cause=cause if cause is not None else "-", reason=cause_txt or "-")

    async def _persist(self, what: str, write: Callable[[], Awaitable[T]]) -> T | None:
        """Write to the journey, retrying a database hiccup; a caller is never hung up for it.

        Returns None if every attempt failed; the call event's log line then stays the only record.
        """
        for delay in (*STORE_RETRY_DELAYS_S, None):
            try:
                async with asyncio.timeout(STORE_TIMEOUT_S):
                    return await write()
            except Exception as exc:
                if delay is None:
                    log.error("call %s: could not store %s: %s", self.channel.id, what, exc)
                    return None
                log.warning("call %s: storing %s failed (%s); retrying in %.1f s", self.channel.id, what, exc, delay)
                await asyncio.sleep(delay)
        return None

    def _log(self, event: str, **fields: Any) -> None:
        log_call_event(self.channel.id, event, **fields)


