"""An agent's state, derived from events so it can never get stuck. Pure: no I/O, no clock.

The top complaint about every ACD is agents stuck in the wrong state: a lost hangup leaves them
"on call", a missed timer leaves them in wrap-up. Here the state is a function of the set of
events: duplicates are dropped by id, and events are folded in their own time order whatever
order they arrived in, so the same events always give the same state. Timed states end by time,
not by a timer firing: a wrap-up is over once `now` passes its end, and a reservation nobody
answered turns into a `no-answer` pause once its ring time is up, even if no event ever says so.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum


class Status(Enum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RESERVED = "reserved"
    """An offered call is ringing the agent's phone."""
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class EventKind(Enum):
    LOGIN = "login"
    LOGOUT = "logout"
    READY = "ready"
    """The agent (or a supervisor) made the agent available."""
    PAUSE = "pause"
    RESERVED = "reserved"
    ANSWERED = "answered"
    CALL_ENDED = "call_ended"
    RING_FAILED = "ring_failed"
    """The offered call was not taken: no answer, busy (486), unavailable (480/404) or 503; `reason` says which."""
    WRAP_UP_EXTENDED = "wrap_up_extended"
    REGISTERED = "registered"
    UNREGISTERED = "unregistered"


@dataclass(frozen=True)
class AgentEvent:
    event_id: str
    """Unique per event: a duplicate delivery has the same id and changes nothing."""
    at: float
    """Seconds on the engine's clock; events are applied in this order."""
    kind: EventKind
    call_id: str = ""
    reason: str = ""
    seconds: float = 0.0
    """Wrap-up length (CALL_ENDED), extension (WRAP_UP_EXTENDED), or how long the phone may ring (RESERVED)."""


@dataclass(frozen=True)
class AgentState:
    status: Status = Status.LOGGED_OUT
    since: float = 0.0
    call_id: str = ""
    reason: str = ""
    """The pause reason: a code the agent chose, or no-answer, busy, unavailable, rejected, unregistered."""
    until: float = 0.0
    """When a wrap-up ends, or when an unanswered reservation counts as no-answer."""
    registered: bool = True
    idle_since: float = 0.0
    """When the agent last became free: longest idle is chosen first."""

    def at_time(self, now: float) -> AgentState:
        """The state as it is at `now`: timed states that have run out have ended."""
        if self.status is Status.WRAP_UP and now >= self.until:
            return replace(self, status=Status.AVAILABLE, since=self.until, call_id="", until=0.0, idle_since=self.until)
        if self.status is Status.RESERVED and now >= self.until:
            return replace(self, status=Status.PAUSED, since=self.until, call_id="", reason="no-answer", until=0.0)
        return self

    def routable(self, now: float) -> bool:
        """May be offered a call now."""
        state = self.at_time(now)
        return state.status is Status.AVAILABLE and state.registered


RING_FAIL_REASONS = {"no-answer", "busy", "unavailable", "rejected", "congestion"}


