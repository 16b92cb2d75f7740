"""The Journey API's tokens and webhook outbox in the database.

A token's secret is 32 random bytes (`tl_` + urlsafe base64), shown once by `threadline tokens
create`; only its sha256 is stored. The secret is high-entropy, so a plain sha256 (no slow hash) is
enough: nobody can guess their way to a preimage, and every request can be checked cheaply.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from engine.store.api_models import ApiTokenRow, WebhookDeliveryRow
from engine.store.contact_store import token_hash
from engine.store.field_limits import bounded_detail, bounded_text, event_kind
from engine.store.models import JourneyEventRow

TOKEN_PREFIX = "tl_"
SECRET_SHAPE = re.compile(r"^tl_[A-Za-z0-9_-]{43}$")
APPEND_TRIES = 3
"""Two requests appending to one leg at once: the one whose numbers were taken tries again."""
LAST_USED_EVERY = timedelta(minutes=1)
"""last_used_at is written at most this often per token: not a database write per request."""


class TokenNameTaken(ValueError):
    pass


@dataclass(frozen=True)
class ApiToken:
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class OwedEvent:
    """An event for one webhook, as the outbox holds it."""

    url: str
    event_id: str
    event_type: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Delivery:
    id: int
    url: str
    event_id: str
    payload: dict[str, Any]
    attempts: int


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """What is stored of a token: the same sha256 as chat tokens and hand-off codes."""
    return token_hash(secret)


def _token(row: ApiTokenRow) -> ApiToken:
    return ApiToken(row.name, tuple(row.scopes or ()), row.created_at, row.last_used_at, row.revoked_at)


class ApiTokenStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def create(self, name: str, scopes: Sequence[str], now: datetime) -> str:
        """A new token; returns its secret (never stored). A name in use raises TokenNameTaken."""
        secret = new_secret()
        async with self._sessions() as session:
            session.add(ApiTokenRow(name=name, token_hash=hash_secret(secret), created_at=now, scopes=sorted(set(scopes))))
            try:
                await session.commit()
            except IntegrityError:
                raise TokenNameTaken(f"a token named {name!r} exists already (revoked ones keep their name): choose another name") from None
        return secret

    async def tokens(self) -> list[ApiToken]:
        async with self._sessions() as session:
            return [_token(row) for row in await session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.name))]

    async def revoke(self, name: str, now: datetime) -> bool:
        """False when no live token has that name."""
        async with self._sessions() as session, session.begin():
            done = await session.execute(
                update(ApiTokenRow).where(ApiTokenRow.name == name, ApiTokenRow.revoked_at.is_(None)).values(revoked_at=now)
            )
            return bool(getattr(done, "rowcount", 0))

    async def authenticate(self, secret: str, now: datetime) -> ApiToken | None:
        """The live token with this secret, or None. Looked up by hash, then compared in constant time."""
        if not SECRET_SHAPE.match(secret):
            return None  # not one of ours (and never hashed: a header may hold anything)
        wanted = hash_secret(secret)
        async with self._sessions() as session:
            row = await session.scalar(select(ApiTokenRow).where(ApiTokenRow.token_hash == wanted))
            if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash, wanted):
                return None
            if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
                row.last_used_at = now
                await session.commit()
            return _token(row)


class WebhookOutbox:
    """Deliveries owed to webhooks: written before anyone is told, taken when due, marked when done."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def owe(self, events: Sequence[OwedEvent], now: datetime) -> None:
        async with self._sessions() as session, session.begin():
            await add_owed(session, events, now)

    async def due(self, now: datetime, limit: int = 50) -> list[Delivery]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.delivered_at.is_(None), WebhookDeliveryRow.given_up_at.is_(None), WebhookDeliveryRow.next_at <= now)
                .order_by(WebhookDeliveryRow.next_at, WebhookDeliveryRow.id)
                .limit(limit)
            )
            return [Delivery(row.id, row.url, row.event_id, dict(row.payload), row.attempts) for row in rows]

    async def next_due_at(self) -> datetime | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(WebhookDeliveryRow.next_at)
                .where(WebhookDeliveryRow.delivered_at.is_(None), WebhookDeliveryRow.given_up_at.is_(None))
                .order_by(WebhookDeliveryRow.next_at)
                .limit(1)
            )

    async def delivered(self, delivery_id: int, now: datetime) -> None:
        await self._set(delivery_id, delivered_at=now, attempts=WebhookDeliveryRow.attempts + 1, last_error="")

    async def failed(self, delivery_id: int, error: str, retry_at: datetime | None, now: datetime) -> None:
        """One more failed attempt; retry_at None gives the delivery up (the row stays, with the last error)."""
        values: dict[str, Any] = {"attempts": WebhookDeliveryRow.attempts + 1, "last_error": bounded_text(error, 200)}
        values.update({"next_at": retry_at} if retry_at is not None else {"given_up_at": now})
        await self._set(delivery_id, **values)

    async def counts(self) -> dict[str, int]:
        """How many deliveries are pending, delivered and given up (for `threadline tokens list` and /status)."""
        async with self._sessions() as session:
            rows = (await session.execute(select(WebhookDeliveryRow.delivered_at, WebhookDeliveryRow.given_up_at))).all()
        return {
            "pending": sum(1 for done, gone in rows if done is None and gone is None),
            "delivered": sum(1 for done, _ in rows if done is not None),
            "given_up": sum(1 for _, gone in rows if gone is not None),
        }

    async def forget_finished(self, before: datetime) -> int:
        """Delete deliveries delivered or given up before `before`: their payloads hold customers' data."""
        async with self._sessions() as session, session.begin():
            done = await session.execute(delete(WebhookDeliveryRow).where(or_(
                WebhookDeliveryRow.delivered_at < before, WebhookDeliveryRow.given_up_at < before,
            )))
            return int(getattr(done, "rowcount", 0) or 0)

    async def _set(self, delivery_id: int, **values: Any) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(update(WebhookDeliveryRow).where(WebhookDeliveryRow.id == delivery_id).values(**values))


