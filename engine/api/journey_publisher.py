"""The one entry point for the Journey API's events: `publish(event)` owes it to every webhook that
wants it (persisted, engine/store/api_store.py WebhookOutbox) and then hands it to the websocket
subscribers (engine/api/event_hub.py). The API's own writes store their deliveries in the same
transaction as the events and call `sent` instead. Other channels (chat and call legs) may publish
their contacts' events here too.

Event ids are derived from what they describe (the leg and sequence number, or the contact), so an
event published twice is owed once and a receiver can drop a redelivery by id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from engine.api.api_schema import ApiEvent, Contact, JourneyEvent, LegRef
from engine.api.event_hub import EventHub
from engine.settings import WebhookSettings
from engine.store.api_store import OwedEvent, WebhookOutbox
from engine.store.contact_store import Contact as StoredContact


def contact_out(contact: StoredContact) -> Contact:
    return Contact(
        id=contact.ref, created_at=contact.created_at, customer_number=contact.customer_number, customer_account=contact.customer_account,
        customer_name=contact.customer_name, verified=contact.verified, origin=contact.origin,
    )


def contact_created(contact: Contact) -> ApiEvent:
    return ApiEvent(id=f"evt_{contact.id}", type="contact.created", at=contact.created_at, contact=contact)


def event_appended(contact: Contact, leg: LegRef, event: JourneyEvent) -> ApiEvent:
    return ApiEvent(id=f"evt_{leg.id}_{event.seq}", type="journey.event_appended", at=event.at, contact=contact, leg=leg, event=event)


class JourneyPublisher:
    def __init__(self, hub: EventHub, outbox: WebhookOutbox, webhooks: Sequence[WebhookSettings], clock: Callable[[], datetime]) -> None:
        self.hub = hub
        self._outbox = outbox
        self._webhooks = tuple(webhooks)
        self._clock = clock
        self.on_owed: Callable[[], None] = lambda: None
        """Called when deliveries were written: wakes the webhook sender."""

    def owed(self, event: ApiEvent) -> list[OwedEvent]:
        """The outbox rows this event is owed as: one per webhook subscribed to its type."""
        payload = event.model_dump(mode="json")
        return [OwedEvent(hook.url, event.id, event.type, event.contact.id, payload) for hook in self._webhooks if event.type in hook.events]

    async def publish(self, event: ApiEvent) -> None:
        owed = self.owed(event)
        if owed:
            await self._outbox.owe(owed, self._clock())
        self.sent(event)

    def sent(self, event: ApiEvent) -> None:
        """An event whose deliveries are already stored: to the websocket subscribers, and wake the sender."""
        self.hub.publish(event)
        if self.owed(event):
            self.on_owed()
