"""Reading a call's journey back: where it stood in the ACD, the callback it still owes, and how
an earlier call shows on the pop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.acd.journey_marks import acd_phase, owed_callback_of, previous_call

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    seq: int
    kind: str
    at: datetime
    detail: dict[str, Any]


def journey(*events: tuple[str, dict[str, Any]]) -> list[Row]:
    return [Row(i, kind, T0 + timedelta(seconds=10 * i), detail) for i, (kind, detail) in enumerate(events, start=1)]


def test_an_owed_callback_keeps_its_place_its_attempts_and_what_the_ivr_learned() -> None:
    rows = journey(
        ("flow_started", {"flow": "support", "version": "abc"}),
        ("checkpoint", {"flow": "support", "node": "menu", "variables": {"account": "123"}}),
        ("queued", {"queue": "billing", "skills": ["billing"], "priority": 5}),
        ("callback_requested", {"queue": "billing", "number": "0212345678", "waited_s": 30.0, "source": "caller_id"}),
        ("callback_dialing", {"agent": "minsu", "number": "0212345678", "attempt": 1}),
        ("callback_attempt_failed", {"attempt": 1, "reason": "no-answer", "agent": "minsu"}),
    )
    owed = owed_callback_of(rows)
    assert owed is not None
    assert (owed.queue, owed.number, owed.queued_at, owed.attempts, owed.flow) == ("billing", "0212345678", T0 + timedelta(seconds=30), 1, "support")
    assert owed.variables == {"account": "123"}


def test_a_callback_answered_or_given_up_is_not_owed() -> None:
    requested = ("callback_requested", {"queue": "billing", "number": "0212345678"})
    assert owed_callback_of(journey(requested, ("callback_answered", {"agent": "minsu"}))) is None
    assert owed_callback_of(journey(requested, ("callback_failed", {"queue": "billing", "number": "0212345678", "attempts": 4}))) is None
    assert owed_callback_of(journey(("queued", {"queue": "billing"}))) is None


def test_the_acd_phase_is_the_last_mark() -> None:
    assert acd_phase([r.kind for r in journey(("queued", {}), ("agent_ringing", {}))]) == "waiting"
    assert acd_phase([r.kind for r in journey(("queued", {}), ("agent_answered", {}))]) == "talking"
    assert acd_phase([r.kind for r in journey(("queued", {}), ("agent_answered", {}), ("call_ended", {}))]) is None


def test_a_previous_call_shows_its_intent_queue_and_disposition() -> None:
    rows = journey(("intent_chosen", {"node": "menu", "intent": "billing"}), ("queued", {"queue": "billing"}),
                   ("disposition", {"agent": "minsu", "disposition": "resolved", "notes": "refund sent"}))
    assert previous_call(T0, "caller", rows) == {"at": "2026-12-06T09:00+00:00", "intent": "billing", "queue": "billing", "ended_by": "caller",
                                                 "disposition": "resolved", "notes": "refund sent", "agent": "minsu"}
    assert previous_call(T0, None, [])["disposition"] is None
