"""Supervisors monitoring agents' live calls: the adapter around engine/acd/monitoring.py.

It rings the supervisor's own phone (the browser phone on the supervisor page while it is
registered, else the softphone) into our app, bridges it with a snoop on the agent's leg and
replaces the snoop when the mode changes. It commands only its own channels (`tl-mon-`): the
supervisor's leg, the snoops and their bridge, never the caller's. Each session's facts are handled
one at a time under its lock. Every step goes to the audit (`MonitoringAudit`): written in batches
off the call path, kept and retried while the database is away, flushed at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from engine import metrics
from engine.acd import monitoring as core
from engine.acd.call_distributor import CallDistributor
from engine.acd.queue_bridges import AGENT_LEG_PREFIX
from engine.acd.queued_call_facts import Phase
from engine.asterisk.ari_events import AriEvent, ChannelDestroyed, StasisEnded, StasisStarted
from engine.asterisk.errors import AriRequestFailed, AsteriskError
from engine.store.monitoring_store import MonitoringStep, MonitoringStore
from engine.task_owner import TaskOwner

log = logging.getLogger(__name__)
MONITOR_PREFIX = "tl-mon-"
RING_S = 30
SNOOP_WAIT_S = 5.0
AUDIT_EVERY_S = 1.0
DATABASE_TIMEOUT_S = 5.0
SHOW_ENDED_S = 8.0
"""How long an ended session stays in the floor message, so its supervisor's page can say why it ended."""
MONITOR_CALLER_ID = "monitor"
"""The caller ID number of the supervisor's leg: the supervisor page answers such calls by itself."""


def is_monitor_resource(resource_id: str) -> bool:
    return resource_id.startswith(MONITOR_PREFIX)


class MonitorControl(Protocol):
    """The ARI operations monitoring needs (engine/asterisk/ari_client.py implements them)."""

    async def originate(self, endpoint: str, channel_id: str, caller_id: str, timeout_s: int, app_args: str) -> None: ...

    async def snoop_leg(self, leg_id: str, snoop_id: str, spy: str, whisper: str) -> None:
        """Only ever an agent's leg: the caller's channel is its CallSession's alone."""

    async def create_bridge(self, bridge_id: str, bridge_type: str = "mixing") -> None: ...

    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None: ...

    async def delete_bridge(self, bridge_id: str) -> None: ...

    async def hangup(self, channel_id: str, reason: str = "normal") -> None: ...

    async def list_bridge_ids(self) -> list[str]: ...


@dataclass(frozen=True)
class LiveCall:
    """An agent talking to a caller: what a supervisor may monitor."""

    agent: str
    agent_name: str
    call_id: str
    agent_leg: str
    number: str
    queue: str
    talk_s: float

    def shown(self) -> dict[str, Any]:
        return {"agent": self.agent, "name": self.agent_name, "call_id": self.call_id, "number": self.number, "queue": self.queue, "talk_s": round(self.talk_s)}


def live_calls(distributor: CallDistributor) -> dict[str, LiveCall]:
    """Agent id -> their live call, from the ACD's memory."""
    config = distributor.config
    now = distributor.clock()
    found: dict[str, LiveCall] = {}
    for call, snapshot in distributor.calls():
        if call.phase is Phase.TALKING and call.agent_id and call.agent_leg:
            name = config.agents[call.agent_id].name if config is not None and call.agent_id in config.agents else call.agent_id
            found[call.agent_id] = LiveCall(call.agent_id, name, call.caller_id, call.agent_leg, snapshot.caller_number, call.queue, now - (call.answered_at or now))
    return found


class MonitoringAudit:
    """The audit's writer: steps queue here and are written in batches; a failed batch is kept."""

    def __init__(self, store: MonitoringStore | None) -> None:
        self._store = store
        self._pending: list[MonitoringStep] = []

    def add(self, step: MonitoringStep) -> None:
        self._pending.append(step)

    async def run(self) -> None:
        try:
            while True:
                await self.flush()
                await asyncio.sleep(AUDIT_EVERY_S)
        finally:
            await asyncio.shield(self.flush())

    async def flush(self) -> None:
        if not self._pending or self._store is None:
            return
        batch, self._pending = self._pending, []
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT_S):
                await self._store.add(batch)
        except Exception as exc:  # the database is down or slow: the steps wait for the next try
            log.warning("monitoring audit not written (%d steps kept): %s", len(batch), exc or type(exc).__name__)
            self._pending[:0] = batch


@dataclass
class _Live:
    session: core.MonitorSession
    lock: asyncio.Lock
    seq: int = 0
    snoops: tuple[str, ...] = ()
    """Every snoop made for the session and not yet dropped: all go at tear-down."""
    bridged: bool = False


