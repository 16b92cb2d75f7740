"""Contacts' chat and call legs, relayed to the Journey API's subscribers (webhooks and the events
websocket) as they are stored: a CRM hears that a chat was handed to the phone or that a call ended
with a disposition, not only what other systems appended through the API.

The journey store tells `stored` of each committed event (synchronously, never blocking the writer);
the events of the kinds in RELAYED go into a bounded queue, and `run` publishes them in order, each
with its leg and contact. A leg in no contact (a plain phone call) is not relayed. The queue is
in memory: an event stored in the moment before a crash may miss its webhook, and a full queue drops
with a warning rather than slow the calls down (the journeys themselves are never affected; GET
/api/v1/contacts/{id} always has every event).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.api.api_schema import ApiEvent, Contact, JourneyEvent, LegRef
from engine.api.journey_publisher import JourneyPublisher, contact_out, event_appended
from engine.journey.events import (
    Abandoned, AgentAnswered, CallbackAnswered, CallbackFailed, CallbackRequested, CallEnded, ChatSent, Collected, ContinuedFrom, DispositionSet,
    HandoffClaimed, HandoffOffered, HungUp, IntentChosen, Queued, StepDone, StepsUnsolved, TransferAsked, Typed, kinds,
)
from engine.store.contact_store import ContactStore

log = logging.getLogger(__name__)
RELAYED = frozenset(kinds(
    Typed, ChatSent, IntentChosen, Collected, StepDone, StepsUnsolved, TransferAsked, HandoffOffered, HandoffClaimed, ContinuedFrom, Queued,
    AgentAnswered, CallbackRequested, CallbackAnswered, CallbackFailed, CallEnded, Abandoned, DispositionSet, HungUp,
))
"""What another system acts on: what the customer said or typed and chose, the steps, the hand-offs, the
queue and the agent, and how the leg ended. Prompts, timers and recognition details stay in the journey."""
QUEUE_LIMIT = 10_000
LEG_CACHE = 5_000


@dataclass(frozen=True)
class _Stored:
    call_id: int
    seq: int
    kind: str
    at: datetime
    detail: dict[str, Any]


class LegEventRelay:
    def __init__(self, contacts: ContactStore, publisher: JourneyPublisher) -> None:
        self._contacts = contacts
        self._publisher = publisher
        self._queue: asyncio.Queue[_Stored] = asyncio.Queue(maxsize=QUEUE_LIMIT)
        self._legs: dict[int, tuple[str, str, int | None]] = {}
        self._contact_of: dict[int, Contact] = {}
        self.dropped = 0

    def stored(self, call_id: int, seq: int, kind: str, at: datetime, detail: dict[str, Any]) -> None:
        """The journey store's listener: queue what subscribers want; never block, never raise."""
        if kind not in RELAYED:
            return
        if kind == ContinuedFrom.KIND:
            self._legs.pop(call_id, None)  # the leg has just joined a contact: read it again
        try:
            self._queue.put_nowait(_Stored(call_id, seq, kind, at, dict(detail)))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped in (1, 100) or self.dropped % 10_000 == 0:
                log.warning("journey api: %d leg events not relayed (the relay's queue is full)", self.dropped)

    async def run(self) -> None:
        """Forever (under the background supervisor): publish each queued event in order."""
        while True:
            item = await self._queue.get()
            event = await self._event_of(item)
            if event is not None:
                await self._publisher.publish(event)

    async def _event_of(self, item: _Stored) -> ApiEvent | None:
        leg = self._legs.get(item.call_id)
        if leg is None or leg[2] is None:
            leg = await self._contacts.leg_of_row(item.call_id)
            if leg is None:
                return None
            if len(self._legs) >= LEG_CACHE:
                self._legs.clear()
            self._legs[item.call_id] = leg
        channel_id, channel, contact_id = leg
        if contact_id is None:
            return None
        contact = self._contact_of.get(contact_id)
        if contact is None:
            stored = await self._contacts.contact(contact_id)
            if stored is None:
                return None
            if len(self._contact_of) >= LEG_CACHE:
                self._contact_of.clear()
            contact = self._contact_of[contact_id] = contact_out(stored)
        return event_appended(contact, LegRef(id=channel_id, channel=channel), JourneyEvent(seq=item.seq, kind=item.kind, at=item.at, detail=item.detail))
