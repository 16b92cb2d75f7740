"""The chat's pure edges: a site's signed identity, the limits strangers meet, what a reload shows."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from engine.chat.chat_identity import IdentityRefused, sign, verified_identity
from engine.chat.chat_limits import Bucket, Openings
from engine.chat.chat_transcript import last_checkpoint, later_legs, transcript
from engine.config.flow_model import Step
from engine.journey.channel_events import ChatSent, HandoffOffered, Typed
from engine.journey.events import CheckpointSaved, DispositionSet, StepDone, to_stored
from engine.recording.retention import PERSONAL_KINDS
from engine.settings import ChatSettings
from engine.store.journey_store import CallRecord, JourneyEvent

SECRET = "x" * 40
NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def test_a_signed_identity_is_taken_and_every_fault_names_its_field() -> None:
    identity, signature = sign({"customer": "C-7", "number": "0212345678", "name": "김민수", "exp": NOW.timestamp() + 60}, SECRET)
    who = verified_identity(identity, signature, SECRET, NOW)
    assert (who.customer, who.number, who.name) == ("C-7", "0212345678", "김민수")
    faults = {
        "signature": (identity, "0" * 64, SECRET),
        "identity": (identity, signature, None),
        "identity.exp": (*sign({"customer": "C-7", "exp": NOW.timestamp() - 1}, SECRET), SECRET),
        "identity.number": (*sign({"number": 5, "exp": NOW.timestamp() + 60}, SECRET), SECRET),
        "identity.customer": (*sign({"exp": NOW.timestamp() + 60}, SECRET), SECRET),
    }
    for field, (raw, signed, secret) in faults.items():
        with pytest.raises(IdentityRefused) as refused:
            verified_identity(raw, signed, secret, NOW)
        assert refused.value.field == field, (field, str(refused.value))
    with pytest.raises(IdentityRefused, match="^identity: not base64url"):  # signed, but not what a site makes
        verified_identity("%%%", hmac.new(SECRET.encode(), b"%%%", hashlib.sha256).hexdigest(), SECRET, NOW)


def test_a_short_identity_secret_is_refused_at_load() -> None:
    with pytest.raises(ValueError, match="at least 32 characters"):
        ChatSettings(identity_secret="short")
    with pytest.raises(ValueError, match="not an origin"):
        ChatSettings(allowed_origins="https://shop.example/page")
    assert ChatSettings(allowed_origins="https://a.example, https://b.example/").allowed_origins == ("https://a.example", "https://b.example")


def test_new_chats_per_address_and_messages_per_chat_are_bounded() -> None:
    openings = Openings(per_minute=2)
    assert [openings.admit("1.2.3.4", t) for t in (0.0, 1.0, 2.0)] == [True, True, False]
    assert openings.admit("5.6.7.8", 2.0) and openings.admit("1.2.3.4", 61.0)
    bucket = Bucket(rate=2.0, burst=3)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.5) and not bucket.take(0.5)


def test_a_reload_shows_the_transcript_goes_on_at_the_checkpoint_and_shows_later_calls() -> None:
    rows = [to_stored(e) for e in (ChatSent(text="안녕하세요", node="menu"), Typed(text="****", node="pin"), CheckpointSaved(flow="f", node="steps", step=1),
                                    HandoffOffered(how="code", queue="technical", number="1588", expires_at="2026-05-01T09:05:00+00:00"))]
    assert transcript(rows) == [{"who": "bot", "text": "안녕하세요", "recording_only": False}, {"who": "customer", "text": "****"},
                                {"who": "handoff", "how": "code", "queue": "technical", "number": "1588", "expires_at": "2026-05-01T09:05:00+00:00"}]
    assert last_checkpoint(rows) == {"flow": "f", "node": "steps", "step": 1}
    steps = (Step(id="a", prompt="Restart it.", question="Fixed?"), Step(id="b", prompt="Check the cable.", question="Fixed?"), Step(id="c", prompt="Call us.", question="?"))

    def leg(number: int, channel_id: str, channel: str, events: list[JourneyEvent]) -> CallRecord:
        return CallRecord(number, channel_id, "", "", "", NOW + timedelta(minutes=number), None, None, None, None, tuple(events), channel=channel, contact_id=1)

    done = [JourneyEvent(seq, kind, NOW, detail) for seq, (kind, detail) in enumerate(
        (to_stored(StepDone(procedure="p", step="a", index=1, fixed=False)), to_stored(DispositionSet(disposition="follow_up"))), start=1)]
    legs = [leg(1, "chat-1", "chat", []), leg(2, "call-2", "phone", done)]
    (later,) = later_legs(legs, "chat-1", {"p": steps})
    assert (later["channel"], later["steps_done"], later["next_step"], later["disposition"], later["fixed"]) == ("phone", ["Restart it."], "Check the cable.", "follow_up", False)
    assert later_legs(legs, "call-2", {"p": steps}) == []
    chat_steps = [JourneyEvent(seq, kind, NOW, detail) for seq, (kind, detail) in enumerate(
        (to_stored(StepDone(procedure="p", step="a", index=1, fixed=False)), to_stored(StepDone(procedure="p", step="b", index=2, fixed=False))), start=1)]
    disposition_kind, disposition_detail = to_stored(DispositionSet(disposition="technician_booked"))
    disposed = [JourneyEvent(1, disposition_kind, NOW, disposition_detail)]
    (after_chat,) = later_legs([leg(1, "chat-1", "chat", chat_steps), leg(2, "call-2", "phone", disposed)], "chat-1", {"p": steps})
    assert (after_chat["steps_done"], after_chat["next_step"], after_chat["disposition"]) == ([], "Call us.", "technician_booked")  # the chat's two steps count


def test_the_chat_transcript_is_personal_data() -> None:
    assert {Typed.KIND, ChatSent.KIND, HandoffOffered.KIND} <= PERSONAL_KINDS
