"""The Stasis app adapter: every event of our ARI app in, one CallSession task per call.

It owns the call tasks and their journey writers, and the reconciliation after a (re)connect:
calls that ended while the engine could not hear Asterisk are closed as `lost`, live calls it does
not know are adopted, so every call that reached the engine ends with exactly one row. Each call
runs in its own task and nothing one call raises reaches another.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from datetime import UTC, datetime
from collections.abc import Coroutine
from typing import Any

from engine.asterisk.ari_client import AriClient
from engine.acd.call_distributor import CallDistributor
from engine.acd.call_monitor import CallMonitor, is_monitor_resource
from engine.acd.queue_bridges import is_acd_resource
from engine.asterisk.caller_audio import TapRegistry, is_tap_resource
from engine.asterisk.ari_events import (
    AriEvent,
    Channel,
    StasisStarted,
    event_channel_id,
)
from engine.asterisk.backoff import Backoff
from engine.asterisk.errors import AriRequestFailed
from engine.call.flow_services import FlowLibrary
from engine.call.arrival_order import ArrivalOrder
from engine.call.call_session import CallLost, CallSession, Clock, patience_s, utc_now
from engine.journey.journey_writer import JourneyWriter, WritePolicy
from engine.log_format import log_call_event
from engine.settings import CallSettings
from engine.store.journey_store import JourneyStore

log = logging.getLogger(__name__)
UNKNOWN_TIME = datetime.max.replace(tzinfo=UTC)
REMEMBER_ENDED = 10_000
"""Channels whose session ended, kept so one still listed by Asterisk for a moment is not adopted again."""
STORE_CHECK_TIMEOUT_S = 3.0


class StasisApp:
    """Receives every event of our ARI app and keeps one CallSession per live channel."""

    def __init__(
        self,
        ari: AriClient,
        store: JourneyStore,
        calls: CallSettings,
        app_name: str,
        clock: Clock = utc_now,
        write_policy: WritePolicy = WritePolicy(),
        flows: FlowLibrary | None = None,
        taps: TapRegistry | None = None,
        distributor: CallDistributor | None = None,
        monitor: CallMonitor | None = None,
    ) -> None:
        self._ari = ari
        self._store = store
        self._calls_settings = calls
        self._app_name = app_name
        self._clock = clock
        self._write_policy = write_policy
        self._flows = flows
        self._taps = taps
        self._distributor = distributor
        self._monitor = monitor
        """Supervisors' monitoring: its own channels' events, and it sees monitored agents' legs end."""
        self._sessions: dict[str, CallSession] = {}
        self._journeys: dict[str, JourneyWriter] = {}
        """Writers outlive their session: the end of a call may still be on its way to the database."""
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._call_tasks: set[asyncio.Task[None]] = set()
        self._writer_tasks: set[asyncio.Task[None]] = set()
        self._arrival_order = ArrivalOrder()
        self._reconcile_wanted = asyncio.Event()
        self.calls_handled = 0

    @property
    def active_calls(self) -> int:
        return len(self._sessions)

    @property
    def pending_journey_writes(self) -> int:
        return sum(journey.pending for journey in self._journeys.values())

    async def run(self, drain_s: float = 5.0) -> None:
        """Reconcile when asked, until cancelled; then stop the call tasks (their callers stay for the
        next engine) and give queued journey writes `drain_s` to reach the database."""
        try:
            await self._reconcile_forever()
        finally:
            for task in self._call_tasks:
                task.cancel()
            if self._call_tasks:
                await asyncio.wait(self._call_tasks)
            await self.drain_journeys(drain_s)

    def request_reconcile(self) -> None:
        """Called on every ARI (re)connect; the work runs in its own task, so events keep flowing."""
        self._reconcile_wanted.set()

    async def on_event(self, event: AriEvent) -> None:
        """Called by the events websocket, in order. Never blocks: events are queued per call."""
        log.debug("ARI event %s", event)
        if self._monitor is not None and self._monitor.on_event(event):
            return  # a supervisor's monitoring leg or snoop
        if self._distributor is not None and self._distributor.on_event(event):
            return  # an agent's leg or softphone: the ACD's, not a call of its own
        if isinstance(event, StasisStarted):
            if is_tap_resource(event.channel.id):
                if self._taps is not None:
                    self._taps.stasis_started(event.channel.id)
                return  # a call's audio tap, not a call
            self._start_session(event.channel, resumed=False)
            return
        channel_id = event_channel_id(event)
        session = self._sessions.get(channel_id) if channel_id else None
        if session is not None:
            session.inbox.put_nowait(event)

    async def hand_over(self, timeout_s: float) -> None:
        """The engine is stopping (SIGTERM): put every live caller on hold for the next engine, bounded in time."""
        sessions = [session for session in self._sessions.values() if not session.ended]
        if not sessions:
            return
        try:
            async with asyncio.timeout(timeout_s):
                results = await asyncio.gather(*(session.hand_over() for session in sessions), return_exceptions=True)
        except TimeoutError:
            log.error("handing %d calls over took longer than %.0f s; some may hear silence until the next engine", len(sessions), timeout_s)
            return
        failed = [(s.channel.id, r) for s, r in zip(sessions, results) if isinstance(r, BaseException)]
        for channel_id, error in failed:
            log.warning("call %s: could not be put on hold for the next engine: %s", channel_id, error)
        log.info("left %d calls on hold for the next engine", len(sessions) - len(failed))

    async def drain_journeys(self, timeout_s: float) -> None:
        """Let queued journey writes reach the database before the engine exits (bounded)."""
        for journey in self._journeys.values():
            journey.finish()
        if not self._writer_tasks:
            return
        done, pending = await asyncio.wait(self._writer_tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            log.error("%d calls still had journey writes queued at exit; their call-event log lines are the record", len(pending))

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

    async def reconcile(self) -> None:
        """After (re)connecting: end calls whose channel vanished, adopt live channels we do not know.

        Only sessions that existed before the channel list was taken can be judged by it: a call
        that arrived while the list was in flight is not in it, and must not be closed as lost.
        """
        before = dict(self._sessions)
        monitoring_before = self._monitor.snapshot() if self._monitor is not None else []
        live = {channel.id: channel for channel in await self._ari.list_channels()}
        for channel_id, session in before.items():
            if channel_id not in live and self._sessions.get(channel_id) is session:
                session.inbox.put_nowait(CallLost("channel ended while the engine was disconnected from Asterisk"))
        ours = sorted(
            (channel for channel in live.values() if channel.in_stasis_app(self._app_name) and not is_tap_resource(channel.id) and not is_acd_resource(channel.id) and not is_monitor_resource(channel.id)),
            key=lambda channel: (channel.created_at or UNKNOWN_TIME, channel.id),
        )
        closed = await self._closed_in_store([c.id for c in ours if c.id not in self._sessions])
        for channel in ours:
            await self._adopt(channel, closed)
        await self._close_vanished(live)
        if self._taps is not None:
            removed = await self._taps.sweep(set(live))
            if removed:
                log.info("removed %d audio-tap channels and bridges left by an earlier engine", removed)
        if self._monitor is not None and await self._monitor.sweep(set(live), monitoring_before):
            log.info("removed monitoring channels and bridges left by an earlier engine")

    async def _adopt(self, channel: Channel, closed_in_store: set[str]) -> None:
        try:  # a re-created app is not subscribed to channels that entered before it
            await self._ari.subscribe_channel(channel.id)
        except AriRequestFailed as exc:  # hung up since the list was taken
            log.info("channel %s left before it could be subscribed again: %s", channel.id, exc.message)
            return
        if channel.id in self._sessions or channel.id in self._ended:
            return
        if channel.id in closed_in_store:
            # Its record says it ended, yet Asterisk still has it in our app: nobody will serve it.
            log.warning("channel %s is still in Stasis but its call was closed; hanging it up", channel.id)
            try:
                await self._ari.hangup(channel.id)
            except AriRequestFailed:
                pass
            return
        self._start_session(channel, resumed=True)

    async def _closed_in_store(self, channel_ids: list[str]) -> set[str]:
        """Ask the store which channels already ended; if it does not answer quickly, adopt anyway."""
        try:
            async with asyncio.timeout(STORE_CHECK_TIMEOUT_S):
                return await self._store.ended_channels(channel_ids)
        except Exception as exc:  # a slow database must not keep callers waiting for their engine
            log.warning("could not check %d adopted calls against the store: %s", len(channel_ids), exc)
            return set()

    async def _close_vanished(self, live: dict[str, Channel]) -> None:
        """Rows left open by an engine that stopped, for channels Asterisk no longer has."""
        for channel_id, call_id in (await self._store.open_calls()).items():
            if channel_id in live or channel_id in self._sessions or channel_id in self._journeys or channel_id in self._ended:
                continue  # still served, or its own writer is about to close it
            reason = "channel ended while the engine was not running"
            if await self._store.close_call(call_id, self._clock(), "lost", None, reason, kind="lost"):
                log_call_event(channel_id, "lost", by="lost", reason=reason)

    def _start_session(self, channel: Channel, resumed: bool) -> None:
        if channel.id in self._sessions or channel.id in self._ended:
            return
        journey = JourneyWriter(self._store, channel.id, self._write_policy)
        flows = self._flows.current if self._flows is not None else None  # the call keeps this set to its end
        control = self._ari.for_call(channel.id, patience_s(self._calls_settings))
        session = CallSession(channel, control, journey, self._calls_settings, self._clock, self._arrival_order, flows)
        self._sessions[channel.id] = session
        self._journeys[channel.id] = journey
        self.calls_handled += 1
        self._own(self._call_tasks, self._run_session(session, resumed), f"call-{channel.id}")
        self._own(self._writer_tasks, self._run_writer(journey), f"journey-{channel.id}")

    def _own(self, tasks: set[asyncio.Task[None]], work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _run_session(self, session: CallSession, resumed: bool) -> None:
        """Isolation: whatever one call raises is logged and stays with that call."""
        try:
            await session.run(resumed)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call %s: session failed outside its own handling", session.channel.id)
        finally:
            self._sessions.pop(session.channel.id, None)
            if session.ended:
                self._remember_ended(session.channel.id)

    async def _run_writer(self, journey: JourneyWriter) -> None:
        try:
            await journey.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call %s: journey writer failed", journey.channel_id)
        finally:
            if self._journeys.get(journey.channel_id) is journey:
                del self._journeys[journey.channel_id]

    def _remember_ended(self, channel_id: str) -> None:
        self._ended[channel_id] = None
        while len(self._ended) > REMEMBER_ENDED:
            self._ended.popitem(last=False)
