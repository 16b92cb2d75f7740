"""A day of the supervisor's floor, one point a minute, for the wallboard charts. Pure: samples
come in with their times, series go out; no clock, no I/O.

Live samples (the floor FloorView publishes every second) fold into their minute: waiting callers
are the most seen in the minute (a wall should show the peak, not whatever the last second held),
service level and agents by state the last seen. After an engine restart the part of the day before
the first live minute is backfilled from the database (`backfill_points`, from the day's queue
visits and agent state changes); a live minute wins over a backfilled one, except that its callers-waiting
peak also counts those the database saw waiting in that minute (a restart in the minute of a wait). What is known
starts at `since`: a page draws nothing before it (and says "since 10:42") rather than false zeros.
Memory is bounded: at most MAX_MINUTES points, and a new day starts a new history.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.acd.contact_metrics import AgentInterval, QueueVisit, VisitOutcome

MINUTE_S = 60
MAX_MINUTES = 1500
"""A day (1440 minutes) plus a daylight-saving hour and spare: older points are dropped beyond it."""
NOT_SHOWN_STATUSES = frozenset({"logged_out"})
"""Agents by state counts the agents logged in: a wall of logged-out agents says nothing."""


@dataclass(frozen=True)
class FloorPoint:
    """The floor in one minute: per queue the callers waiting and today's service level so far
    (None: nobody answered yet), and the agents in each state."""

    minute: float
    waiting: Mapping[str, int]
    service_level: Mapping[str, float | None]
    agents: Mapping[str, int]


@dataclass
class _Minute:
    waiting: dict[str, int] = field(default_factory=dict)
    service_level: dict[str, float | None] = field(default_factory=dict)
    agents: dict[str, int] = field(default_factory=dict)
    live: bool = False


def minute_of(at: float) -> float:
    return math.floor(at / MINUTE_S) * MINUTE_S


class FloorHistory:
    """Today's floor, minute by minute; `add` a live sample, `backfill` what came before it."""

    def __init__(self, day_start: float) -> None:
        self.day_start = day_start
        self.since: float | None = None
        self._minutes: dict[float, _Minute] = {}

    def add(self, sample: FloorPoint, day_start: float) -> bool:
        """Folds a live sample (its `minute` is its time) into its minute. True when it began a new
        day: the history was emptied and every page needs the whole (new) series."""
        new_day = day_start != self.day_start
        if new_day:
            self.day_start, self.since, self._minutes = day_start, None, {}
        if sample.minute < self.day_start:
            return new_day  # a sample from before today (a clock step back): not today's
        minute = minute_of(sample.minute)
        current = self._minutes.get(minute)
        if current is None or not current.live:
            # A backfilled minute keeps its waiting peaks: the callers who waited in it before a restart in that same minute.
            current = self._minutes[minute] = _Minute(dict(current.waiting) if current is not None else {}, live=True)
            self._bound()
        for queue, waiting in sample.waiting.items():
            current.waiting[queue] = max(waiting, current.waiting.get(queue, 0))
        current.service_level.update(sample.service_level)
        current.agents = {status: count for status, count in sample.agents.items() if status not in NOT_SHOWN_STATUSES}
        if self.since is None or sample.minute < self.since:
            self.since = minute
        return new_day

    def backfill(self, points: Iterable[FloorPoint], covered_from: float) -> None:
        """Minutes rebuilt from the database, known from `covered_from`: each fills a minute no
        live sample has, so the page sees the day from `covered_from`, not from the restart."""
        start = max(covered_from, self.day_start)
        for point in points:
            minute = minute_of(point.minute)
            if minute < start:
                continue
            live = self._minutes.get(minute)
            if live is not None and live.live:  # the live sample wins, but the minute's peak counts who waited before it
                for queue, waiting in point.waiting.items():
                    live.waiting[queue] = max(waiting, live.waiting.get(queue, 0))
                continue
            self._minutes[minute] = _Minute(dict(point.waiting), dict(point.service_level), {s: n for s, n in point.agents.items() if s not in NOT_SHOWN_STATUSES})
        self._minutes = dict(sorted(self._minutes.items()))
        self._bound()
        self.since = start if self.since is None else min(self.since, start)

    def series(self, only_minute: float | None = None) -> dict[str, Any]:
        """Columns for a chart: `at` (minute starts, epoch seconds) and, per queue or state, one
        value per minute (null where unknown). `only_minute`: just that minute's column."""
        if only_minute is None:
            minutes = list(self._minutes.items())
        else:
            minutes = [(only_minute, self._minutes[only_minute])] if only_minute in self._minutes else []
        queues = sorted({q for _, m in minutes for q in (*m.waiting, *m.service_level)})
        statuses = sorted({s for _, m in minutes for s in m.agents})
        return {
            "day_start": self.day_start,
            "minute_s": MINUTE_S,
            "since": self.since,
            "at": [int(at) for at, _ in minutes],
            "waiting": {q: [m.waiting.get(q) for _, m in minutes] for q in queues},
            "service_level": {q: [m.service_level.get(q) for _, m in minutes] for q in queues},
            "agents": {s: [m.agents.get(s, 0) for _, m in minutes] for s in statuses},
        }

    def latest_minute(self) -> float | None:
        return next(reversed(self._minutes), None)

    def __len__(self) -> int:
        return len(self._minutes)

    def _bound(self) -> None:
        while len(self._minutes) > MAX_MINUTES:
            oldest = next(iter(self._minutes))
            del self._minutes[oldest]
            if self.since is not None and self.since <= oldest:
                self.since = oldest + MINUTE_S


