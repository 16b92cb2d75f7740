"""The Stasis app adapter: every event of our ARI app in, one CallSession task per call.

It owns the call tasks (one TaskGroup for all calls) and the reconciliation after a reconnect:
calls that ended while the engine could not hear Asterisk are closed as `lost`, live calls it does
not know are adopted, so every call that reached the engine ends with exactly one row.
"""

from __future__ import annotations

import asyncio
import logging

from engine.asterisk.ari_client import AriClient
from engine.asterisk.ari_events import (
    AriEvent,
    Channel,
    StasisStarted,
    event_channel_id,
)
from engine.asterisk.backoff import Backoff
from engine.asterisk.errors import AriRequestFailed
from engine.journey.call_session import CallLost, CallSession, Clock, utc_now
from engine.log_format import log_call_event
from engine.settings import CallSettings
from engine.store.journey_store import JourneyStore

log = logging.getLogger(__name__)


class StasisApp:
    """Receives every event of our ARI app and keeps one CallSession per live channel."""

    def __init__(self, ari: AriClient, store: JourneyStore, calls: CallSettings, app_name: str, clock: Clock = utc_now) -> None:
        self._ari = ari
        self._store = store
        self._calls_settings = calls
        self._app_name = app_name
        self._clock = clock
        self._sessions: dict[str, CallSession] = {}
        self._tasks: asyncio.TaskGroup | None = None
        self._reconcile_wanted = asyncio.Event()
        self.calls_handled = 0

    @property
    def active_calls(self) -> int:
        return len(self._sessions)

    async def run(self) -> None:
        """Own the call tasks and the reconciler until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            await self._reconcile_forever()

    def request_reconcile(self) -> None:
        """Called on every ARI (re)connect; the work runs in its own task, so events keep flowing."""
        self._reconcile_wanted.set()

    async def _reconcile_forever(self) -> None:
        backoff = Backoff(first_s=0.5, max_s=10.0)
        while True:
            await self._reconcile_wanted.wait()
            self._reconcile_wanted.clear()
            try:
                await self.reconcile()
                backoff.reset()
            except Exception as exc:  # Asterisk or the database blipped again: try once more, later
                delay = backoff.next_delay()
                log.warning("reconcile failed (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                self._reconcile_wanted.set()

    async def on_event(self, event: AriEvent) -> None:
        """Called by the events websocket, in order. Never blocks: events are queued per call."""
        log.debug("ARI event %s", event)
        if isinstance(event, StasisStarted):
            self._start_session(event.channel, resumed=False)
            return
        channel_id = event_channel_id(event)
        session = self._sessions.get(channel_id) if channel_id else None
        if session is not None:
            session.inbox.put_nowait(event)

    async def reconcile(self) -> None:
        """After (re)connecting: end calls whose channel vanished, adopt live channels we do not know."""
        live = {channel.id: channel for channel in await self._ari.list_channels()}
        for channel_id, session in list(self._sessions.items()):
            if channel_id not in live:
                session.inbox.put_nowait(CallLost("channel ended while the engine was disconnected from Asterisk"))
        for channel in live.values():
            if not channel.in_stasis_app(self._app_name):
                continue
            try:  # a re-created app is not subscribed to channels that entered before it
                await self._ari.subscribe_channel(channel.id)
            except AriRequestFailed as exc:  # hung up since the list was taken
                log.info("channel %s left before it could be subscribed again: %s", channel.id, exc.message)
                continue
            if channel.id not in self._sessions:
                self._start_session(channel, resumed=True)
        for channel_id, call_id in (await self._store.open_calls()).items():
            if channel_id not in live and channel_id not in self._sessions:
                reason = "channel ended while the engine was not running"
                if await self._store.close_call(call_id, self._clock(), "lost", None, reason, kind="lost"):
                    log_call_event(channel_id, "lost", by="lost", reason=reason)

    def _start_session(self, channel: Channel, resumed: bool) -> None:
        if channel.id in self._sessions or self._tasks is None:
            return
        session = CallSession(channel, self._ari, self._store, self._calls_settings, self._clock)
        self._sessions[channel.id] = session
        self.calls_handled += 1
        self._tasks.create_task(self._run_session(session, resumed), name=f"call-{channel.id}")

    async def _run_session(self, session: CallSession, resumed: bool) -> None:
        try:
            await session.run(resumed)
        finally:
            self._sessions.pop(session.channel.id, None)
