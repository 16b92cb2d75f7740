"""The chat service on a real SQLite database: a flows reload and a restart never bring a sensitive
value back, chats give their slots back, the sweeps outlive a database that goes away, and a page
never resumes another customer's chat."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.call.flow_services import FlowRuntime
from engine.chat import chat_service
from engine.chat.chat_identity import sign
from engine.chat.chat_service import ChatRefused, ChatService
from engine.chat.live_chat import LiveChat
from engine.config.config_bundle import ConfigBundle
from engine.config.flow_model import FlowSet
from engine.handoff import handoff_port as port
from engine.settings import ChatSettings
from engine.store.contact_store import ContactStore
from engine.store.database import create_engine, upgrade_database
from engine.store.journey_store import JourneyStore
from test_chat_conversation import small

PIN = "4321"
CARD = """
flow: card
language: en
start: pin
globals:
  agent: {phrases: [agent], keys: ["0"], queue: general}
nodes:
  pin: {type: collect, prompt: Your PIN., digits: {min: 4, max: 4}, into: pin, sensitive: true, next: menu, fallback: menu}
  menu:
    type: ask
    prompt: "Bills 1, tech 2."
    intents:
      bills: {phrases: [bills], keys: ["1"], next: q}
    fallback: q
  q: {type: queue, queue: billing}
