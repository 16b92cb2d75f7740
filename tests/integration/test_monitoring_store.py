"""The monitoring audit on a real SQLite file and a real PostgreSQL database (same tests, both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.acd.monitoring import audit_sessions
from engine.store.database import create_engine, upgrade_database
from engine.store.monitoring_store import MonitoringStep, MonitoringStore

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def step(seq: int, kind: str, mode: str, seconds: float, reason: str = "") -> MonitoringStep:
    return MonitoringStep("s1", seq, T0 + timedelta(seconds=seconds), kind, "sora", "minsu", "1795.1", mode, reason)


async def test_a_session_is_stored_step_by_step_and_a_retried_batch_lands_once(database_url: str) -> None:
    await upgrade_database(database_url)
    engine = create_engine(database_url)
    try:
        store = MonitoringStore(engine)
        first = [step(1, "started", "listen", 0), step(2, "mode", "listen", 1)]
        await store.add(first)
        await store.add([*first, step(3, "mode", "barge", 4)])  # the first commit's answer was lost: retried with more
        await store.add([step(4, "ended", "barge", 9, "call_ended")])
        steps = await store.since(T0 - timedelta(hours=1))
        assert [(s.seq, s.action, s.mode) for s in steps] == [(1, "started", "listen"), (2, "mode", "listen"), (3, "mode", "barge"), (4, "ended", "barge")]
        assert steps[0].at == T0 and steps[0].at.tzinfo is not None
        (session,) = audit_sessions(steps)
        assert session["end_reason"] == "call_ended" and [m["mode"] for m in session["modes"]] == ["listen", "barge"]  # type: ignore[union-attr]
        assert await store.since(T0 + timedelta(seconds=5)) == steps[3:]
    finally:
        await engine.dispose()


async def test_a_window_with_more_rows_than_the_limit_gives_the_newest(database_url: str) -> None:
    await upgrade_database(database_url)
    engine = create_engine(database_url)
    try:
        store = MonitoringStore(engine)
        steps = [MonitoringStep(f"n{i:03d}", seq, T0 + timedelta(minutes=4 * i, seconds=seq), action, "sora", "minsu", "c", "listen", "stopped" if action == "ended" else "")
                 for i in range(60) for seq, action in ((1, "started"), (2, "mode"), (3, "ended"))]
        await store.add(steps)
        newest = await store.since(T0 - timedelta(hours=1), limit=30)
        assert [(s.session_id, s.seq) for s in newest] == [(s.session_id, s.seq) for s in steps[-30:]]  # the newest 30, oldest first
        assert audit_sessions(newest)[-1]["session_id"] == "n059"
    finally:
        await engine.dispose()
