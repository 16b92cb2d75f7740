"""Contact-centre KPIs from call journeys and agent states. Pure: facts in, figures out; no I/O, no clock.

One implementation for the live supervisor page and for historical reports, so the two can never
disagree. A call's journey becomes one `QueueVisit` per time the caller was queued; KPIs are
counts and means over visits; occupancy comes from agents' status intervals. Every formula is
written once in `FORMULAS`, the text the supervisor page shows under each figure, and each
function's docstring says the same thing.

Counting rules, chosen so a figure means one thing and every visit is counted exactly once:

- A visit is *offered* to the queue it was queued in. A caller who overflows from queue A to
  queue B makes two visits: overflowed at A, offered again at B.
- A re-queue after an engine restart (`after_restart`) is the same visit, not a new offer.
- *Answered* is decided at the answer: a caller still talking is answered (the queue's part is
  over), so the live service level moves when a call is answered, not when it hangs up.
- A callback is its own outcome: never answered for ASA/SL (its later wait is a virtual queue,
  not a caller on hold) and never abandoned; the conversation when it is returned counts in AHT.
- Short abandons (the caller hung up before the queue could reasonably answer: misdial, changed
  mind) count only as short abandons, never in abandon rate or service level.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from engine.acd.agent_state import Status
from engine.journey.events import (
    Abandoned,
    AgentAnswered,
    CallbackAnswered,
    CallbackRequested,
    CallEnded,
    JourneyEventModel,
    Overflowed,
    Queued,
    WrapUpEnded,
    from_stored,
    kinds,
)

JourneyEvent = tuple[str, float, Mapping[str, Any]]
"""(kind, at in epoch seconds, detail): one stored line of a call's journey, as the store returns it."""

TimedEvent = tuple[float, JourneyEventModel]
"""(at in epoch seconds, event): one decoded line of a call's journey."""

VISIT_KINDS = kinds(Queued, AgentAnswered, CallbackAnswered, CallEnded, Abandoned, CallbackRequested, Overflowed, WrapUpEnded)
"""The journey events queue visits are folded from: what to read from the store for the KPIs."""

StatusChange = tuple[str, float, str]
"""(agent, at in epoch seconds, status): an agent entered `status` at `at`."""

DEFAULT_SHORT_ABANDON_S = 5.0
"""The queue default (`short_abandon_s` in queues config), for queues a mapping does not name."""

DEFAULT_SERVICE_LEVEL_S = 20.0
"""The queue default (`service_level.seconds` in queues config), for queues a mapping does not name."""


class VisitOutcome(StrEnum):
    WAITING = "waiting"
    """Still in the queue (open)."""
    TALKING = "talking"
    """Answered, conversation going on (open)."""
    ANSWERED = "answered"
    """Answered and the conversation has ended."""
    ABANDONED = "abandoned"
    """The caller hung up before an answer, after the short-abandon time."""
    SHORT_ABANDON = "short_abandon"
    """The caller hung up before the short-abandon time: not held against the queue."""
    CALLBACK = "callback"
    """The caller asked to be called back; `answered_at` is set once the callback is connected."""
    OVERFLOWED = "overflowed"
    """Left the queue by rule (max wait): to another queue, a callback, a message or a flow. One
    that went to a callback is handled like a callback when it is connected (`answered_at` set)."""


OPEN_OUTCOMES = frozenset({VisitOutcome.WAITING, VisitOutcome.TALKING})