def backfill_points(
    visits: Iterable[QueueVisit],
    intervals: Iterable[AgentInterval],
    service_level_s: Mapping[str, float],
    day_start: float,
    until: float,
) -> list[FloorPoint]:
    """Each minute of [day_start, until) rebuilt from the day's queue visits and agent state
    intervals: the most callers waiting in the minute, the service level as of the minute's end
    (the same formula as the live KPIs: answered within T ÷ answered) and the agents by state then."""
    minutes = [day_start + n * MINUTE_S for n in range(max(0, math.ceil((until - day_start) / MINUTE_S)))][-MAX_MINUTES:]
    seen = list(visits)
    queues = sorted({v.queue for v in seen} | set(service_level_s))
    waiting = {queue: _peak_waiting([v for v in seen if v.queue == queue], minutes, until) for queue in queues}
    levels = {queue: _service_levels([v for v in seen if v.queue == queue], service_level_s.get(queue, 20.0), minutes, until) for queue in queues}
    agents = _agents_by_state(list(intervals), minutes, until)
    return [
        FloorPoint(minute, {q: waiting[q][i] for q in queues}, {q: levels[q][i] for q in queues}, agents[i])
        for i, minute in enumerate(minutes)
    ]


def _peak_waiting(visits: list[QueueVisit], minutes: list[float], until: float) -> list[int]:
    """A sweep over joins (+1) and leaves (-1), a leave first at a tie so no false peak appears."""
    changes = sorted([(v.enqueued_at, 1) for v in visits] + [(v.enqueued_at + v.wait_s, -1) for v in visits if v.enqueued_at + v.wait_s < until])
    peaks, now_waiting, index = [], 0, 0
    for minute in minutes:
        while index < len(changes) and changes[index][0] < minute:
            now_waiting += changes[index][1]
            index += 1
        peak = now_waiting
        while index < len(changes) and changes[index][0] < minute + MINUTE_S:
            now_waiting += changes[index][1]
            peak = max(peak, now_waiting)
            index += 1
        peaks.append(max(peak, 0))
    return peaks


def _service_levels(visits: list[QueueVisit], threshold_s: float, minutes: list[float], until: float) -> list[float | None]:
    answers = sorted((v.answered_at, v.wait_s <= threshold_s) for v in visits if v.answered_at is not None and v.outcome in (VisitOutcome.ANSWERED, VisitOutcome.TALKING))
    levels: list[float | None] = []
    answered = in_time = index = 0
    for minute in minutes:
        end = min(minute + MINUTE_S, until)
        while index < len(answers) and answers[index][0] < end:
            answered += 1
            in_time += answers[index][1]
            index += 1
        levels.append(round(in_time / answered, 3) if answered else None)  # as the live KPIs are rounded
    return levels


def _agents_by_state(intervals: list[AgentInterval], minutes: list[float], until: float) -> list[dict[str, int]]:
    """Each agent's state at each minute's end: the interval holding that instant."""
    changes = sorted([(i.start, 1, i.status) for i in intervals] + [(i.end, -1, i.status) for i in intervals], key=lambda c: (c[0], c[1]))
    counts: dict[str, int] = {}
    result, index = [], 0
    for minute in minutes:
        end = min(minute + MINUTE_S, until)
        while index < len(changes) and changes[index][0] < end:
            _at, delta, status = changes[index]
            counts[status] = counts.get(status, 0) + delta
            index += 1
        result.append({status: n for status, n in sorted(counts.items()) if n > 0 and status not in NOT_SHOWN_STATUSES})
    return result
