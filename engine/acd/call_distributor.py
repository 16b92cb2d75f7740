"""The ACD's adapter: carries the router's offers out over ARI and turns ARI events into facts.

A flow's `queue` node hands its caller here. The caller waits in the queue's holding bridge with
music on hold; the router picks the agent; the agent's softphone is called into our Stasis app
(`tl-agent-…` channels); when the agent answers, caller and agent are joined in a mixing bridge.
A ring that fails (no answer, busy, unavailable, rejected) pauses the agent with that reason and
puts the caller back at its place. When the call ends the agent is in wrap-up, which ends by time.

Agents are available while their softphone is registered (EndpointStateChange events) until the
agent desktop gives them explicit states; every state comes from an AgentLedger, so it is derived
from events and cannot get stuck. What happens to a call is recorded in that call's journey.
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

from engine.acd.acd_config import AcdConfig, QueueSettings
from engine.acd.agent_state import AgentEvent, AgentLedger, AgentState, EventKind, Status
from engine.acd.callback_numbers import (
    MAX_NUMBER_LENGTH, CallbackAllowed, CallbackRefused, CallbackRequest, NumberSource, RefusalReason, Verdict, check_callback, dial_string, display_number,
    is_plain_number, is_withheld, normalize, recent_for,
)
from engine.acd.screen_pop import build_pop
from engine.acd.wait_announcements import callback_confirmed, callback_question, callback_refused, wait_announcement
from engine.acd.wait_estimate import HandleTimes, estimate_wait, expected_remaining, spoken_wait
from engine.acd.router import Offer, QueueRule, Relaxation, Router, WaitingCall
from engine.asterisk.ari_client import AriClient
from engine.asterisk.ari_events import AriEvent, ChannelDestroyed, EndpointStateChanged, StasisStarted
from engine.asterisk.errors import AriRequestFailed, AsteriskError
from engine.flows.flow_model import Step
from engine.flows.interpreter import YES_WORDS

log = logging.getLogger(__name__)
AGENT_LEG_PREFIX = "tl-agent-"
CALLBACK_LEG_PREFIX = "tl-cbk-"
HOLD_BRIDGE_PREFIX = "tl-hold-"
CALL_BRIDGE_PREFIX = "tl-call-"
CALLBACK_REQUESTED = "callback_requested"
"""The journey event of an arranged callback: what the per-number rate limit counts (RecentCallbacks
reads these back) and what a restart finds owed callbacks by."""
SWEEP_S = 1.0
HISTORY_TIMEOUT_S = 0.5
RECENT_CALLBACKS_TIMEOUT_S = 1.0
"""How long the journey may take to say how often a number was called back lately; after that the
engine counts what it remembers itself (its own requests since it started)."""
MAX_NOTES = 2000
SPOKEN_CALLBACK_CONFIDENCE = 0.4
"""A callback phrase heard at least this surely counts; the number is then confirmed by key or yes."""
QUIET_WHILE_ARRANGING_S = 60.0
"""While a caller arranges a callback, wait announcements hold off this long."""
FIRST_ANNOUNCEMENT_S = 4.0
"""A new caller hears music for a moment, then its position and wait; then every `announce.every_s`."""
OVERFLOW_GOODBYE = {
    "ko": "죄송합니다. 지금은 모든 상담원이 통화 중입니다. 나중에 다시 전화해 주세요. 감사합니다.",
    "en": "We are sorry, all our agents are still busy. Please call again later. Thank you.",
}
"""Said when a queue's overflow has no message of its own, or its flow or callback target cannot
take this caller (no voice to continue a flow with or to speak to). A caller whose number cannot be
called back (withheld, or refused by the queue's callback rules) is not let go: it hears why and
keeps waiting at its place."""
RING_GRACE_S = 3.0
"""Asterisk ends an unanswered ring itself; only if that never arrives does the engine end it."""
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


class WaitingCallerVoice(Protocol):
    """How the ACD speaks to a waiting caller: the call's own prompts (TTS in the flow's language)."""

    @property
    def language(self) -> str: ...

    async def announce(self, text: str, wait: bool = False) -> None:
        """Play a sentence; with `wait`, return once it has been heard to its end."""

    async def hush(self) -> None:
        """Stop an announcement still playing (an agent answered)."""

    def continue_flow(self, target: str, reason: str = "queue overflow") -> None:
        """Hand the caller back to its flow at `target` (flow, flow.node or node): a queue's
        overflow, or an agent's secure entry."""

    def start_survey(self, target: str, queue: str, agent: str) -> None:
        """The agent hung up: the caller goes on to the queue's post-call survey flow at `target`."""

    def listen_for(self, phrases: Sequence[str]) -> None:
        """Recognise the caller's speech with these phrases (the callback offer's, and yes/no)."""

    async def stop_listening(self) -> None: ...


class ConversationRecorder(Protocol):
    """Who records conversations with agents (engine/recording/call_recorder.py)."""

    def conversation_started(self, call_id: str, channel_id: str, agent_id: str, queue: str, language: str, record: Record) -> None: ...

    def conversation_adopted(self, call_id: str, channel_id: str, agent_id: str, queue: str, language: str, record: Record) -> None: ...

    def conversation_ended(self, call_id: str) -> None: ...

    def sensitive_entry(self, call_id: str, sensitive: bool) -> None: ...


class AcdListener(Protocol):
    """Who hears about agents and offers (the agent desktop's hub)."""

    def agent_changed(self, agent_id: str, state: dict[str, Any]) -> None: ...

    def call_offered(self, agent_id: str, pop: dict[str, Any]) -> None: ...

    def call_cleared(self, agent_id: str, call_id: str) -> None: ...


SaveToJourney = Callable[[str, str, dict[str, Any]], Awaitable[bool]]
"""(caller channel id, kind, detail) -> stored; for what agents add after the call (dispositions)."""
History = Callable[[str, str], Awaitable[list[dict[str, Any]]]]
"""(caller number, current call id) -> that number's previous calls, newest first."""
StateLog = Callable[[str, str, str, str], None]
"""(agent, status, reason, call id): an agent's state changed; kept for occupancy and reports."""
RecentCallbacks = Callable[[datetime], Awaitable[list[tuple[str, str, datetime, dict[str, Any]]]]]
"""(since) -> (channel id, kind, at, detail) of the `callback_requested` events since then (the
journey store's events_of_kinds_since): how the per-number rate limit survives a restart."""


def is_acd_resource(resource_id: str) -> bool:
    return resource_id.startswith((AGENT_LEG_PREFIX, CALLBACK_LEG_PREFIX, HOLD_BRIDGE_PREFIX, CALL_BRIDGE_PREFIX))


@dataclass
class _Call:
    caller_id: str
    queue: str
    enqueued_at: float
    snapshot: CallSnapshot
    record: Record
    hang_up: Callable[[str], Awaitable[None]]
    """Hangs the caller up through its call session, so the journey says the engine ended it and why."""
    priority: int | None = None
    extra_skills: dict[str, int] = field(default_factory=dict)
    agent_id: str = ""
    agent_leg: str = ""
    bridge: str = ""
    answered_at: float | None = None
    ended: bool = False
    voice: WaitingCallerVoice | None = None
    next_announcement: float = 0.0
    keyed: str | None = None
    """While the caller arranges a callback: the digits keyed so far (None: not arranging one)."""
    callback_number: str = ""
    """Set once the caller hung up for a callback: the call waits in line without a channel."""
    callback_leg: str = ""
    attempts: int = 0
    listening: bool = False
    transferred_from: str = ""
    """The agent who transferred the call to the next one: shown on the next agent's pop."""
    secure: bool = False
    callable_caller_id: str = ""
    """The caller ID in the form to dial, if it passed the queue's callback rules when the offer was taken."""
    arranging: bool = False
    """A callback number is being checked: a second # or overflow must not start another (once it is
    accepted, `callback_number` is set before the caller is told, and keeps every later key out)."""
    auto_callback_tried: bool = False
    """The queue's overflow tried to call the caller back: refused, it keeps waiting and is not tried again."""

    @property
    def language(self) -> str:
        return self.voice.language if self.voice is not None else self.snapshot.language
    previous_calls: list[dict[str, Any]] = field(default_factory=list)
    offered_after_s: float = 0.0
    """What the agent's pop showed: the number's previous calls, and how long the caller had waited."""
    """The caller is in the queue's secure-entry flow, out of the conversation; the agent hears music."""


