"""Tables for calls and their journey: one row a call, and one ordered event log a call."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class CallRow(Base):
    """One inbound call, from the moment it reached the engine until it ended."""

    __tablename__ = "calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    caller_number: Mapped[str] = mapped_column(String(80), default="")
    caller_name: Mapped[str] = mapped_column(String(80), default="")
    dialed: Mapped[str] = mapped_column(String(80), default="")
    arrived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)
    hung_up_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """caller, engine, system (Asterisk hung up), or lost (ended while the engine could not see it)."""
    hangup_cause: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hangup_cause_txt: Mapped[str | None] = mapped_column(String(80), nullable=True)

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
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
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
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(80), default="")
    call_id: Mapped[str] = mapped_column(String(64), default="")
