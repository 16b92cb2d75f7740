"""Writes and reads calls and their journey. Each call is written by one task, so its events stay in order."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from engine.store.field_limits import CALLER_FIELD_CHARS, bounded_detail, bounded_text, event_kind
from engine.store.models import CallRow, ContactRow, JourneyEventRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallerInfo:
    channel_id: str
    caller_number: str
    caller_name: str
    dialed: str


@dataclass(frozen=True)
class OpenedCall:
    call_id: int
    created: bool
    """False when the row already existed (a call adopted after a restart, or a retried write)."""
    last_seq: int
    ended: bool


@dataclass(frozen=True)
class JourneyEvent:
    seq: int
    kind: str
    at: datetime
    detail: dict[str, Any]


@dataclass(frozen=True)
class CallRecord:
    id: int
    channel_id: str
    caller_number: str
    caller_name: str
    dialed: str
    arrived_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    hung_up_by: str | None
    hangup_cause: int | None
    events: tuple[JourneyEvent, ...]
    channel: str = "phone"
    """phone, chat or api: which kind of leg of its contact this is."""
    contact_id: int | None = None


Stored = Callable[[int, int, str, datetime, dict[str, Any]], None]
"""(call row id, seq, kind, at, detail) of an event just committed: what a listener is told."""


class JourneyStore:
    def __init__(self, engine: AsyncEngine, on_stored: Stored | None = None) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.on_stored = on_stored
        """Told of every event after it is committed (the Journey API relays contacts' legs); it must not block or raise."""

    def _told(self, call_id: int, seq: int, kind: str, at: datetime, detail: dict[str, Any]) -> None:
        if self.on_stored is not None:
            try:
                self.on_stored(call_id, seq, kind, at, detail)
            except Exception:  # a listener's bug never loses or fails a journey write
                log.exception("journey listener failed on %s of call row %s", kind, call_id)

    async def open_call(
        self, caller: CallerInfo, at: datetime, detail: dict[str, Any], channel: str = "phone", contact_id: int | None = None, first_kind: str = "arrived",
    ) -> OpenedCall:
        """Create the call row (a leg of `channel`, in a contact or not yet) and its first event (`arrived`).

        Idempotent on the channel id: a call seen again (after a reconnect, or a write retried after
        a timeout that had in fact committed) keeps its one row, and the caller learns where its
        journey stands. Caller fields are untrusted and bounded here.
        """
        async with self._sessions() as session:
            existing = await self._existing(session, caller.channel_id)
            if existing is not None:
                return existing
            row = CallRow(
                channel_id=bounded_text(caller.channel_id, 64),
                caller_number=bounded_text(caller.caller_number, CALLER_FIELD_CHARS),
                caller_name=bounded_text(caller.caller_name, CALLER_FIELD_CHARS),
                dialed=bounded_text(caller.dialed, CALLER_FIELD_CHARS),
                arrived_at=at,
                channel=channel,
                contact_id=contact_id,
            )
            row.events.append(JourneyEventRow(seq=1, kind=event_kind(first_kind), at=at, detail=bounded_detail(detail)))
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                found = await self._existing(session, caller.channel_id)
                if found is None:
                    raise
                return found
            self._told(row.id, 1, event_kind(first_kind), at, row.events[0].detail)
            return OpenedCall(row.id, True, 1, False)

    async def add_event(
        self, call_id: int, kind: str, at: datetime, detail: dict[str, Any] | None = None, seq: int | None = None
    ) -> int:
        """Append one journey event; returns its sequence number.

        With `seq`, the write is idempotent: if that (call, seq) is already stored with the same kind,
        a retry of a write that committed but timed out, nothing is added. If another writer took
        that number, the event goes after the last one instead of being lost.
        """
        kind = event_kind(kind)
        bounded = bounded_detail(detail or {})
        if seq is not None:
            try:
                return await self._insert_event(call_id, seq, kind, at, bounded)
            except IntegrityError:
                async with self._sessions() as session:
                    stored = await session.scalar(
                        select(JourneyEventRow.kind).where(JourneyEventRow.call_id == call_id, JourneyEventRow.seq == seq)
                    )
                if stored == kind:
                    return seq
        return await self._insert_event(call_id, None, kind, at, bounded)

    async def _insert_event(self, call_id: int, seq: int | None, kind: str, at: datetime, detail: dict[str, Any]) -> int:
        async with self._sessions() as session, session.begin():
            number = seq if seq is not None else await self._next_seq(session, call_id)
            session.add(JourneyEventRow(call_id=call_id, seq=number, kind=kind, at=at, detail=detail))
            if kind == "answered":
                call = await session.get_one(CallRow, call_id)
                call.answered_at = call.answered_at or at
        self._told(call_id, number, kind, at, detail)
        return number

    async def close_call(
        self, call_id: int, at: datetime, hung_up_by: str, cause: int | None, cause_txt: str | None, kind: str = "hung_up"
    ) -> bool:
        """Mark the call ended and log how; a call already closed stays as it was (returns False)."""
        async with self._sessions() as session, session.begin():
            call = await session.get_one(CallRow, call_id, with_for_update=True)
            if call.ended_at is not None:
                return False
            call.ended_at = at
            call.hung_up_by = hung_up_by
            call.hangup_cause = cause
            call.hangup_cause_txt = bounded_text(cause_txt, 80) if cause_txt is not None else None
            seq = await self._next_seq(session, call_id)
            detail = bounded_detail({"by": hung_up_by, "cause": cause, "cause_txt": cause_txt})
            session.add(JourneyEventRow(call_id=call_id, seq=seq, kind=event_kind(kind), at=at, detail=detail))
        self._told(call_id, seq, event_kind(kind), at, detail)
        return True

    async def open_calls(self) -> dict[str, int]:
        """Phone calls with no end yet, by channel id: checked against Asterisk after every reconnect
        (a chat or an API leg has no channel in Asterisk)."""
        async with self._sessions() as session:
            rows = await session.execute(select(CallRow.channel_id, CallRow.id).where(CallRow.ended_at.is_(None), CallRow.channel == "phone"))
            return {channel_id: call_id for channel_id, call_id in rows.all()}

    async def ended_channels(self, channel_ids: list[str]) -> set[str]:
        """Which of these channels already have a closed call: they must not be adopted again."""
        if not channel_ids:
            return set()
        async with self._sessions() as session:
            rows = await session.scalars(
                select(CallRow.channel_id).where(CallRow.channel_id.in_(channel_ids), CallRow.ended_at.is_not(None))
            )
            return set(rows)

    async def get_call(self, channel_id: str) -> CallRecord | None:
        async with self._sessions() as session:
            row = await session.scalar(
                select(CallRow).where(CallRow.channel_id == channel_id).options(selectinload(CallRow.events))
            )
            return call_record(row) if row else None

    async def add_event_for_channel(self, channel_id: str, kind: str, at: datetime, detail: dict[str, Any]) -> bool:
        """Append to a call's journey by its channel, also after the call ended (an agent's disposition)."""
        async with self._sessions() as session:
            call_id = await session.scalar(select(CallRow.id).where(CallRow.channel_id == channel_id))
        if call_id is None:
            return False
        await self.add_event(call_id, kind, at, detail)
        return True

    async def previous_calls(self, caller_number: str, exclude_channel: str, limit: int = 5) -> list[CallRecord]:
        """Earlier legs of the same customer number, newest first (for the agent's screen-pop): calls
        from it, and the chat and API legs of contacts made with it (each record says its channel)."""
        # two selects, each on its own index (an OR across them makes PostgreSQL scan every call)
        from_number = select(CallRow.id).where(CallRow.caller_number == caller_number).order_by(CallRow.id.desc()).limit(limit + 1)
        of_contacts = (select(CallRow.id).join(ContactRow, ContactRow.id == CallRow.contact_id).where(ContactRow.customer_number == caller_number)
                       .order_by(CallRow.id.desc()).limit(limit + 1))
        async with self._sessions() as session:
            ids = sorted(set(await session.scalars(union(from_number.subquery().select(), of_contacts.subquery().select()))), reverse=True)
            rows = await session.scalars(
                select(CallRow).where(CallRow.id.in_(ids[:limit + 1]), CallRow.channel_id != exclude_channel)
                .order_by(CallRow.id.desc()).limit(limit).options(selectinload(CallRow.events))
            )
            return [call_record(row) for row in rows]

    async def recent_calls(self, limit: int = 50) -> list[CallRecord]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(CallRow).order_by(CallRow.id.desc()).limit(limit).options(selectinload(CallRow.events))
            )
            return [call_record(row) for row in rows]

    async def events_of_kinds_since(self, kinds: Sequence[str], start: datetime) -> list[tuple[str, str, datetime, dict[str, Any]]]:
        """(channel id, kind, at, detail) of every event of these kinds since `start`, per call in
        order: what the supervisor's KPIs and the reports are computed from."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(CallRow.channel_id, JourneyEventRow.kind, JourneyEventRow.at, JourneyEventRow.detail)
                .join(CallRow, CallRow.id == JourneyEventRow.call_id)
                .where(JourneyEventRow.kind.in_(list(kinds)), JourneyEventRow.at >= start)
                .order_by(JourneyEventRow.call_id, JourneyEventRow.seq)
            )
            return [(channel_id, kind, at, dict(detail)) for channel_id, kind, at, detail in rows.all()]

    async def calls_of_customer(self, number: str = "", account: str = "") -> list[str]:
        """Channel ids of the calls from this number, or in which the IVR collected or looked up this account."""
        async with self._sessions() as session:
            found: set[str] = set()
            if number:
                found.update(await session.scalars(select(CallRow.channel_id).where(CallRow.caller_number == number)))
            if account:
                rows = await session.execute(
                    select(CallRow.channel_id, JourneyEventRow.detail).join(CallRow, CallRow.id == JourneyEventRow.call_id).where(JourneyEventRow.kind.in_(["collected", "lookup", "checkpoint"]))
                )
                found.update(channel for channel, detail in rows.all() if _mentions(detail, account))
            return sorted(found)

    async def calls_with_personal_data_before(self, cutoff: datetime, limit: int = 500) -> list[str]:
        """Channel ids of calls that arrived before `cutoff` and still hold personal data (retention)."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(CallRow.channel_id)
                .where(CallRow.arrived_at < cutoff, CallRow.caller_number != "erased")
                .order_by(CallRow.arrived_at)
                .limit(limit)
            )
            return list(rows)

    async def erase_personal_data(self, channel_ids: list[str], personal_kinds: frozenset[str]) -> list[str]:
        """Blank the caller's number and name, and the detail of every event of `personal_kinds`;
        the steps themselves (kinds and times, what KPIs count) stay. Returns the kept-audio file
        names the erased events pointed to, for the caller to delete."""
        audio: list[str] = []
        async with self._sessions() as session, session.begin():
            calls = list(await session.scalars(select(CallRow).where(CallRow.channel_id.in_(channel_ids)).options(selectinload(CallRow.events))))
            for call in calls:
                call.caller_number, call.caller_name = "erased", "erased"
                for event in call.events:
                    if event.kind in personal_kinds:
                        if isinstance(event.detail, dict) and event.detail.get("audio"):
                            audio.append(str(event.detail["audio"]))
                        event.detail = {"erased": True}
        return audio

    async def count_calls(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count(CallRow.id))) or 0)

    @staticmethod
    async def _existing(session: AsyncSession, channel_id: str) -> OpenedCall | None:
        row = (await session.execute(
            select(CallRow.id, CallRow.ended_at).where(CallRow.channel_id == bounded_text(channel_id, 64))
        )).first()
        if row is None:
            return None
        last = await session.scalar(select(func.max(JourneyEventRow.seq)).where(JourneyEventRow.call_id == row.id))
        return OpenedCall(row.id, False, int(last or 0), row.ended_at is not None)

    @staticmethod
    async def _next_seq(session: AsyncSession, call_id: int) -> int:
        last = await session.scalar(select(func.max(JourneyEventRow.seq)).where(JourneyEventRow.call_id == call_id))
        return int(last or 0) + 1


def call_record(row: CallRow) -> CallRecord:
    return CallRecord(
        id=row.id,
        channel_id=row.channel_id,
        caller_number=row.caller_number,
        caller_name=row.caller_name,
        dialed=row.dialed,
        arrived_at=row.arrived_at,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        hung_up_by=row.hung_up_by,
        hangup_cause=row.hangup_cause,
        events=tuple(JourneyEvent(e.seq, e.kind, e.at, dict(e.detail)) for e in row.events),
        channel=row.channel or "phone",
        contact_id=row.contact_id,
    )


def _mentions(value: object, wanted: str) -> bool:
    """Anywhere in a journey detail (nested), as a whole value."""
    if isinstance(value, dict):
        return any(_mentions(item, wanted) for item in value.values())
    if isinstance(value, list):
        return any(_mentions(item, wanted) for item in value)
    return str(value) == wanted
