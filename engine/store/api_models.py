"""Tables of the Journey API (migration 0008): its tokens, and the webhook outbox that keeps every
event owed to a receiver until it is delivered or given up."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.models import Base, UtcDateTime


class ApiTokenRow(Base):
    """A bearer token of the Journey API. Only the sha256 of its secret is kept: the secret is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)


class WebhookDeliveryRow(Base):
    """One event owed to one webhook url. Written with the event (or just after it), so a restart
    loses nothing; unique per (url, event id), so writing it twice delivers it once."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("url", "event_id", name="uq_webhook_deliveries_url_event"),
        Index("ix_webhook_deliveries_due", "delivered_at", "given_up_at", "next_at"),
        Index("ix_webhook_deliveries_contact_ref", "contact_ref"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(500))
    event_id: Mapped[str] = mapped_column(String(80))
    event_type: Mapped[str] = mapped_column(String(40))
    contact_ref: Mapped[str] = mapped_column(String(40), default="")
    """The contact the event is about: an erasure deletes its deliveries (their payloads name the customer)."""
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(UtcDateTime())
    """When it is next tried; while a sender holds it, when that sender's lease ends (then another may take it)."""
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    given_up_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_error: Mapped[str] = mapped_column(String(200), default="")
