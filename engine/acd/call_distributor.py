"""The ACD's adapter: turns ARI events, the router's offers and agents' requests into facts for
each call's pure core (engine/acd/queued_call.py), and carries the core's commands out.

One caller, one owner: each queued call's facts are handled one at a time, in order, by that
call's own task here. What the core wants done to the caller (say, hush, listen, continue the
flow, hang up) is posted to the caller's CallSession, the only task that commands the caller's
channel, which carries it out under its one failure policy. Agent-side commands (ring, bridges,
hold, dial back, agents' ledgers, the journey) are carried out here; one Asterisk refuses becomes a
StepFailed fact, so the core decides what the caller needs (never silence).

A flow's `queue` node hands its caller here. The caller waits in the queue's holding bridge with
music on hold; the router picks the agent; the agent's softphone is called into our Stasis app
(`tl-agent-…` channels); when the agent answers, caller and agent are joined in a mixing bridge.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from engine.acd import queued_call as core
from engine.acd.agent_board import MAX_NOTES, AgentBoard, AgentListener, StateLog, shown
from engine.acd.callback_numbers import CallbackRefused, CallbackRequest, RefusalReason, Verdict, check_callback, dial_string, display_number, is_plain_number, is_withheld, normalize, recent_for
from engine.acd.queue_bridges import AGENT_LEG_PREFIX, CALL_BRIDGE_PREFIX, CALLBACK_LEG_PREFIX, BridgeControl, QueueBridges, hold_bridge_id
from engine.acd.queued_call import CallerCommand, Fact, Phase, QueuedCall
from engine.acd.router import Offer, QueueRule, Relaxation, Router, WaitingCall
from engine.acd.screen_pop import build_pop
from engine.acd.wait_estimate import HandleTimes, estimate_wait, spoken_wait
from engine.asterisk.ari_events import AriEvent, ChannelDestroyed, EndpointStateChanged, StasisStarted
from engine.asterisk.errors import AsteriskError
from engine.config.acd_config import AcdConfig, QueueSettings
from engine.config.flow_model import Step
from engine.task_owner import TaskOwner

log = logging.getLogger(__name__)
SWEEP_S = 1.0
HISTORY_TIMEOUT_S = 0.5
RECENT_CALLBACKS_TIMEOUT_S = 1.0
"""How long the journey may take to say how often a number was called back lately; after that the
engine counts what it remembers itself (its own requests since it started)."""
CALLER_LEFT_WAIT_S = 5.0
"""How long a caller's session waits for the ACD to record the end of the call before it closes the journey."""
RING_FAILURES = {17: "busy", 18: "no-answer", 19: "no-answer", 20: "unavailable", 21: "rejected", 3: "unavailable", 34: "congestion", 38: "unavailable", 127: "unavailable"}
"""Q.850 causes of an agent leg that ended before it was answered."""

Record = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class CallSnapshot:
    """What the IVR learned, live references into the call's flow: read when the agent's phone rings."""

    caller_number: str
    caller_name: str
    variables: Mapping[str, Any]
    journal: Sequence[tuple[str, Mapping[str, Any]]]
    procedures: Mapping[str, Sequence[Step]]
    language: str = ""
    """The flow's language when the caller was queued (recordings are transcribed in it)."""


class CallerInbox(Protocol):
    """The caller's CallSession: takes what the ACD wants done to the caller, to do in its own order."""

    def for_caller(self, commands: Sequence[CallerCommand]) -> None: ...


class ConversationRecorder(Protocol):
    """Who records conversations with agents (engine/recording/call_recorder.py)."""

    def conversation_started(self, call_id: str, channel_id: str, agent_id: str, queue: str, language: str, record: Record) -> None: ...

    def conversation_adopted(self, call_id: str, channel_id: str, agent_id: str, queue: str, language: str, record: Record) -> None: ...

    def conversation_ended(self, call_id: str) -> None: ...

    def sensitive_entry(self, call_id: str, sensitive: bool) -> None: ...


SaveToJourney = Callable[[str, str, dict[str, Any]], Awaitable[bool]]
"""(caller channel id, kind, detail) -> stored; for what is written after the caller's channel ended."""
History = Callable[[str, str], Awaitable[list[dict[str, Any]]]]
"""(caller number, current call id) -> that number's previous calls, newest first."""
RecentCallbacks = Callable[[datetime], Awaitable[list[tuple[str, str, datetime, dict[str, Any]]]]]
"""(since) -> (channel id, kind, at, detail) of the `callback_requested` events since then (the
journey store's events_of_kinds_since): how the per-number rate limit survives a restart."""