@dataclass(frozen=True)
class QueueVisit:
    """One stay of one caller in one queue, and the conversation it led to."""

    call_id: str
    queue: str
    agent: str | None
    """The agent who answered; None if nobody did (an agent whose phone only rang is not kept)."""
    enqueued_at: float
    """Its place in line: the first "queued", or `at - waited_s` of a re-queue after a restart."""
    answered_at: float | None
    ended_at: float | None
    """When the visit stopped occupying the queue or an agent: the caller left the queue unanswered,
    or the conversation ended. None while waiting or talking (also while a returned callback is
    being talked)."""
    outcome: VisitOutcome
    wait_s: float
    """Enqueue to answer, or to leaving the queue unanswered, or to `now` while waiting. For a
    callback: the time on hold before asking for it (the virtual queue is not a wait)."""
    talk_s: float
    """Answer to end of conversation (to `now` while talking). An agent's hold (from the phone) is
    not seen by the engine and counts as talk."""
    wrap_up_s: float
    """The agent's wrap-up for this call; 0 until (or unless) its "wrap_up_ended" arrives."""

    @property
    def handled(self) -> bool:
        """An agent answered and the conversation is over: it counts in AHT."""
        return self.answered_at is not None and self.ended_at is not None

    @property
    def handle_s(self) -> float:
        """Talk + wrap-up: the agent time the contact cost."""
        return self.talk_s + self.wrap_up_s


@dataclass
class _VisitInProgress:
    """A visit while the journey is read; frozen into a `QueueVisit` at the end."""

    queue: str
    enqueued_at: float
    outcome: VisitOutcome = VisitOutcome.WAITING
    agent: str | None = None
    answered_at: float | None = None
    left_queue_at: float | None = None
    ended_at: float | None = None
    wrap_up_s: float = 0.0
    awaiting_callback: bool = False
    """The caller was promised a callback (asked for one, or overflowed to one) not yet connected."""

    @property
    def in_conversation(self) -> bool:
        return self.answered_at is not None and self.ended_at is None

    def answer(self, at: float, agent: str | None) -> None:
        self.answered_at, self.agent, self.ended_at = at, agent, None
        if self.outcome is VisitOutcome.WAITING:
            self.outcome = VisitOutcome.TALKING
        self.awaiting_callback = False

    def leave_queue(self, at: float, outcome: VisitOutcome) -> None:
        self.outcome, self.left_queue_at, self.ended_at = outcome, at, at

    def end_conversation(self, at: float) -> None:
        self.ended_at = at
        if self.outcome is VisitOutcome.TALKING:
            self.outcome = VisitOutcome.ANSWERED

    def frozen(self, call_id: str, now: float) -> QueueVisit:
        """The visit as it stands at `now`: an open wait or talk is measured up to `now`."""
        if self.left_queue_at is not None:  # also for a callback connected later: the hold before it is the wait
            wait_s = self.left_queue_at - self.enqueued_at
        elif self.answered_at is not None:
            wait_s = self.answered_at - self.enqueued_at
        else:
            wait_s = now - self.enqueued_at
        talk_s = 0.0
        if self.answered_at is not None:
            talk_end = self.ended_at if self.ended_at is not None else now
            talk_s = max(0.0, talk_end - self.answered_at)
        return QueueVisit(
            call_id=call_id,
            queue=self.queue,
            agent=self.agent,
            enqueued_at=self.enqueued_at,
            answered_at=self.answered_at,
            ended_at=self.ended_at,
            outcome=self.outcome,
            wait_s=max(0.0, wait_s),
            talk_s=talk_s,
            wrap_up_s=self.wrap_up_s,
        )


def _short_abandon_threshold(short_abandon_s: Mapping[str, float] | float, queue: str) -> float:
    if isinstance(short_abandon_s, Mapping):
        return float(short_abandon_s.get(queue, DEFAULT_SHORT_ABANDON_S))
    return float(short_abandon_s)


def visits_from_journey(
    call_id: str,
    events: Sequence[JourneyEvent],
    short_abandon_s: Mapping[str, float] | float = DEFAULT_SHORT_ABANDON_S,
    now: float | None = None,
) -> list[QueueVisit]:
    """`visits_from_events` of a journey as stored: each (kind, at, detail) decoded by the journey's codec."""
    return visits_from_events(call_id, [(at, from_stored(kind, detail)) for kind, at, detail in events], short_abandon_s, now)


