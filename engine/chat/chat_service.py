"""The chats this engine serves: opening them (anonymous, or with a site's signed identity), finding
a chat again by its token after a reload or on another engine, the limits strangers meet, and the
end of chats nobody came back to.

A chat is a leg of a contact (engine/store/contact_store.py): one `calls` row with channel "chat",
whose journey is written like a call's. The token lives in the customer's browser; only its hash is
stored. Each turn takes the flows running now (FlowLibrary.current), so a reload reaches new chats
at once, and a chat read back from the database after a restart goes on with the current flows.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from engine.call.flow_services import FlowRuntime
from engine.chat.chat_conversation import ChatConversation
from engine.chat.chat_identity import Identity, IdentityRefused, customer_key, verified_identity
from engine.chat.chat_limits import Bucket, ChatBounds, EndReason, Openings, SlotLimits, client_key, why_end
from engine.chat.chat_transcript import last_checkpoint, later_legs
from engine.chat.live_chat import LiveChat
from engine.config.config_bundle import ConfigBundle
from engine.config.flow_validation import chat_text_problems
from engine.flows.flow_facts import Transfer
from engine.handoff.handoff_port import Handoff
from engine.journey.events import Arrived, CheckpointSaved, TransferAsked, from_stored, to_stored
from engine.journey.journey_writer import JourneyWriter
from engine.settings import ChatSettings
from engine.store.contact_store import ContactStore
from engine.store.journey_store import CallerInfo, CallRecord, JourneyStore
from engine.task_owner import TaskOwner

log = logging.getLogger(__name__)
SWEEP_S = 15.0
TOUCH_EVERY_S = 60.0
"""How often a live chat's last_seen_at is stored (at most; a quarter of idle_timeout_s if shorter)."""
CLOSE_WITHIN_S = 10.0
"""The engine stops: every chat's journey is flushed, concurrently, within this long in all."""


