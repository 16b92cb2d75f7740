"""Reading a call's journey back: where it stood in the ACD, the callback it still owes, and how
an earlier call shows on the pop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.acd.journey_marks import acd_phase, continued_from, owed_callback_of, previous_call

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
    assert previous_call(T0, "caller", rows) == {"at": "2026-12-06T09:00+00:00", "channel": "phone", "intent": "billing", "queue": "billing",
                                                 "ended_by": "caller", "disposition": "resolved", "notes": "refund sent", "agent": "minsu", "events": []}
    assert previous_call(T0, None, [])["disposition"] is None


def test_a_chat_or_api_leg_in_the_history_says_its_channel_and_an_api_legs_events() -> None:
    chat = journey(("typed", {"text": "인터넷이 안 돼요"}), ("intent_chosen", {"node": "menu", "intent": "technical"}))
    assert previous_call(T0, None, chat, "chat")["channel"] == "chat"
    assert previous_call(T0, None, chat, "chat")["intent"] == "technical"
    api = journey(*[("external_event", {"type": "order", "text": f"order {n} delayed", "source": "shop"}) for n in (120, 121, 122, 123)])
    shown = previous_call(T0, None, api, "api")
    assert shown["channel"] == "api" and shown["events"] == [{"type": "order", "text": f"order {n} delayed"} for n in (121, 122, 123)], "the newest three"


def test_a_callback_arranged_in_chat_is_owed_with_the_chats_checkpoint() -> None:
    chat = journey(("flow_started", {"flow": "support_ko", "version": "abc"}), ("typed", {"text": "인터넷이 안 돼요"}),
                   ("checkpoint", {"flow": "support_ko", "node": "internet_steps", "variables": {"intent": "technical"}, "step": 2}))
    phone = [Row(i, kind, T0 + timedelta(minutes=5, seconds=i), detail) for i, (kind, detail) in enumerate([
        ("continued_from", {"leg": "chat-1", "channel": "chat", "how": "callback"}),
        ("queued", {"queue": "technical", "skills": ["internet"], "priority": 6}),
        ("callback_requested", {"queue": "technical", "number": "01012345678", "waited_s": 0.0, "source": "chat"}),
        ("hung_up", {"by": "system"})], start=1)]
    assert continued_from(phone) == "chat-1" and continued_from(chat) is None
    owed = owed_callback_of([*chat, *phone])
    assert owed is not None
    assert (owed.queue, owed.number, owed.flow, owed.variables) == ("technical", "01012345678", "support_ko", {"intent": "technical"})
    assert owed.queued_at == T0 + timedelta(minutes=5, seconds=2), "its place: when the customer asked"
