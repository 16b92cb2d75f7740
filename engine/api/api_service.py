"""The Journey API assembled: its stores, the publisher, the webhook sender and the guard, and what
each operation does with them. engine/app.py makes one with `journey_api(...)`, runs `deliver_webhooks`
as a background task and hands it to the web server (engine/api/api_routes.py answers HTTP).

An API contact gets one `api` leg (a calls row, channel "api", caller_number = the customer's
number): the next call from that number finds it in the pop's history like any earlier call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from engine.api.api_auth import ApiGuard
from engine.api.api_schema import (
    AppendedEvent, AppendEvents, AppendResult, ContactCreate, ContactJourney, ContactList, EventIn, JourneyEvent, Leg, LegRef,
)
from engine.api.event_hub import EventHub
from engine.api.journey_publisher import JourneyPublisher, contact_created, contact_out, event_appended
from engine.api.webhook_sender import WebhookSender
from engine.journey.events import Arrived, ExternalEvent, from_stored, to_stored
from engine.settings import ApiSettings
from engine.store.api_store import ApiToken, ApiTokenStore, LegAppender, NewEvent, OwedEvent, StoredNew, WebhookOutbox
from engine.store.contact_store import Contact as StoredContact
from engine.store.contact_store import ContactStore
from engine.store.field_limits import DETAIL_JSON_BYTES
from engine.store.journey_store import CallerInfo, CallRecord, JourneyStore

API_CHANNEL = "api"
FUTURE_SLACK = timedelta(minutes=5)
"""An event's `at` may be this far ahead of the engine's clock (clocks differ); further is refused."""
MAX_OTHER_LEGS = 20


class EventRefused(ValueError):
    def __init__(self, field: str, error: str) -> None:
        super().__init__(f"{field}: {error}")
        self.field = field


def api_leg_id(contact_ref: str) -> str:
    """The channel id of a contact's API leg: one per contact, found again by it."""
    return f"api-{contact_ref}"


def external_event(event: EventIn, source: str) -> ExternalEvent:
    """The journey event an API event is stored as: its type, its text, its other fields as data."""
    data = event.model_dump(mode="json", exclude={"type", "text", "at"}, exclude_defaults=True)
    return ExternalEvent(type=event.type, text=event.text or getattr(event, "form", ""), data=data, source=source)


def leg_out(record: CallRecord) -> Leg:
    events = []
    for stored in record.events:
        kind, detail = to_stored(from_stored(stored.kind, stored.detail))  # read through the journey's models
        events.append(JourneyEvent(seq=stored.seq, kind=kind, at=stored.at, detail=detail))
    return Leg(id=record.channel_id, channel=record.channel, started_at=record.arrived_at, ended_at=record.ended_at, events=events)


@dataclass
class JourneyApi:
    tokens: ApiTokenStore
    contacts: ContactStore
    journeys: JourneyStore
    appender: LegAppender
    publisher: JourneyPublisher
    sender: WebhookSender
    guard: ApiGuard
    clock: Callable[[], datetime]

    async def deliver_webhooks(self) -> None:
        await self.sender.run()

    async def create_contact(self, body: ContactCreate, token: ApiToken) -> ContactJourney:
        now = self.clock()
        stored = await self.contacts.create_contact(API_CHANNEL, now, body.customer_number, body.customer_account, body.customer_name)
        await self._api_leg(stored, now)
        contact = contact_out(stored)
        await self.publisher.publish(contact_created(contact))
        found = await self.journey(contact.id)
        assert found is not None
        return found

    async def append(self, ref: str, body: AppendEvents, token: ApiToken) -> AppendResult | None:
        """None: no such contact. Raises EventRefused naming the event that cannot be stored."""
        stored_contact = await self.contacts.contact_by_ref(ref)
        if stored_contact is None:
            return None
        now = self.clock()
        news = [self._new_event(n, event, token, now) for n, event in enumerate(body.events)]
        leg_id = await self._api_leg(stored_contact, now)
        contact, leg = contact_out(stored_contact), LegRef(id=api_leg_id(stored_contact.ref), channel=API_CHANNEL)

        def owed_for(new: StoredNew) -> list[OwedEvent]:
            return self.publisher.owed(event_appended(contact, leg, JourneyEvent(seq=new.seq, kind=new.kind, at=new.at, detail=new.detail)))

        stored = await self.appender.append(leg_id, news, owed_for, now)
        appended = []
        for new, event in zip(stored, body.events, strict=True):
            out = event_appended(contact, leg, JourneyEvent(seq=new.seq, kind=new.kind, at=new.at, detail=new.detail))
            self.publisher.sent(out)
            appended.append(AppendedEvent(event_id=out.id, seq=new.seq, kind=new.kind, type=event.type, at=new.at))
        return AppendResult(contact=contact.id, leg=leg.id, appended=appended)

    async def journey(self, ref: str) -> ContactJourney | None:
        stored = await self.contacts.contact_by_ref(ref)
        if stored is None:
            return None
        legs = [leg_out(record) for record in await self.contacts.legs_of_contact(stored.id)]
        return ContactJourney(**contact_out(stored).model_dump(), legs=legs)

    async def customer(self, number: str, account: str, limit: int) -> ContactList:
        contacts = []
        in_contacts: set[str] = set()
        for stored in await self.contacts.contacts_of_customer(number, account, limit):
            legs = [leg_out(record) for record in await self.contacts.legs_of_contact(stored.id)]
            in_contacts.update(leg.id for leg in legs)
            contacts.append(ContactJourney(**contact_out(stored).model_dump(), legs=legs))
        others = []
        for channel_id in reversed(await self.journeys.calls_of_customer(number, account)):
            if channel_id in in_contacts:
                continue
            record = await self.journeys.get_call(channel_id)
            if record is not None and record.contact_id is None:
                others.append(leg_out(record))
            if len(others) >= MAX_OTHER_LEGS:
                break
        return ContactList(contacts=contacts, other_legs=others)

    def _new_event(self, n: int, event: EventIn, token: ApiToken, now: datetime) -> NewEvent:
        at = event.at or now
        if at > now + FUTURE_SLACK:
            raise EventRefused(f"events.{n}.at", f"{at.isoformat()} is in the future (the engine's clock says {now.isoformat(timespec='seconds')})")
        kind, detail = to_stored(external_event(event, f"api:{token.name}"))
        size = len(json.dumps(detail, ensure_ascii=False).encode())
        if size > DETAIL_JSON_BYTES:
            raise EventRefused(f"events.{n}", f"{size} bytes once stored; at most {DETAIL_JSON_BYTES} (shorten its texts or fields)")
        return NewEvent(kind, at, detail)

    async def _api_leg(self, contact: StoredContact, now: datetime) -> int:
        caller = CallerInfo(api_leg_id(contact.ref), contact.customer_number, contact.customer_name, "")
        opened = await self.contacts.open_leg(contact, API_CHANNEL, caller, now, to_stored(Arrived(caller_number=contact.customer_number)))
        return opened.call_id


def journey_api(database: AsyncEngine, journeys: JourneyStore, contacts: ContactStore, settings: ApiSettings, clock: Callable[[], datetime]) -> JourneyApi:
    tokens = ApiTokenStore(database)
    outbox = WebhookOutbox(database)
    sender = WebhookSender(outbox, settings, clock)
    publisher = JourneyPublisher(EventHub(), outbox, settings.webhooks, clock)
    publisher.on_owed = sender.wake
    return JourneyApi(tokens, contacts, journeys, LegAppender(database), publisher, sender, ApiGuard(tokens, settings.rate_per_minute, clock), clock)