def visits_from_events(
    call_id: str,
    events: Sequence[TimedEvent],
    short_abandon_s: Mapping[str, float] | float = DEFAULT_SHORT_ABANDON_S,
    now: float | None = None,
) -> list[QueueVisit]:
    """One `QueueVisit` per queue visit of the call, in the order the caller was queued.

    Times come from the events' timestamps (not the rounded `waited_s`/`talk_s` in their details),
    so every figure is measured the same way. `short_abandon_s` is one threshold or one per queue
    (queues not named get DEFAULT_SHORT_ABANDON_S); an `Abandoned` event's own `short` flag wins.
    Open visits (waiting, talking) are measured up to `now`; None measures them up to the journey's
    last event, so a report over stored journeys needs no clock. Events other than VISIT_KINDS
    (arrived, prompts, ...) are ignored, and so is any event that does not fit the visit's state
    (an answer with nobody waiting, a second hang-up): a damaged journey gives fewer figures, not
    wrong ones.

    A `Queued` while a visit is open is the same visit if it is a restart's re-queue to that queue;
    otherwise the caller has moved without the journey saying why, and the open visit ends there
    (overflowed if waiting, answered if talking), so a caller is never counted in two places.
    """
    visits: list[_VisitInProgress] = []
    current: _VisitInProgress | None = None  # where the caller is now: waiting, or talking to an agent

    def promised_callback() -> _VisitInProgress | None:
        return next((visit for visit in reversed(visits) if visit.awaiting_callback), None)

    for at, event in events:
        if isinstance(event, Queued):
            if event.after_restart and current is not None and current.queue == event.queue:
                continue  # the engine restarted and queued the same caller again at its old place
            if current is not None:
                if current.in_conversation:
                    current.end_conversation(at)
                else:
                    current.leave_queue(at, VisitOutcome.OVERFLOWED)
            current = _VisitInProgress(event.queue, at - float(event.waited_s) if event.after_restart else at)
            visits.append(current)
        elif isinstance(event, (AgentAnswered, CallbackAnswered)):
            if current is not None and current.outcome is VisitOutcome.WAITING:
                current.answer(at, event.agent)
            elif current is None and (callback := promised_callback()) is not None:
                callback.answer(at, event.agent)
                current = callback
        elif isinstance(event, CallEnded):
            if current is not None and current.in_conversation:
                current.end_conversation(at)
                current = None
        elif isinstance(event, Abandoned):
            if current is not None and current.outcome is VisitOutcome.WAITING:
                short = event.short
                if short is None:
                    short = at - current.enqueued_at < _short_abandon_threshold(short_abandon_s, current.queue)
                current.leave_queue(at, VisitOutcome.SHORT_ABANDON if short else VisitOutcome.ABANDONED)
                current = None
        elif isinstance(event, CallbackRequested):
            if current is not None and current.outcome is VisitOutcome.WAITING:
                current.leave_queue(at, VisitOutcome.CALLBACK)
                current.awaiting_callback = True
                current = None
        elif isinstance(event, Overflowed):
            if current is not None and current.outcome is VisitOutcome.WAITING:
                current.leave_queue(at, VisitOutcome.OVERFLOWED)
                current.awaiting_callback = event.to == "callback"
                current = None
        elif isinstance(event, WrapUpEnded):
            handled_by_agent = [visit for visit in visits if visit.answered_at is not None and (event.agent is None or visit.agent == event.agent)]
            if handled_by_agent:
                handled_by_agent[-1].wrap_up_s = float(event.wrap_up_s)

    if now is None:
        now = max((at for at, _ in events), default=0.0)
    return [visit.frozen(call_id, now) for visit in visits]