class CallDistributor:
    def __init__(
        self,
        ari: AriClient,
        clock: Callable[[], float] = time.monotonic,
        listener: AcdListener | None = None,
        history: History | None = None,
        save: SaveToJourney | None = None,
        state_log: StateLog | None = None,
        login_by_phone: bool = True,
        recorder: ConversationRecorder | None = None,
        recent_callbacks: RecentCallbacks | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._ari = ari
        self._recent_callbacks = recent_callbacks
        self._wall_clock = wall_clock
        self._requested: deque[tuple[str, str, float]] = deque(maxlen=5000)
        """(call id, number, wall time) of callbacks this engine arranged: the rate limit's memory
        when the journey cannot be read, and before the journey writer has stored the latest."""
        self.recorder = recorder
        self._login_by_phone = login_by_phone
        self._state_log = state_log
        self._published: dict[str, AgentState] = {}
        """The state each agent was last reported in: a change (also one that came by time) is logged once."""
        self.listener = listener
        self._history = history
        self._save = save
        self._last_call: dict[str, tuple[str, str]] = {}
        """Agent -> (caller channel id, queue) of the agent's latest answered call: what a disposition is for."""
        self._clock = clock
        self._config: AcdConfig | None = None
        self.router = Router(())
        self._ledgers: dict[str, AgentLedger] = {}
        self._by_extension: dict[str, str] = {}
        self._calls: dict[str, _Call] = {}
        self._legs: dict[str, str] = {}
        """Agent leg channel id -> caller channel id."""
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sequence = 0
        self._holding: set[str] = set()
        self.failed_callbacks: deque[dict[str, Any]] = deque(maxlen=200)
        """Callbacks that failed every attempt: shown on the supervisor's floor."""
        self.handle_times = HandleTimes()
        """Talk plus the queue's wrap-up of recent calls, per queue: what wait estimates come from."""
        self._hold_locks: dict[str, asyncio.Lock] = {}
        """Per queue: creating its holding bridge for a caller and removing it once empty never interleave."""
        self._swept_at_start = False
        """Left-over ACD bridges were swept (or tried): done once per process, never on a restart of watch_agents."""

    # -- configuration ----------------------------------------------------------------------

    def serves(self, queue: str) -> bool:
        return self._config is not None and queue in self._config.queues

    def configure(self, config: AcdConfig) -> None:
        """Queues and agents of a (re)loaded flow set; waiting callers keep their place."""
        self._config = config
        waiting = [call for call in self._calls.values() if not call.agent_leg and not call.ended]
        self.router = Router(_rule(name, queue) for name, queue in config.queues.items())
        for call in waiting:
            if call.queue in config.queues:
                self.router.caller_waiting(self._waiting(call))
        for agent_id, agent in config.agents.items():
            ledger = self._ledgers.get(agent_id)
            if ledger is None:
                self._ledgers[agent_id] = AgentLedger(agent_id)
        for gone in set(self._ledgers) - set(config.agents):
            self._note(gone, EventKind.LOGOUT)
            del self._ledgers[gone]
        self._by_extension = {agent.extension: agent_id for agent_id, agent in config.agents.items()}
        for agent_id in config.agents:
            self._sync(agent_id)

    async def watch_agents(self) -> None:
        """Subscribe to every agent's endpoint and read its registration now; then sweep for relaxed
        requirements once a second, until cancelled. Run under the background supervisor, which
        restarts it after a failure: a restart never sweeps bridges (an agent alone in one is then a
        live call: secure entry, a callback being dialled). Only the first run in this process
        sweeps, and only if `sweep_at_start` was not called before it."""
        subscribed: set[str] = set()
        if not self._swept_at_start:
            await self.sweep_at_start()
        while True:
            config = self._config
            for extension, agent_id in list(self._by_extension.items()) if config else []:
                if extension in subscribed:
                    continue
                try:
                    await self._ari.subscribe_endpoint("PJSIP", extension)
                    state = await self._ari.endpoint_state("PJSIP", extension)
                except AsteriskError as exc:
                    log.debug("agent %s endpoint not readable yet: %s", agent_id, exc)
                    continue
                subscribed.add(extension)
                self._registration(agent_id, state)
            self._offer(self.router.offers(self._clock()))
            self._overflow(self._clock())
            self._announce(self._clock())
            await asyncio.sleep(SWEEP_S)

    # -- from flows -------------------------------------------------------------------------

    async def enqueue(
        self,
        caller_id: str,
        queue: str,
        skills: tuple[str, ...],
        priority: int,
        snapshot: CallSnapshot,
        record: Record,
        hang_up: Callable[[str], Awaitable[None]],
        waited_s: float = 0.0,
        voice: WaitingCallerVoice | None = None,
    ) -> None:
        """Queue a caller; `waited_s` keeps the place of a caller who was already waiting under an engine that stopped."""
        assert self._config is not None
        settings = self._config.queues[queue]
        extra = {skill: 1 for skill in skills if skill not in settings.skills}
        call = _Call(caller_id, queue, self._clock() - max(0.0, waited_s), snapshot, record, hang_up, priority, extra, voice=voice)
        call.next_announcement = self._clock() + FIRST_ANNOUNCEMENT_S
        self._calls[caller_id] = call
        async with self._hold_lock(queue):
            bridge = await self._holding_bridge(queue, settings)
            try:
                await self._ari.add_to_bridge(bridge, [caller_id])
            except AriRequestFailed as exc:
                if not waited_s or exc.status not in (409, 422):
                    raise  # only an adopted caller may already be in its holding bridge
        detail: dict[str, Any] = {"queue": queue, "skills": sorted({*settings.skills, *extra}), "priority": priority}
        if waited_s:
            detail.update(after_restart=True, waited_s=round(waited_s, 1))
        record("queued", detail)
        self.router.caller_waiting(self._waiting(call))
        offer = self.router.offer_for_caller(caller_id, self._clock())
        if offer is not None:
            self._offer([offer])

    async def caller_left(self, caller_id: str) -> None:
        """The caller hung up: an abandon while waiting, or the end of a ringing or connected call."""
        call = self._calls.get(caller_id)
        if call is None or call.ended or call.callback_number:
            return  # a caller who hung up for a callback keeps its place without its channel
        del self._calls[caller_id]
        call.ended = True
        now = self._clock()
        self.router.caller_left(caller_id)
        if call.agent_leg and call.answered_at is None:
            call.record("abandoned", {"queue": call.queue, "waited_s": round(now - call.enqueued_at, 1), "while": "agent ringing", "short": False})
            self._legs.pop(call.agent_leg, None)
            await self._hang_up(call.agent_leg)
            self._cleared(call.agent_id, call)
            self._note(call.agent_id, EventKind.CALL_ENDED, call.caller_id)
        elif call.agent_leg:
            call.record("call_ended", {"by": "caller", "agent": call.agent_id, "talk_s": round(now - (call.answered_at or now), 1)})
            self._legs.pop(call.agent_leg, None)
            await self._hang_up(call.agent_leg)
            self._end_for_agent(call)
        else:
            short = now - call.enqueued_at < self._queue(call).short_abandon_s
            call.record("abandoned", {"queue": call.queue, "waited_s": round(now - call.enqueued_at, 1), "while": "waiting", "short": short})
        await self._drop_bridge(call)
        await self._release_hold(call.queue)

    # -- from ARI ---------------------------------------------------------------------------

    def on_event(self, event: AriEvent) -> bool:
        """Events of agent legs and agents' endpoints; True if the event was the ACD's."""
        if isinstance(event, EndpointStateChanged):
            agent_id = self._by_extension.get(event.resource)
            if agent_id is not None:
                self._registration(agent_id, event.state)
            return agent_id is not None
        if isinstance(event, StasisStarted) and event.channel.id.startswith(AGENT_LEG_PREFIX):
            self._own(self._agent_answered(event.channel.id))
            return True
        if isinstance(event, ChannelDestroyed) and event.channel_id.startswith(AGENT_LEG_PREFIX):
            self._own(self._agent_leg_ended(event.channel_id, event.cause))
            return True
        if isinstance(event, StasisStarted) and event.channel.id.startswith(CALLBACK_LEG_PREFIX):
            self._own(self._callback_answered(event.channel.id))
            return True
        if isinstance(event, ChannelDestroyed) and event.channel_id.startswith(CALLBACK_LEG_PREFIX):
            self._own(self._callback_leg_ended(event.channel_id, event.cause))
            return True
        channel_id = getattr(event, "channel_id", "") or ""
        return isinstance(channel_id, str) and channel_id.startswith((AGENT_LEG_PREFIX, CALLBACK_LEG_PREFIX))

    def call_phase(self, caller_id: str) -> str | None:
        call = self._calls.get(caller_id)
        if call is None or call.ended:
            return None
        return "talking" if call.answered_at is not None else "waiting"

    def floor(self) -> dict[str, Any]:
        """The live floor for supervisors: each queue's waiting callers in line order, its longest
        wait and its agents by state; each agent's state. Time in seconds, rounded."""
        if self._config is None:
            return {"queues": {}, "agents": {}}
        now = self._clock()
        states = {agent_id: ledger.state(now) for agent_id, ledger in self._ledgers.items()}
        queues: dict[str, Any] = {}
        for name, settings in self._config.queues.items():
            line = self.router.line(name, now)
            ringing = [call for call in self._calls.values() if call.queue == name and call.agent_leg and call.answered_at is None and not call.ended]
            waiting: list[dict[str, Any]] = [
                {"call_id": w.call_id, "number": self._calls[w.call_id].snapshot.caller_number if w.call_id in self._calls else "", "waited_s": round(now - w.enqueued_at, 1), "position": i, "ringing": "",
                 "callback": bool(w.call_id in self._calls and self._calls[w.call_id].callback_number)}
                for i, w in enumerate(line, start=1)
            ] + [
                {"call_id": c.caller_id, "number": c.snapshot.caller_number, "waited_s": round(now - c.enqueued_at, 1), "position": 0, "ringing": c.agent_id, "callback": bool(c.callback_number)}
                for c in ringing
            ]
            serving = [agent_id for agent_id, agent in self._config.agents.items() if all(agent.skills.get(skill, 0) >= 1 for skill in settings.skills)]
            by_state: dict[str, int] = {}
            for agent_id in serving:
                status = states[agent_id].status.value if agent_id in states else Status.LOGGED_OUT.value
                by_state[status] = by_state.get(status, 0) + 1
            queues[name] = {
                "waiting": waiting,
                "longest_wait_s": max((float(entry["waited_s"]) for entry in waiting), default=0.0),
                "agents": by_state,
                "service_level_s": settings.service_level.seconds,
                "target_percent": settings.service_level.target_percent,
            }
        agents = {
            agent_id: {"name": agent.name, **_shown(states[agent_id], now)} if agent_id in states else {"name": agent.name, "status": "logged_out"}
            for agent_id, agent in self._config.agents.items()
        }
        return {"queues": queues, "agents": agents, "failed_callbacks": list(self.failed_callbacks)}

    def agent_status(self) -> dict[str, dict[str, Any]]:
        now = self._clock()
        return {agent_id: _shown(ledger.state(now), now) for agent_id, ledger in self._ledgers.items()}

    def agent_state(self, agent_id: str) -> dict[str, Any] | None:
        ledger = self._ledgers.get(agent_id)
        return _shown(ledger.state(self._clock()), self._clock()) if ledger else None

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

    def extend_wrap_up(self, agent_id: str, seconds: float) -> str | None:
        """The agent needs longer for their notes: wrap-up ends `seconds` later (at most 10 minutes more)."""
        ledger = self._ledgers.get(agent_id)
        if ledger is None or ledger.state(self._clock()).status is not Status.WRAP_UP:
            return "you are not in wrap-up"
        self._note(agent_id, EventKind.WRAP_UP_EXTENDED, seconds=max(1.0, min(seconds, 600.0)))
        return None

    def agent_action(self, agent_id: str, action: str, reason: str = "") -> None:
        """The agent (or a supervisor) chose a state on the desktop: available, paused (with a reason) or logged out."""
        kinds = {"available": EventKind.READY, "paused": EventKind.PAUSE, "logged_out": EventKind.LOGOUT, "logged_in": EventKind.LOGIN}
        if action == "available" and (ledger := self._ledgers.get(agent_id)) and ledger.state(self._clock()).status is Status.LOGGED_OUT:
            self._note(agent_id, EventKind.LOGIN)
        self._note(agent_id, kinds[action], reason=reason)

    def close(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        for task in self._tasks:
            task.cancel()

    # -- carrying out offers ----------------------------------------------------------------

    def _offer(self, offers: list[Offer]) -> None:
        for offer in offers:
            self._own(self._ring(offer))

    async def _ring(self, offer: Offer) -> None:
        call = self._calls.get(offer.call_id)
        assert self._config is not None
        if call is None or call.ended:
            self._sync(offer.agent_id)
            return
        agent = self._config.agents.get(offer.agent_id)
        if agent is None:  # removed by a reload between the offer and now: the caller keeps its place
            self.router.caller_waiting(self._waiting(call))
            return
        leg = f"{AGENT_LEG_PREFIX}{secrets.token_hex(6)}"
        call.agent_id, call.agent_leg = offer.agent_id, leg
        self._legs[leg] = call.caller_id
        ring_s = int(self._queue(call).ring_timeout_s)
        self._note(offer.agent_id, EventKind.RESERVED, call.caller_id, seconds=ring_s + RING_GRACE_S)
        call.record("agent_ringing", {"agent": offer.agent_id, "extension": agent.extension, "waited_s": round(offer.waited_s, 1), "relaxed": offer.relaxed, "callback": bool(call.callback_number)})
        await self._pop(call, offer)
        try:
            number = display_number(call.snapshot.caller_number)  # a hostile caller ID must not reach the agent's phone as it is
            await self._ari.originate(f"PJSIP/{agent.extension}", leg, f'"{number}" <{number}>', ring_s, "agent")
        except AsteriskError as exc:
            log.warning("call %s: ringing agent %s failed: %s", call.caller_id, offer.agent_id, exc)
            await self._ring_failed(call, leg, "unavailable")

    async def _pop(self, call: _Call, offer: Offer) -> None:
        """The screen-pop goes to the agent's desktop as the phone starts ringing, before the answer."""
        if self.listener is None:
            return
        previous: list[dict[str, Any]] = []
        number = call.snapshot.caller_number
        if self._history is not None and is_plain_number(number) and not is_withheld(number):  # no history keyed on `anonymous` or `1&Local`
            try:
                async with asyncio.timeout(HISTORY_TIMEOUT_S):
                    previous = await self._history(call.snapshot.caller_number, call.caller_id)
            except Exception as exc:  # the pop goes out without history rather than late
                log.warning("call %s: previous calls not read for the pop: %s", call.caller_id, exc)
        call.previous_calls, call.offered_after_s = previous, offer.waited_s
        self.listener.call_offered(offer.agent_id, self._pop_message(call))

    def _pop_message(self, call: _Call) -> dict[str, Any]:
        snap = call.snapshot
        pop = build_pop(call.caller_id, call.queue, snap.caller_number, snap.caller_name, snap.variables, list(snap.journal), snap.procedures,
                        call.offered_after_s, call.previous_calls, callback=bool(call.callback_number))
        pop["dispositions"] = list(self._queue(call).dispositions)
        pop["transferred_from"] = call.transferred_from
        return pop

    async def _agent_answered(self, leg: str) -> None:
        caller_id = self._legs.get(leg)
        call = self._calls.get(caller_id) if caller_id else None
        if call is None or call.ended or call.agent_leg != leg:
            await self._hang_up(leg)  # answered after the caller left: nobody to talk to
            return
        if call.callback_number:
            await self._dial_back(call, leg)
            return
        call.answered_at = self._clock()
        call.bridge = f"{CALL_BRIDGE_PREFIX}{secrets.token_hex(6)}"  # named before any wait: an end meanwhile removes it
        self._last_call[call.agent_id] = (call.caller_id, call.queue)
        self._note(call.agent_id, EventKind.ANSWERED, call.caller_id)
        call.record("agent_answered", {"agent": call.agent_id, "waited_s": round(call.answered_at - call.enqueued_at, 1)})
        try:
            if call.voice is not None:
                await call.voice.stop_listening()
                await call.voice.hush()
            await self._ari.create_bridge(call.bridge)
            try:
                await self._ari.remove_from_bridge(self._hold_id(call.queue), call.caller_id)
            except AriRequestFailed:
                pass  # not in the holding bridge any more: adding it below moves it anyway
            await self._ari.add_to_bridge(call.bridge, [call.caller_id, leg])
        except AsteriskError as exc:
            if not call.ended:
                raise
            log.info("call %s ended while it was being connected: %s", call.caller_id, exc)
        finally:
            if call.ended:  # the caller or the agent left while the bridge was being made: nothing may be left
                await self._drop_bridge(call)
        if not call.ended:
            if self.recorder is not None:
                self.recorder.conversation_started(call.caller_id, call.caller_id, call.agent_id, call.queue, call.language, call.record)
            await self._release_hold(call.queue)

    async def _agent_leg_ended(self, leg: str, cause: int) -> None:
        caller_id = self._legs.pop(leg, None)
        call = self._calls.get(caller_id) if caller_id else None
        if call is None or call.ended or call.agent_leg != leg:
            return
        if call.callback_number and call.callback_leg and call.answered_at is None:
            await self._callback_abandoned_by_agent(call)
            return
        if call.answered_at is None:
            await self._ring_failed(call, leg, RING_FAILURES.get(cause, "no-answer"))
            return
        call.record("call_ended", {"by": "agent", "agent": call.agent_id, "talk_s": round(self._clock() - call.answered_at, 1)})
        call.ended = True
        self._calls.pop(call.caller_id, None)
        self._end_for_agent(call)
        await self._drop_bridge(call)
        survey = self._queue(call).survey if self._config is not None and call.queue in self._config.queues else None
        if call.callback_leg:
            await self._hang_up(call.callback_leg)
        elif survey is not None and call.voice is not None:
            call.record("survey_offered", {"queue": call.queue, "agent": call.agent_id, "flow": survey})
            call.voice.start_survey(survey, call.queue, call.agent_id)
        else:
            await call.hang_up("the agent ended the call")

    async def _ring_failed(self, call: _Call, leg: str, reason: str) -> None:
        """The agent did not take it: they are paused with the reason; the caller keeps its place."""
        self._legs.pop(leg, None)
        agent_id = call.agent_id
        self._cleared(agent_id, call)
        self._note(agent_id, EventKind.RING_FAILED, call.caller_id, reason)
        call.record("agent_not_answered", {"agent": agent_id, "reason": reason})
        call.agent_id, call.agent_leg = "", ""
        self.router.caller_waiting(self._waiting(call))
        offer = self.router.offer_for_caller(call.caller_id, self._clock())
        if offer is not None:
            self._offer([offer])

    def _ring_ran_out(self, agent_id: str) -> None:
        """The ring time is over but Asterisk never said the agent's leg ended (a lost event): do not
        leave the caller waiting on it; hang the leg up and put the caller back at its place."""
        for call in self._calls.values():
            if call.agent_id == agent_id and call.agent_leg and call.answered_at is None and not call.ended:
                leg = call.agent_leg
                self._own(self._hang_up(leg))
                self._own(self._ring_failed(call, leg, "no-answer"))

    def _cleared(self, agent_id: str, call: _Call) -> None:
        if self.listener is not None and agent_id:
            self.listener.call_cleared(agent_id, call.caller_id)

    def _end_for_agent(self, call: _Call) -> None:
        """The call is over: wrap-up, with the pop left on the agent's screen for the notes."""
        wrap_up = self._queue(call).wrap_up_s
        now = self._clock()
        self.handle_times.record(call.queue, now - (call.answered_at or now) + wrap_up, now)
        self._note(call.agent_id, EventKind.CALL_ENDED, call.caller_id, seconds=wrap_up)

    # -- agents -----------------------------------------------------------------------------

    def _registration(self, agent_id: str, state: str) -> None:
        ledger = self._ledgers.get(agent_id)
        if ledger is None:
            return
        if state == "online":
            self._note(agent_id, EventKind.REGISTERED)
            if self._login_by_phone and ledger.state(self._clock()).status is Status.LOGGED_OUT:
                # acd.login = phone: a registered softphone is a logged-in, ready agent.
                self._note(agent_id, EventKind.LOGIN)
                self._note(agent_id, EventKind.READY)
        elif state == "offline":
            self._note(agent_id, EventKind.UNREGISTERED)

    def _note(self, agent_id: str, kind: EventKind, call_id: str = "", reason: str = "", seconds: float = 0.0) -> None:
        ledger = self._ledgers.get(agent_id)
        if ledger is None:
            return
        self._sequence += 1
        ledger.record(AgentEvent(f"acd-{self._sequence}", self._clock(), kind, call_id, reason, seconds))
        self._sync(agent_id)

    def _publish(self, agent_id: str, state: AgentState, now: float) -> None:
        """Tell the agent's pages, and log a change of status once, whether an event or time made it."""
        before = self._published.get(agent_id)
        if before is not None and (before.status, before.reason, before.registered, before.call_id, before.until) == (state.status, state.reason, state.registered, state.call_id, state.until):
            return
        self._published[agent_id] = state
        if self.listener is not None:
            self.listener.agent_changed(agent_id, _shown(state, now))
        if before is not None and (before.status, before.reason) == (state.status, state.reason):
            return  # registration or a wrap-up extension: shown, but not a change of status
        log.info("agent %s: %s -> %s%s", agent_id, before.status.value if before else "-", state.status.value, f" ({state.reason})" if state.reason else "")
        if self._state_log is not None:
            self._state_log(agent_id, state.status.value, state.reason, state.call_id)
        if before is not None and before.status is Status.WRAP_UP and self._save is not None:
            wrap_up_s = round(max(0.0, min(now, before.until) - before.since), 1)
            self._own(self._save(before.call_id, "wrap_up_ended", {"agent": agent_id, "wrap_up_s": wrap_up_s}))

    def _sync(self, agent_id: str) -> None:
        """Tell the router whether the agent can take a call now; if so, offer one; arm the end of a timed state."""
        ledger = self._ledgers.get(agent_id)
        if ledger is None or self._config is None or agent_id not in self._config.agents:
            return
        now = self._clock()
        state = ledger.state(now)
        self._publish(agent_id, state, now)
        handle = self._timers.pop(agent_id, None)
        if handle is not None:
            handle.cancel()
        if state.routable(now):
            self.router.agent_available(agent_id, self._config.agents[agent_id].skills, state.idle_since)
            offer = self.router.offer_for_agent(agent_id, now)
            if offer is not None:
                self._offer([offer])
            return
        self.router.agent_busy(agent_id)
        if state.status is Status.PAUSED and state.reason == "no-answer":
            self._ring_ran_out(agent_id)
        if state.status in (Status.WRAP_UP, Status.RESERVED) and state.until > now:
            self._timers[agent_id] = asyncio.get_running_loop().call_later(state.until - now + 0.01, self._sync, agent_id)

    # -- bridges and helpers ----------------------------------------------------------------

    async def _holding_bridge(self, queue: str, settings: QueueSettings) -> str:
        bridge = self._hold_id(queue)
        if bridge not in self._holding:
            try:
                await self._ari.create_bridge(bridge, "holding")
            except AriRequestFailed as exc:
                if exc.status != 409:  # it exists already (left by an earlier engine): use it
                    raise
            await self._ari.start_bridge_music(bridge, settings.announce.music)
            self._holding.add(bridge)
        return bridge

    # -- after an engine restart -------------------------------------------------------------

    async def adopt_conversation(
        self, caller_id: str, queue: str, agent_id: str, talked_s: float, snapshot: CallSnapshot, record: Record, hang_up: Callable[[str], Awaitable[None]]
    ) -> bool:
        """A caller who was talking to an agent when the last engine stopped: find their bridge and
        the agent's leg, so the agent is on call again and either side hanging up ends the call
        properly. False if the agent's leg is gone (the caller is let go), or if Asterisk's bridges
        cannot be read (the two are left talking, untracked: better than cutting them off)."""
        try:
            bridges = await self._ari.list_bridges()
        except AsteriskError as exc:  # not knowing is not knowing the agent left: keep the caller, untracked
            log.warning("call %s: bridges not readable to adopt its conversation: %s", caller_id, exc)
            return False
        found = next(((bridge, members) for bridge, members in bridges.items() if bridge.startswith(CALL_BRIDGE_PREFIX) and caller_id in members), None)
        leg = next((member for member in found[1] if member.startswith(AGENT_LEG_PREFIX)), "") if found else ""
        if found is None or not leg or self._config is None or queue not in self._config.queues:
            record("call_ended", {"by": "agent", "agent": agent_id, "while_engine_restarted": True})
            if found is not None:
                try:
                    await self._ari.delete_bridge(found[0])
                except AsteriskError as exc:
                    log.info("call %s: its conversation bridge was already gone: %s", caller_id, exc)
            await hang_up("the agent left while the engine restarted")
            return False
        now = self._clock()
        call = _Call(caller_id, queue, now - talked_s, snapshot, record, hang_up, agent_id=agent_id, agent_leg=leg, bridge=found[0], answered_at=now - talked_s)
        self._calls[caller_id] = call
        self._legs[leg] = caller_id
        self._last_call[agent_id] = (caller_id, queue)
        self._note(agent_id, EventKind.LOGIN)  # a new engine starts with everyone logged out; this agent is at work
        self._note(agent_id, EventKind.ANSWERED, caller_id)
        record("conversation_adopted", {"agent": agent_id, "bridge": found[0]})
        if self.recorder is not None:
            self.recorder.conversation_adopted(caller_id, caller_id, agent_id, queue, snapshot.language, record)
        return True

    def restore_callback(self, caller_id: str, queue: str, number: str, waited_s: float, attempts: int, snapshot: CallSnapshot) -> bool:
        """A callback the last engine still owed (from the journey): back in line at its place, if
        its number passes the queue's rules of today (an older engine may have accepted anything);
        a refused one is closed in the journey (`callback_refused`) and shown as failed."""
        if self._config is None or queue not in self._config.queues or caller_id in self._calls:
            return False
        offer = self._config.queues[queue].callback
        verdict: Verdict = normalize(number, NumberSource.RESTORED, offer.numbers.rules()) if offer is not None else CallbackRefused(RefusalReason.NO_CALLBACKS, "")
        if isinstance(verdict, CallbackRefused):
            self._record_after_hangup(caller_id)("callback_refused", {"queue": queue, "source": NumberSource.RESTORED.value, "reason": verdict.reason.value, "number": verdict.shown, "detail": verdict.detail[:80]})
            self.failed_callbacks.append({"call_id": caller_id, "queue": queue, "number": verdict.shown, "attempts": attempts, "at": time.time(), "refused": verdict.reason.value})
            log.warning("call %s: owed callback to %s not restored: refused by queue %s's callback rules (%s)", caller_id, verdict.shown, queue, verdict.reason.value)
            return False
        number = verdict.number
        self._requested.append((caller_id, number, self._wall_clock() - max(0.0, waited_s)))
        call = _Call(caller_id, queue, self._clock() - max(0.0, waited_s), snapshot, self._record_after_hangup(caller_id), _no_channel, callback_number=number, attempts=attempts)
        self._calls[caller_id] = call
        call.record("callback_restored", {"queue": queue, "number": number, "waited_s": round(waited_s, 1), "attempts": attempts})
        self.router.caller_waiting(self._waiting(call))
        return True

    async def sweep_at_start(self) -> None:
        """Once, when the engine starts, before any call is taken: conversations whose caller left
        while no engine ran (the agent alone in the bridge) are ended, and empty ACD bridges
        removed, so nothing lingers in Asterisk. Never later: in a running engine an agent alone in
        a bridge is a live call (the caller in secure entry, or a callback being dialled)."""
        if self._swept_at_start:
            return
        self._swept_at_start = True
        try:
            bridges = await self._ari.list_bridges()
        except AsteriskError as exc:
            log.warning("ACD bridges not swept: %s", exc)
            return
        for bridge, members in bridges.items():
            if not bridge.startswith((CALL_BRIDGE_PREFIX, HOLD_BRIDGE_PREFIX)):
                continue
            if all(member.startswith(AGENT_LEG_PREFIX) for member in members):
                for member in members:
                    try:
                        await self._hang_up(member)
                    except AsteriskError as exc:
                        log.debug("agent leg %s not hung up: %s", member, exc)
                try:
                    await self._ari.delete_bridge(bridge)
                except AsteriskError as exc:
                    log.debug("bridge %s not removed: %s", bridge, exc)

    # -- transfers ---------------------------------------------------------------------------

    async def transfer(self, agent_id: str, call_id: str, target: str) -> str | None:
        """The agent hands their caller on: `queue:NAME` (blind, back in line there) or `agent:ID`
        (that agent's phone rings with the same pop). The caller hears hold music meanwhile; the
        journey stays the call's one journey (the call id is the caller's channel throughout).
        Returns an error for the agent, or None once the transfer has started."""
        call = self._calls.get(call_id)
        if call is None or call.ended or call.agent_id != agent_id or call.answered_at is None or call.callback_leg:
            return "you are not talking to that caller"
        assert self._config is not None
        kind, _, name = target.partition(":")
        now = self._clock()
        if kind == "queue":
            if name not in self._config.queues:
                return f"no queue `{name}`"
        elif kind == "agent":
            ledger = self._ledgers.get(name)
            if name == agent_id or ledger is None:
                return f"no other agent `{name}`"
            if not ledger.state(now).routable(now):
                return f"{name} is not available"
        else:
            return "transfer to queue:NAME or agent:ID"
        old_leg, old_bridge = call.agent_leg, call.bridge
        call.record("transferred", {"from_agent": agent_id, "to": target, "talk_s": round(now - call.answered_at, 1)})
        if self.recorder is not None:
            self.recorder.conversation_ended(call.caller_id)  # each agent's part is its own recording
        self._end_for_agent(call)
        self._legs.pop(old_leg, None)
        call.transferred_from = agent_id
        call.agent_id, call.agent_leg, call.bridge, call.answered_at = "", "", "", None
        queue = name if kind == "queue" else call.queue
        settings = self._config.queues[queue]
        async with self._hold_lock(queue):
            try:
                await self._ari.remove_from_bridge(old_bridge, call.caller_id)
            except AriRequestFailed:
                pass
            bridge = await self._holding_bridge(queue, settings)
            await self._ari.add_to_bridge(bridge, [call.caller_id])
        await self._hang_up(old_leg)
        try:
            await self._ari.delete_bridge(old_bridge)
        except AsteriskError:
            pass
        if kind == "queue":
            call.queue, call.enqueued_at = queue, self._clock()
            call.record("queued", {"queue": queue, "skills": sorted({*settings.skills, *call.extra_skills}), "priority": call.priority, "transferred_from": agent_id})
            self.router.caller_waiting(self._waiting(call))
            offer = self.router.offer_for_caller(call.caller_id, self._clock())
            if offer is not None:
                self._offer([offer])
        else:
            self.router.agent_busy(name)
            self._own(self._ring(Offer(call.caller_id, name, queue, self._clock() - call.enqueued_at, False)))
        return None

    # -- secure entry -------------------------------------------------------------------------

    async def secure_entry(self, agent_id: str, call_id: str) -> str | None:
        """The agent sends the caller to the queue's secure-entry flow to key card or account
        details the agent must not hear: the caller leaves the conversation bridge (its keys are
        not passed to the agent), the agent hears music, and the flow's `queue` node brings the
        caller back (secure_entry_done). Returns an error for the agent, or None once started."""
        call = self._calls.get(call_id)
        if call is None or call.ended or call.agent_id != agent_id or call.answered_at is None or call.callback_leg or call.voice is None:
            return "you are not talking to that caller"
        target = self._queue(call).secure_entry
        if target is None:
            return f"queue {call.queue} has no secure_entry flow"
        if call.secure:
            return "the caller is in secure entry already"
        call.secure = True
        call.record("secure_entry_started", {"agent": agent_id, "flow": target})
        try:
            await self._ari.remove_from_bridge(call.bridge, call.caller_id)
            await self._ari.start_bridge_music(call.bridge, self._queue(call).announce.music)
            await self.keep_audio_flowing(call.caller_id)
        except AsteriskError as exc:
            if call.ended:
                return "the call has ended"
            call.secure = False
            log.warning("call %s: secure entry not started: %s", call_id, exc)
            return "secure entry could not start; try again"
        call.voice.continue_flow(target, "secure entry")
        return None

    async def keep_audio_flowing(self, caller_id: str) -> None:
        """Silence to a caller out of every bridge, between prompts: MixMonitor keeps the file's
        timeline only while audio is written to the channel both ways; without it the file loses the
        time the caller spent keying, and pauses no longer sit where they were."""
        try:
            await self._ari.start_silence(caller_id)
        except AriRequestFailed:
            pass  # the caller hung up meanwhile

    def in_secure_entry(self, caller_id: str) -> bool:
        call = self._calls.get(caller_id)
        return call is not None and call.secure and not call.ended

    async def secure_entry_done(self, caller_id: str) -> None:
        """The secure-entry flow reached its `queue` node: the caller is back with the same agent,
        whose pop is sent again with what the flow collected (sensitive values masked)."""
        call = self._calls.get(caller_id)
        if call is None or call.ended or not call.secure:
            return
        call.secure = False
        for stop in (self._ari.stop_silence(caller_id), self._ari.stop_bridge_music(call.bridge)):
            try:
                await stop
            except AsteriskError:
                pass  # it had stopped
        await self._ari.add_to_bridge(call.bridge, [caller_id])
        call.record("secure_entry_ended", {"agent": call.agent_id})
        if self.listener is not None:
            self.listener.call_offered(call.agent_id, self._pop_message(call))

    # -- callbacks ---------------------------------------------------------------------------

    def key_pressed(self, caller_id: str, digit: str, by: str = "key") -> bool:
        """A key from a waiting caller: the callback offer's key, then 1 to confirm the calling
        number or another number ended with #. True if the ACD took the key."""
        call = self._calls.get(caller_id)
        offer = self._queue(call).callback if call is not None and self._config is not None else None
        if call is None or offer is None or call.ended or call.agent_leg or call.voice is None or call.callback_number:
            return False
        if call.arranging:
            return True  # a number is being checked: keys meanwhile change nothing
        if call.keyed is None:
            if digit != offer.key:
                return False
            call.keyed = ""
            call.record("callback_offer_taken", {"by": by})
            call.next_announcement = self._clock() + QUIET_WHILE_ARRANGING_S  # no wait announcement over the questions
            verdict = normalize(call.snapshot.caller_number, NumberSource.CALLER_ID, offer.numbers.rules())
            call.callable_caller_id = verdict.number if isinstance(verdict, CallbackAllowed) else ""
            question = callback_question(call.voice.language, call.callable_caller_id, caller_id_refused=isinstance(verdict, CallbackRefused))
            if isinstance(verdict, CallbackRefused):
                self._callback_refused(call, NumberSource.CALLER_ID, verdict, question)
            self._own(call.voice.announce(question))
            return True
        if digit == "1" and call.keyed == "" and call.callable_caller_id:
            self._own(self._arrange_callback(call, call.callable_caller_id, NumberSource.CALLER_ID))
        elif digit == "#":
            if not call.keyed:
                self._own(call.voice.announce(callback_question(call.voice.language, call.callable_caller_id, caller_id_refused=not call.callable_caller_id)))
                return True
            self._own(self._arrange_callback(call, call.keyed, NumberSource.KEYED))
        elif digit == "*":
            call.keyed = None  # changed their mind: back to waiting
            call.next_announcement = self._clock() + self._queue(call).announce.every_s
        elif digit.isdigit() and len(call.keyed) <= MAX_NUMBER_LENGTH:
            call.keyed += digit  # one digit more than a number may have: a longer one is refused, never cut to fit
        return True

    def speech_heard(self, caller_id: str, heard: Sequence[tuple[str, float]]) -> bool:
        """What a waiting caller said: a callback phrase asks for the callback (like its key), and a
        yes confirms the calling number (like 1). True if the ACD took it."""
        call = self._calls.get(caller_id)
        offer = self._queue(call).callback if call is not None and self._config is not None else None
        if call is None or offer is None or call.voice is None or call.agent_leg or call.callback_number:
            return False
        words = [(" ".join(text.split()), confidence) for text, confidence in heard if confidence >= SPOKEN_CALLBACK_CONFIDENCE]
        if call.keyed is None:
            wanted = [" ".join(phrase.split()) for phrase in offer.phrases]
            if any(phrase in text for text, _ in words for phrase in wanted):
                return self.key_pressed(caller_id, offer.key, by="speech")
            return False
        if call.keyed == "" and call.callable_caller_id and any(word in text.split() for text, _ in words for word in YES_WORDS.get(call.voice.language[:2], YES_WORDS["en"])):
            return self.key_pressed(caller_id, "1", by="speech")
        return False

    async def _arrange_callback(self, call: _Call, raw: str, source: NumberSource, overflow_waited_s: float | None = None) -> None:
        """The caller confirmed a number (or the queue's overflow chose the caller ID): checked
        against the queue's callback rules and rate limit; if it passes, the caller keeps its place
        in line without a channel and is let go after being told. If not, it hears so and keeps
        waiting at its place."""
        if call.arranging or call.ended or call.callback_number:
            return
        call.arranging = True
        try:
            verdict = await self._check_number(call, raw, source)
        finally:
            call.arranging = False
        if call.ended or call.voice is None or call.agent_leg:
            return  # the caller left, or an agent took it, while the number was checked
        if isinstance(verdict, CallbackRefused):
            offer = self._queue(call).callback
            said = callback_refused(call.voice.language, offer.key if offer is not None else "1")
            self._callback_refused(call, source, verdict, said, back_to_waiting=True)
            await call.voice.announce(said)
            return
        # Accepted: the call is marked before the first await, so a second # (or the callback key,
        # or the overflow) pressed while the caller is told cannot arrange the callback again.
        number, voice = verdict.number, call.voice
        if overflow_waited_s is not None:
            call.record("overflowed", {"queue": call.queue, "to": "callback", "waited_s": overflow_waited_s})
        waited = self._clock() - call.enqueued_at
        call.callback_number = number
        call.keyed = None
        call.next_announcement = float("inf")  # no wait announcement over the confirmation
        self._requested.append((call.caller_id, number, self._wall_clock()))
        call.record(CALLBACK_REQUESTED, {"queue": call.queue, "number": number, "waited_s": round(waited, 1), "source": source.value})
        call.record = self._record_after_hangup(call.caller_id)
        await voice.stop_listening()
        await voice.announce(callback_confirmed(voice.language, number), wait=True)
        call.voice = None
        await call.hang_up("callback arranged")
        await self._release_hold(call.queue)

    async def _check_number(self, call: _Call, raw: str, source: NumberSource) -> Verdict:
        """The callback rules of the call's queue, with the callbacks to that number in the last
        hour from the journey (and this engine's own memory, if the journey is slow or down)."""
        offer = self._queue(call).callback
        if offer is None:
            return CallbackRefused(RefusalReason.NO_CALLBACKS, "")
        rules = offer.numbers.rules()
        first = normalize(raw, source, rules)
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
        return check_callback(CallbackRequest(raw, source, rules, recent_for(first.number, requests), now))

    def _callback_refused(self, call: _Call, source: NumberSource, verdict: CallbackRefused, said: str, back_to_waiting: bool = False) -> None:
        """Into the journey (and so the log): why, the number bounded and escaped (never the raw
        string), and what the caller is told. `back_to_waiting`: the caller keeps its place and hears
        the wait announcements again."""
        if back_to_waiting:
            call.keyed = None  # back to waiting at its place; the callback key asks again
            call.next_announcement = self._clock() + self._queue(call).announce.every_s
        detail = {"queue": call.queue, "source": source.value, "reason": verdict.reason.value, "number": verdict.shown, "detail": verdict.detail[:80], "said": said}
        call.record("callback_refused", detail)

    def _record_after_hangup(self, caller_id: str) -> Record:
        """A callback's later steps go to the same call's journey, written after its channel ended."""
        def record(kind: str, detail: dict[str, Any]) -> None:
            if self._save is not None:
                self._own(self._save(caller_id, kind, detail))
        return record

    async def _dial_back(self, call: _Call, agent_leg: str) -> None:
        """The agent took the callback: now dial the caller, with the agent waiting in the call's bridge."""
        offer = self._queue(call).callback
        assert offer is not None
        self._last_call[call.agent_id] = (call.caller_id, call.queue)
        self._note(call.agent_id, EventKind.ANSWERED, call.caller_id)
        call.bridge = f"{CALL_BRIDGE_PREFIX}{secrets.token_hex(6)}"
        try:
            await self._ari.create_bridge(call.bridge)
            await self._ari.add_to_bridge(call.bridge, [agent_leg])
        except AsteriskError as exc:  # the agent hung up at once
            log.info("callback %s: agent %s left before the caller was dialled: %s", call.caller_id, call.agent_id, exc)
            await self._drop_bridge(call)
            return
        call.attempts += 1
        call.callback_leg = f"{CALLBACK_LEG_PREFIX}{secrets.token_hex(6)}"
        self._legs[call.callback_leg] = call.caller_id
        try:
            target = dial_string(offer.dial, call.callback_number)  # only ever a number that passed the queue's rules
        except ValueError as exc:
            log.error("callback %s: %s", call.caller_id, exc)
            call.attempts = offer.retries + 1
            await self._callback_attempt_failed(call, "number refused")
            return
        call.record("callback_dialing", {"agent": call.agent_id, "number": call.callback_number, "attempt": call.attempts})
        try:
            await self._ari.originate(target, call.callback_leg, "", int(offer.ring_s), "callback")
        except AsteriskError as exc:
            log.warning("callback %s: dialling %s failed: %s", call.caller_id, call.callback_number, exc)
            await self._callback_attempt_failed(call, "unavailable")

    async def _callback_answered(self, leg: str) -> None:
        caller_id = self._legs.get(leg)
        call = self._calls.get(caller_id) if caller_id else None
        if call is None or call.ended or call.callback_leg != leg or not call.bridge:
            await self._hang_up(leg)
            return
        call.answered_at = self._clock()
        await self._ari.add_to_bridge(call.bridge, [leg])
        if self.recorder is not None:
            self.recorder.conversation_started(call.caller_id, leg, call.agent_id, call.queue, call.language, call.record)
        call.record("callback_answered", {"agent": call.agent_id, "attempt": call.attempts, "waited_s": round(call.answered_at - call.enqueued_at, 1)})

    async def _callback_leg_ended(self, leg: str, cause: int) -> None:
        caller_id = self._legs.pop(leg, None)
        call = self._calls.get(caller_id) if caller_id else None
        if call is None or call.ended or call.callback_leg != leg:
            return
        if call.answered_at is None:
            await self._callback_attempt_failed(call, RING_FAILURES.get(cause, "no-answer"))
            return
        call.record("call_ended", {"by": "caller", "agent": call.agent_id, "talk_s": round(self._clock() - call.answered_at, 1)})
        call.ended = True
        self._calls.pop(call.caller_id, None)
        self._legs.pop(call.agent_leg, None)
        await self._hang_up(call.agent_leg)
        self._end_for_agent(call)
        await self._drop_bridge(call)

    async def _callback_attempt_failed(self, call: _Call, reason: str) -> None:
        """The caller did not answer: free the agent, and try again after the delay, or give up."""
        offer = self._queue(call).callback
        assert offer is not None
        call.record("callback_attempt_failed", {"attempt": call.attempts, "reason": reason, "agent": call.agent_id})
        self._legs.pop(call.agent_leg, None)
        self._legs.pop(call.callback_leg, None)
        await self._hang_up(call.agent_leg)
        await self._drop_bridge(call)
        self._cleared(call.agent_id, call)
        self._note(call.agent_id, EventKind.CALL_ENDED, call.caller_id)  # no wrap-up: there was no conversation
        call.agent_id, call.agent_leg, call.callback_leg, call.bridge = "", "", "", ""
        if call.attempts > offer.retries:
            call.ended = True
            self._calls.pop(call.caller_id, None)
            call.record("callback_failed", {"queue": call.queue, "number": call.callback_number, "attempts": call.attempts})
            self.failed_callbacks.append({"call_id": call.caller_id, "queue": call.queue, "number": call.callback_number, "attempts": call.attempts, "at": time.time()})
            return
        self._timers[f"retry:{call.caller_id}"] = asyncio.get_running_loop().call_later(offer.retry_delay_s, self._retry_callback, call.caller_id)

    def _retry_callback(self, caller_id: str) -> None:
        self._timers.pop(f"retry:{caller_id}", None)
        call = self._calls.get(caller_id)
        if call is not None and not call.ended and self._config is not None and call.queue in self._config.queues:
            self.router.caller_waiting(self._waiting(call))  # at its original place in line
            offer = self.router.offer_for_caller(caller_id, self._clock())
            if offer is not None:
                self._offer([offer])

    async def _callback_abandoned_by_agent(self, call: _Call) -> None:
        """The agent hung up before the caller answered: the attempt does not count against the caller."""
        leg = call.callback_leg
        call.attempts -= 1
        await self._callback_attempt_failed(call, "agent hung up")
        await self._hang_up(leg)

    # -- waiting callers ---------------------------------------------------------------------

    def _overflow(self, now: float) -> None:
        """Callers who waited the queue's max_wait go where it says: another queue (keeping their
        wait for the KPIs of neither), a callback to the calling number, or a message and goodbye."""
        if self._config is None:
            return
        for call in list(self._calls.values()):
            settings = self._config.queues.get(call.queue)
            limit = settings.max_wait if settings is not None else None
            if limit is None or call.ended or call.agent_leg or call.callback_number or call.keyed is not None or now - call.enqueued_at < limit.seconds:
                continue
            target = limit.overflow
            waited = round(now - call.enqueued_at, 1)
            if target.queue is not None and target.queue in self._config.queues:
                call.record("overflowed", {"queue": call.queue, "to": f"queue:{target.queue}", "waited_s": waited})
                self.router.caller_left(call.caller_id)
                self._own(self._move(call, target.queue))
            elif target.callback and call.voice is not None:
                if call.auto_callback_tried or call.arranging:
                    continue  # refused once: the caller keeps waiting at its place
                call.auto_callback_tried = True
                self._own(self._arrange_callback(call, call.snapshot.caller_number, NumberSource.OVERFLOW, waited))
            elif target.flow is not None and call.voice is not None:
                call.record("overflowed", {"queue": call.queue, "to": f"flow:{target.flow}", "waited_s": waited})
                self.router.caller_left(call.caller_id)
                call.ended = True
                self._calls.pop(call.caller_id, None)
                self._own(self._to_flow(call, target.flow))
            else:
                text = target.message or OVERFLOW_GOODBYE.get(call.voice.language[:2] if call.voice else "ko", OVERFLOW_GOODBYE["en"])
                call.record("overflowed", {"queue": call.queue, "to": "message", "waited_s": waited})
                self.router.caller_left(call.caller_id)
                call.ended = True
                self._calls.pop(call.caller_id, None)
                self._own(self._say_goodbye(call, text))

    async def _move(self, call: _Call, queue: str) -> None:
        """Into the overflow queue: a new visit there, starting now, in that queue's holding bridge."""
        assert self._config is not None
        old = call.queue
        call.queue, call.enqueued_at = queue, self._clock()
        settings = self._config.queues[queue]
        call.extra_skills = {skill: level for skill, level in call.extra_skills.items() if skill not in settings.skills}
        if call.voice is not None:
            await call.voice.hush()
        try:
            await self._ari.remove_from_bridge(self._hold_id(old), call.caller_id)  # straight from one holding bridge to another stalls
        except AriRequestFailed:
            pass
        async with self._hold_lock(queue):
            bridge = await self._holding_bridge(queue, settings)
            await self._ari.add_to_bridge(bridge, [call.caller_id])
        call.record("queued", {"queue": queue, "skills": sorted({*settings.skills, *call.extra_skills}), "priority": call.priority, "overflow_from": old})
        await self._release_hold(old)
        self.router.caller_waiting(self._waiting(call))
        offer = self.router.offer_for_caller(call.caller_id, self._clock())
        if offer is not None:
            self._offer([offer])

    async def _to_flow(self, call: _Call, flow_target: str) -> None:
        """Out of the holding bridge (its music stops) and back to the call's flow."""
        assert call.voice is not None
        await call.voice.hush()
        try:
            await self._ari.remove_from_bridge(self._hold_id(call.queue), call.caller_id)
        except AriRequestFailed:
            pass
        await self._release_hold(call.queue)
        call.voice.continue_flow(flow_target)

    async def _say_goodbye(self, call: _Call, text: str) -> None:
        if call.voice is not None:
            await call.voice.announce(text, wait=True)
        await call.hang_up("the queue's maximum wait was reached")
        await self._release_hold(call.queue)

    def _announce(self, now: float) -> None:
        """Each waiting caller whose turn it is hears its position, the estimated wait and the callback offer."""
        if self._config is None:
            return
        for name, settings in self._config.queues.items():
            announce = settings.announce
            if not (announce.position or announce.wait_estimate or settings.callback):
                continue
            line = self.router.line(name, now)
            due = [(i, self._calls[w.call_id]) for i, w in enumerate(line, start=1) if w.call_id in self._calls]
            due = [(i, call) for i, call in due if call.voice is not None and not call.ended and now >= call.next_announcement]
            if not due:
                continue
            mean = self.handle_times.mean(name, now)
            serving, busy = self._staffing(name, now, mean)
            for position, call in due:
                call.next_announcement = now + announce.every_s
                estimate = estimate_wait(position, serving, busy, mean) if serving else None
                phrase = spoken_wait(estimate) if announce.wait_estimate else None
                offer = settings.callback
                key = offer.key if offer is not None and now - call.enqueued_at >= offer.offer_after_s else None
                if key is not None and offer is not None and offer.phrases and not call.listening and call.voice is not None:
                    call.listening = True
                    call.voice.listen_for(offer.phrases)
                assert call.voice is not None
                text = wait_announcement(call.voice.language, position if announce.position else None, phrase, key)
                call.record("wait_announced", {"position": position, "estimate_s": round(estimate) if estimate is not None else None, "said": text})
                self._own(call.voice.announce(text))

    def _staffing(self, queue: str, now: float, mean_handle_s: float) -> tuple[int, list[float]]:
        """Agents staffed for a queue (not paused, logged out or unregistered) and, for each, the
        expected seconds until they are free."""
        assert self._config is not None
        needed = self._config.queues[queue].skills
        busy: list[float] = []
        for agent_id, agent in self._config.agents.items():
            ledger = self._ledgers.get(agent_id)
            if ledger is None or any(agent.skills.get(skill, 0) < 1 for skill in needed):
                continue
            state = ledger.state(now)
            if not state.registered or state.status in (Status.PAUSED, Status.LOGGED_OUT):
                continue
            if state.status is Status.AVAILABLE:
                busy.append(0.0)
            elif state.status is Status.WRAP_UP:
                busy.append(max(0.0, state.until - now))
            elif state.status is Status.ON_CALL:
                busy.append(expected_remaining(now - state.since, mean_handle_s))
            else:
                busy.append(mean_handle_s)  # ringing: about to start a call
        return len(busy), busy

    def _hold_lock(self, queue: str) -> asyncio.Lock:
        return self._hold_locks.setdefault(queue, asyncio.Lock())

    async def _release_hold(self, queue: str) -> None:
        """The last caller left the queue's holding bridge: remove it, so Asterisk holds nothing idle."""
        async with self._hold_lock(queue):
            if any(c.queue == queue and c.answered_at is None and not c.ended for c in self._calls.values()):
                return
            bridge = self._hold_id(queue)
            if bridge not in self._holding:
                return
            self._holding.discard(bridge)
            try:
                await self._ari.delete_bridge(bridge)
            except AsteriskError as exc:
                log.debug("holding bridge %s not removed: %s", bridge, exc)

    @staticmethod
    def _hold_id(queue: str) -> str:
        return f"{HOLD_BRIDGE_PREFIX}{queue}"

    async def _drop_bridge(self, call: _Call) -> None:
        """The conversation is over (or never began): its recording is filed, its bridge removed."""
        if self.recorder is not None:
            self.recorder.conversation_ended(call.caller_id)
        if call.bridge:
            try:
                await self._ari.delete_bridge(call.bridge)
            except AsteriskError as exc:
                log.warning("call %s: bridge %s not removed: %s", call.caller_id, call.bridge, exc)

    async def _hang_up(self, channel_id: str) -> None:
        try:
            await self._ari.hangup(channel_id)
        except AriRequestFailed:
            pass  # already gone

    def _queue(self, call: _Call) -> QueueSettings:
        assert self._config is not None
        return self._config.queues[call.queue]

    def _waiting(self, call: _Call) -> WaitingCall:
        return WaitingCall(call.caller_id, call.queue, call.enqueued_at, call.priority, call.extra_skills)

    def _own(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("ACD step failed: %s", task.exception(), exc_info=task.exception())


async def _no_channel(_reason: str) -> None:
    """A restored callback has no caller channel to hang up."""


def _rule(name: str, queue: QueueSettings) -> QueueRule:
    relax = tuple(Relaxation(step.after_s, None if step.any else step.lower_by) for step in queue.relax)
    return QueueRule(name, dict(queue.skills), queue.priority, relax, queue.aging_s)


def _shown(state: AgentState, now: float | None = None) -> dict[str, Any]:
    shown: dict[str, Any] = {"status": state.status.value, "reason": state.reason, "registered": state.registered, "call_id": state.call_id}
    if now is not None:
        shown["since_s"] = round(now - state.since, 1)
    if state.status is Status.WRAP_UP and now is not None:
        shown["wrap_up_left_s"] = round(max(0.0, state.until - now), 1)
    return shown


ACD_MARKS = ("queued", "agent_answered", "call_ended", "abandoned")
CALLBACK_MARKS = (CALLBACK_REQUESTED, "callback_answered", "callback_failed", "callback_refused", "call_ended")
"""`callback_refused` closes an owed callback whose number a restart found refused; a live refusal
comes before any request and changes nothing."""


def owed_callback(kinds: Sequence[str]) -> bool:
    """Whether a call's journey ends with a callback still to make (requested, never connected or given up)."""
    return _last_mark(kinds, CALLBACK_MARKS) == CALLBACK_REQUESTED


def acd_phase(kinds: Sequence[str]) -> str | None:
    """Where a call stood in the ACD by its journey: waiting, talking, or None (never queued, or over)."""
    return {"queued": "waiting", "agent_answered": "talking"}.get(_last_mark(kinds, ACD_MARKS))


def _last_mark(kinds: Sequence[str], marks: Sequence[str]) -> str:
    return next((kind for kind in reversed(kinds) if kind in marks), "")