async def add_owed(session: AsyncSession, events: Sequence[OwedEvent], now: datetime) -> None:
    """Add outbox rows in the caller's transaction (with the events themselves); one already owed is skipped."""
    if not events:
        return
    rows = await session.execute(
        select(WebhookDeliveryRow.url, WebhookDeliveryRow.event_id).where(WebhookDeliveryRow.event_id.in_([e.event_id for e in events]))
    )
    seen = {(url, event_id) for url, event_id in rows.all()}
    for event in events:
        if (event.url, event.event_id) in seen:
            continue
        seen.add((event.url, event.event_id))
        session.add(WebhookDeliveryRow(
            url=event.url, event_id=event.event_id, event_type=event.event_type, payload=event.payload, created_at=now, attempts=0, next_at=now,
        ))


@dataclass(frozen=True)
class NewEvent:
    kind: str
    at: datetime
    detail: dict[str, Any]


@dataclass(frozen=True)
class StoredNew:
    seq: int
    kind: str
    at: datetime
    detail: dict[str, Any]
    """As stored (bounded)."""


OwedFor = Callable[[StoredNew], Sequence[OwedEvent]]
"""The outbox rows an event stored with these numbers is owed to (none without webhooks)."""


class LegAppender:
    """Appends events to one leg of a contact (an API thread) and writes what webhooks are owed in the
    same transaction: an event is stored with its deliveries or not at all."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def append(self, call_id: int, events: Sequence[NewEvent], owed_for: OwedFor, now: datetime) -> list[StoredNew]:
        for attempt in range(APPEND_TRIES):
            try:
                return await self._append(call_id, events, owed_for, now)
            except IntegrityError:
                if attempt == APPEND_TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    async def _append(self, call_id: int, events: Sequence[NewEvent], owed_for: OwedFor, now: datetime) -> list[StoredNew]:
        async with self._sessions() as session, session.begin():
            last = int(await session.scalar(select(func.max(JourneyEventRow.seq)).where(JourneyEventRow.call_id == call_id)) or 0)
            stored = [StoredNew(last + n, event_kind(event.kind), event.at, bounded_detail(event.detail)) for n, event in enumerate(events, start=1)]
            session.add_all(JourneyEventRow(call_id=call_id, seq=s.seq, kind=s.kind, at=s.at, detail=s.detail) for s in stored)
            await session.flush()
            await add_owed(session, [owed for s in stored for owed in owed_for(s)], now)
        return stored
