"""Contacts and their legs, chat sessions and hand-off codes: what ties a customer's chat, calls and
API threads into one journey. Each leg's own journey is written by JourneyStore as before.

Only hashes of chat tokens and keyed HMACs of hand-off codes are kept. A code is claimed, and the
calling leg put in the chat's contact, in one transaction: two calls keying the same code cannot
both take the chat over, and a claim that fails uses nothing up.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from engine.store.field_limits import CALLER_FIELD_CHARS, bounded_detail, bounded_text
from engine.store.journey_store import CallerInfo, CallRecord, JourneyStore, OpenedCall, call_record
from engine.store.models import CallRow, ChatSessionRow, ContactRow, HandoffCodeRow, JourneyEventRow

CHANNELS = ("phone", "chat", "api")


def token_hash(secret: str) -> str:
    """What is stored of a chat token: a browser's token (256 random bits) read from the database
    opens nothing. Never for hand-off codes: a hash of 6 digits is reversed by trying a million (code_digest)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def code_digest(code: str, key: bytes) -> str:
    """What is stored of a hand-off code: HMAC-SHA256 under the server's secret ([handoff] key_file),
    so the database alone does not give the codes back."""
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()


class _NoCall(Exception):
    """A claim found no row for its calling leg: the transaction is rolled back."""


@dataclass(frozen=True)
class Contact:
    id: int
    ref: str
    created_at: datetime
    origin: str
    customer_number: str
    customer_account: str
    customer_name: str
    verified: bool


@dataclass(frozen=True)
class LegStart:
    """A leg as the channel figures count it: its channel, its contact and when it started."""

    channel_id: str
    channel: str
    contact_id: int | None
    started_at: datetime


@dataclass(frozen=True)
class ChatSession:
    channel_id: str
    created_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None
    state: dict[str, Any]


@dataclass(frozen=True)
class ClaimedCode:
    """A hand-off code the calling leg has just taken: the chat it goes on from and where it queues."""

    contact_id: int
    from_leg: str
    queue: str
    skills: tuple[str, ...]
    priority: int


@dataclass(frozen=True)
class CodeRefused:
    reason: str
    """unknown, expired, used, or no_call (the calling leg's row is not written yet: try again)."""


