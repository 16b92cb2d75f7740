"""The floor adapter's day: midnight across a daylight-saving change, agents' states from before it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from engine.acd.contact_metrics import AgentInterval
from engine.acd.floor_history import FloorHistory, FloorPoint
from engine.acd.floor_view import floor_sample, start_of_today, today_intervals, today_kpis
from engine.config.acd_config import load_acd
from engine.store.agent_state_store import AgentStateChange

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def berlin() -> Iterator[None]:
    """The engine's local time zone is Berlin for the test, restored after."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


def test_midnight_stays_put_on_a_daylight_saving_day(berlin: None) -> None:
    """2026-03-29: Berlin springs from +01:00 to +02:00 at 02:00; that day's midnight is 23:00 UTC
    the day before, whether asked before or after the change, so the history is not wiped mid-day."""
    midnight = datetime(2026, 3, 28, 23, 0, tzinfo=timezone.utc).timestamp()
    before = datetime(2026, 3, 29, 0, 30, tzinfo=timezone.utc)  # 01:30 local, +01:00
    after = datetime(2026, 3, 29, 8, 0, tzinfo=timezone.utc)  # 10:00 local, +02:00
    assert start_of_today(before).timestamp() == midnight
    assert start_of_today(after).timestamp() == midnight
    history = FloorHistory(start_of_today(before).timestamp())
    assert not history.add(FloorPoint(before.timestamp(), {"billing": 1}, {"billing": None}, {}), start_of_today(before).timestamp())
    assert not history.add(FloorPoint(after.timestamp(), {"billing": 2}, {"billing": None}, {}), start_of_today(after).timestamp()), "the same day"
    assert len(history) == 2


def test_an_agent_unchanged_since_before_midnight_is_on_the_charts_from_midnight() -> None:
    """minsu went on a break at 23:00 yesterday, jiyeon became available then and took a call at
    00:01:40: both are in today's agents by state from midnight, and only today counts for occupancy."""
    config = load_acd(REPO / "ivr_flows")
    day = 1_800_000_000.0 - 1_800_000_000.0 % 86400
    yesterday = datetime.fromtimestamp(day - 3600, timezone.utc)
    changes = [AgentStateChange("minsu", yesterday, "paused"), AgentStateChange("jiyeon", yesterday, "available"),
               AgentStateChange("jiyeon", datetime.fromtimestamp(day + 100, timezone.utc), "on_call")]
    kpis, points = today_kpis(config, [], changes, day, day + 300, backfill=True)
    assert points is not None
    assert [p.agents for p in points] == [{"available": 1, "paused": 1}] + [{"on_call": 1, "paused": 1}] * 4
    assert kpis["agents"] == {"jiyeon": 0.667, "minsu": None}, "yesterday's hour of availability is not today's"
    assert today_intervals([("minsu", day - 7200, "available"), ("minsu", day - 3600, "logged_out")], day, day + 60) == [AgentInterval("minsu", "logged_out", day, day + 60)]


def test_callers_waiting_on_the_chart_leave_out_the_callbacks_owed() -> None:
    """As the backfill does: a callback's wait ended when the caller asked for it and hung up."""
    entry = {"call_id": "c", "number": "", "waited_s": 3.0, "position": 1, "ringing": "", "callback": False}
    floor = {"queues": {"billing": {"waiting": [entry, {**entry, "position": 2, "callback": True}, {**entry, "position": 0, "ringing": "minsu"}]}},
             "agents": {"minsu": {"status": "reserved"}}, "kpis": {"queues": {"billing": {"service_level": 0.5}}}}
    assert floor_sample(floor, 60.0) == FloorPoint(60.0, {"billing": 2}, {"billing": 0.5}, {"reserved": 1})
