"""A database the previous version (135e456) wrote, through its own JourneyStore and JourneyWriter
(tests/fixtures/make_journey_v17.py), read by today's engine: every row decodes to its model, and
the live KPIs and the historical report give the figures worked out by hand below.

Times are seconds after T0 = 2026-03-02 09:00 UTC; short-abandon 5 s and T = 20 s (no queue config).
Queue visits in the fixture:
- billing: call-answered wait 10, talk 120, wrap 30 | call-abandoned after 40 | call-short after 2 |
  call-callback: callback after 28, returned: talk 60, wrap 10 | call-overflow: overflowed after 60,
  then back by transfer: wait 5, talk 65 | call-callback-failed: overflowed to a callback after 60.
- technical: call-overflow wait 8, talk 60 (until the transfer) | call-adopted wait 8, talk 90.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.acd.contact_metrics import VISIT_KINDS, JourneyEvent, kpis_by_queue, visits_from_journey
from engine.acd.report_commands import report_rows
from engine.journey.events import (
    MODELS, ChatSent, ContinuedFrom, ExternalEvent, HandoffClaimed, HandoffOffered, HandoffRefused, Typed, UnknownEvent, from_stored, kinds, to_stored,
)
from engine.store.database import create_engine, require_current, upgrade_database
from engine.store.journey_store import JourneyStore

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "journey_v17.sqlite"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NEWER_THAN_FIXTURE = frozenset(kinds(Typed, ChatSent, HandoffOffered, HandoffClaimed, HandoffRefused, ContinuedFrom, ExternalEvent))
"""Kinds the fixture's version could not write (the contact's channels, migration 0007): their stored
form is pinned by tests/unit/journey/test_journey_events.py's samples instead."""


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    copy = tmp_path / "journey.sqlite"
    shutil.copyfile(FIXTURE, copy)
    url = f"sqlite+aiosqlite:///{copy}"
    await upgrade_database(url)  # the project's own upgrade path, as `threadline db upgrade` runs it
    engine = create_engine(url)
    await require_current(engine, url)
    yield engine
    await engine.dispose()


async def test_every_row_decodes_to_its_model_and_encodes_back_to_the_same_row(database: AsyncEngine) -> None:
    calls = await JourneyStore(database).recent_calls(limit=100)
    rows = [row for call in calls for row in call.events]
    assert len(calls) == 11 and len(rows) > 100
    for row in rows:
        event = from_stored(row.kind, row.detail)
        assert not isinstance(event, UnknownEvent), f"{row.kind} {row.detail}"
        assert to_stored(event) == (row.kind, row.detail)
    assert {row.kind for row in rows} == set(MODELS) - NEWER_THAN_FIXTURE, "the fixture has every kind its version wrote"


async def test_the_live_kpis_from_the_previous_database(database: AsyncEngine) -> None:
    per_call: dict[str, list[JourneyEvent]] = {}
    for channel_id, kind, at, detail in await JourneyStore(database).events_of_kinds_since(VISIT_KINDS, T0 - timedelta(hours=1)):
        per_call.setdefault(channel_id, []).append((kind, at.timestamp(), detail))
    visits = [visit for call_id, journey in per_call.items() for visit in visits_from_journey(call_id, journey, 5.0)]
    kpis = kpis_by_queue(visits, 20.0)
    billing, technical = kpis["billing"], kpis["technical"]
    assert (billing.offered, billing.answered, billing.abandoned, billing.short_abandoned, billing.callbacks, billing.overflowed, billing.handled) == (7, 2, 1, 1, 1, 2, 3)
    assert billing.asa_s == 7.5, "(10 + 5) / 2"
    assert billing.aht_s == 95.0, "((120 + 30) + (60 + 10) + 65) / 3"
    assert billing.abandon_rate == pytest.approx(1 / 3) and billing.service_level == 1.0 and billing.service_level_2 == pytest.approx(2 / 3)
    assert (technical.offered, technical.answered, technical.handled, technical.asa_s, technical.aht_s) == (2, 2, 2, 8.0, 75.0)


async def test_the_historical_report_from_the_previous_database(database: AsyncEngine) -> None:
    rows = await report_rows(database, None, T0, T0 + timedelta(hours=2), "day", "queue")
    by_key: dict[str, dict[str, Any]] = {row["key"]: row for row in rows}
    assert set(by_key) == {"billing", "technical", "all"}
    billing, technical, everything = by_key["billing"], by_key["technical"], by_key["all"]
    assert (billing["offered"], billing["answered"], billing["abandoned"], billing["short_abandoned"], billing["callbacks"], billing["overflowed"]) == (7, 2, 1, 1, 1, 2)
    assert (billing["asa_s"], billing["aht_s"], billing["abandon_rate"], billing["service_level"], billing["service_level_2"]) == (7.5, 95.0, 0.333, 1.0, 0.667)
    assert (billing["csat"], billing["nps"], billing["surveys"]) == (5.0, 100.0, 2), "CSAT 5 and NPS 10 from call-answered's survey"
    assert (technical["offered"], technical["answered"], technical["asa_s"], technical["aht_s"]) == (2, 2, 8.0, 75.0)
    assert everything["calls_arrived"] == 11
    assert everything["containment"] == round(2 / 11, 3), "call-contained and call-lost-later hung up in the IVR; failed and lost calls are not contained"
    # minsu: on call 80-200 + wrap 200-230; jiyeon: on call 1270-1330 -> 210 s handling;
    # available: minsu 0-80 + 230-3600, jiyeon 0-1270 + 1330-3600 -> 6990 s.
    assert everything["occupancy"] == round(210 / 7200, 3)
