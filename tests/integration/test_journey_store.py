"""The journey store on a real SQLite file and a real PostgreSQL database (same tests, both)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from blockbuster import BlockBuster, blockbuster_ctx
from sqlalchemy import text

from engine.store.database import create_engine, current_revision, head_revision, require_current, upgrade_database, DatabaseNotReady
from engine.store.journey_store import CallerInfo, JourneyStore

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def no_blocking_calls(journey_store: JourneyStore) -> Iterator[BlockBuster]:
    """Fail on any blocking call on the event loop while the store is in use (after migrations)."""
    with blockbuster_ctx() as detector:
        # asyncpg looks for ~/.pgpass when it opens a pooled connection: a library matter, allowed here.
        detector.functions["os.stat"].can_block_in("asyncpg/connect_utils.py", "_read_password_file")
        yield detector


def caller(n: int) -> CallerInfo:
    return CallerInfo(f"1795.{n}", f"+4930123{n:04d}", "Test Caller", "4100")


async def test_migrations_reach_head_and_are_idempotent(database_url: str) -> None:
    assert await upgrade_database(database_url) == head_revision()
    assert await upgrade_database(database_url) == head_revision()
    engine = create_engine(database_url)
    try:
        await require_current(engine, database_url)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_unmigrated_database_is_refused_with_the_fix(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with pytest.raises(DatabaseNotReady, match="run `threadline db upgrade`"):
            await require_current(engine, database_url)
    finally:
        await engine.dispose()


async def test_one_row_per_call_and_ordered_journey(journey_store: JourneyStore, no_blocking_calls: BlockBuster) -> None:
    opened = await journey_store.open_call(caller(1), T0, {"channel": "PJSIP/x"})
    again = await journey_store.open_call(caller(1), T0 + timedelta(seconds=5), {})
    call_id = opened.call_id
    assert (opened.created, again.created, again.call_id, again.last_seq, again.ended) == (True, False, call_id, 1, False)

    for offset, kind in enumerate(["answered", "prompt_started", "dtmf", "prompt_finished"], start=1):
        await journey_store.add_event(call_id, kind, T0 + timedelta(seconds=offset), {"n": offset})
    assert await journey_store.close_call(call_id, T0 + timedelta(seconds=9), "caller", 16, "Normal Clearing")
    assert not await journey_store.close_call(call_id, T0 + timedelta(seconds=10), "engine", 16, "late"), "closed twice"

    record = await journey_store.get_call("1795.1")
    assert record is not None
    assert [e.kind for e in record.events] == ["arrived", "answered", "prompt_started", "dtmf", "prompt_finished", "hung_up"]
    assert [e.seq for e in record.events] == [1, 2, 3, 4, 5, 6]
    assert record.events[-1].detail == {"by": "caller", "cause": 16, "cause_txt": "Normal Clearing"}
    assert record.hung_up_by == "caller" and record.hangup_cause == 16
    assert record.answered_at is not None and record.answered_at.replace(tzinfo=UTC) == T0 + timedelta(seconds=1)
    assert await journey_store.count_calls() == 1


async def test_open_calls_lists_only_unfinished(journey_store: JourneyStore, no_blocking_calls: BlockBuster) -> None:
    first = (await journey_store.open_call(caller(1), T0, {})).call_id
    second = (await journey_store.open_call(caller(2), T0, {})).call_id
    await journey_store.close_call(first, T0, "engine", 16, "greeting finished")
    assert await journey_store.open_calls() == {"1795.2": second}


async def test_concurrent_calls_keep_every_event(journey_store: JourneyStore, no_blocking_calls: BlockBuster) -> None:
    """Twenty calls writing at once (as in a burst) lose nothing and keep per-call order."""

    async def one_call(n: int) -> None:
        call_id = (await journey_store.open_call(caller(n), T0, {})).call_id
        for step in range(5):
            await journey_store.add_event(call_id, f"step{step}", T0 + timedelta(seconds=step))
        await journey_store.close_call(call_id, T0 + timedelta(seconds=6), "engine", 16, None)

    await asyncio.gather(*(one_call(n) for n in range(20)))
    calls = await journey_store.recent_calls(limit=100)
    assert len(calls) == 20
    for call in calls:
        assert [e.kind for e in call.events] == ["arrived", "step0", "step1", "step2", "step3", "step4", "hung_up"]
    assert await journey_store.open_calls() == {}


async def test_journey_events_reference_their_call(database_url: str, journey_store: JourneyStore) -> None:
    call_id = (await journey_store.open_call(caller(3), T0, {})).call_id
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(text("SELECT count(*) FROM journey_events WHERE call_id = :id"), {"id": call_id})
    finally:
        await engine.dispose()
    assert count == 1


async def test_a_retried_event_write_is_stored_once(journey_store: JourneyStore, no_blocking_calls: BlockBuster) -> None:
    """A write that committed but timed out is retried with the same seq: no duplicate event."""
    call_id = (await journey_store.open_call(caller(4), T0, {})).call_id
    assert await journey_store.add_event(call_id, "answered", T0, {}, seq=2) == 2
    assert await journey_store.add_event(call_id, "answered", T0, {}, seq=2) == 2
    # Another writer took seq 3 with a different event: ours goes after it instead of being lost.
    assert await journey_store.add_event(call_id, "prompt_started", T0, {}, seq=3) == 3
    assert await journey_store.add_event(call_id, "dtmf", T0, {"digit": "1"}, seq=3) == 4
    reopened = await journey_store.open_call(caller(4), T0, {})
    assert (reopened.created, reopened.last_seq) == (False, 4)
    record = await journey_store.get_call("1795.4")
    assert record is not None
    assert [(e.seq, e.kind) for e in record.events] == [(1, "arrived"), (2, "answered"), (3, "prompt_started"), (4, "dtmf")]


async def test_untrusted_caller_fields_are_bounded_and_stored_once(journey_store: JourneyStore, no_blocking_calls: BlockBuster) -> None:
    """A hostile display name (quotes, Korean, a backslash, a NUL, 300 characters) and huge detail values."""
    name = ('"Kim \\ 김철수" \x00' * 30)[:300]
    hostile = CallerInfo("1795.99", "1" * 120, name, "9" * 100)
    opened = await journey_store.open_call(hostile, T0, {"caller_name": name, "blob": "x" * 100_000, "list": list(range(500))})
    again = await journey_store.open_call(hostile, T0, {})
    assert opened.created and again.call_id == opened.call_id and not again.created
    await journey_store.add_event(opened.call_id, "lookup_answered", T0, {"crm": {"note": "\x00" + "y" * 5000}})
    record = await journey_store.get_call("1795.99")
    assert record is not None and await journey_store.count_calls() == 1
    assert len(record.caller_number) == 80 and len(record.dialed) == 80
    assert "\x00" not in record.events[0].detail["caller_name"]
    assert len(record.events[0].detail["blob"]) <= 1000 and len(record.events[0].detail["list"]) == 51
    assert len(record.events[1].detail["crm"]["note"]) <= 1000 and "\x00" not in record.events[1].detail["crm"]["note"]


async def test_ended_channels_are_known(journey_store: JourneyStore, no_blocking_calls: BlockBuster) -> None:
    first = (await journey_store.open_call(caller(5), T0, {})).call_id
    await journey_store.open_call(caller(6), T0, {})
    await journey_store.close_call(first, T0, "engine", 16, None)
    assert await journey_store.ended_channels(["1795.5", "1795.6", "1795.7"]) == {"1795.5"}
    assert (await journey_store.open_call(caller(5), T0, {})).ended