@dataclass(frozen=True)
class QueueKpis:
    """The figures of a set of visits (one queue, one interval, or any other grouping)."""

    service_level_s: float
    """T: answered (or abandoned) with `wait_s <= T` is within service level."""
    offered: int
    """Every visit, overflow-ins included: answered + abandoned + short_abandoned + callbacks + overflowed + waiting."""
    answered: int
    """Answered by an agent, conversations still going on included (see `talking`)."""
    talking: int
    """Of `answered`, those still in conversation."""
    abandoned: int
    """Hung up before an answer, short abandons excluded."""
    short_abandoned: int
    callbacks: int
    overflowed: int
    waiting: int
    handled: int
    """Answered (callbacks included) with the conversation over: the AHT denominator."""
    asa_s: float | None
    aht_s: float | None
    abandon_rate: float | None
    service_level: float | None
    service_level_2: float | None


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def queue_kpis(visits: Iterable[QueueVisit], service_level_s: float = DEFAULT_SERVICE_LEVEL_S) -> QueueKpis:
    """KPIs over `visits`; a ratio or mean is None when its denominator is 0 (no data is not 0 %).

    - ASA = Σ wait of answered ÷ answered (callbacks excluded: their wait is a virtual queue).
    - AHT = Σ (talk + wrap-up) of handled ÷ handled; handled = answered, callbacks included,
      with the conversation over.
    - Abandon rate = abandoned ÷ (answered + abandoned). The denominator is the callers the queue
      had to answer and who decided how it ended: short abandons are excluded (gone before the
      queue could answer), callbacks (they accepted an offer and are served later), overflowed
      callers (they left by rule, not by choice) and callers still waiting (undecided).
    - SL = answered within T ÷ answered.
    - SL2 = (answered within T + abandoned within T) ÷ (answered + abandoned), short abandons excluded.
    - Within T means wait ≤ T.
    """
    seen = list(visits)
    answered = [visit for visit in seen if visit.outcome in (VisitOutcome.ANSWERED, VisitOutcome.TALKING)]
    abandoned = [visit for visit in seen if visit.outcome is VisitOutcome.ABANDONED]
    handled = [visit for visit in seen if visit.handled]
    answered_in_time = sum(1 for visit in answered if visit.wait_s <= service_level_s)
    abandoned_in_time = sum(1 for visit in abandoned if visit.wait_s <= service_level_s)

    def count(outcome: VisitOutcome) -> int:
        return sum(1 for visit in seen if visit.outcome is outcome)

    return QueueKpis(
        service_level_s=service_level_s,
        offered=len(seen),
        answered=len(answered),
        talking=count(VisitOutcome.TALKING),
        abandoned=len(abandoned),
        short_abandoned=count(VisitOutcome.SHORT_ABANDON),
        callbacks=count(VisitOutcome.CALLBACK),
        overflowed=count(VisitOutcome.OVERFLOWED),
        waiting=count(VisitOutcome.WAITING),
        handled=len(handled),
        asa_s=_ratio(sum(visit.wait_s for visit in answered), len(answered)),
        aht_s=_ratio(sum(visit.handle_s for visit in handled), len(handled)),
        abandon_rate=_ratio(len(abandoned), len(answered) + len(abandoned)),
        service_level=_ratio(answered_in_time, len(answered)),
        service_level_2=_ratio(answered_in_time + abandoned_in_time, len(answered) + len(abandoned)),
    )


def kpis_by_queue(visits: Iterable[QueueVisit], service_level_s: Mapping[str, float] | float = DEFAULT_SERVICE_LEVEL_S) -> dict[str, QueueKpis]:
    """`queue_kpis` per queue, each with its own T (queues a mapping does not name get DEFAULT_SERVICE_LEVEL_S)."""
    by_queue: dict[str, list[QueueVisit]] = {}
    for visit in visits:
        by_queue.setdefault(visit.queue, []).append(visit)
    return {
        queue: queue_kpis(queue_visits, float(service_level_s.get(queue, DEFAULT_SERVICE_LEVEL_S)) if isinstance(service_level_s, Mapping) else service_level_s)
        for queue, queue_visits in sorted(by_queue.items())
    }


def by_interval(visits: Iterable[QueueVisit], interval_s: float) -> dict[float, list[QueueVisit]]:
    """Visits grouped by the start of the interval their `enqueued_at` falls in (intervals start at
    multiples of `interval_s` from the epoch, so 900 gives quarter-hours), in time order; empty
    intervals are absent. A visit belongs to the interval it was offered in, as in interval reports."""
    if not interval_s > 0:
        raise ValueError(f"interval_s must be positive, not {interval_s}")
    grouped: dict[float, list[QueueVisit]] = {}
    for visit in visits:
        grouped.setdefault(math.floor(visit.enqueued_at / interval_s) * interval_s, []).append(visit)
    return dict(sorted(grouped.items()))


# -- occupancy -----------------------------------------------------------------------------------