class ContactStore:
    def __init__(self, engine: AsyncEngine, journeys: JourneyStore, code_key: bytes | None = None) -> None:
        """`code_key`: the hand-off codes' HMAC secret (engine/handoff/code_key.py); only the hand-off needs it."""
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._journeys = journeys
        self._code_key = code_key

    # -- contacts and legs -------------------------------------------------------------------

    async def create_contact(self, origin: str, at: datetime, number: str = "", account: str = "", name: str = "", verified: bool = False) -> Contact:
        async with self._sessions() as session, session.begin():
            return await self.add_contact(session, origin, at, number, account, name, verified)

    async def contact_by_ref(self, ref: str) -> Contact | None:
        async with self._sessions() as session:
            row = await session.scalar(select(ContactRow).where(ContactRow.ref == ref[:40]))
            return _contact(row) if row else None

    async def contact(self, contact_id: int) -> Contact | None:
        async with self._sessions() as session:
            row = await session.get(ContactRow, contact_id)
            return _contact(row) if row else None

    async def contact_of_leg(self, channel_id: str) -> Contact | None:
        async with self._sessions() as session:
            row = await session.scalar(select(ContactRow).join(CallRow, CallRow.contact_id == ContactRow.id).where(CallRow.channel_id == channel_id[:64]))
            return _contact(row) if row else None

    async def contacts_of_customer(self, number: str = "", account: str = "", limit: int = 20) -> list[Contact]:
        """A customer's contacts, newest first: by the number or account the contact was made with,
        or by the number any of its legs came from."""
        if not number and not account:
            return []
        wanted = []
        if number:
            wanted += [ContactRow.customer_number == number, ContactRow.id.in_(select(CallRow.contact_id).where(CallRow.caller_number == number))]
        if account:
            wanted.append(ContactRow.customer_account == account)
        async with self._sessions() as session:
            rows = await session.scalars(select(ContactRow).where(or_(*wanted)).order_by(ContactRow.id.desc()).limit(limit))
            return [_contact(row) for row in rows]

    async def open_leg(self, contact: Contact, channel: str, caller: CallerInfo, at: datetime, first: tuple[str, dict[str, Any]]) -> OpenedCall:
        """A new leg of the contact (a chat, an API thread, a callback's call), with its first event."""
        if channel not in CHANNELS:
            raise ValueError(f"channel: one of {', '.join(CHANNELS)} (got {channel!r})")
        kind, detail = first
        return await self._journeys.open_call(caller, at, detail, channel=channel, contact_id=contact.id, first_kind=kind)

    async def attach_leg(self, channel_id: str, contact_id: int) -> bool:
        """Put an existing leg (an inbound call that keyed a code) into a contact; False if there is no such leg."""
        async with self._sessions() as session, session.begin():
            done = await session.execute(update(CallRow).where(CallRow.channel_id == channel_id[:64]).values(contact_id=contact_id))
            return bool(_changed(done))

    async def leg_of_row(self, call_id: int) -> tuple[str, str, int | None] | None:
        """(channel id, channel, contact id) of a leg by its row id: who a stored event belongs to."""
        async with self._sessions() as session:
            row = (await session.execute(select(CallRow.channel_id, CallRow.channel, CallRow.contact_id).where(CallRow.id == call_id))).first()
            return (row.channel_id, row.channel or "phone", row.contact_id) if row else None

    async def legs_of_contact(self, contact_id: int) -> list[CallRecord]:
        """The contact's legs in the order they started, each with its journey."""
        async with self._sessions() as session:
            rows = await session.scalars(select(CallRow).where(CallRow.contact_id == contact_id).order_by(CallRow.id).options(selectinload(CallRow.events)))
            return [call_record(row) for row in rows]

    async def legs_started_between(self, start: datetime, end: datetime) -> list[LegStart]:
        """Every leg (of any channel, in a contact or not) that started in [start, end), in order."""
        async with self._sessions() as session:
            rows = await session.execute(select(CallRow.channel_id, CallRow.channel, CallRow.contact_id, CallRow.arrived_at)
                                         .where(CallRow.arrived_at >= start, CallRow.arrived_at < end).order_by(CallRow.id))
            return [LegStart(channel_id, channel or "phone", contact_id, at) for channel_id, channel, contact_id, at in rows.all()]

    async def erase_customer(self, number: str = "", account: str = "") -> list[str]:
        """Blank who the customer's contacts are (number, account, name); returns the channel ids of
        those contacts' legs, whose journeys the caller erases too (a chat typed under a signed identity
        may come from no number at all)."""
        contacts = await self.contacts_of_customer(number, account, limit=100_000)
        ids = [contact.id for contact in contacts]
        if not ids:
            return []
        async with self._sessions() as session, session.begin():
            await session.execute(update(ContactRow).where(ContactRow.id.in_(ids)).values(customer_number="erased", customer_account="erased", customer_name="erased"))
            legs = await session.scalars(select(CallRow.channel_id).where(CallRow.contact_id.in_(ids)))
            return sorted(set(legs))

    async def blank_contacts_before(self, cutoff: datetime) -> int:
        """Retention: contacts made before `cutoff` forget who the customer was (their legs' journeys are blanked by JourneyStore)."""
        async with self._sessions() as session, session.begin():
            done = await session.execute(update(ContactRow).where(ContactRow.created_at < cutoff, ContactRow.customer_name != "erased")
                                         .values(customer_number="erased", customer_account="erased", customer_name="erased"))
            return _changed(done)

    # -- chat sessions -----------------------------------------------------------------------

    async def open_chat_session(self, token: str, channel_id: str, at: datetime, state: dict[str, Any] | None = None) -> None:
        async with self._sessions() as session, session.begin():
            session.add(ChatSessionRow(token_hash=token_hash(token), channel_id=channel_id, created_at=at, last_seen_at=at, state=bounded_detail(state or {})))

    async def chat_session(self, token: str) -> ChatSession | None:
        async with self._sessions() as session:
            row = await session.scalar(select(ChatSessionRow).where(ChatSessionRow.token_hash == token_hash(token)))
            return ChatSession(row.channel_id, row.created_at, row.last_seen_at, row.ended_at, dict(row.state or {})) if row else None

    async def touch_chat_session(self, token: str, at: datetime, state: dict[str, Any] | None = None, ended: bool = False) -> None:
        values: dict[str, Any] = {"last_seen_at": at}
        if state is not None:
            values["state"] = bounded_detail(state)
        if ended:
            values["ended_at"] = at
        async with self._sessions() as session, session.begin():
            await session.execute(update(ChatSessionRow).where(ChatSessionRow.token_hash == token_hash(token)).values(**values))

    # -- hand-off codes ----------------------------------------------------------------------

    def _code_digest(self, code: str) -> str:
        if self._code_key is None:
            raise RuntimeError("ContactStore: hand-off codes need the server's code key (ContactStore(..., code_key=...))")
        return code_digest(code, self._code_key)

    def _live(self, now: datetime) -> Any:
        return (HandoffCodeRow.claimed_at.is_(None), HandoffCodeRow.expires_at > now)

    async def code_is_live(self, code: str, now: datetime) -> bool:
        """Whether an unexpired, unclaimed code with this value exists (a new code must not collide)."""
        async with self._sessions() as session:
            found = await session.scalar(select(HandoffCodeRow.id).where(HandoffCodeRow.code_hash == self._code_digest(code), *self._live(now)).limit(1))
            return found is not None

    async def live_codes_until(self, now: datetime) -> datetime | None:
        """When the last code that waits for a call now expires; None if none waits."""
        async with self._sessions() as session:
            last: datetime | None = await session.scalar(select(func.max(HandoffCodeRow.expires_at)).where(*self._live(now)))
            return last

    async def issue_code(self, code: str, contact_id: int, from_leg: str, queue: str, skills: Sequence[str], priority: int, at: datetime, expires_at: datetime) -> None:
        """A new code for the chat leg; its earlier live codes stop working (the customer has only the newest)."""
        async with self._sessions() as session, session.begin():
            await session.execute(update(HandoffCodeRow).where(HandoffCodeRow.from_leg == from_leg[:64], *self._live(at)).values(expires_at=at))
            session.add(HandoffCodeRow(code_hash=self._code_digest(code), contact_id=contact_id, from_leg=from_leg, queue=queue, skills=list(skills),
                                       priority=priority, created_at=at, expires_at=expires_at))

    async def claim_code(self, code: str, by_leg: str, now: datetime) -> ClaimedCode | CodeRefused:
        """Take a code for a calling leg, once, before it expires, and put the leg in the chat's contact,
        in one transaction: a claim that cannot attach its leg (the call's row is not written yet:
        no_call) uses nothing up."""
        try:
            async with self._sessions() as session, session.begin():
                rows = list(await session.scalars(select(HandoffCodeRow).where(HandoffCodeRow.code_hash == self._code_digest(code))
                                                  .order_by(HandoffCodeRow.id.desc())))
                live = next((row for row in rows if row.claimed_at is None and row.expires_at > now), None)
                if live is None:
                    if not rows:
                        return CodeRefused("unknown")
                    return CodeRefused("used" if any(row.claimed_at is not None for row in rows) else "expired")
                return await self._take(session, live, by_leg, now)
        except _NoCall:
            return CodeRefused("no_call")

    async def claim_code_for_number(self, number: str, by_leg: str, now: datetime) -> ClaimedCode | CodeRefused | None:
        """Take the newest live code whose contact has this number as its signed customer number (the
        chat's identity), as claim_code does: a call whose caller ID is that number goes on from the
        chat without keying it. Caller ID proves nothing ([handoff] continue_by_number)."""
        if not number:
            return None
        try:
            async with self._sessions() as session, session.begin():
                live = await session.scalar(
                    select(HandoffCodeRow).join(ContactRow, ContactRow.id == HandoffCodeRow.contact_id)
                    .where(ContactRow.verified.is_(True), ContactRow.customer_number == number[:CALLER_FIELD_CHARS], *self._live(now))
                    .order_by(HandoffCodeRow.id.desc()).limit(1))
                return await self._take(session, live, by_leg, now) if live is not None else None
        except _NoCall:
            return CodeRefused("no_call")

    async def _take(self, session: AsyncSession, live: HandoffCodeRow, by_leg: str, now: datetime) -> ClaimedCode | CodeRefused:
        """Inside the claim's transaction: the code taken, the chat's other live codes revoked, the
        calling leg put in the contact (or _NoCall, which rolls all of it back)."""
        taken = await session.execute(update(HandoffCodeRow).where(HandoffCodeRow.id == live.id, HandoffCodeRow.claimed_at.is_(None))
                                      .values(claimed_at=now, claimed_by=by_leg[:64]))
        if not _changed(taken):
            return CodeRefused("used")
        await session.execute(update(HandoffCodeRow).where(HandoffCodeRow.from_leg == live.from_leg, HandoffCodeRow.id != live.id, *self._live(now))
                              .values(expires_at=now))
        attached = await session.execute(update(CallRow).where(CallRow.channel_id == by_leg[:64]).values(contact_id=live.contact_id))
        if not _changed(attached):
            raise _NoCall
        return ClaimedCode(live.contact_id, live.from_leg, live.queue, tuple(live.skills or ()), live.priority)

    async def release_claim(self, by_leg: str, now: datetime) -> bool:
        """The calling leg ended before it reached the chat's queue: its code works again until it expires."""
        async with self._sessions() as session, session.begin():
            done = await session.execute(update(HandoffCodeRow).where(HandoffCodeRow.claimed_by == by_leg[:64], HandoffCodeRow.claimed_at.is_not(None),
                                                                      HandoffCodeRow.expires_at > now).values(claimed_at=None, claimed_by=""))
            return bool(_changed(done))

    async def events_from_same_number(self, channel_id: str, kind: str, since: datetime) -> int:
        """Events of this kind since `since` on every leg from the caller number of this leg (a
        number's refused codes across its calls)."""
        number = select(CallRow.caller_number).where(CallRow.channel_id == channel_id[:64]).scalar_subquery()
        async with self._sessions() as session:
            found = await session.scalar(select(func.count(JourneyEventRow.id)).join(CallRow, CallRow.id == JourneyEventRow.call_id)
                                         .where(CallRow.caller_number == number, JourneyEventRow.kind == kind, JourneyEventRow.at >= since))
            return int(found or 0)

    # -- inside a caller's transaction --------------------------------------------------------

    @staticmethod
    async def add_contact(session: AsyncSession, origin: str, at: datetime, number: str = "", account: str = "", name: str = "", verified: bool = False) -> Contact:
        """A new contact in the caller's transaction, so it commits with what must come with it (the
        Journey API's leg and webhook deliveries) or not at all."""
        row = ContactRow(ref=f"ct_{secrets.token_urlsafe(12)}", created_at=at, origin=origin, customer_number=bounded_text(number, CALLER_FIELD_CHARS),
                         customer_account=bounded_text(account, CALLER_FIELD_CHARS), customer_name=bounded_text(name, CALLER_FIELD_CHARS), verified=verified)
        session.add(row)
        await session.flush()
        return _contact(row)


def _contact(row: ContactRow) -> Contact:
    return Contact(row.id, row.ref, row.created_at, row.origin, row.customer_number, row.customer_account, row.customer_name, bool(row.verified))


def _changed(result: Any) -> int:
    """Rows an UPDATE changed (its result is a CursorResult; the session's execute is typed wider)."""
    return result.rowcount if isinstance(result, CursorResult) else 0