"""
SECRET = "s" * 40


@dataclass
class Stores:
    url: str
    path: Path
    database: AsyncEngine
    journeys: JourneyStore
    contacts: ContactStore


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[Stores]:
    path = tmp_path / "chat.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade_database(url)
    database = create_engine(url)
    journeys = JourneyStore(database)
    yield Stores(url, path, database, journeys, ContactStore(database, journeys))
    await database.dispose()


def runtime(flows: FlowSet, inbound: str = "card") -> FlowRuntime:
    """The part of a FlowRuntime a chat without lookups uses: its flows."""
    return cast(FlowRuntime, SimpleNamespace(bundle=ConfigBundle(flows, inbound), lookups={}, http=None))


@dataclass(eq=False)
class Page:
    got: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, message: dict[str, Any]) -> None:
        self.got.append(message)


@dataclass
class HandedOff:
    """Records what the chat hands to the phone side (the port's other end is tested in tests/unit/handoff)."""

    legs: list[tuple[port.ChatLeg, port.HandoffTarget]] = field(default_factory=list)

    async def call_me_back(self, leg: port.ChatLeg, number: str, target: port.HandoffTarget) -> port.CallbackArranged | port.HandoffRefused:
        self.legs.append((leg, target))
        return port.HandoffRefused("no_handoff")

    async def i_will_call(self, leg: port.ChatLeg, target: port.HandoffTarget) -> port.CodeIssued | port.HandoffRefused:
        self.legs.append((leg, target))
        return port.HandoffRefused("no_handoff")


def service_of(stores: Stores, **settings: Any) -> ChatService:
    return ChatService(ChatSettings(enabled=True, **settings), lambda: runtime(small(CARD)), stores.journeys, stores.contacts)


async def refusal(service: ChatService, *opening: str) -> ChatRefused:
    with pytest.raises(ChatRefused) as refused:
        await service.open(*opening)
    return refused.value


async def found(service: ChatService, token: str, *identity: str) -> LiveChat:
    chat = await service.find(token, *identity)
    assert chat is not None
    return chat


async def test_a_flows_reload_and_a_restart_never_bring_a_sensitive_value_back(stores: Stores) -> None:
    flows, handoff = small(CARD), HandedOff()
    current = [runtime(flows)]
    service = ChatService(ChatSettings(enabled=True), lambda: current[0], stores.journeys, stores.contacts, handoff)
    token = await service.open("198.51.100.7")
    chat = await found(service, token)
    page = Page()
    chat.attach(page)
    await chat.typed(PIN)
    current[0] = runtime(flows)  # the flows were reloaded: a new bundle, the same flows
    chat = await found(service, token)  # goes on with them at its checkpoint
    assert chat.runtime is current[0] and chat.conversation.node_name == "menu"
    await chat.typed("agent")
    await chat.call_me_back("01012345678")
    channel = chat.channel_id
    await service.aclose()  # the engine stops; the next one reads the chat back
    again = ChatService(ChatSettings(enabled=True), lambda: current[0], stores.journeys, stores.contacts, handoff)
    restored = await found(again, token)
    await restored.call_me_back("01012345678")
    restored.attach(page)
    await again.aclose()
    record = await stores.journeys.get_call(channel)
    assert record is not None and len(record.events) > 5
    places = {
        "journey rows": [(e.kind, e.detail) for e in record.events], "live journal": chat.journal + restored.journal, "page messages": page.got,
        "hand-off legs": [(leg.variables, leg.journal) for leg, _ in handoff.legs], "hand-off targets": [dict(t.context) for _, t in handoff.legs],
        "transfer context": [dict(chat.conversation.transfer.context) if chat.conversation.transfer else {}],
    }
    assert len(handoff.legs) == 2 and handoff.legs[0][1].queue == "general"
    for where, what in places.items():
        assert PIN not in json.dumps(what, ensure_ascii=False, default=str), f"the PIN is in the {where}"


async def test_chats_no_page_opens_end_and_per_address_counts_an_ipv6_64(stores: Stores) -> None:
    service = service_of(stores, max_sessions=3, sessions_per_client_per_minute=2)
    await service.open("2001:db8::1")
    await service.open("2001:db8::2")
    refused = await refusal(service, "2001:db8::3")  # the same /64: the same customer
    assert (refused.status, refused.code) == (429, "too_many_chats")
    token = await service.open("198.51.100.7")
    assert service.live == 3
    kept = await found(service, token)
    kept.attach(Page())
    for held in service._live.values():
        held.chat.opened -= service.settings.attach_within_s + 1  # a minute on: no page ever came for two of them
    await service.sweep()
    assert service.live == 1 and await service.find(token) is kept
    assert await service.open("203.0.113.9")  # the slots are free again
    await service.aclose()


async def test_a_chat_with_its_page_open_still_ends_when_quiet_or_too_old(stores: Stores) -> None:
    service = service_of(stores)
    settings = service.settings
    quiet, old = await found(service, await service.open("198.51.100.7")), await found(service, await service.open("198.51.100.8"))
    quiet_page, old_page = Page(), Page()
    quiet.attach(quiet_page)
    old.attach(old_page)
    quiet.last_message -= settings.quiet_timeout_s + 1  # the heartbeat kept the page attached; nothing was sent
    old.opened -= settings.max_lifetime_s + 1
    await service.sweep()
    assert service.live == 0 and quiet.ended and old.ended
    assert {"type": "ended"} in quiet_page.got and {"type": "ended"} in old_page.got
    for chat in (quiet, old):
        record = await stores.journeys.get_call(chat.channel_id)
        assert record is not None and record.ended_at is not None
    await quiet.typed("1")  # its page still open: nothing more is taken
    assert quiet_page.got[-1] == {"type": "ended"}


async def test_messages_and_pages_per_chat_are_bounded(stores: Stores) -> None:
    service = service_of(stores, max_messages_per_chat=10, max_pages_per_chat=2)
    chat = await found(service, await service.open("198.51.100.7"))
    pages = [Page() for _ in range(3)]
    assert chat.attach(pages[0]) is not None and chat.attach(pages[1]) is not None and chat.attach(pages[2]) is None
    for _ in range(10):
        await chat.typed("what")
    rows = len(chat.journal)
    await chat.typed("what")
    await chat.pressed(0)
    assert len(chat.journal) == rows and pages[0].got[-1] == {"type": "error", "code": "chat_full"}
    await service.aclose()


async def test_new_chats_are_bounded_across_all_addresses(stores: Stores) -> None:
    service = service_of(stores, new_chats_per_second=0.001, new_chats_burst=2)
    await service.open("198.51.100.1")
    await service.open("198.51.100.2")
    refused = await refusal(service, "198.51.100.3")
    assert (refused.status, refused.code) == (429, "chat_busy")
    await service.aclose()


async def test_a_quiet_page_keeps_the_chat_fresh_for_a_restart(stores: Stores) -> None:
    clock = [datetime(2026, 5, 1, 9, 0, tzinfo=UTC)]
    service = ChatService(ChatSettings(enabled=True), lambda: runtime(small(CARD)), stores.journeys, stores.contacts, now=lambda: clock[0])
    token = await service.open("198.51.100.7")
    chat = await found(service, token)
    chat.attach(Page())
    chat.last_seen -= 3000  # attached long ago, quiet since, last stored then
    service._live[token].touched -= 3000
    clock[0] += timedelta(minutes=50)
    await service.sweep()
    session = await stores.contacts.chat_session(token)
    assert session is not None and session.last_seen_at == clock[0]
    await service.aclose()
    again = ChatService(ChatSettings(enabled=True), lambda: runtime(small(CARD)), stores.journeys, stores.contacts, now=lambda: clock[0] + timedelta(minutes=20))
    assert await again.find(token) is not None  # not stale: the page was there 20 minutes ago
    await again.aclose()


async def rename_table(stores: Stores, old: str, new: str) -> None:
    async with stores.database.begin() as connection:
        await connection.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}")