HANDLING_STATUSES = frozenset({Status.ON_CALL.value, Status.WRAP_UP.value})
READY_STATUSES = frozenset({Status.AVAILABLE.value, Status.RESERVED.value})
"""Available, or reserved (an offered call ringing): time the agent was there for calls."""


@dataclass(frozen=True)
class AgentInterval:
    """An agent in one status from `start` to `end`."""

    agent: str
    status: str
    """A `Status` value: logged_out, available, reserved, on_call, wrap_up, paused."""
    start: float
    end: float


STATE_LOOKBACK = timedelta(days=1)
"""Agent states are read from this long before a period, so each agent's state at its start is known
(an agent on a break since before midnight changed nothing today)."""


def intervals_from_changes(changes: Sequence[StatusChange], until: float) -> list[AgentInterval]:
    """Each agent's status runs from its change until the agent's next change, or `until`.

    Changes are taken in time order per agent whatever order they come in (of two at one instant,
    the one given later wins); empty intervals and those starting at or after `until` are left out.
    """
    by_agent: dict[str, list[tuple[float, str]]] = {}
    for agent, at, status in changes:
        by_agent.setdefault(agent, []).append((at, status))
    intervals: list[AgentInterval] = []
    for agent, agent_changes in sorted(by_agent.items()):
        ordered = sorted(agent_changes, key=lambda change: change[0])
        for index, (start, status) in enumerate(ordered):
            end = min(ordered[index + 1][0], until) if index + 1 < len(ordered) else until
            if end > start:
                intervals.append(AgentInterval(agent, status, start, end))
    return intervals


def _handling_and_ready_s(intervals: Iterable[AgentInterval], window_start: float, window_end: float) -> dict[str, tuple[float, float]]:
    """Per agent: (handling seconds, ready seconds) inside the window."""
    totals: dict[str, tuple[float, float]] = {}
    for interval in intervals:
        seconds = max(0.0, min(interval.end, window_end) - max(interval.start, window_start))
        handling, ready = totals.get(interval.agent, (0.0, 0.0))
        if interval.status in HANDLING_STATUSES:
            handling += seconds
        elif interval.status in READY_STATUSES:
            ready += seconds
        totals[interval.agent] = (handling, ready)
    return totals


def occupancy(intervals: Iterable[AgentInterval], window_start: float, window_end: float) -> float | None:
    """Occupancy = handling ÷ (handling + available) over all agents, intervals clipped to the window.

    Handling = on_call + wrap_up; available = available + reserved (ringing). Paused and logged-out
    time are neither: occupancy measures how busy agents were while they were there for calls, so a
    break does not make the floor look busy or idle. None when nobody was available or handling.
    """
    totals = _handling_and_ready_s(intervals, window_start, window_end).values()
    handling = sum(handling for handling, _ in totals)
    return _ratio(handling, handling + sum(ready for _, ready in totals))


def occupancy_by_agent(intervals: Iterable[AgentInterval], window_start: float, window_end: float) -> dict[str, float | None]:
    """`occupancy` per agent (every agent with an interval; None for one only paused or logged out)."""
    totals = _handling_and_ready_s(intervals, window_start, window_end)
    return {agent: _ratio(handling, handling + ready) for agent, (handling, ready) in sorted(totals.items())}


FORMULAS: dict[str, str] = {
    "asa": "ASA = total wait of answered calls ÷ answered calls (callbacks excluded)",
    "aht": "AHT = total (talk, holds on the phone included, + wrap-up) ÷ handled calls (answered and ended, callbacks included)",
    "abandon_rate": "Abandon rate = abandoned ÷ (answered + abandoned); short abandons, callbacks, overflows and callers still waiting excluded",
    "service_level": "SL = answered within T s ÷ answered",
    "service_level_2": "SL2 = (answered within T s + abandoned within T s) ÷ (answered + abandoned), short abandons excluded",
    "occupancy": "Occupancy = (on call + wrap-up) ÷ (on call + wrap-up + available + ringing); paused and logged out excluded",
}
"""One line per KPI: the text a supervisor page shows under the figure. "Within T s" means wait ≤ T."""