def apply(state: AgentState, event: AgentEvent, ring_timeout_s: float) -> AgentState:
    """One event onto a state. Total: every event is meaningful (or harmless) in every state."""
    state = state.at_time(event.at)
    kind, at = event.kind, event.at
    if kind is EventKind.REGISTERED:
        return replace(state, registered=True)
    if kind is EventKind.UNREGISTERED:
        return replace(state, registered=False)
    if kind is EventKind.LOGOUT:
        return AgentState(Status.LOGGED_OUT, at, registered=state.registered, idle_since=state.idle_since)
    if kind is EventKind.LOGIN:
        if state.status is not Status.LOGGED_OUT:
            return state
        return AgentState(Status.PAUSED, at, reason="logged-in", registered=state.registered, idle_since=at)
    if state.status is Status.LOGGED_OUT and kind not in (EventKind.CALL_ENDED,):
        return state  # a logged-out agent takes no calls and no state changes but logging in
    if kind is EventKind.READY:
        if state.status in (Status.ON_CALL, Status.RESERVED):
            return state  # "ready" pressed during a call takes effect at its end, via wrap-up
        return replace(state, status=Status.AVAILABLE, since=at, call_id="", reason="", until=0.0, idle_since=at)
    if kind is EventKind.PAUSE:
        if state.status in (Status.ON_CALL, Status.RESERVED):
            return state
        return replace(state, status=Status.PAUSED, since=at, call_id="", reason=event.reason or "break", until=0.0)
    if kind is EventKind.RESERVED:
        if state.status is not Status.AVAILABLE:
            return state  # offered to an agent who was no longer free: the adapter sees RING_FAILED next
        ring_s = event.seconds if event.seconds > 0 else ring_timeout_s
        return replace(state, status=Status.RESERVED, since=at, call_id=event.call_id, until=at + ring_s)
    if kind is EventKind.ANSWERED:
        if state.status in (Status.RESERVED, Status.AVAILABLE, Status.PAUSED) and event.call_id:
            return replace(state, status=Status.ON_CALL, since=at, call_id=event.call_id, reason="", until=0.0)
        return state
    if kind is EventKind.RING_FAILED:
        if state.status is Status.RESERVED and state.call_id == event.call_id:
            reason = event.reason if event.reason in RING_FAIL_REASONS else "no-answer"
            return replace(state, status=Status.PAUSED, since=at, call_id="", reason=reason, until=0.0)
        return state
    if kind is EventKind.CALL_ENDED:
        if state.call_id != event.call_id or state.status not in (Status.ON_CALL, Status.RESERVED):
            return state  # the end of a call this agent is not on (a late or duplicate end)
        if state.status is Status.RESERVED:
            return replace(state, status=Status.AVAILABLE, since=at, call_id="", until=0.0, idle_since=at)
        if event.seconds <= 0:
            return replace(state, status=Status.AVAILABLE, since=at, call_id="", until=0.0, idle_since=at)
        return replace(state, status=Status.WRAP_UP, since=at, until=at + event.seconds)
    if kind is EventKind.WRAP_UP_EXTENDED and state.status is Status.WRAP_UP:
        return replace(state, until=state.until + max(0.0, event.seconds))
    return state


def _order(event: AgentEvent) -> tuple[float, str]:
    return (event.at, event.event_id)


class AgentLedger:
    """One agent's events and the state they give. Out-of-order events are inserted where they
    belong and the state is folded again; the log is kept from the last logout on (bounded)."""

    MAX_EVENTS = 500
    MAX_SEEN = 10_000
    """Event ids remembered for dropping duplicates; a duplicate older than that many events is rare and harmless."""

    def __init__(self, agent_id: str, ring_timeout_s: float = 15.0) -> None:
        self.agent_id = agent_id
        self.ring_timeout_s = ring_timeout_s
        self._events: list[AgentEvent] = []
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._state = AgentState()
        self._base = AgentState()

    def record(self, event: AgentEvent) -> AgentState:
        if event.event_id in self._seen:
            return self._state
        self._seen[event.event_id] = None
        if len(self._seen) > self.MAX_SEEN:
            self._seen.popitem(last=False)
        key = _order(event)
        if not self._events or key >= _order(self._events[-1]):
            self._events.append(event)
            self._state = apply(self._state, event, self.ring_timeout_s)
        else:
            bisect.insort(self._events, event, key=_order)
            self._state = self._fold()
        self._trim()
        return self._state

    def state(self, now: float) -> AgentState:
        return self._state.at_time(now)

    def _fold(self) -> AgentState:
        state = self._base
        for event in self._events:
            state = apply(state, event, self.ring_timeout_s)
        return state

    def _trim(self) -> None:
        if len(self._events) <= self.MAX_EVENTS:
            return
        cut = len(self._events) - self.MAX_EVENTS // 2
        for event in self._events[:cut]:
            self._base = apply(self._base, event, self.ring_timeout_s)
        del self._events[:cut]


def derive(events: Iterable[AgentEvent], ring_timeout_s: float = 15.0) -> AgentState:
    """The state a set of events gives, whatever their order or duplication."""
    ledger = AgentLedger("", ring_timeout_s)
    for event in events:
        ledger.record(event)
    return ledger._state
