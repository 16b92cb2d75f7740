"""Historical reports: per interval (15 min, hour, day) and per queue or agent. Pure: facts in, rows out.

Built on engine/acd/contact_metrics.py, the same formulas the supervisor's live page uses, so a
report and the live page can never disagree on the same calls. A visit belongs to the interval it
was offered in. Added here:

- containment = calls that ended in the IVR without being queued ÷ calls that arrived (per
  interval; a contained call has no queue, so it is reported on the interval's `all` row; "contained"
  is engine/acd/channel_metrics.py's, the same as per channel);
- CSAT = mean of 1-5 answers; NPS = % promoters (9-10) − % detractors (0-6), from post-call
  surveys (`survey_answered` events), by the queue and agent of the call;
- occupancy per agent (and over all agents on the `all` row), from agent state intervals;
- by channel (`channel_rows`): contacts, containment, chat-to-phone hand-offs and the repeat rate per
  channel, from engine/acd/channel_metrics.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from engine.acd.contact_metrics import (
    VISIT_KINDS,
    JourneyEvent,
    QueueVisit,
    StatusChange,
    TimedEvent,
    intervals_from_changes,
    occupancy,
    occupancy_by_agent,
    queue_kpis,
    visits_from_events,
)
from engine.acd.channel_metrics import CHANNEL_KINDS, ChannelFigures, Leg, channel_figures, channel_figures_by_interval, contained
from engine.journey.events import AgentAnswered, Arrived, CallbackAnswered, Queued, SurveyAnswered, from_stored, kinds

INTERVALS = {"15m": 900, "hour": 3600, "day": 86400}
MAX_SLOTS = 3000
"""Intervals one report may have (engine/acd/report_commands.py caps the period per interval to fit)."""
REPORT_KINDS = tuple(dict.fromkeys((*VISIT_KINDS, *CHANNEL_KINDS, *kinds(Arrived, SurveyAnswered))))
"""The journey events a report is computed from: the queue visits', arrivals and IVR endings (for
containment) and survey answers."""
ALL = "all"
BY = ("queue", "agent", "channel")
"""What a report's rows are per: `build_report` gives queue and agent rows, `channel_rows` channel rows."""


@dataclass(frozen=True)
class Survey:
    call_id: str
    queue: str
    agent: str
    at: float
    csat: int | None
    nps: int | None


def surveys_from_journey(call_id: str, events: Sequence[JourneyEvent]) -> list[Survey]:
    """`surveys_from_events` of a journey as stored."""
    return surveys_from_events(call_id, _decoded(events))


def surveys_from_events(call_id: str, events: Sequence[TimedEvent]) -> list[Survey]:
    """Each `SurveyAnswered` of the call, with the queue and agent of the conversation before it."""
    queue = agent = ""
    found = []
    for at, event in events:
        if isinstance(event, Queued):
            queue = event.queue
        elif isinstance(event, (AgentAnswered, CallbackAnswered)):
            agent = event.agent if event.agent is not None else agent
        elif isinstance(event, SurveyAnswered):
            found.append(Survey(call_id, event.queue or queue, event.agent or agent, at, _score(event.csat, 1, 5), _score(event.nps, 0, 10)))
    return found


def csat(surveys: Iterable[Survey]) -> float | None:
    """CSAT = mean of the 1-5 answers."""
    answers = [s.csat for s in surveys if s.csat is not None]
    return sum(answers) / len(answers) if answers else None


def nps(surveys: Iterable[Survey]) -> float | None:
    """NPS = % promoters (9-10) − % detractors (0-6) of the 0-10 answers; -100..100."""
    answers = [s.nps for s in surveys if s.nps is not None]
    if not answers:
        return None
    return 100 * (sum(1 for a in answers if a >= 9) - sum(1 for a in answers if a <= 6)) / len(answers)