@dataclass
class _Actor:
    """One call's core, its inbox of facts and what the adapter needs to carry out its commands."""

    core: QueuedCall
    snapshot: CallSnapshot
    record: Record
    caller: CallerInbox | None
    inbox: asyncio.Queue[tuple[Fact, asyncio.Future[None] | None]] = field(default_factory=asyncio.Queue)
    previous_calls: list[dict[str, Any]] = field(default_factory=list)
    offered_after_s: float = 0.0
    retry: asyncio.TimerHandle | None = None


class CallDistributor:
    def __init__(
        self,
        ari: BridgeControl,
        clock: Callable[[], float] = time.monotonic,
        listener: AgentListener | None = None,
        history: History | None = None,
        save: SaveToJourney | None = None,
        state_log: StateLog | None = None,
        login_by_phone: bool = True,
        recorder: ConversationRecorder | None = None,
        recent_callbacks: RecentCallbacks | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._ari = ari
        self._clock = clock
        self._wall_clock = wall_clock
        self._history = history
        self._save = save
        self._recent_callbacks = recent_callbacks
        self.recorder = recorder
        self._tasks = TaskOwner("acd")
        self.agents = AgentBoard(clock, self._offer, self._ring_ran_out, self._tasks.spawn, listener, state_log, self._wrap_up_ended, login_by_phone)
        self.bridges = QueueBridges(ari)
        self._config: AcdConfig | None = None
        self._calls: dict[str, _Actor] = {}
        self._legs: dict[str, str] = {}
        """Agent or callback leg channel id -> caller channel id."""
        self._last_call: dict[str, tuple[str, str]] = {}
        """Agent -> (caller channel id, queue) of the agent's latest answered call: what a disposition is for."""
        self._requested: deque[tuple[str, str, float]] = deque(maxlen=5000)
        """(call id, number, wall time) of callbacks this engine arranged: the rate limit's memory
        when the journey cannot be read, and before the journey writer has stored the latest."""
        self.failed_callbacks: deque[dict[str, Any]] = deque(maxlen=200)
        """Callbacks that failed every attempt: shown on the supervisor's floor."""
        self.handle_times = HandleTimes()
        """Talk plus the queue's wrap-up of recent calls, per queue: what wait estimates come from."""

    @property
    def router(self) -> Router:
        return self.agents.router

    @property
    def listener(self) -> AgentListener | None:
        return self.agents.listener

    @property
    def config(self) -> AcdConfig | None:
        return self._config

    def clock(self) -> float:
        return self._clock()

    # -- configuration and the once-a-second sweep ---------------------------------------------

    def serves(self, queue: str) -> bool:
        return self._config is not None and queue in self._config.queues

    def configure(self, config: AcdConfig) -> None:
        """Queues and agents of a (re)loaded configuration; waiting callers keep their place."""
        self._config = config
        router = Router(_rule(name, queue) for name, queue in config.queues.items())
        for actor in self._calls.values():
            actor.core.queues = config.queues
            if actor.core.in_line and actor.core.queue in config.queues:
                router.caller_waiting(self._waiting(actor.core))
        self.agents.configure(config, router)

    async def watch_agents(self) -> None:
        """Subscribe to every agent's endpoint and read its registration now; then, once a second,
        make the router's offers and tell each waiting call the time (announcements, overflow).
        Run under the background supervisor, which restarts it after a failure; only the first run
        in this process sweeps left-over bridges."""
        subscribed: set[str] = set()
        await self.bridges.sweep_at_start()
        while True:
            for extension, agent_id in list(self.agents.by_extension.items()) if self._config else []:
                if extension in subscribed:
                    continue
                try:
                    await self._ari.subscribe_endpoint("PJSIP", extension)
                    state = await self._ari.endpoint_state("PJSIP", extension)
                except AsteriskError as exc:
                    log.debug("agent %s endpoint not readable yet: %s", agent_id, exc)
                    continue
                subscribed.add(extension)
                self.agents.registration(agent_id, state)
            self._offer(self.router.offers(self._clock()))
            self._tick()
            await asyncio.sleep(SWEEP_S)

    async def sweep_at_start(self) -> None:
        await self.bridges.sweep_at_start()

    def _tick(self) -> None:
        """Each waiting call hears the time: due announcements get the caller's position and estimate."""
        if self._config is None:
            return
        now = self._clock()
        for name, settings in self._config.queues.items():
            line = [w.call_id for w in self.router.line(name, now)]
            due = [self._calls[c] for c in line if c in self._calls and self._calls[c].core.announcement_due(now)]
            estimates: dict[int, float | None] = {}
            if due:
                mean = self.handle_times.mean(name, now)
                serving, busy = self.agents.staffing(dict(settings.skills), mean)
                estimates = {i: (estimate_wait(i, serving, busy, mean) if serving else None) for i in range(1, len(line) + 1)}
            for position, call_id in enumerate(line, start=1):
                actor = self._calls.get(call_id)
                if actor is None:
                    continue
                estimate = estimates.get(position)
                self._post(actor, core.Tick(position, estimate, spoken_wait(estimate) if estimate is not None else None))

    # -- from the caller's session ----------------------------------------------------------------

    def enqueue(self, caller_id: str, queue: str, skills: tuple[str, ...], priority: int, snapshot: CallSnapshot, record: Record,
                caller: CallerInbox, waited_s: float = 0.0) -> None:
        """Queue a caller; `waited_s` keeps the place of a caller who was already waiting under an engine that stopped."""
        assert self._config is not None
        call = QueuedCall(caller_id, queue, self._config.queues, snapshot.language or "ko", has_voice=True, caller_number=snapshot.caller_number)
        actor = self._start(call, snapshot, record, caller)
        self._post(actor, core.Queued(skills, priority, waited_s))

    def caller_fact(self, caller_id: str, fact: core.KeyPressed | core.SpeechHeard | core.SecureEntryDone) -> None:
        """A key or words from a queued caller, or the end of its secure entry: for its core, in order."""
        actor = self._calls.get(caller_id)
        if actor is not None:
            self._post(actor, fact)

    async def caller_left(self, caller_id: str) -> None:
        """The caller's channel ended: waits (bounded) until the ACD has recorded how, so it is in
        the journey before the session closes it."""
        actor = self._calls.get(caller_id)
        if actor is None:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._post(actor, core.CallerLeft(), done)
        try:
            async with asyncio.timeout(CALLER_LEFT_WAIT_S):
                await done
        except TimeoutError:
            log.warning("call %s: the ACD did not record the caller leaving in %.0f s", caller_id, CALLER_LEFT_WAIT_S)

    def call_phase(self, caller_id: str) -> str | None:
        """waiting or talking (also in secure entry) while the ACD has the caller; None otherwise."""
        actor = self._calls.get(caller_id)
        if actor is None or actor.core.phase in (Phase.ENDED, Phase.CALLBACK_OWED, Phase.CALLBACK_RINGING, Phase.DIALLING_BACK):
            return None
        return "talking" if actor.core.phase in (Phase.TALKING, Phase.SECURE_ENTRY) else "waiting"

    def in_secure_entry(self, caller_id: str) -> bool:
        actor = self._calls.get(caller_id)
        return actor is not None and actor.core.phase is Phase.SECURE_ENTRY

    # -- from ARI ---------------------------------------------------------------------------------

    def on_event(self, event: AriEvent) -> bool:
        """Events of ACD legs and agents' endpoints, as facts for the call they belong to; True if the event was the ACD's."""
        if isinstance(event, EndpointStateChanged):
            agent_id = self.agents.by_extension.get(event.resource)
            if agent_id is not None:
                self.agents.registration(agent_id, event.state)
            return agent_id is not None
        if isinstance(event, StasisStarted) and event.channel.id.startswith((AGENT_LEG_PREFIX, CALLBACK_LEG_PREFIX)):
            leg = event.channel.id
            agent_leg = leg.startswith(AGENT_LEG_PREFIX)
            answered: Fact = core.AgentAnswered(leg, f"{CALL_BRIDGE_PREFIX}{secrets.token_hex(6)}", f"{CALLBACK_LEG_PREFIX}{secrets.token_hex(6)}") \
                if agent_leg else core.CallbackLegAnswered(leg)
            self._to_leg_owner(leg, answered)
            return True
        if isinstance(event, ChannelDestroyed) and event.channel_id.startswith((AGENT_LEG_PREFIX, CALLBACK_LEG_PREFIX)):
            leg, reason = event.channel_id, RING_FAILURES.get(event.cause or 0, "no-answer")
            caller_id = self._legs.pop(leg, None)
            actor = self._calls.get(caller_id) if caller_id else None
            if actor is not None:
                self._post(actor, core.AgentLegEnded(leg, reason) if leg.startswith(AGENT_LEG_PREFIX) else core.CallbackLegEnded(leg, reason))
            return True
        channel_id = getattr(event, "channel_id", "") or ""
        return isinstance(channel_id, str) and channel_id.startswith((AGENT_LEG_PREFIX, CALLBACK_LEG_PREFIX))

    def _to_leg_owner(self, leg: str, fact: Fact) -> None:
        caller_id = self._legs.get(leg)
        actor = self._calls.get(caller_id) if caller_id else None
        if actor is None:
            self._tasks.spawn(f"hang-up-{leg}", self.bridges.hang_up_leg(leg))  # answered after the call ended: nobody to talk to
        else:
            self._post(actor, fact)

    # -- from agents (the desktop) ----------------------------------------------------------------

    def agent_status(self) -> dict[str, dict[str, Any]]:
        now = self._clock()
        return {agent_id: shown(ledger.state(now), now) for agent_id, ledger in self.agents.ledgers.items()}

    def agent_state(self, agent_id: str) -> dict[str, Any] | None:
        state = self.agents.state(agent_id)
        return shown(state, self._clock()) if state is not None else None

    def agent_action(self, agent_id: str, action: str, reason: str = "") -> None:
        self.agents.action(agent_id, action, reason)

    def extend_wrap_up(self, agent_id: str, seconds: float) -> str | None:
        return self.agents.extend_wrap_up(agent_id, seconds)

    async def wrap_up(self, agent_id: str, call_id: str, disposition: str, notes: str) -> str | None:
        """The agent's disposition and notes for their latest call, into that call's journey; an error or None."""
        last = self._last_call.get(agent_id)
        if last is None or last[0] != call_id:
            return "that is not your latest call"
        allowed = self._config.queues[last[1]].dispositions if self._config and last[1] in self._config.queues else []
        if disposition not in allowed:
            return f"disposition must be one of: {', '.join(allowed)}"
        if len(notes) > MAX_NOTES:
            return f"notes are limited to {MAX_NOTES} characters"
        if self._save is None or not await self._save(call_id, "disposition", {"agent": agent_id, "disposition": disposition, "notes": notes}):
            return "the call's record was not found"
        return None

    async def transfer(self, agent_id: str, call_id: str, target: str) -> str | None:
        """The agent hands their caller on: `queue:NAME` (blind, back in line there) or `agent:ID`
        (that agent's phone rings with the same pop). The caller hears hold music meanwhile; the
        journey stays the call's one journey. Returns an error for the agent, or None once started."""
        actor = self._calls.get(call_id)
        if actor is None or not actor.core.can_transfer(agent_id):
            return "you are not talking to that caller"
        assert self._config is not None
        kind, _, name = target.partition(":")
        if kind == "queue":
            if name not in self._config.queues:
                return f"no queue `{name}`"
            self._post(actor, core.TransferAsked(agent_id, to_queue=name))
        elif kind == "agent":
            if name == agent_id or name not in self.agents.ledgers:
                return f"no other agent `{name}`"
            if not self.agents.routable(name):
                return f"{name} is not available"
            self.router.agent_busy(name)
            self._post(actor, core.TransferAsked(agent_id, to_agent=name))
        else:
            return "transfer to queue:NAME or agent:ID"
        return None

    async def secure_entry(self, agent_id: str, call_id: str) -> str | None:
        """The agent sends the caller to the queue's secure-entry flow to key card or account
        details the agent must not hear: the caller leaves the conversation bridge (its keys are not
        passed to the agent), the agent hears music, and the flow's `queue` node brings the caller
        back. Returns an error for the agent, or None once started."""
        actor = self._calls.get(call_id)
        if actor is None:
            return "you are not talking to that caller"
        refused = actor.core.can_enter_securely(agent_id)
        if refused is not None:
            return refused
        self._post(actor, core.SecureEntryAsked(agent_id))
        return None

    # -- after an engine restart ------------------------------------------------------------------

    async def adopt_conversation(self, caller_id: str, queue: str, agent_id: str, talked_s: float, snapshot: CallSnapshot, record: Record,
                                 caller: CallerInbox) -> bool:
        """A caller who was talking to an agent when the last engine stopped: find their bridge and
        the agent's leg, so the agent is on call again and either side hanging up ends the call
        properly. False if the agent's leg is gone (the caller is let go), or if Asterisk's bridges
        cannot be read (the two are left talking, untracked: better than cutting them off)."""
        try:
            found = await self.bridges.find_conversation(caller_id)
        except AsteriskError as exc:  # not knowing is not knowing the agent left: keep the caller, untracked
            log.warning("call %s: bridges not readable to adopt its conversation: %s", caller_id, exc)
            return False
        if found is None or not found[1] or self._config is None or queue not in self._config.queues:
            record("call_ended", {"by": "agent", "agent": agent_id, "while_engine_restarted": True})
            if found is not None:
                await self.bridges.drop(found[0], caller_id)
            caller.for_caller([core.HangUpCaller("the agent left while the engine restarted")])
            return False
        bridge, leg = found
        call, commands = core.adopted_conversation(caller_id, queue, self._config.queues, snapshot.language, agent_id, leg, bridge, talked_s, self._clock())
        actor = self._start(call, snapshot, record, caller)
        self._legs[leg] = caller_id
        await self._carry_out(actor, commands)
        if self.recorder is not None:
            self.recorder.conversation_adopted(caller_id, caller_id, agent_id, queue, snapshot.language, record)
        return True

    def restore_callback(self, caller_id: str, queue: str, number: str, waited_s: float, attempts: int, snapshot: CallSnapshot) -> bool:
        """A callback the last engine still owed (from the journey): back in line at its place, if
        its number passes the queue's rules of today; a refused one is closed in the journey."""
        if self._config is None or queue not in self._config.queues or caller_id in self._calls:
            return False
        call, commands = core.restored_callback(caller_id, queue, self._config.queues, snapshot.language, number, waited_s, attempts, self._clock())
        if call is None:
            record = self._record_after_hangup(caller_id)
            for command in commands:
                if isinstance(command, core.Journal):
                    record(command.kind, dict(command.detail))
                elif isinstance(command, core.CallbackFailed):
                    self._callback_failed(caller_id, queue, command)
            log.warning("call %s: owed callback not restored: refused by queue %s's callback rules", caller_id, queue)
            return False
        actor = self._start(call, snapshot, self._record_after_hangup(caller_id), None)
        self._tasks.spawn(f"restore-{caller_id}", self._carry_out(actor, commands))
        return True

    async def aclose(self) -> None:
        """Engine shutdown: every call's task and timer stops; calls stay in Asterisk for the next engine."""
        self.agents.close()
        for actor in self._calls.values():
            if actor.retry is not None:
                actor.retry.cancel()
        await self._tasks.aclose()

    def close(self) -> None:
        self.agents.close()
        for actor in self._calls.values():
            if actor.retry is not None:
                actor.retry.cancel()

    # -- each call's own task ---------------------------------------------------------------------

    def _start(self, call: QueuedCall, snapshot: CallSnapshot, record: Record, caller: CallerInbox | None) -> _Actor:
        actor = _Actor(call, snapshot, record, caller)
        self._calls[call.caller_id] = actor
        self._tasks.spawn(f"acd-call-{call.caller_id}", self._run(actor))
        return actor

    def _post(self, actor: _Actor, fact: Fact, done: asyncio.Future[None] | None = None) -> None:
        actor.inbox.put_nowait((fact, done))

    async def _run(self, actor: _Actor) -> None:
        """The call's facts, one at a time and in order, until the core says the call is over."""
        try:
            while True:
                fact, done = await actor.inbox.get()
                try:
                    commands = actor.core.decide(fact, self._clock())
                    if isinstance(fact, core.AgentOffered) and not commands:
                        self.agents.sync(fact.agent_id)  # the call went meanwhile: the agent is free again
                    await self._carry_out(actor, commands)
                finally:
                    if done is not None and not done.done():
                        done.set_result(None)
                if actor.core.phase is Phase.ENDED:
                    break
        finally:
            if self._calls.get(actor.core.caller_id) is actor and actor.core.phase is Phase.ENDED:
                del self._calls[actor.core.caller_id]
            while not actor.inbox.empty():
                _, done = actor.inbox.get_nowait()
                if done is not None and not done.done():
                    done.set_result(None)

    async def _carry_out(self, actor: _Actor, commands: Sequence[core.Command]) -> None:
        """Caller commands go to the caller's session in one message; agent-side ones are done here
        in order. The first one Asterisk refuses stops the rest and becomes a StepFailed fact."""
        for_caller: list[CallerCommand] = []
        for command in commands:
            if isinstance(command, (core.Say, core.Hush, core.ListenFor, core.StopListening, core.ContinueFlow, core.StartSurvey, core.HangUpCaller)):
                for_caller.append(command)
                continue
            self._to_caller(actor, for_caller)
            for_caller = []
            try:
                await self._agent_side(actor, command)
            except AsteriskError as exc:
                log.warning("call %s: %s failed: %s", actor.core.caller_id, type(command).__name__, exc)
                what = "secure entry" if isinstance(command, core.HoldAgentForSecureEntry) else type(command).__name__
                self._post(actor, core.StepFailed(what, str(exc)[:160]))
                return
        self._to_caller(actor, for_caller)
        if not actor.core.has_voice and actor.caller is not None:
            actor.caller, actor.record = None, self._record_after_hangup(actor.core.caller_id)  # the caller hung up for a callback

    def _to_caller(self, actor: _Actor, commands: list[CallerCommand]) -> None:
        if commands and actor.caller is not None:
            actor.caller.for_caller(commands)

    async def _agent_side(self, actor: _Actor, command: core.Command) -> None:
        call = actor.core
        caller_id = call.caller_id
        if isinstance(command, core.Journal):
            actor.record(command.kind, dict(command.detail))
        elif isinstance(command, core.JoinLine):
            if self.serves(call.queue):
                self.router.caller_waiting(self._waiting(call))
                offer = self.router.offer_for_caller(caller_id, self._clock())
                if offer is not None:
                    self._offer([offer])
        elif isinstance(command, core.LeaveLine):
            self.router.caller_left(caller_id)
        elif isinstance(command, core.NoteAgent):
            self.agents.note(command.agent_id, command.kind, caller_id if command.for_call else "", command.reason, command.seconds)
        elif isinstance(command, core.MoveToHold):
            await self.bridges.hold(caller_id, command.queue, call.queues[command.queue].announce.music, command.from_queue, command.from_bridge, command.adopted)
        elif isinstance(command, core.LeaveHold):
            await self.bridges.leave(hold_bridge_id(command.queue), caller_id)
        elif isinstance(command, core.ReleaseHold):
            await self.bridges.release(command.queue, self._still_holding)
        elif isinstance(command, core.RingAgent):
            await self._ring(actor, command)
        elif isinstance(command, core.SendPop):
            await self._pop(actor, command)
        elif isinstance(command, core.ClearPop):
            if self.listener is not None and command.agent_id:
                self.listener.call_cleared(command.agent_id, caller_id)
        elif isinstance(command, core.ConnectAgent):
            await self._ari.create_bridge(command.bridge)
            await self.bridges.leave(hold_bridge_id(command.queue), caller_id)
            await self._ari.add_to_bridge(command.bridge, [caller_id, command.leg])
        elif isinstance(command, core.StartRecording):
            if self.recorder is not None:
                self.recorder.conversation_started(caller_id, command.channel, command.agent_id, call.queue, call.language, actor.record)
        elif isinstance(command, (core.DropBridge, core.FileRecording)):
            if self.recorder is not None:
                self.recorder.conversation_ended(caller_id)
            if isinstance(command, core.DropBridge) and command.bridge:
                await self.bridges.drop(command.bridge, caller_id)
        elif isinstance(command, core.HangUpLeg):
            if command.leg:
                self._legs.pop(command.leg, None)
                await self.bridges.hang_up_leg(command.leg)
        else:
            await self._agent_side_rest(actor, command)

    async def _agent_side_rest(self, actor: _Actor, command: core.Command) -> None:
        call = actor.core
        caller_id = call.caller_id
        if isinstance(command, core.HoldAgentForSecureEntry):
            await self._ari.remove_from_bridge(command.bridge, caller_id)
            await self._ari.start_bridge_music(command.bridge, call.settings.announce.music)
        elif isinstance(command, core.BackFromSecureEntry):
            try:
                await self._ari.stop_bridge_music(command.bridge)
            except AsteriskError:
                pass  # it had stopped
            await self._ari.add_to_bridge(command.bridge, [caller_id])
        elif isinstance(command, core.CountHandleTime):
            self.handle_times.record(call.queue, command.seconds, self._clock())
        elif isinstance(command, core.LatestCallOf):
            self._last_call[command.agent_id] = (caller_id, call.queue)
        elif isinstance(command, core.CheckNumber):
            self._post(actor, core.NumberChecked(await self._check_number(call, command)))
        elif isinstance(command, core.RememberCallback):
            self._requested.append((caller_id, command.number, self._wall_clock() - max(0.0, command.waited_s)))
        elif isinstance(command, core.WaitForAgentThenDial):
            await self._dial_back(actor, command)
        elif isinstance(command, core.AddCallbackLeg):
            await self._ari.add_to_bridge(command.bridge, [command.leg])
        elif isinstance(command, core.ArmRetry):
            actor.retry = asyncio.get_running_loop().call_later(command.seconds, self._post, actor, core.RetryDue())
        elif isinstance(command, core.CallbackFailed):
            self._callback_failed(caller_id, call.queue, command)
        elif isinstance(command, core.OfferTo):
            self._ring_named(actor, command.agent_id)
        elif isinstance(command, core.Forget):
            pass  # the call's task ends once its core says ENDED

    # -- carrying out offers --------------------------------------------------------------------

    def _offer(self, offers: list[Offer]) -> None:
        assert self._config is not None
        for offer in offers:
            actor = self._calls.get(offer.call_id)
            agent = self._config.agents.get(offer.agent_id)
            if actor is None or not actor.core.in_line:
                self.agents.sync(offer.agent_id)
            elif agent is None:  # removed by a reload between the offer and now: the caller keeps its place
                self.router.caller_waiting(self._waiting(actor.core))
            else:
                leg = f"{AGENT_LEG_PREFIX}{secrets.token_hex(6)}"
                self._legs[leg] = offer.call_id
                self._post(actor, core.AgentOffered(offer.agent_id, agent.extension, leg, offer.waited_s, offer.relaxed))

    def _ring_named(self, actor: _Actor, agent_id: str) -> None:
        """A transfer to a named agent: that agent's phone rings for the call, outside the line."""
        assert self._config is not None
        agent = self._config.agents.get(agent_id)
        if agent is None:
            self.router.caller_waiting(self._waiting(actor.core))
            return
        leg = f"{AGENT_LEG_PREFIX}{secrets.token_hex(6)}"
        self._legs[leg] = actor.core.caller_id
        self._post(actor, core.AgentOffered(agent_id, agent.extension, leg, self._clock() - actor.core.enqueued_at, False))

    async def _ring(self, actor: _Actor, command: core.RingAgent) -> None:
        number = display_number(actor.snapshot.caller_number)  # a hostile caller ID must not reach the agent's phone as it is
        try:
            await self._ari.originate(f"PJSIP/{command.extension}", command.leg, f'"{number}" <{number}>', command.ring_s, "agent")
        except AsteriskError as exc:
            log.warning("call %s: ringing agent %s failed: %s", actor.core.caller_id, command.agent_id, exc)
            self._legs.pop(command.leg, None)
            self._post(actor, core.AgentLegEnded(command.leg, "unavailable"))

    def _ring_ran_out(self, agent_id: str) -> None:
        """The ring time is over but Asterisk never said the agent's leg ended (a lost event)."""
        for actor in self._calls.values():
            if actor.core.agent_id == agent_id and actor.core.phase in (Phase.RINGING, Phase.CALLBACK_RINGING):
                self._post(actor, core.RingRanOut())

    async def _pop(self, actor: _Actor, command: core.SendPop) -> None:
        """The screen-pop goes to the agent's desktop as the phone starts ringing, before the answer."""
        if self.listener is None:
            return
        number = actor.snapshot.caller_number
        if command.with_history:
            previous: list[dict[str, Any]] = []
            if self._history is not None and is_plain_number(number) and not is_withheld(number):  # no history keyed on `anonymous` or `1&Local`
                try:
                    async with asyncio.timeout(HISTORY_TIMEOUT_S):
                        previous = await self._history(number, actor.core.caller_id)
                except Exception as exc:  # the pop goes out without history rather than late
                    log.warning("call %s: previous calls not read for the pop: %s", actor.core.caller_id, exc)
            actor.previous_calls, actor.offered_after_s = previous, command.waited_s
        self.listener.call_offered(command.agent_id, self.pop_message(actor))

    def pop_message(self, actor: _Actor) -> dict[str, Any]:
        snap, call = actor.snapshot, actor.core
        pop = build_pop(call.caller_id, call.queue, snap.caller_number, snap.caller_name, snap.variables, list(snap.journal), snap.procedures,
                        actor.offered_after_s, actor.previous_calls, callback=call.callback)
        pop["dispositions"] = list(call.settings.dispositions)
        pop["transferred_from"] = call.transferred_from
        return pop

    # -- callbacks --------------------------------------------------------------------------------

    async def _check_number(self, call: QueuedCall, command: core.CheckNumber) -> Verdict:
        """The callback rules of the call's queue, with the callbacks to that number in the last
        hour from the journey (and this engine's own memory, if the journey is slow or down)."""
        offer = call.settings.callback
        if offer is None:
            return CallbackRefused(RefusalReason.NO_CALLBACKS, "")
        rules = offer.numbers.rules()
        first = normalize(command.raw, command.source, rules)
        if isinstance(first, CallbackRefused):
            return first
        now = self._wall_clock()
        requests = list(self._requested)
        if self._recent_callbacks is not None:
            try:
                async with asyncio.timeout(RECENT_CALLBACKS_TIMEOUT_S):
                    stored = await self._recent_callbacks(datetime.fromtimestamp(now - 3600.0, UTC))
                requests += [(channel, str(detail.get("number", "")), at.timestamp()) for channel, _, at, detail in stored]
            except Exception as exc:  # the journey is slow or down: count what this engine remembers
                log.warning("call %s: recent callbacks not read from the journey, counting this engine's own: %s", call.caller_id, exc)
        return check_callback(CallbackRequest(command.raw, command.source, rules, recent_for(first.number, requests), now))

    async def _dial_back(self, actor: _Actor, command: core.WaitForAgentThenDial) -> None:
        """The agent took the callback: the agent waits in the call's bridge while the caller is dialled."""
        call = actor.core
        offer = call.settings.callback
        try:
            await self._ari.create_bridge(command.bridge)
            await self._ari.add_to_bridge(command.bridge, [command.agent_leg])
        except AsteriskError as exc:  # the agent hung up at once: its leg's end follows
            log.info("callback %s: agent %s left before the caller was dialled: %s", call.caller_id, call.agent_id, exc)
            return
        try:
            target = dial_string(offer.dial if offer is not None else "", command.number)  # only ever a number that passed the queue's rules
        except ValueError as exc:
            log.error("callback %s: %s", call.caller_id, exc)
            await self._carry_out(actor, call.dial_refused())
            return
        self._legs[command.callback_leg] = call.caller_id
        try:
            await self._ari.originate(target, command.callback_leg, "", command.ring_s, "callback")
        except AsteriskError as exc:
            log.warning("callback %s: dialling %s failed: %s", call.caller_id, command.number, exc)
            self._legs.pop(command.callback_leg, None)
            self._post(actor, core.CallbackLegEnded(command.callback_leg, "unavailable"))

    def _callback_failed(self, caller_id: str, queue: str, command: core.CallbackFailed) -> None:
        entry: dict[str, Any] = {"call_id": caller_id, "queue": queue, "number": command.number, "attempts": command.attempts, "at": time.time()}
        if command.refused:
            entry["refused"] = command.refused
        self.failed_callbacks.append(entry)

    def _record_after_hangup(self, caller_id: str) -> Record:
        """A callback's later steps go to the same call's journey, written after its channel ended."""
        def record(kind: str, detail: dict[str, Any]) -> None:
            if self._save is not None:
                self._tasks.spawn(f"journey-{caller_id}-{kind}", _saved(self._save(caller_id, kind, detail)))
        return record

    async def _wrap_up_ended(self, call_id: str, agent_id: str, wrap_up_s: float) -> None:
        if self._save is not None:
            await self._save(call_id, "wrap_up_ended", {"agent": agent_id, "wrap_up_s": wrap_up_s})

    # -- reading ----------------------------------------------------------------------------------

    def calls(self) -> list[tuple[QueuedCall, CallSnapshot]]:
        """The calls the ACD has now, for the supervisor's floor."""
        return [(actor.core, actor.snapshot) for actor in self._calls.values() if actor.core.phase is not Phase.ENDED]

    def _still_holding(self, queue: str) -> bool:
        return any(a.core.queue == queue and a.core.phase in (Phase.WAITING, Phase.ARRANGING_CALLBACK, Phase.CHECKING_NUMBER, Phase.RINGING)
                   for a in self._calls.values())

    @staticmethod
    def _waiting(call: QueuedCall) -> WaitingCall:
        return WaitingCall(call.caller_id, call.queue, call.enqueued_at, call.priority, call.extra_skills)


async def _saved(write: Awaitable[bool]) -> None:
    await write


def _rule(name: str, queue: QueueSettings) -> QueueRule:
    relax = tuple(Relaxation(step.after_s, None if step.any else step.lower_by) for step in queue.relax)
    return QueueRule(name, dict(queue.skills), queue.priority, relax, queue.aging_s)
