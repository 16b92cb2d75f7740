"""The wallboard's day of history: minute buckets, bounded memory, a new day, and a restarted
engine's morning rebuilt from the database without hiding or inventing anything."""

from __future__ import annotations

from engine.acd.contact_metrics import AgentInterval, QueueVisit, VisitOutcome
from engine.acd.floor_history import MAX_MINUTES, MINUTE_S, FloorHistory, FloorPoint, backfill_points
from engine.web.desktop_protocol import SERVER_MESSAGE, FloorHistoryMessage

DAY = 1_800_000_000.0 - 1_800_000_000.0 % 86400  # a midnight (UTC here: the core takes it as given)


def sample(at: float, waiting: int, level: float | None = None, **agents: int) -> FloorPoint:
    return FloorPoint(at, {"billing": waiting}, {"billing": level}, agents)


def visit(enqueued: float, wait: float, outcome: VisitOutcome) -> QueueVisit:
    answered = enqueued + wait if outcome in (VisitOutcome.ANSWERED, VisitOutcome.TALKING) else None
    return QueueVisit("c", "billing", "minsu" if answered else None, enqueued, answered, enqueued + wait + 60, outcome, wait, 60.0, 0.0)


def test_seconds_fold_into_minutes_the_peak_waiting_and_the_last_level_and_states() -> None:
    history = FloorHistory(DAY)
    for second, waiting in enumerate([0, 3, 1]):
        history.add(sample(DAY + 600 + second, waiting, 0.5 + second / 10, available=2 - second, on_call=second, logged_out=4), DAY)
    history.add(sample(DAY + 660, 1, 0.9, available=1), DAY)
    series = history.series()
    assert series["at"] == [DAY + 600, DAY + 660] and series["since"] == DAY + 600
    assert series["waiting"] == {"billing": [3, 1]}, "the minute's peak, not its last second"
    assert series["service_level"] == {"billing": [0.7, 0.9]}
    assert series["agents"] == {"available": [0, 1], "on_call": [2, 0]}, "logged-out agents are not stacked"
    assert history.series(DAY + 660)["at"] == [DAY + 660]


def test_memory_stays_bounded_however_long_the_engine_runs_in_one_day() -> None:
    history = FloorHistory(DAY)
    for minute in range(MAX_MINUTES + 300):
        history.add(sample(DAY + minute * MINUTE_S, 1), DAY)
    assert len(history) == MAX_MINUTES
    assert history.since == history.series()["at"][0] == DAY + 300 * MINUTE_S, "what was dropped is no longer claimed"


def test_a_new_day_starts_an_empty_history_and_says_so() -> None:
    history = FloorHistory(DAY)
    assert not history.add(sample(DAY + 86340, 5), DAY)
    assert history.add(sample(DAY + 86400 + 5, 0), DAY + 86400), "the caller resends the whole day"
    series = history.series()
    assert series["day_start"] == DAY + 86400 and series["at"] == [DAY + 86400] and series["waiting"] == {"billing": [0]}
    assert not history.add(sample(DAY + 100, 9), DAY + 86400) and len(history) == 1, "a sample from yesterday is not today's"


def test_a_restart_backfills_the_morning_and_live_minutes_win() -> None:
    history = FloorHistory(DAY)
    restarted = DAY + 10 * 3600 + 42 * 60
    history.add(sample(restarted, 2, 0.5, available=1), DAY)
    assert history.since == restarted, "before the backfill the page can only say 'since 10:42'"
    before = [FloorPoint(DAY + m * MINUTE_S, {"billing": 1}, {"billing": 0.8}, {"paused": 1, "logged_out": 3}) for m in range(643)]
    history.backfill(before, DAY)
    series = history.series()
    assert history.since == DAY and len(series["at"]) == 643 and series["at"] == sorted(series["at"])
    assert series["waiting"]["billing"][-1] == 2 and series["service_level"]["billing"][-1] == 0.5, "the live minute is kept"
    assert series["agents"] == {"available": [0] * 642 + [1], "paused": [1] * 642 + [0]}
    history.add(sample(restarted + 60, 4), DAY)
    assert history.series()["waiting"]["billing"][-2:] == [2, 4]


