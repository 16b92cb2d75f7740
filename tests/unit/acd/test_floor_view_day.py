"""The floor adapter's day: midnight across a daylight-saving change."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from engine.acd.floor_history import FloorHistory, FloorPoint
from engine.acd.floor_view import start_of_today


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
