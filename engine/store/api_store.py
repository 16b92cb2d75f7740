"""The Journey API's tokens, webhook outbox and legs in the database.

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
from sqlalchemy.orm import selectinload

from engine.store.api_models import ApiTokenRow, WebhookDeliveryRow
from engine.store.contact_store import Contact, ContactStore, token_hash
from engine.store.field_limits import bounded_detail, bounded_text, event_kind
from engine.store.journey_store import CallRecord, call_record
from engine.store.models import CallRow, JourneyEventRow

TOKEN_PREFIX = "tl_"
SECRET_SHAPE = re.compile(r"^tl_[A-Za-z0-9_-]{43}$")
APPEND_TRIES = 3
"""Two requests making a contact's missing API leg at once: the one that lost uses the other's."""
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
    contact_ref: str
    """The contact it is about (its deliveries go when the customer is erased)."""
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
    """Deliveries owed to webhooks: written before anyone is told, claimed for a lease when due, marked
    when done, deleted a week after (or at once when their customer is erased)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def owe(self, events: Sequence[OwedEvent], now: datetime) -> None:
        async with self._sessions() as session, session.begin():
            await add_owed(session, events, now)

    async def take_due(self, url: str, now: datetime, lease_until: datetime, limit: int = 50) -> list[Delivery]:
        """Claim up to `limit` deliveries to `url` that are due: their next_at moves to `lease_until`, so
        a second engine (during a hand-over) does not send them too, and a sender that dies mid-way
        leaves them to be sent again once the lease ends. PostgreSQL skips rows another engine is
        claiming; SQLite writes one transaction at a time anyway."""
        pending = (
            WebhookDeliveryRow.url == url, WebhookDeliveryRow.delivered_at.is_(None), WebhookDeliveryRow.given_up_at.is_(None),
            WebhookDeliveryRow.next_at <= now,
        )
        chosen = (select(WebhookDeliveryRow.id).where(*pending).order_by(WebhookDeliveryRow.next_at, WebhookDeliveryRow.id).limit(limit)
                  .with_for_update(skip_locked=True))
        claim = (update(WebhookDeliveryRow).where(WebhookDeliveryRow.id.in_(chosen), *pending).values(next_at=lease_until)
                 .returning(WebhookDeliveryRow.id, WebhookDeliveryRow.event_id, WebhookDeliveryRow.payload, WebhookDeliveryRow.attempts))
        async with self._sessions() as session, session.begin():
            rows = (await session.execute(claim, execution_options={"synchronize_session": False})).all()
        return sorted((Delivery(row_id, url, event_id, dict(payload), attempts) for row_id, event_id, payload, attempts in rows), key=lambda d: d.id)

    async def next_due_at(self, url: str) -> datetime | None:
        async with self._sessions() as session:
            return await session.scalar(
                select(WebhookDeliveryRow.next_at)
                .where(WebhookDeliveryRow.url == url, WebhookDeliveryRow.delivered_at.is_(None), WebhookDeliveryRow.given_up_at.is_(None))
                .order_by(WebhookDeliveryRow.next_at)
                .limit(1)
            )

    async def give_up_other_urls(self, urls: Sequence[str], now: datetime) -> int:
        """Pending deliveries to a url no longer in api.webhooks are given up (and so deleted a week later)."""
        async with self._sessions() as session, session.begin():
            done = await session.execute(
                update(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.delivered_at.is_(None), WebhookDeliveryRow.given_up_at.is_(None), WebhookDeliveryRow.url.not_in(list(urls)))
                .values(given_up_at=now, last_error="this url is no longer in api.webhooks")
            )
            return int(getattr(done, "rowcount", 0) or 0)

    async def forget_contacts(self, refs: Sequence[str]) -> int:
        """An erasure: every delivery about these contacts is deleted, sent or not (their payloads name the customer)."""
        if not refs:
            return 0
        async with self._sessions() as session, session.begin():
            done = await session.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.contact_ref.in_(list(refs))))
            return int(getattr(done, "rowcount", 0) or 0)

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
            url=event.url, event_id=event.event_id, event_type=event.event_type, contact_ref=event.contact_ref, payload=event.payload, created_at=now,
            attempts=0, next_at=now,
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
API_CHANNEL = "api"