async def test_the_sweeps_go_on_after_the_database_fails(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [datetime(2026, 5, 1, 9, 0, tzinfo=UTC)]
    service = ChatService(ChatSettings(enabled=True), lambda: runtime(small(CARD)), stores.journeys, stores.contacts, now=lambda: clock[0])
    token = await service.open("198.51.100.7")
    chat = await found(service, token)
    chat.attach(Page())
    await rename_table(stores, "chat_sessions", "chat_sessions_away")  # each pass fails now (no such table)
    monkeypatch.setattr(chat_service, "SWEEP_S", 0.01)
    monkeypatch.setattr(chat_service, "TOUCH_EVERY_S", 0.0)
    sweeps = asyncio.create_task(service.run())
    await asyncio.sleep(0.2)
    assert not sweeps.done()
    await rename_table(stores, "chat_sessions_away", "chat_sessions")  # it is back
    clock[0] += timedelta(minutes=5)
    for _ in range(100):
        session = await stores.contacts.chat_session(token)
        if session is not None and session.last_seen_at == clock[0]:
            break
        await asyncio.sleep(0.02)
    assert session is not None and session.last_seen_at == clock[0]
    sweeps.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sweeps
    await service.aclose()


async def test_a_page_with_another_customers_identity_never_resumes_the_chat(stores: Stores) -> None:
    now = datetime.now(UTC)
    settings = ChatSettings(enabled=True, identity_secret=SECRET)
    service = ChatService(settings, lambda: runtime(small(CARD)), stores.journeys, stores.contacts)
    alice = sign({"customer": "C-1", "exp": now.timestamp() + 600}, SECRET)
    bob = sign({"customer": "C-2", "exp": now.timestamp() + 600}, SECRET)
    token = await service.open("198.51.100.7", *alice)
    chat = await found(service, token)
    assert await service.find(token, *bob) is None
    assert await service.find(token, alice[0], "0" * 64) is None  # not verified: nobody's chat
    assert await service.find(token, *sign({"customer": "C-1", "exp": now.timestamp() + 300}, SECRET)) is chat  # Alice, a fresh identity
    assert await service.find(token) is chat  # a reload: the page cleared its fragment
    anonymous = await service.open("198.51.100.8")
    assert await service.find(anonymous, *alice) is None
    await service.aclose()
    again = ChatService(settings, lambda: runtime(small(CARD)), stores.journeys, stores.contacts)  # a restart: the session remembers
    assert await again.find(token, *bob) is None
    assert await again.find(token, *alice) is not None
    await again.aclose()
    refused = await refusal(again, "198.51.100.9", *sign({"customer": "C-1", "exp": now.timestamp() + 86400}, SECRET))
    assert (refused.status, refused.field) == (400, "identity.exp")


async def test_a_slow_database_refuses_a_new_chat_cleanly(stores: Stores) -> None:
    service = service_of(stores, database_wait_s=1e-9)
    refused = await refusal(service, "198.51.100.7")
    assert (refused.status, refused.code) == (503, "database_slow") and service.live == 0
    with pytest.raises(ChatRefused):
        await service.find("x" * 43)
    await service.aclose()


async def test_going_on_with_new_flows_cancels_the_old_conversations_timers(stores: Stores) -> None:
    current = [runtime(small(CARD))]
    service = ChatService(ChatSettings(enabled=True), lambda: current[0], stores.journeys, stores.contacts)
    token = await service.open("198.51.100.7")
    chat = await found(service, token)
    await chat.typed(PIN)  # at the menu: a checkpoint to go on from
    handle = asyncio.get_running_loop().call_later(60, lambda: None)
    chat._timers["lookup_timeout-9"] = handle  # a lookup of the old conversation still waiting
    current[0] = runtime(small(CARD))
    await found(service, token)
    assert handle.cancelled() and "lookup_timeout-9" not in chat._timers
    await service.aclose()


@dataclass
class Arranging:
    """A phone side that arranges every callback and issues every code (what the chat's limit must bound)."""

    calls: list[str] = field(default_factory=list)

    async def call_me_back(self, leg: port.ChatLeg, number: str, target: port.HandoffTarget) -> port.CallbackArranged | port.HandoffRefused:
        self.calls.append(number)
        return port.CallbackArranged(number[:3] + "****" + number[-4:], target.queue, f"cb-{len(self.calls)}")

    async def i_will_call(self, leg: port.ChatLeg, target: port.HandoffTarget) -> port.CodeIssued | port.HandoffRefused:
        self.calls.append("code")
        return port.CodeIssued(f"{len(self.calls):06d}", "1588", datetime(2026, 12, 7, 10, tzinfo=UTC))


async def test_one_chat_books_one_callback_and_at_most_three_hand_offs_also_after_a_restart(stores: Stores) -> None:
    """A public chat must not book calls to a list of numbers: each would ring an agent first."""
    phone = Arranging()
    service = ChatService(ChatSettings(enabled=True), lambda: runtime(small(CARD)), stores.journeys, stores.contacts, phone)
    token = await service.open("198.51.100.8")
    chat = await found(service, token)
    page = Page()
    chat.attach(page)
    await chat.typed(PIN)
    await chat.typed("agent")
    await chat.call_me_back("01012345678")
    await chat.call_me_back("01099998888")
    await chat.i_will_call()
    await service.aclose()
    again = ChatService(ChatSettings(enabled=True), lambda: runtime(small(CARD)), stores.journeys, stores.contacts, phone)
    restored = await found(again, token)
    restored.attach(page)
    await restored.call_me_back("01077776666")
    await restored.i_will_call()
    await restored.i_will_call()
    await again.aclose()
    assert phone.calls == ["01012345678", "code", "code"]
    refusals = [message["refused"] for message in page.got if message.get("type") == "handoff" and "refused" in message]
    assert refusals == ["already_arranged", "already_arranged", "too_many_handoffs"]


async def test_chat_pages_connected_at_once_are_bounded_in_all_and_per_address(stores: Stores) -> None:
    """Each page holds one of the listener's connections: strangers' chat pages must not take them all
    from the agents' pages, so past chat.max_open_pages a page is told the chat is busy (1013)."""
    from aiohttp import WSMsgType, web
    from aiohttp.test_utils import TestClient, TestServer

    from engine.web.chat_routes import add_chat_routes

    service = service_of(stores, max_open_pages=2, max_open_pages_per_client=1)
    app = web.Application()
    add_chat_routes(app, service)
    async with TestClient(TestServer(app)) as client:
        first = await client.ws_connect("/chat/ws")
        second = await client.ws_connect("/chat/ws")  # the same address: over its one page
        refused = await second.receive_json(timeout=5)
        closed = await second.receive(timeout=5)
        assert refused == {"type": "error", "code": "chat_busy"} and closed.type == WSMsgType.CLOSE and closed.data == 1013
        await first.close()
        again = await client.ws_connect("/chat/ws")  # its page closed: the address may connect again
        await again.send_json({"type": "hello", "token": "x" * 30})
        assert (await again.receive_json(timeout=5))["code"] == "no_chat"  # past the cap, into the chat's own checks
        await again.close()
    await service.aclose()


async def test_a_signed_customer_s_next_chat_shows_what_the_last_chat_s_call_did_and_a_stranger_s_does_not(stores: Stores) -> None:
    """And back, later: the disposition and the call's leg come back in the customer's next chat, but only
    under a signed identity (a typed number opens nobody's history)."""
    from engine.journey.events import DispositionSet, to_stored
    from engine.store.journey_store import CallerInfo

    service = service_of(stores, identity_secret=SECRET)
    now = datetime.now(UTC)
    who = sign({"customer": "C-9", "number": "01055556666", "exp": now.timestamp() + 600}, SECRET)
    first = await found(service, await service.open("198.51.100.9", *who), *who)
    call = await stores.contacts.open_leg((await stores.contacts.contact(first.contact_id)), "phone",  # type: ignore[arg-type]
                                          CallerInfo("1795.5", "01055556666", "", "1588"), now, ("arrived", {}))
    kind, detail = to_stored(DispositionSet(disposition="technician_booked"))
    await stores.journeys.add_event(call.call_id, kind, now, detail)
    second = await found(service, await service.open("198.51.100.9", *who), *who)
    shown = await service.later_legs(second)
    assert [(item["channel"], item["disposition"]) for item in shown] == [("phone", "technician_booked")]
    stranger = await found(service, await service.open("198.51.100.10"))
    assert await service.later_legs(stranger) == []
    await service.aclose()