class CallMonitor:
    def __init__(
        self,
        ari: MonitorControl,
        distributor: CallDistributor,
        audit: MonitoringAudit,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ari = ari
        self._distributor = distributor
        self._audit = audit
        self._tasks = TaskOwner("call-monitor")
        self._spawn = self._tasks.spawn
        self._clock = clock
        self._by_supervisor: dict[str, _Live] = {}
        self._by_channel: dict[str, _Live] = {}
        self._ended: dict[str, tuple[core.MonitorSession, float]] = {}
        """Supervisor -> their last ended session and when, shown for SHOW_ENDED_S."""
        self._snoop_started: dict[str, asyncio.Future[None]] = {}

    # -- from supervisor pages ----------------------------------------------------------------------

    def calls(self) -> list[dict[str, Any]]:
        return [call.shown() for call in sorted(live_calls(self._distributor).values(), key=lambda c: c.agent)]

    def sessions(self) -> list[dict[str, Any]]:
        """Running sessions, and each supervisor's session that ended in the last SHOW_ENDED_S."""
        now = self._clock()
        for supervisor, (_session, at) in list(self._ended.items()):
            if now - at > SHOW_ENDED_S or supervisor in self._by_supervisor:
                del self._ended[supervisor]
        return [live.session.shown(now) for live in self._by_supervisor.values()] + [session.shown(now) for session, _at in self._ended.values()]

    def session_of(self, supervisor: str) -> dict[str, Any] | None:
        live = self._by_supervisor.get(supervisor)
        return live.session.shown(self._clock()) if live is not None else None

    async def monitor(self, supervisor: str, agent: str, raw_mode: object) -> dict[str, Any]:
        """Start monitoring `agent`'s call, or change the mode of the supervisor's session; raises
        ValueError naming the field when it cannot be done."""
        mode = core.parse_mode(raw_mode)
        current = self._by_supervisor.get(supervisor)
        if current is not None:
            if current.session.agent != agent:
                raise ValueError(f"agent: you are monitoring {current.session.agent}; stop that first")
            await self._handle(current, core.ModeWanted(mode))
            return current.session.shown(self._clock())
        call = live_calls(self._distributor).get(agent)
        if call is None or not call.agent_leg.startswith(AGENT_LEG_PREFIX):  # only ever the agent's own leg is snooped
            raise ValueError(f"agent: {agent[:64]!r} is not on a call now")
        if agent == supervisor:
            raise ValueError("agent: you cannot monitor your own call")
        taken = next((live.session.supervisor for live in self._by_supervisor.values() if live.session.agent == agent), None)
        if taken is not None:
            raise ValueError(f"agent: {agent} is being monitored by {taken} already")
        endpoint = self._endpoint_of(supervisor)
        token = secrets.token_hex(6)
        session = core.MonitorSession(
            token, supervisor, agent, call.call_id, call.agent_leg, f"{MONITOR_PREFIX}sup-{token}", f"{MONITOR_PREFIX}bridge-{token}", mode,
        )
        live = _Live(session, asyncio.Lock())
        self._by_supervisor[supervisor] = live
        for channel in (session.supervisor_leg, session.agent_leg):
            self._by_channel[channel] = live
        metrics.MONITORING_SESSIONS.labels(mode.value).inc()
        log.info("supervisor %s starts monitoring %s (call %s) in %s mode", supervisor, agent, call.call_id, mode.value)
        async with live.lock:
            await self._carry_out(live, session.start(self._clock()), endpoint)
        if session.phase is core.Phase.ENDED:
            raise ValueError(f"supervisor: your phone ({endpoint}) could not be rung; see the engine log")
        return session.shown(self._clock())

    async def stop(self, supervisor: str) -> None:
        live = self._by_supervisor.get(supervisor)
        if live is None:
            raise ValueError("supervisor: you are not monitoring a call")
        await self._handle(live, core.Ended("stopped"))

    def _endpoint_of(self, supervisor: str) -> str:
        agents = self._distributor.agents
        person = agents.agent(supervisor)
        if person is None:
            raise ValueError(f"supervisor: {supervisor} has no extension in the agents' file")
        return agents.dial_target(person.extension)

    # -- from Asterisk ------------------------------------------------------------------------------

    def on_event(self, event: AriEvent) -> bool:
        """Events of monitoring's own channels (True: nobody else's), and the end of monitored
        agents' legs (False: the ACD handles those too)."""
        if isinstance(event, StasisStarted):
            channel = event.channel.id
            waiter = self._snoop_started.get(channel)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            live = self._by_channel.get(channel)
            if live is not None and channel == live.session.supervisor_leg:
                self._spawn(f"monitor-{channel}", self._handle(live, core.SupervisorAnswered()))
            return is_monitor_resource(channel)
        channel = event.channel_id if isinstance(event, (ChannelDestroyed, StasisEnded)) else ""
        live = self._by_channel.get(channel) if channel else None
        if live is not None:
            session = live.session
            if channel == session.agent_leg:
                self._spawn(f"monitor-end-{channel}", self._handle(live, core.Ended("call_ended")))
            elif channel == session.supervisor_leg:
                why = "not_answered" if session.phase is core.Phase.RINGING else "supervisor_hung_up"
                self._spawn(f"monitor-end-{channel}", self._handle(live, core.Ended(why)))
            elif channel == session.snoop_id and session.phase is core.Phase.ACTIVE:
                self._spawn(f"monitor-end-{channel}", self._handle(live, core.Ended("call_ended")))
        own = getattr(event, "channel_id", "") or ""
        return isinstance(own, str) and is_monitor_resource(own)

    async def sweep(self, live_channel_ids: set[str]) -> int:
        """Channels and bridges of monitoring that no session owns (left by an engine that stopped)."""
        owned = {live.session.bridge for live in self._by_supervisor.values()} | set(self._by_channel)
        removed = 0
        for channel in sorted(c for c in live_channel_ids if is_monitor_resource(c) and c not in owned):
            removed += await _quietly(self._ari.hangup(channel))
        for bridge in await self._ari.list_bridge_ids():
            if is_monitor_resource(bridge) and bridge not in owned:
                removed += await _quietly(self._ari.delete_bridge(bridge))
        return removed

    async def aclose(self) -> None:
        """Engine stopping: every session ends (the supervisors' legs are ours, not the next engine's)."""
        for live in list(self._by_supervisor.values()):
            await self._handle(live, core.Ended("engine_stopped"))
        await self._tasks.aclose(timeout_s=2.0)

    # -- carrying out -------------------------------------------------------------------------------

    async def _handle(self, live: _Live, fact: core.Fact) -> None:
        async with live.lock:
            await self._carry_out(live, live.session.handle(fact, self._clock()))

    async def _carry_out(self, live: _Live, commands: Sequence[core.Command], endpoint: str = "") -> None:
        queue = list(commands)
        session = live.session
        while queue:
            command = queue.pop(0)
            try:
                follow = await self._do(live, command, endpoint)
            except (AsteriskError, TimeoutError) as exc:
                log.warning("monitoring %s by %s: %s failed: %s", session.agent, session.supervisor, type(command).__name__, exc or "timed out")
                follow = session.handle(core.Ended("failed"), self._clock())
                queue = [c for c in queue if isinstance(c, core.Audit)]
            queue.extend(follow)

    async def _do(self, live: _Live, command: core.Command, endpoint: str) -> list[core.Command]:
        session = live.session
        if isinstance(command, core.Audit):
            self._write(live, command)
        elif isinstance(command, core.RingSupervisor):
            await self._ari.originate(endpoint, command.leg, f'"Monitor {session.agent}" <{MONITOR_CALLER_ID}>', RING_S, "monitor")
        elif isinstance(command, core.MakeSnoop):
            return await self._snoop(live, command)
        elif isinstance(command, core.DropSnoop):
            live.snoops = tuple(s for s in live.snoops if s != command.snoop_id)
            self._by_channel.pop(command.snoop_id, None)
            await _quietly(self._ari.hangup(command.snoop_id))
        elif isinstance(command, core.TearDown):
            await self._tear_down(live)
        return []

    async def _snoop(self, live: _Live, command: core.MakeSnoop) -> list[core.Command]:
        session = live.session
        if not live.bridged:
            await self._ari.create_bridge(session.bridge)
            live.bridged = True
            await self._ari.add_to_bridge(session.bridge, [session.supervisor_leg])
        started = self._snoop_started[command.snoop_id] = asyncio.get_running_loop().create_future()
        live.snoops += (command.snoop_id,)
        self._by_channel[command.snoop_id] = live
        try:
            await self._ari.snoop_leg(session.agent_leg, command.snoop_id, command.directions.spy, command.directions.whisper)
            async with asyncio.timeout(SNOOP_WAIT_S):
                await started
        finally:
            self._snoop_started.pop(command.snoop_id, None)
        await self._ari.add_to_bridge(session.bridge, [command.snoop_id])
        return session.handle(core.SnoopBridged(command.snoop_id), self._clock())

    async def _tear_down(self, live: _Live) -> None:
        session = live.session
        for channel in (session.supervisor_leg, *live.snoops):
            await _quietly(self._ari.hangup(channel))
        if live.bridged:
            await _quietly(self._ari.delete_bridge(session.bridge))
        for channel in (session.supervisor_leg, session.agent_leg, *live.snoops):
            if self._by_channel.get(channel) is live:
                del self._by_channel[channel]
        if self._by_supervisor.get(session.supervisor) is live:
            del self._by_supervisor[session.supervisor]
            self._ended[session.supervisor] = (session, self._clock())

    def _write(self, live: _Live, audit: core.Audit) -> None:
        session = live.session
        live.seq += 1
        at = datetime.now(UTC) - timedelta(seconds=max(0.0, self._clock() - audit.at))
        self._audit.add(MonitoringStep(session.session_id, live.seq, at, audit.action, session.supervisor, session.agent, session.call_id, audit.mode, audit.reason))
        if audit.action == "mode":
            metrics.MONITORING_MODES.labels(audit.mode).inc()
        elif audit.action == "ended":
            log.info("supervisor %s stopped monitoring %s: %s", session.supervisor, session.agent, audit.reason)


async def _quietly(request: Awaitable[None]) -> int:
    try:
        await request
        return 1
    except AriRequestFailed:
        return 0
    except AsteriskError as exc:
        log.debug("monitoring clean-up step failed: %s", exc)
        return 0
