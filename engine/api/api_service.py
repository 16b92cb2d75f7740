"""The Journey API assembled: its stores, the publisher, the webhook sender and the guard, and what
each operation does with them. engine/app.py makes one with `journey_api(...)`, runs `deliver_webhooks`
as a background task and hands it to the web server (engine/api/api_routes.py answers HTTP).

An API contact gets one `api` leg (a calls row, channel "api", caller_number = the customer's
number): the next call from that number finds it in the pop's history like any earlier call. The
contact, its leg and its contact.created deliveries are one commit (engine/store/api_store.py ApiLegs).

A customer is found by the contacts' own number and account (and the number a leg came from), never
by matching values collected in journeys: an account typed into one call is not another customer's
key. Every read of a contact leaves an audit row naming the token and the contacts (never the number).
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
from engine.store.api_store import API_CHANNEL, ApiLegs, ApiToken, ApiTokenStore, NewEvent, OwedEvent, StoredNew, WebhookOutbox, api_leg_id
from engine.store.contact_store import Contact as StoredContact
from engine.store.contact_store import ContactStore
from engine.store.field_limits import DETAIL_JSON_BYTES
from engine.store.journey_store import CallRecord, JourneyStore
from engine.store.recording_store import RecordingStore

FUTURE_SLACK = timedelta(minutes=5)
"""An event's `at` may be this far ahead of the engine's clock (clocks differ); further is refused."""
MAX_OTHER_LEGS = 20


class EventRefused(ValueError):
    def __init__(self, field: str, error: str) -> None:
        super().__init__(f"{field}: {error}")
        self.field = field


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
    legs: ApiLegs
    publisher: JourneyPublisher
    sender: WebhookSender
    guard: ApiGuard
    audit: RecordingStore
    """Where reads of contacts are recorded (the audit log)."""
    clock: Callable[[], datetime]

    async def deliver_webhooks(self) -> None:
        await self.sender.run()

    async def create_contact(self, body: ContactCreate, token: ApiToken) -> ContactJourney:
        now = self.clock()
        first = to_stored(Arrived(caller_number=body.customer_number))
        stored = await self.legs.create_contact(body.customer_number, body.customer_account, body.customer_name, first,
                                                lambda made: self.publisher.owed(contact_created(contact_out(made))), now)
        self.publisher.sent(contact_created(contact_out(stored)))
        return await self._journey(stored)

    async def append(self, ref: str, body: AppendEvents, token: ApiToken) -> AppendResult | None:
        """None: no such contact. Raises EventRefused naming the event that cannot be stored."""
        stored_contact = await self.contacts.contact_by_ref(ref)
        if stored_contact is None:
            return None
        now = self.clock()
        news = [self._new_event(n, event, token, now) for n, event in enumerate(body.events)]
        contact, leg = contact_out(stored_contact), LegRef(id=api_leg_id(stored_contact.ref), channel=API_CHANNEL)

        def owed_for(new: StoredNew) -> list[OwedEvent]:
            return self.publisher.owed(event_appended(contact, leg, JourneyEvent(seq=new.seq, kind=new.kind, at=new.at, detail=new.detail)))

        first = to_stored(Arrived(caller_number=stored_contact.customer_number))
        stored = await self.legs.append(stored_contact, first, news, owed_for, now)
        appended = []
        for new, event in zip(stored, body.events, strict=True):
            out = event_appended(contact, leg, JourneyEvent(seq=new.seq, kind=new.kind, at=new.at, detail=new.detail))
            self.publisher.sent(out)
            appended.append(AppendedEvent(event_id=out.id, seq=new.seq, kind=new.kind, type=event.type, at=new.at))
        return AppendResult(contact=contact.id, leg=leg.id, appended=appended)

    async def journey(self, ref: str, token: ApiToken) -> ContactJourney | None:
        stored = await self.contacts.contact_by_ref(ref)
        if stored is None:
            return None
        await self._audit(token, "api_read_contact", stored.ref, {"contacts": [stored.ref]})
        return await self._journey(stored)

    async def customer(self, number: str, account: str, limit: int, token: ApiToken) -> ContactList:
        """The contacts made with this number or account (or with a leg from this number), and the
        number's legs in no contact. Never "erased" (the routes refuse it): that is every erased customer."""
        contacts = [await self._journey(stored) for stored in await self.contacts.contacts_of_customer(number, account, limit)]
        others = [leg_out(record) for record in await self.legs.loose_legs(number, MAX_OTHER_LEGS)] if number else []
        refs = [contact.id for contact in contacts]
        await self._audit(token, "api_list_contacts", f"contacts:{len(refs)}", {"by": "number" if number else "account", "contacts": refs, "other_legs": len(others)})
        return ContactList(contacts=contacts, other_legs=others)

    async def _journey(self, stored: StoredContact) -> ContactJourney:
        legs = [leg_out(record) for record in await self.contacts.legs_of_contact(stored.id)]
        return ContactJourney(**contact_out(stored).model_dump(), legs=legs)

    async def _audit(self, token: ApiToken, action: str, target: str, detail: dict[str, object]) -> None:
        await self.audit.audit(self.clock(), f"api:{token.name}", action, target, detail)

    def _new_event(self, n: int, event: EventIn, token: ApiToken, now: datetime) -> NewEvent:
        at = event.at or now
        if at > now + FUTURE_SLACK:
            raise EventRefused(f"events.{n}.at", f"{at.isoformat()} is in the future (the engine's clock says {now.isoformat(timespec='seconds')})")
        kind, detail = to_stored(external_event(event, f"api:{token.name}"))
        size = len(json.dumps(detail, ensure_ascii=False).encode())
        if size > DETAIL_JSON_BYTES:
            raise EventRefused(f"events.{n}", f"{size} bytes once stored; at most {DETAIL_JSON_BYTES} (shorten its texts or fields)")
        return NewEvent(kind, at, detail)


def journey_api(database: AsyncEngine, journeys: JourneyStore, contacts: ContactStore, settings: ApiSettings, clock: Callable[[], datetime]) -> JourneyApi:
    tokens = ApiTokenStore(database)
    outbox = WebhookOutbox(database)
    sender = WebhookSender(outbox, settings, clock)
    publisher = JourneyPublisher(EventHub(), outbox, settings.webhooks, clock)
    publisher.on_owed = sender.wake
    return JourneyApi(tokens, contacts, journeys, ApiLegs(database), publisher, sender, ApiGuard(tokens, settings.rate_per_minute, clock),
                      RecordingStore(database), clock)
