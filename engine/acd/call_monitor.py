"""Supervisors monitoring agents' live calls: the adapter around engine/acd/monitoring.py.

It rings the supervisor's own phone (the supervisor page's phone `mon<extension>` while it is
registered, else the softphone `<extension>`; never the agent page's `web<extension>`, which the
ACD routes queue calls to) into our app, bridges it with a snoop on the agent's leg and
replaces the snoop when the mode changes. It commands only its own channels (`tl-mon-`): the
supervisor's leg, the snoops and their bridge, never the caller's. Each session's facts are handled
one at a time under its lock. Every step goes to the audit (`MonitoringAudit`): written in batches
off the call path, kept and retried while the database is away, flushed at shutdown.

A person who is also an agent cannot start monitoring while an ACD call rings their phone or is
connected to it, and is offered no queue call while their session runs (AgentBoard.set_monitoring).
Channels and bridges whose removal failed (Asterisk away or slow) are kept in `leftovers` and
removed again by `retry_leftovers` every CLEANUP_EVERY_S and at each sweep.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from engine import metrics
from engine.acd import monitoring as core
from engine.acd.agent_phones import monitor_phone_endpoint
from engine.acd.agent_state import Status
from engine.acd.call_distributor import CallDistributor
from engine.acd.queue_bridges import AGENT_LEG_PREFIX
from engine.acd.queued_call_facts import Phase
from engine.asterisk.ari_events import AriEvent, ChannelDestroyed, StasisEnded, StasisStarted
from engine.asterisk.errors import AriRequestFailed, AsteriskError
from engine.store.monitoring_store import MonitoringStep, MonitoringStore
from engine.task_owner import TaskOwner, TaskOwnerClosed

log = logging.getLogger(__name__)
MONITOR_PREFIX = "tl-mon-"
RING_S = 30
SNOOP_WAIT_S = 5.0
AUDIT_EVERY_S = 1.0
DATABASE_TIMEOUT_S = 5.0
CLOSE_S = 5.0
"""At shutdown all sessions end together within this time, however slow Asterisk is."""
ENDPOINT_S = 2.0
CLEANUP_EVERY_S = 5.0
SHOW_ENDED_S = 8.0
"""How long an ended session stays in the floor message, so its supervisor's page can say why it ended."""
MONITOR_CALLER_ID = "monitor"
"""The caller ID number of the supervisor's leg is `monitor-<session id>`: the supervisor page
answers by itself only the call of the session it started."""


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

    async def endpoint_state(self, technology: str, resource: str) -> str: ...


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
    rung: bool = False
    """The supervisor's leg exists in Asterisk (its originate returned): a sweep may judge it."""


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
        self.leftovers: set[tuple[str, str]] = set()
        """("channel" | "bridge", id) whose removal failed: removed again later."""
        self._closed = False

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
        if self._closed:
            raise ValueError("supervisor: the engine is stopping; monitoring is not available")
        current = self._by_supervisor.get(supervisor)
        if current is not None:
            if current.session.agent != agent:
                raise ValueError(f"agent: you are monitoring {current.session.agent}; stop that first")
            await self._handle(current, core.ModeWanted(mode))
            kept = current.session
            if kept.phase is core.Phase.ACTIVE and kept.mode is not mode and kept.wanted is None:
                raise ValueError(f"mode: {mode.value} could not be set (see the engine log); still {kept.mode.value}")
            return kept.shown(self._clock())
        self._monitorable(supervisor, agent)
        endpoint = await self._endpoint_of(supervisor)
        call = self._monitorable(supervisor, agent)  # again after the await: nothing can change between this and the session
        token = secrets.token_hex(6)
        session = core.MonitorSession(
            token, supervisor, agent, call.call_id, call.agent_leg, f"{MONITOR_PREFIX}sup-{token}", f"{MONITOR_PREFIX}bridge-{token}", mode,
        )
        live = _Live(session, asyncio.Lock())
        self._by_supervisor[supervisor] = live
        for channel in (session.supervisor_leg, session.agent_leg):
            self._by_channel[channel] = live
        self._distributor.agents.set_monitoring(supervisor, True)
        metrics.MONITORING_SESSIONS.labels(mode.value).inc()
        log.info("supervisor %s starts monitoring %s (call %s) in %s mode", supervisor, agent, call.call_id, mode.value)
        async with live.lock:
            await self._carry_out(live, session.start(self._clock()), endpoint)
        if session.phase is core.Phase.ENDED:
            raise ValueError(f"supervisor: your phone ({endpoint}) could not be rung; see the engine log")
        return session.shown(self._clock())

    def _monitorable(self, supervisor: str, agent: str) -> LiveCall:
        """The agent's live call, if `supervisor` may start monitoring it now; else ValueError."""
        if self._closed:
            raise ValueError("supervisor: the engine is stopping; monitoring is not available")
        if supervisor in self._by_supervisor:
            raise ValueError("supervisor: you started monitoring meanwhile")
        call = live_calls(self._distributor).get(agent)
        if call is None or not call.agent_leg.startswith(AGENT_LEG_PREFIX):  # only ever the agent's own leg is snooped
            raise ValueError(f"agent: {agent[:64]!r} is not on a call now")
        if agent == supervisor:
            raise ValueError("agent: you cannot monitor your own call")
        taken = next((live.session.supervisor for live in self._by_supervisor.values() if live.session.agent == agent), None)
        if taken is not None:
            raise ValueError(f"agent: {agent} is being monitored by {taken} already")
        own = self._distributor.agents.state(supervisor)
        if own is not None and own.status in (Status.RESERVED, Status.ON_CALL):
            raise ValueError("supervisor: an ACD call rings your phone or is connected to it; monitor after it")
        return call

    async def stop(self, supervisor: str) -> None:
        live = self._by_supervisor.get(supervisor)
        if live is None:
            raise ValueError("supervisor: you are not monitoring a call")
        await self._handle(live, core.Ended("stopped"))

    async def _endpoint_of(self, supervisor: str) -> str:
        """The supervisor page's phone while it is registered, else the softphone."""
        person = self._distributor.agents.agent(supervisor)
        if person is None:
            raise ValueError(f"supervisor: {supervisor} has no extension in the agents' file")
        page_phone = monitor_phone_endpoint(person.extension)
        try:
            async with asyncio.timeout(ENDPOINT_S):
                state = await self._ari.endpoint_state("PJSIP", page_phone)
        except (AsteriskError, TimeoutError) as exc:
            log.info("supervisor page phone %s not readable (%s): ringing the softphone", page_phone, exc or "timed out")
            state = "unknown"
        return f"PJSIP/{page_phone}" if state == "online" else f"PJSIP/{person.extension}"

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
                self._start_task(f"monitor-{channel}", self._handle(live, core.SupervisorAnswered()), channel)
            elif live is None and is_monitor_resource(channel) and waiter is None:
                # an originate or snoop that timed out here but ran there, or one left by a closed monitor
                self.leftovers.add(("channel", channel))
                self._start_task(f"monitor-orphan-{channel}", self._retry_quietly(), channel)
            return is_monitor_resource(channel)
        channel = event.channel_id if isinstance(event, (ChannelDestroyed, StasisEnded)) else ""
        live = self._by_channel.get(channel) if channel else None
        if live is not None:
            session = live.session
            if channel == session.agent_leg:
                self._start_task(f"monitor-end-{channel}", self._handle(live, core.Ended("call_ended")))
            elif channel == session.supervisor_leg:
                why = "not_answered" if session.phase is core.Phase.RINGING else "supervisor_hung_up"
                self._start_task(f"monitor-end-{channel}", self._handle(live, core.Ended(why)))
            elif channel == session.snoop_id and session.phase is core.Phase.ACTIVE:
                self._start_task(f"monitor-end-{channel}", self._handle(live, core.Ended("call_ended")))
        own = getattr(event, "channel_id", "") or ""
        return isinstance(own, str) and is_monitor_resource(own)

    def _start_task(self, name: str, work: Coroutine[Any, Any, None], channel: str = "") -> None:
        """Work for an event; after aclose it is dropped (never raised out of the events handler)
        and a monitoring channel that entered our app is left to the next engine's sweep."""
        try:
            self._spawn(name, work)
        except TaskOwnerClosed:
            work.close()
            log.info("monitoring closed: %s not handled%s", name, f"; channel {channel} is swept by the next engine" if channel else "")

    def snapshot(self) -> list[_Live]:
        """The sessions now: taken before Asterisk's channel list, so only they are judged by it."""
        return [live for live in self._by_supervisor.values() if live.rung]

    async def sweep(self, live_channel_ids: set[str], before: Sequence[_Live] = ()) -> int:
        """After a reconnect: sessions in `before` (taken before the channel list) whose agent leg,
        supervisor leg or snoop vanished meanwhile end; then channels and bridges of monitoring that
        no session owns (left by an engine that stopped, or whose removal failed) are removed."""
        for live in before:
            session = live.session
            if self._by_supervisor.get(session.supervisor) is not live:
                continue
            if session.agent_leg not in live_channel_ids:
                await self._handle(live, core.Ended("call_ended"))
            elif session.supervisor_leg not in live_channel_ids:
                await self._handle(live, core.Ended("not_answered" if session.phase is core.Phase.RINGING else "supervisor_hung_up"))
            elif session.phase is core.Phase.ACTIVE and session.snoop_id not in live_channel_ids:
                await self._handle(live, core.Ended("call_ended"))
        removed = await self.retry_leftovers()
        for channel in sorted(c for c in live_channel_ids if is_monitor_resource(c) and c not in self._owned()):
            removed += await self._remove("channel", channel)
        bridges = await self._ari.list_bridge_ids()
        owned = self._owned()  # after the list: a session started meanwhile keeps its bridge
        for bridge in bridges:
            if is_monitor_resource(bridge) and bridge not in owned:
                removed += await self._remove("bridge", bridge)
        return removed

    def _owned(self) -> set[str]:
        lives = list(self._by_supervisor.values())
        return {live.session.bridge for live in lives} | set(self._by_channel) | set(self._snoop_started)

    async def retry_leftovers(self) -> int:
        """Channels and bridges whose removal failed earlier (and no session owns now) go again."""
        removed = 0
        for kind, resource in sorted(self.leftovers):
            if resource in self._owned():
                self.leftovers.discard((kind, resource))
            else:
                removed += await self._remove(kind, resource)
        return removed

    async def _retry_quietly(self) -> None:
        await self.retry_leftovers()

    async def clean_up_forever(self) -> None:
        while True:
            await asyncio.sleep(CLEANUP_EVERY_S)
            if self.leftovers:
                await self.retry_leftovers()

    async def aclose(self) -> None:
        """Engine stopping: no session starts any more, and every session ends, all together within
        CLOSE_S (the supervisors' legs are ours, not the next engine's)."""
        self._closed = True
        lives = list(self._by_supervisor.values())
        try:
            async with asyncio.timeout(CLOSE_S):
                await asyncio.gather(*(self._handle(live, core.Ended("engine_stopped")) for live in lives), return_exceptions=True)
        except TimeoutError:
            log.warning("monitoring: %d sessions not ended within %.0f s; the next engine sweeps their channels", len(self._by_supervisor), CLOSE_S)
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
            caller_id = f'"Monitor {session.agent}" <{MONITOR_CALLER_ID}-{session.session_id}>'
            try:
                await self._ari.originate(endpoint, command.leg, caller_id, RING_S, "monitor")
            except (AsteriskError, TimeoutError):
                self.leftovers.add(("channel", command.leg))  # it may have been made anyway
                raise
            live.rung = True
        elif isinstance(command, core.MakeSnoop):
            return await self._snoop(live, command)
        elif isinstance(command, core.DropSnoop):
            live.snoops = tuple(s for s in live.snoops if s != command.snoop_id)
            self._by_channel.pop(command.snoop_id, None)
            await self._remove("channel", command.snoop_id)
        elif isinstance(command, core.TearDown):
            await self._tear_down(live)
        return []

    async def _snoop(self, live: _Live, command: core.MakeSnoop) -> list[core.Command]:
        """A snoop made and bridged; a failure is a fact for the core: the agent's leg gone (404 on
        it) ends the session as `call_ended`, any other failure is SnoopFailed (a failed mode switch
        keeps the old snoop)."""
        session = live.session
        if not live.bridged:
            live.bridged = True  # before the request: a create that timed out here may have run there
            await self._ari.create_bridge(session.bridge)
            await self._ari.add_to_bridge(session.bridge, [session.supervisor_leg])
        started = self._snoop_started[command.snoop_id] = asyncio.get_running_loop().create_future()
        live.snoops += (command.snoop_id,)
        self._by_channel[command.snoop_id] = live
        snooping = True
        try:
            await self._ari.snoop_leg(session.agent_leg, command.snoop_id, command.directions.spy, command.directions.whisper)
            snooping = False
            async with asyncio.timeout(SNOOP_WAIT_S):
                await started
            await self._ari.add_to_bridge(session.bridge, [command.snoop_id])
        except (AsteriskError, TimeoutError) as exc:
            log.warning("monitoring %s by %s: snoop %s failed: %s", session.agent, session.supervisor, command.snoop_id, exc or "timed out")
            live.snoops = tuple(s for s in live.snoops if s != command.snoop_id)
            self._by_channel.pop(command.snoop_id, None)
            await self._remove("channel", command.snoop_id)
            leg_gone = snooping and isinstance(exc, AriRequestFailed) and exc.status == 404
            return session.handle(core.Ended("call_ended") if leg_gone else core.SnoopFailed(command.snoop_id), self._clock())
        finally:
            self._snoop_started.pop(command.snoop_id, None)
        return session.handle(core.SnoopBridged(command.snoop_id), self._clock())

    async def _tear_down(self, live: _Live) -> None:
        session = live.session
        try:
            for channel in (session.supervisor_leg, *live.snoops):
                await self._remove("channel", channel)
            if live.bridged:
                await self._remove("bridge", session.bridge)
        finally:  # even cancelled (shutdown's time up): the session is over; what is left is swept
            for channel in (session.supervisor_leg, session.agent_leg, *live.snoops):
                if self._by_channel.get(channel) is live:
                    del self._by_channel[channel]
            if self._by_supervisor.get(session.supervisor) is live:
                del self._by_supervisor[session.supervisor]
                self._ended[session.supervisor] = (session, self._clock())
                self._distributor.agents.set_monitoring(session.supervisor, False)

    async def _remove(self, kind: str, resource: str) -> int:
        """Hang up a channel or delete a bridge: 1 if done, 0 if it was gone already or failed; a
        failure other than "not found" keeps it in `leftovers` for the next try."""
        try:
            await (self._ari.hangup(resource) if kind == "channel" else self._ari.delete_bridge(resource))
        except AriRequestFailed as exc:
            if exc.status != 404:
                self.leftovers.add((kind, resource))
                log.info("monitoring %s %s not removed (%s): tried again later", kind, resource, exc)
            else:
                self.leftovers.discard((kind, resource))
            return 0
        except (AsteriskError, TimeoutError) as exc:
            self.leftovers.add((kind, resource))
            log.info("monitoring %s %s not removed (%s): tried again later", kind, resource, exc or "timed out")
            return 0
        self.leftovers.discard((kind, resource))
        return 1

    def _write(self, live: _Live, audit: core.Audit) -> None:
        session = live.session
        live.seq += 1
        at = datetime.now(UTC) - timedelta(seconds=max(0.0, self._clock() - audit.at))
        self._audit.add(MonitoringStep(session.session_id, live.seq, at, audit.action, session.supervisor, session.agent, session.call_id, audit.mode, audit.reason))
        if audit.action == "mode":
            metrics.MONITORING_MODES.labels(audit.mode).inc()
        elif audit.action == "ended":
            log.info("supervisor %s stopped monitoring %s: %s", session.supervisor, session.agent, audit.reason)

