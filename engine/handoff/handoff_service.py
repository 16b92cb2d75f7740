"""The hand-off service: a chat becomes a callback in its queue, or gives the customer a one-time
code to call with; and a call that keys the code (or, with [handoff] continue_by_number, whose caller
ID is the chat's signed number) takes the chat over. Guessing is bounded per call, per number and
engine-wide ([handoff] docstring). Implements the chat's `Handoff` port and the call's `CodeClaims` port.

A chat's callback is a new phone leg of the chat's contact. Its journey starts with `continued_from`
(the chat leg) and holds the `queued` and `callback_requested` a caller's callback holds, so a restart
finds it owed like any other (engine/acd/owed_callbacks.py); its pop shows the chat's journal first.
The leg is closed at once (it has no channel until the agent calls), as a caller's row is closed when
the caller hangs up after arranging a callback; its callback goes on in its journey.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from engine import metrics
from engine.acd.acd_ports import CallSnapshot
from engine.acd.call_distributor import CallDistributor
from engine.acd.callback_numbers import CallbackRefused, NumberSource, RefusalReason
from engine.config.flow_model import Step
from engine.handoff.claim_budget import ClaimBudget
from engine.handoff.handoff_codes import CODE_SPACE, code_from
from engine.handoff.handoff_port import (
    CallbackArranged, ChatHandedOver, ChatLeg, CodeIssued, HandoffRefused, HandoffTarget,
)
from engine.journey.channel_events import ContinuedFrom, HandoffClaimed
from engine.journey.channel_events import HandoffRefused as HandoffRefusedEvent
from engine.journey.events import CallbackRefused as CallbackRefusedEvent
from engine.journey.events import CallbackRequested, CheckpointSaved, Queued, from_stored, to_stored
from engine.settings import HandoffSettings
from engine.store.contact_store import ClaimedCode, CodeRefused, ContactStore
from engine.store.journey_store import CallerInfo, JourneyStore

log = logging.getLogger(__name__)
CALLBACK_LEG_PREFIX = "cb-"
NEW_CODE_TRIES = 20
"""Draws before giving up on a code that collides with no live one (a million codes: never reached)."""
ATTACH_TRIES, ATTACH_WAIT_S = 5, 0.4
"""A call keys its code seconds after it arrived; its row is normally written by then. If not, wait a little."""
LIVE_RECHECK_S = 5.0
"""While no code is known to be live, calls ask the database at most this often (another engine may issue one)."""
Procedures = Callable[[], Mapping[str, Sequence[Step]]]


def utc_now() -> datetime:
    return datetime.now(UTC)


def masked_number(number: str) -> str:
    """A number as the chat shows it back: its middle digits hidden (010****5678)."""
    if len(number) <= 6:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


class HandoffService:
    @classmethod
    def for_engine(cls, database: AsyncEngine, journeys: JourneyStore, distributor: CallDistributor | None, settings: HandoffSettings,
                   procedures: Procedures, code_key: bytes) -> HandoffService:
        """The engine's one service (app.py): the chat's ChatService and the calls' flows get it.
        `code_key`: the codes' HMAC secret (engine/handoff/code_key.py)."""
        return cls(ContactStore(database, journeys, code_key), journeys, distributor, settings, procedures)

    def __init__(self, contacts: ContactStore, journeys: JourneyStore, distributor: CallDistributor | None, settings: HandoffSettings,
                 procedures: Procedures, clock: Callable[[], datetime] = utc_now, draw: Callable[[int], int] = secrets.randbelow) -> None:
        self._contacts = contacts
        self._journeys = journeys
        self._distributor = distributor
        self._settings = settings
        self._procedures = procedures
        self._clock = clock
        self._draw = draw
        self._budget = ClaimBudget(settings.refused_budget, settings.refused_window_s)
        self._live_until: datetime | None = None
        """When the last code known to be live expires (codes issued here, or read)."""
        self._checked_at: datetime | None = None

    @property
    def settings(self) -> HandoffSettings:
        return self._settings

    # -- the chat's side (Handoff) ---------------------------------------------------------------

    async def call_me_back(self, leg: ChatLeg, number: str, target: HandoffTarget) -> CallbackArranged | HandoffRefused:
        """The chat becomes a callback in the target queue: its number checked like a keyed one, its
        place the time the customer asked, its pop the chat's journal."""
        distributor = self._distributor
        if distributor is None or not distributor.serves(target.queue):
            return HandoffRefused("no_queue")
        verdict = await distributor.check_callback_number(leg.channel_id, target.queue, number.strip(), NumberSource.CHAT)
        if isinstance(verdict, CallbackRefused):
            return HandoffRefused(verdict.reason.value)
        contact = await self._contacts.contact(leg.contact_id)
        if contact is None:
            return HandoffRefused("no_contact")
        now = self._clock()
        call_id = f"{CALLBACK_LEG_PREFIX}{secrets.token_hex(8)}"
        opened = await self._contacts.open_leg(contact, "phone", CallerInfo(call_id, verdict.number, contact.customer_name, ""), now,
                                               to_stored(ContinuedFrom(leg=leg.channel_id, channel="chat", how="callback")))
        own: list[tuple[str, dict[str, Any]]] = [
            to_stored(ContinuedFrom(leg=leg.channel_id, channel="chat", how="callback")),
            to_stored(Queued(queue=target.queue, skills=target.skills, priority=target.priority)),
            to_stored(CallbackRequested(queue=target.queue, number=verdict.number, waited_s=0.0, source=NumberSource.CHAT.value)),
        ]
        for kind, detail in own[1:]:
            await self._journeys.add_event(opened.call_id, kind, now, detail)
            metrics.journey_event(kind, detail)  # counted in calls{outcome="callback"} as a caller's callback is
        await self._journeys.close_call(opened.call_id, now, "system", None, "callback arranged in chat")
        snapshot = CallSnapshot(verdict.number, contact.customer_name, dict(leg.variables), [*leg.journal, *own], self._procedures(), leg.language)
        if not distributor.arrange_callback(call_id, target.queue, verdict.number, target.skills, target.priority, snapshot, continues_from=leg.channel_id):
            kind, detail = _refused_detail(target.queue, verdict.number)
            await self._journeys.add_event(opened.call_id, kind, now, detail)
            return HandoffRefused("not_now")
        log.info("chat %s: callback %s arranged in %s", leg.channel_id, call_id, target.queue)
        return CallbackArranged(masked_number(verdict.number), target.queue, call_id)

    async def i_will_call(self, leg: ChatLeg, target: HandoffTarget) -> CodeIssued | HandoffRefused:
        """A one-time code for the customer to call with: hashed in the store, valid code_ttl_s."""
        if self._distributor is None or not self._distributor.serves(target.queue):
            return HandoffRefused("no_queue")
        if await self._contacts.contact(leg.contact_id) is None:
            return HandoffRefused("no_contact")
        now = self._clock()
        for _ in range(NEW_CODE_TRIES):
            code = code_from(self._draw(CODE_SPACE))
            if not await self._contacts.code_is_live(code, now):
                break
        else:
            return HandoffRefused("not_now")
        expires_at = now + timedelta(seconds=self._settings.code_ttl_s)
        await self._contacts.issue_code(code, leg.contact_id, leg.channel_id, target.queue, target.skills, target.priority, now, expires_at)
        self._live_until = max(self._live_until or expires_at, expires_at)
        return CodeIssued(code, self._settings.dial_number, expires_at)

    # -- the call's side (CodeClaims) ------------------------------------------------------------

    async def claim(self, code: str, call_id: str, how: str) -> ClaimedCode | str:
        now = self._clock()
        settings = self._settings
        if not self._budget.open(now.timestamp()):
            metrics.HANDOFF_CLAIMS_REFUSED.labels("budget").inc()
            return "limited"
        since = now - timedelta(seconds=settings.refused_window_s)
        if await self._contacts.events_from_same_number(call_id, HandoffRefusedEvent.KIND, since) >= settings.refused_per_number:
            metrics.HANDOFF_CLAIMS_REFUSED.labels("number_limit").inc()
            return "limited"
        taken = await self._claimed(lambda: self._contacts.claim_code(code, call_id, self._clock()))
        if not isinstance(taken, ClaimedCode):
            reason = taken.reason if taken is not None else "unknown"
            self._refused(reason)
            return reason
        return taken

    async def claim_by_number(self, number: str, call_id: str) -> ClaimedCode | None:
        if not self._settings.continue_by_number:
            return None
        taken = await self._claimed(lambda: self._contacts.claim_code_for_number(number, call_id, self._clock()))
        return taken if isinstance(taken, ClaimedCode) else None

    async def _claimed(self, attempt: Callable[[], Awaitable[ClaimedCode | CodeRefused | None]]) -> ClaimedCode | CodeRefused | None:
        """A claim, tried again while the call's own row is not written yet (its journey writer is
        behind): each try is one transaction, so nothing is used up until one succeeds."""
        for tries in range(1, ATTACH_TRIES + 1):
            taken = await attempt()
            if not (isinstance(taken, CodeRefused) and taken.reason == "no_call") or tries == ATTACH_TRIES:
                break
            await asyncio.sleep(ATTACH_WAIT_S)
        if isinstance(taken, ClaimedCode):
            self._live_until = self._checked_at = None  # it may have been the last live code
        return taken

    def _refused(self, reason: str) -> None:
        metrics.HANDOFF_CLAIMS_REFUSED.labels(reason).inc()
        if reason != "no_call" and self._budget.refused(self._clock().timestamp()):
            log.error("hand-off codes: %d claims refused within %d s (someone may be guessing codes): no codes are taken until the window has passed",
                      self._budget.budget, self._settings.refused_window_s)

    async def continue_chat(self, claimed: ClaimedCode, call_id: str, how: str) -> ChatHandedOver:
        """The chat leg records which call took it; its journal and last checkpoint come back for the call."""
        kind, detail = to_stored(HandoffClaimed(leg=call_id, how=how))
        await self._journeys.add_event_for_channel(claimed.from_leg, kind, self._clock(), detail)
        chat = await self._journeys.get_call(claimed.from_leg)
        journal = [(event.kind, dict(event.detail)) for event in chat.events] if chat is not None else []
        checkpoint = next((event for kind, detail in reversed(journal) if isinstance(event := from_stored(kind, detail), CheckpointSaved)), None)
        return ChatHandedOver(claimed.from_leg, claimed.queue, claimed.skills, claimed.priority, journal, dict(checkpoint.variables) if checkpoint else {}, how)

    async def release(self, call_id: str) -> None:
        if await self._contacts.release_claim(call_id, self._clock()):
            self._checked_at = None
            log.info("call %s ended before it reached the chat's queue: its hand-off code works again", call_id)

    async def codes_waiting(self) -> bool:
        now = self._clock()
        if self._live_until is not None and self._live_until > now:
            return True
        if self._checked_at is not None and (now - self._checked_at).total_seconds() < LIVE_RECHECK_S:
            return False
        self._live_until, self._checked_at = await self._contacts.live_codes_until(now), now
        return self._live_until is not None


def _refused_detail(queue: str, number: str) -> tuple[str, dict[str, Any]]:
    """Closes a chat's callback that could not be put in line (its queue went meanwhile): not owed after a restart."""
    return to_stored(CallbackRefusedEvent(queue=queue, source=NumberSource.CHAT.value, reason=RefusalReason.NO_CALLBACKS.value, number=number))