def test_backfill_rebuilds_waiting_service_level_and_agents_from_the_days_facts() -> None:
    visits = [
        visit(DAY + 30, 40, VisitOutcome.ANSWERED),  # waits 00:00:30-00:01:10, answered late (T = 20)
        visit(DAY + 50, 5, VisitOutcome.ANSWERED),  # waits 00:00:50-00:00:55, in time
        visit(DAY + 130, 10, VisitOutcome.ABANDONED),  # waits in minute 2, not answered
        visit(DAY + 200, 1000, VisitOutcome.WAITING),  # still waiting at `until`
    ]
    intervals = [AgentInterval("minsu", "available", DAY, DAY + 90), AgentInterval("minsu", "on_call", DAY + 90, DAY + 400), AgentInterval("jiyeon", "logged_out", DAY, DAY + 400)]
    points = backfill_points(visits, intervals, {"billing": 20.0}, DAY, DAY + 260)
    assert [p.minute for p in points] == [DAY, DAY + 60, DAY + 120, DAY + 180, DAY + 240]
    assert [p.waiting["billing"] for p in points] == [2, 1, 1, 1, 1]
    assert [p.service_level["billing"] for p in points] == [1.0, 0.5, 0.5, 0.5, 0.5], "as of each minute's end; None before any answer"
    assert [p.agents for p in points] == [{"available": 1}, {"on_call": 1}, {"on_call": 1}, {"on_call": 1}, {"on_call": 1}]
    quiet = backfill_points([], [], {"billing": 20.0}, DAY, DAY + 60)
    assert quiet == [FloorPoint(DAY, {"billing": 0}, {"billing": None}, {})], "no answers yet is unknown, not 0 %"


def test_the_series_the_engine_sends_match_the_documented_message() -> None:
    history = FloorHistory(DAY)
    history.add(sample(DAY + 60, 1, None, available=1), DAY)
    message = {"v": 1, "type": "floor_history", "replace": True, **history.series()}
    assert isinstance(SERVER_MESSAGE.validate_python(message), FloorHistoryMessage)


def test_a_caller_who_waited_in_the_minute_of_the_restart_stays_on_the_chart() -> None:
    """The restart's first live sample sees nobody waiting; the database saw a caller in that same
    minute. The minute's peak is the caller, in whichever order the sample and the backfill come."""
    restarted = DAY + 14 * 3600 + 5 * 60 + 30
    minute = restarted - 30
    for backfill_first in (False, True):
        history = FloorHistory(DAY)
        steps = [lambda: history.add(sample(restarted, 0, 1.0, available=1), DAY),
                 lambda: history.backfill([FloorPoint(minute, {"billing": 1}, {"billing": 0.9}, {"on_call": 1})], DAY)]
        for step in reversed(steps) if backfill_first else steps:
            step()
        series = history.series()
        assert series["waiting"]["billing"][-1] == 1, f"backfill first: {backfill_first}"
        assert series["service_level"]["billing"][-1] == 1.0 and series["agents"]["available"][-1] == 1, "otherwise the live sample wins"


def test_backfilled_levels_are_rounded_as_live_ones_and_minutes_are_whole_seconds() -> None:
    """2 of 3 in time is 0.667 on the wire, as the live KPIs send it, not 0.6666666666666666."""
    visits = [visit(DAY + 1, 5, VisitOutcome.ANSWERED), visit(DAY + 2, 5, VisitOutcome.ANSWERED), visit(DAY + 3, 70, VisitOutcome.ANSWERED)]
    points = backfill_points(visits, [], {"billing": 20.0}, DAY, DAY + 120)
    assert [p.service_level["billing"] for p in points] == [1.0, 0.667]
    history = FloorHistory(DAY)
    history.backfill(points, DAY)
    assert all(type(at) is int for at in history.series()["at"])
