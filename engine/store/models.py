"""Tables for contacts, their legs (calls, chats, API threads) and each leg's journey: one row a leg, and one ordered event log a leg."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python: SQLite keeps no zone and hands
    back naive values, which would not compare with the aware ones the engine makes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime}


class ContactRow(Base):
    """One customer's matter across channels: a phone call, a chat and an API thread are its legs
    (calls.contact_id). Created with its first leg that needs one (a chat, an API contact, a hand-off)."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    """The public id (ct_...): what the Journey API and the chat name it by, never the row id."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    origin: Mapped[str] = mapped_column(String(16), default="")
    """The channel of its first leg: phone, chat or api."""
    customer_number: Mapped[str] = mapped_column(String(80), default="", index=True)
    customer_account: Mapped[str] = mapped_column(String(80), default="", index=True)
    customer_name: Mapped[str] = mapped_column(String(80), default="")
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    """The identity came signed by the company's site (chat) or from an API client, not typed by the customer."""


class CallRow(Base):
    """One leg of a contact: an inbound or callback phone call, a chat or an API thread, from its start until it ended.

    The table keeps its first name, `calls`: a phone call was the only kind of leg when it was made."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    caller_number: Mapped[str] = mapped_column(String(80), default="", index=True)
    caller_name: Mapped[str] = mapped_column(String(80), default="")
    dialed: Mapped[str] = mapped_column(String(80), default="")
    arrived_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True, index=True)
    hung_up_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """caller, engine, system (Asterisk hung up), or lost (ended while the engine could not see it)."""
    hangup_cause: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hangup_cause_txt: Mapped[str | None] = mapped_column(String(80), nullable=True)
    channel: Mapped[str] = mapped_column(String(8), default="phone", server_default="phone")
    """phone, chat or api."""
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), nullable=True, index=True)

    events: Mapped[list[JourneyEventRow]] = relationship(
        back_populates="call", order_by="JourneyEventRow.seq", cascade="all, delete-orphan"
    )


class JourneyEventRow(Base):
    """One step of a call's journey, numbered in the order it happened."""

    __tablename__ = "journey_events"
    __table_args__ = (UniqueConstraint("call_id", "seq", name="uq_journey_events_call_seq"), Index("ix_journey_events_kind_at", "kind", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    call: Mapped[CallRow] = relationship(back_populates="events")


class AgentStateRow(Base):
    """One change of an agent's state (logged out, available, reserved, on call, wrap-up, paused).

    Kept so occupancy and agent reports survive engine restarts; the live state itself is derived
    from events in memory (engine/acd/agent_state.py)."""

    __tablename__ = "agent_states"
    __table_args__ = (Index("ix_agent_states_agent_at", "agent_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(80), default="")
    call_id: Mapped[str] = mapped_column(String(64), default="")


class RecordingRow(Base):
    """One recording of a conversation with an agent: a stereo WAV (caller left, agent right).

    The sha256 is taken when the file is filed and checked whenever it is served."""

    __tablename__ = "recordings"
    __table_args__ = (Index("ix_recordings_started_at", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    """The caller's channel id: the call's id throughout (calls.channel_id)."""
    path: Mapped[str] = mapped_column(String(255), unique=True)
    """Relative to recording.folder."""
    format: Mapped[str] = mapped_column(String(8), default="wav")
    channels: Mapped[int] = mapped_column(Integer, default=2)
    sample_rate: Mapped[int] = mapped_column(Integer, default=8000)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    agent_id: Mapped[str] = mapped_column(String(64), default="", index=True)
    queue: Mapped[str] = mapped_column(String(64), default="")
    language: Mapped[str] = mapped_column(String(10), default="")
    """The call's flow language: which speech model transcribes it."""
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    """ok; recovered (filed at start from a file a stopped engine left); missing (the file is gone)."""
    pauses: Mapped[list[list[float]]] = mapped_column(JSON, default=list)
    """[from_s, to_s] within the file where recording was paused for a sensitive entry (silence)."""


class TranscriptRow(Base):
    """A recording's transcript, who said what when, with the auto-checks' findings and flags."""

    __tablename__ = "transcripts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"), unique=True)
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(10), default="")
    engine: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    audio_s: Mapped[float] = mapped_column(Float, default=0.0)
    decode_s: Mapped[float] = mapped_column(Float, default=0.0)
    text: Mapped[str] = mapped_column(Text, default="")
    segments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    findings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    sentiment: Mapped[float] = mapped_column(Float, default=0.0)


class QaScoreRow(Base):
    """A reviewer's score of a call against one version of a scorecard."""

    __tablename__ = "qa_scores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    recording_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    agent_id: Mapped[str] = mapped_column(String(64), index=True)
    scorecard: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(16))
    reviewer: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total: Mapped[float] = mapped_column(Float, default=0.0)
    """0-100: answered questions' weighted scores over their weights."""


class AuditRow(Base):
    """Who did what to recorded data: playbacks, downloads, refusals, erasures, purges. Never PII."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(255), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class MonitoringRow(Base):
    """One step of a supervisor's monitoring of an agent's call: `started`, each `mode` in force
    (listen, whisper, barge) and `ended` with why. Rows are only added, never changed; the unique
    (session, seq) makes a retried write land once."""

    __tablename__ = "monitoring_audit"
    __table_args__ = (UniqueConstraint("session_id", "seq", name="uq_monitoring_audit_session_seq"), Index("ix_monitoring_audit_at", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    action: Mapped[str] = mapped_column(String(16))
    supervisor: Mapped[str] = mapped_column(String(64))
    agent: Mapped[str] = mapped_column(String(64))
    call_id: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32), default="")


class ChatSessionRow(Base):
    """A chat customer's session: the token (hashed) their browser keeps, and the chat leg it writes.
    A reload or a new connection with the token goes on in that leg at the same node."""

    __tablename__ = "chat_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    channel_id: Mapped[str] = mapped_column(String(64), index=True)
    """The chat leg (calls.channel_id)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """What the chat needs to go on that the journey does not hold (never a sensitive value)."""


class HandoffCodeRow(Base):
    """A one-time code a chat gave its customer to call with: the call that keys it goes on from the chat.

    Only the code's hash is kept; a code works once, until expires_at."""

    __tablename__ = "handoff_codes"
    __table_args__ = (Index("ix_handoff_codes_code_hash", "code_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    from_leg: Mapped[str] = mapped_column(String(64))
    """The chat leg (calls.channel_id) the call goes on from."""
    queue: Mapped[str] = mapped_column(String(64))
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    priority: Mapped[int] = mapped_column(Integer, default=5)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    claimed_by: Mapped[str] = mapped_column(String(64), default="")
    """The phone leg that keyed it."""