class ChatRefused(Exception):
    """A chat not opened or not found: `status` for HTTP, `field` names what to fix (may be empty)."""

    def __init__(self, status: int, code: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status, self.code, self.field = status, code, field


@dataclass
class _Held:
    chat: LiveChat
    token: str
    touched: float = 0.0
    """When the session row's last_seen_at was last written (monotonic)."""


class ChatService:
    def __init__(self, settings: ChatSettings, runtime: Callable[[], FlowRuntime | None], journeys: JourneyStore, contacts: ContactStore,
                 handoff: Handoff | None = None, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.settings = settings
        self._runtime = runtime
        self._journeys = journeys
        self._contacts = contacts
        self.handoff = handoff
        self._now = now
        self._live: dict[str, _Held] = {}
        self._openings = Openings(settings.sessions_per_client_per_minute)
        self._new_chats = Bucket(settings.new_chats_per_second, settings.new_chats_burst)
        self._limits = SlotLimits(settings.attach_within_s, settings.idle_timeout_s, settings.quiet_timeout_s, settings.max_lifetime_s)
        self._restoring = asyncio.Lock()
        self._checked: ConfigBundle | None = None

    @property
    def live(self) -> int:
        return len(self._live)

    def flow_of(self, bundle: ConfigBundle) -> str:
        return self.settings.flow or bundle.inbound

    async def open(self, client: str, identity: str = "", signature: str = "") -> str:
        """A new chat; returns its token. Raises ChatRefused (429 too many, 400 a bad identity, 503 no
        flows or a slow database)."""
        if not self._openings.admit(client_key(client), time.monotonic()):
            raise ChatRefused(429, "too_many_chats", f"at most {self.settings.sessions_per_client_per_minute} new chats a minute from one address; wait a minute")
        if len(self._live) >= self.settings.max_sessions:
            raise ChatRefused(429, "chat_busy", f"this engine serves {self.settings.max_sessions} chats at once; try again soon")
        who = self._identity(identity, signature) if identity or signature else None
        runtime = self._current()
        if not self._new_chats.take(time.monotonic()):
            raise ChatRefused(429, "chat_busy", f"this engine opens at most {self.settings.new_chats_per_second:g} new chats a second; try again soon")
        now, token, channel_id = self._now(), secrets.token_urlsafe(32), f"chat-{secrets.token_hex(8)}"
        number, name = (who.number, who.name) if who else ("", "")
        flow = self.flow_of(runtime.bundle)
        arrived = Arrived(channel="chat", caller_number=number, dialed="chat")
        try:
            async with asyncio.timeout(self.settings.database_wait_s):
                contact = await self._contacts.create_contact("chat", now, number, who.customer if who else "", name, verified=who is not None)
                opened = await self._contacts.open_leg(contact, "chat", CallerInfo(channel_id, number, name, "chat"), now, to_stored(arrived))
                await self._contacts.open_chat_session(token, channel_id, now, {"flow": flow, "customer": customer_key(who)})
        except TimeoutError:
            raise self._slow("opening a chat") from None
        variables = {"caller_number": number, "caller_name": name, "dialed": "chat", "channel": channel_id, "customer_id": who.customer if who else ""}
        conversation = ChatConversation(runtime.bundle.flow_set, flow, variables)
        chat = self._hold(token, channel_id, contact.id, conversation, runtime, opened.call_id, opened.last_seq, number, [to_stored(arrived)])
        chat.customer_key = customer_key(who)
        log.info("chat_event call_id=%s event=chat_opened verified=%s", channel_id, who is not None)
        await chat.begin(None)
        return token

    async def find(self, token: str, identity: str = "", signature: str = "") -> LiveChat | None:
        """The chat of a token: live here, or read back from its journey (a restart, another engine).
        A page that brings a signed identity finds only a chat opened for that same customer (a
        shared browser: the next customer never resumes the last one's chat). Raises ChatRefused
        (503) when the database is slow."""
        chat = await self._found(token)
        if chat is not None and identity and chat.customer_key != self._customer_of(identity, signature):
            log.info("chat_event call_id=%s event=chat_not_resumed reason=another_customer", chat.channel_id)
            return None
        return chat

    async def later_legs(self, chat: LiveChat) -> list[dict[str, Any]]:
        """What the contact's later legs did ("and back"), for the chat's page; nothing if the database is slow."""
        runtime = self._current()
        try:
            async with asyncio.timeout(self.settings.database_wait_s):
                legs = await self._contacts.legs_of_contact(chat.contact_id)
                before = await self._last_chat_of_customer(chat.contact_id)
        except (TimeoutError, OSError) as exc:
            log.warning("chat %s: its contact's later legs were not read (%s)", chat.channel_id, type(exc).__name__)
            return []
        procedures = runtime.bundle.flow_set.procedures
        earlier = later_legs(before[0], before[1], procedures) if before is not None else []
        return [*earlier, *later_legs(legs, chat.channel_id, procedures)]

    async def _last_chat_of_customer(self, contact_id: int) -> tuple[list[CallRecord], str] | None:
        """A signed customer's previous chat contact and its chat leg: a later chat shows what that
        chat's calls did too (the steps, the disposition, the next step). Only for a verified identity:
        a number typed by anyone opens nobody's history."""
        contact = await self._contacts.contact(contact_id)
        if contact is None or not contact.verified or not (contact.customer_number or contact.customer_account):
            return None
        for other in await self._contacts.contacts_of_customer(contact.customer_number, contact.customer_account, limit=10):
            if other.id < contact_id and other.verified and other.origin == "chat":
                legs = await self._contacts.legs_of_contact(other.id)
                chat_leg = next((leg for leg in legs if leg.channel == "chat"), None)
                return (legs, chat_leg.channel_id) if chat_leg is not None else None
        return None

    async def legs_changed(self, contact_id: int) -> None:
        """A later leg of a contact moved on (a call ended, a disposition was set): its open chat pages hear it."""
        for held in list(self._live.values()):
            if held.chat.contact_id == contact_id and held.chat.pages:
                await held.chat.later(await self.later_legs(held.chat))

    async def run(self) -> None:
        """Sweeps: chats that hold a slot for nothing end, last-seen times are stored, recorded prompts
        without text are named. A failed pass (the database away) is logged and the next one comes."""
        while True:
            try:
                await self._warn_recordings()
                await self.sweep()
            except Exception as exc:  # one pass failed: the chats are swept again at the next (a bug gets its traceback)
                known = isinstance(exc, (OSError, TimeoutError, SQLAlchemyError))
                log.warning("chat sweep failed (%s: %s); the next is in %.0f s", type(exc).__name__, exc, SWEEP_S, exc_info=None if known else exc)
            await asyncio.sleep(SWEEP_S)

    async def sweep(self) -> None:
        now = time.monotonic()
        every = min(TOUCH_EVERY_S, self.settings.idle_timeout_s / 4)
        ending: list[tuple[_Held, EndReason]] = []
        for token, held in list(self._live.items()):
            times = held.chat.times(now)
            reason = why_end(times, now, self._limits)
            if reason is not None:
                del self._live[token]  # the slot is free at once, whatever the database does
                ending.append((held, reason))
            elif times.last_seen > held.touched and now - held.touched >= every:
                async with asyncio.timeout(self.settings.database_wait_s):  # a quiet page still attached counts too:
                    await self._contacts.touch_chat_session(token, self._now())  # a restart must not find the chat stale
                held.touched = now
        for held, why in ending:
            log.info("chat_event call_id=%s event=chat_ended reason=%s", held.chat.channel_id, why)
            await held.chat.end("engine" if why == "engine" else "idle", why)
            async with asyncio.timeout(self.settings.database_wait_s):
                await self._contacts.touch_chat_session(held.token, self._now(), ended=True)

    async def aclose(self) -> None:
        """The engine stops: every chat's journey is flushed, all at once within CLOSE_WITHIN_S; the
        chats stay open for the next engine."""
        closing = TaskOwner("chats closing")
        for held in list(self._live.values()):
            closing.spawn(f"close-{held.chat.channel_id}", held.chat.aclose())
        self._live.clear()
        await closing.aclose(timeout_s=CLOSE_WITHIN_S)

    # -- inside ----------------------------------------------------------------------------------

    async def _found(self, token: str) -> LiveChat | None:
        held = self._live.get(token)
        if held is not None:
            runtime = self._runtime()
            if runtime is not None and runtime.bundle is not held.chat.runtime.bundle:
                old = held.chat.conversation
                flow = old.flow_name if old.flow_name in runtime.bundle.flow_set.flows else self.flow_of(runtime.bundle)
                # seeded as a restore is: what it began with, then its checkpoint (no sensitive value is in either)
                await held.chat.go_on_with(runtime, ChatConversation(runtime.bundle.flow_set, flow, old.seed))
            return held.chat
        try:
            async with self._restoring, asyncio.timeout(self.settings.database_wait_s):
                held = self._live.get(token)
                return held.chat if held is not None else await self._restore(token)
        except TimeoutError:
            raise self._slow("finding a chat") from None

    def _identity(self, identity: str, signature: str) -> Identity:
        try:
            return verified_identity(identity, signature, self.settings.identity_secret, self._now(), self.settings.identity_max_s)
        except IdentityRefused as refused:
            raise ChatRefused(400, "bad_identity", str(refused), refused.field) from None

    def _customer_of(self, identity: str, signature: str) -> str:
        """The customer a page's identity names; one that does not verify names nobody's chat."""
        try:
            return customer_key(self._identity(identity, signature))
        except ChatRefused:
            return "!unverified"

    def _slow(self, doing: str) -> ChatRefused:
        log.warning("chat: the database did not answer within %.0f s while %s", self.settings.database_wait_s, doing)
        return ChatRefused(503, "database_slow", "the chat cannot be reached right now; try again soon")

    def _current(self) -> FlowRuntime:
        runtime = self._runtime()
        if runtime is None:
            raise ChatRefused(503, "no_flows", "no flow runs on this engine (flows.inbound is unset)")
        return runtime

    def _hold(self, token: str, channel_id: str, contact_id: int, conversation: ChatConversation, runtime: FlowRuntime, call_id: int, seq: int,
              number: str, earlier: list[tuple[str, dict[str, Any]]]) -> LiveChat:
        writer = JourneyWriter(self._journeys, channel_id, call_id=call_id, _seq=seq)
        bucket = Bucket(self.settings.messages_per_second, self.settings.message_burst)
        bounds = ChatBounds(self.settings.max_pages_per_chat, self.settings.max_messages_per_chat)
        chat = LiveChat(channel_id, contact_id, conversation, runtime, writer, self.handoff, bucket, self._now, number, earlier, bounds)
        self._live[token] = _Held(chat, token, time.monotonic())
        return chat

    async def _restore(self, token: str) -> LiveChat | None:
        session = await self._contacts.chat_session(token)
        if session is None or session.ended_at is not None or session.last_seen_at < self._now() - timedelta(seconds=self.settings.idle_timeout_s):
            return None
        record = await self._journeys.get_call(session.channel_id)
        contact = await self._contacts.contact_of_leg(session.channel_id)
        if record is None or record.ended_at is not None or contact is None or len(self._live) >= self.settings.max_sessions:
            return None
        runtime = self._current()
        rows = [(e.kind, dict(e.detail)) for e in record.events]
        flows = runtime.bundle.flow_set.flows
        flow = str(session.state.get("flow", "")) if session.state.get("flow") in flows else self.flow_of(runtime.bundle)
        variables = {"caller_number": record.caller_number, "caller_name": record.caller_name, "dialed": "chat", "channel": record.channel_id}
        conversation = ChatConversation(runtime.bundle.flow_set, flow, variables)
        seq = max((e.seq for e in record.events), default=0)
        chat = self._hold(token, record.channel_id, contact.id, conversation, runtime, record.id, seq, record.caller_number, rows)
        chat.customer_key = str(session.state.get("customer", ""))
        handed = _handed_off(rows)
        if handed is not None:
            conversation.handed_off(handed)
        else:
            await chat.begin(last_checkpoint(rows))
        log.info("chat_event call_id=%s event=chat_resumed node=%s", record.channel_id, conversation.node_name)
        return chat

    async def _warn_recordings(self) -> None:
        """Once per flow version: recorded prompts the chat cannot show (validation names each at its line)."""
        runtime = self._runtime()
        if runtime is None or runtime.bundle is self._checked:
            return
        self._checked = runtime.bundle
        for problem in await asyncio.to_thread(chat_text_problems, runtime.bundle.loaded_flows, runtime.bundle.loaded_procedures):
            log.warning("chat: %s", problem)


def _handed_off(rows: list[tuple[str, dict[str, Any]]]) -> Transfer | None:
    """The hand-off a chat had reached (a TransferAsked after its last checkpoint), if any."""
    found: Transfer | None = None
    for kind, detail in rows:
        if kind == CheckpointSaved.KIND:
            found = None
        elif kind == TransferAsked.KIND:
            asked = from_stored(kind, detail)
            if isinstance(asked, TransferAsked):
                found = Transfer(asked.queue, tuple(asked.skills), asked.priority or 5, {})
    return found