def build_report(
    journeys: Mapping[str, Sequence[JourneyEvent]],
    changes: Sequence[StatusChange],
    start: float,
    end: float,
    interval_s: float,
    by: str = "queue",
    short_abandon_s: Mapping[str, float] | float = 5.0,
    service_level_s: Mapping[str, float] | float = 20.0,
) -> list[dict[str, Any]]:
    """Rows of (interval start, key, figures) for visits offered in [start, end): `by` "queue" gives
    a row per queue per interval, "agent" a row per agent; each interval also has an `all` row."""
    if by not in ("queue", "agent"):
        raise ValueError(f"by: queue or agent (got {by!r})")
    decoded = {call_id: _decoded(events) for call_id, events in journeys.items()}
    visits = [v for call_id, events in decoded.items() for v in visits_from_events(call_id, events, short_abandon_s) if start <= v.enqueued_at < end]
    surveys = [s for call_id, events in decoded.items() for s in surveys_from_events(call_id, events) if start <= s.at < end]
    arrivals = {call_id: _arrival(events) for call_id, events in decoded.items()}
    ended_in_ivr = {call_id for call_id, events in decoded.items() if contained(events)}
    agent_intervals = intervals_from_changes(changes, end)
    rows: list[dict[str, Any]] = []
    for slot in _slots(start, end, interval_s):
        slot_end = min(slot + interval_s, end)
        in_slot = [v for v in visits if slot <= v.enqueued_at < slot_end]
        slot_surveys = [s for s in surveys if slot <= s.at < slot_end]
        arrived = [call_id for call_id, at in arrivals.items() if at is not None and slot <= at < slot_end]
        keys = sorted({key for key in ((v.queue if by == "queue" else v.agent) for v in in_slot) if key})
        if by == "agent":
            keys = sorted(set(keys) | {i.agent for i in agent_intervals if i.start < slot_end and i.end > slot})
        by_agent_occupancy = occupancy_by_agent(agent_intervals, slot, slot_end)
        for key in keys:
            mine = [v for v in in_slot if (v.queue if by == "queue" else v.agent) == key]
            their_surveys = [s for s in slot_surveys if (s.queue if by == "queue" else s.agent) == key]
            sl = _for(service_level_s, mine[0].queue) if by == "queue" and mine else _single(service_level_s)
            rows.append(_row(slot, slot_end, by, key, mine, sl, their_surveys, by_agent_occupancy.get(key) if by == "agent" else None, None))
        containment = len([c for c in arrived if c in ended_in_ivr]) / len(arrived) if arrived else None
        rows.append(_row(slot, slot_end, by, ALL, in_slot, _single(service_level_s), slot_surveys, occupancy(agent_intervals, slot, slot_end), containment, len(arrived)))
    return rows


def _row(slot: float, slot_end: float, by: str, key: str, visits: list[QueueVisit], service_level_s: float, surveys: list[Survey],
         occupied: float | None, containment: float | None, arrived: int | None = None) -> dict[str, Any]:
    kpis = asdict(queue_kpis(visits, service_level_s))
    figures = {name: round(value, 3) if isinstance(value, float) else value for name, value in kpis.items()}
    return {
        "interval_start": slot, "interval_end": slot_end, "by": by, "key": key, **figures,
        "csat": _rounded(csat(surveys)), "nps": _rounded(nps(surveys)), "surveys": len(surveys),
        "occupancy": _rounded(occupied), "containment": _rounded(containment), "calls_arrived": arrived,
    }


def channel_rows(legs: Sequence[Leg], start: float, end: float, interval_s: float) -> list[dict[str, Any]]:
    """Rows of (interval start, channel, figures) for [start, end): a row per channel that had a leg
    or a contact in the interval, and an `all` row for every interval."""
    by_slot = channel_figures_by_interval(legs, start, end, interval_s)
    rows: list[dict[str, Any]] = []
    for slot in _slots(start, end, interval_s):
        figures = by_slot.get(slot) or {ALL: channel_figures([], start, end)[ALL]}
        rows += [{"interval_start": slot, "interval_end": min(slot + interval_s, end), "by": "channel", "key": key, **_channel_row(figured)}
                 for key, figured in figures.items()]
    return rows


def _channel_row(figures: ChannelFigures) -> dict[str, Any]:
    found = {name: value for name, value in asdict(figures).items() if name != "channel"}
    return {**found, "containment": _rounded(figures.containment), "repeat_rate": _rounded(figures.repeat_rate)}


def _slots(start: float, end: float, interval_s: float) -> list[float]:
    if not interval_s > 0:
        raise ValueError(f"interval_s must be positive, not {interval_s}")
    first = math.floor(start / interval_s) * interval_s
    count = int(math.ceil((end - first) / interval_s))
    if count > MAX_SLOTS:
        raise ValueError(f"the period has {count} intervals; a report has at most {MAX_SLOTS} (shorten the period or lengthen the interval)")
    return [first + n * interval_s for n in range(count)]


def _decoded(events: Sequence[JourneyEvent]) -> list[TimedEvent]:
    return [(at, from_stored(kind, detail)) for kind, at, detail in events]


def _arrival(events: Sequence[TimedEvent]) -> float | None:
    return next((at for at, event in events if isinstance(event, Arrived)), None)


def _score(value: int | None, low: int, high: int) -> int | None:
    return value if value is not None and low <= value <= high else None


def _for(values: Mapping[str, float] | float, queue: str) -> float:
    return float(values.get(queue, 20.0)) if isinstance(values, Mapping) else float(values)


def _single(values: Mapping[str, float] | float) -> float:
    return float(values) if not isinstance(values, Mapping) else 20.0


def _rounded(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None