def api_leg_id(contact_ref: str) -> str:
    """The channel id of a contact's API leg: one per contact, found again by it."""
    return f"api-{contact_ref}"


class BusyLeg(RuntimeError):
    """Appends to one leg kept colliding (they are serialised; this is a last resort, answered 503)."""


class ApiLegs:
    """A contact's API leg (a calls row, channel "api", caller_number = the customer's number): made
    with its contact, appended to, and what webhooks are owed written in the same transaction, so an
    event is stored with its deliveries or not at all."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def create_contact(self, number: str, account: str, name: str, first: tuple[str, dict[str, Any]],
                             owed_for: Callable[[Contact], Sequence[OwedEvent]], now: datetime) -> Contact:
        """A contact, its API leg with its `first` event, and its contact.created deliveries: one commit."""
        async with self._sessions() as session, session.begin():
            contact = await ContactStore.add_contact(session, API_CHANNEL, now, number, account, name)
            session.add(_leg_row(contact, first, now))
            await add_owed(session, owed_for(contact), now)
        return contact

    async def append(self, contact: Contact, first: tuple[str, dict[str, Any]], events: Sequence[NewEvent], owed_for: OwedFor, now: datetime) -> list[StoredNew]:
        """Append to the contact's API leg (made, with `first`, if the contact began elsewhere)."""
        for attempt in range(APPEND_TRIES):
            try:
                return await self._append(contact, first, events, owed_for, now)
            except IntegrityError:  # two requests made the missing leg at once: the other's is used now
                if attempt == APPEND_TRIES - 1:
                    raise BusyLeg(f"appends to {api_leg_id(contact.ref)} kept colliding") from None
        raise AssertionError("unreachable")

    async def _append(self, contact: Contact, first: tuple[str, dict[str, Any]], events: Sequence[NewEvent], owed_for: OwedFor, now: datetime) -> list[StoredNew]:
        async with self._sessions() as session, session.begin():
            # The leg's row is locked (PostgreSQL; SQLite writes one transaction at a time): appends to one leg take turns for their numbers.
            call_id = await session.scalar(select(CallRow.id).where(CallRow.channel_id == api_leg_id(contact.ref)).with_for_update())
            if call_id is None:
                leg = _leg_row(contact, first, now)
                session.add(leg)
                await session.flush()
                call_id = leg.id
            last = int(await session.scalar(select(func.max(JourneyEventRow.seq)).where(JourneyEventRow.call_id == call_id)) or 0)
            stored = [StoredNew(last + n, event_kind(event.kind), event.at, bounded_detail(event.detail)) for n, event in enumerate(events, start=1)]
            session.add_all(JourneyEventRow(call_id=call_id, seq=s.seq, kind=s.kind, at=s.at, detail=s.detail) for s in stored)
            await session.flush()
            await add_owed(session, [owed for s in stored for owed in owed_for(s)], now)
        return stored

    async def loose_legs(self, number: str, limit: int) -> list[CallRecord]:
        """The legs from this number that belong to no contact (calls from before contacts), newest first."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(CallRow).where(CallRow.caller_number == number, CallRow.contact_id.is_(None))
                .order_by(CallRow.id.desc()).limit(limit).options(selectinload(CallRow.events))
            )
            return [call_record(row) for row in rows]


def _leg_row(contact: Contact, first: tuple[str, dict[str, Any]], at: datetime) -> CallRow:
    kind, detail = first
    leg = CallRow(channel_id=api_leg_id(contact.ref), caller_number=contact.customer_number, caller_name=contact.customer_name, dialed="",
                  arrived_at=at, channel=API_CHANNEL, contact_id=contact.id)
    leg.events.append(JourneyEventRow(seq=1, kind=event_kind(kind), at=at, detail=bounded_detail(detail)))
    return leg
