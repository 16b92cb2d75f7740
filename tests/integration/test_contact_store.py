"""Contacts, their legs, chat sessions and hand-off codes on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.api.event_hub import EventHub
from engine.api.journey_publisher import JourneyPublisher
from engine.api.leg_events import LegEventRelay
from engine.journey.channel_events import ContinuedFrom, Typed
from engine.journey.events import to_stored
from engine.recording.retention import erase
from engine.settings import RecordingSettings, Settings, WebhookSettings
from engine.store.api_store import WebhookOutbox
from engine.store.contact_store import ClaimedCode, CodeRefused, ContactStore, code_digest
from engine.store.database import create_engine, upgrade_database
from engine.store.journey_store import CallerInfo, JourneyStore

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
KEY = b"k" * 32


async def test_a_chat_and_a_call_are_legs_of_one_contact_and_only_the_phone_leg_is_checked_against_asterisk(database_url: str) -> None:
    await upgrade_database(database_url)
    engine = create_engine(database_url)
    try:
        journeys = JourneyStore(engine)
        contacts = ContactStore(engine, journeys)
        contact = await contacts.create_contact("chat", T0, number="01012345678", name="김민수", verified=True)
        chat = await contacts.open_leg(contact, "chat", CallerInfo("chat-abc", "01012345678", "김민수", "chat"), T0, to_stored(Typed(text="인터넷이 안 돼요")))
        call = await journeys.open_call(CallerInfo("1795.1", "01012345678", "", "1600"), T0 + timedelta(minutes=3), {})
        assert chat.created and call.created
        assert await contacts.attach_leg("1795.1", contact.id)
        kind, detail = to_stored(ContinuedFrom(leg="chat-abc", channel="chat", how="code"))
        await journeys.add_event(call.call_id, kind, T0 + timedelta(minutes=3), detail, seq=2)
        legs = await contacts.legs_of_contact(contact.id)
        assert [(leg.channel_id, leg.channel) for leg in legs] == [("chat-abc", "chat"), ("1795.1", "phone")]
        assert legs[0].events[0].kind == "typed" and legs[0].events[0].detail == {"text": "인터넷이 안 돼요"}
        assert (await contacts.contact_of_leg("1795.1")) == contact
        assert await contacts.contact_by_ref(contact.ref) == contact and contact.verified
        assert [c.ref for c in await contacts.contacts_of_customer(number="01012345678")] == [contact.ref]
        assert await contacts.contacts_of_customer() == []
        assert set(await journeys.open_calls()) == {"1795.1"}  # the chat has no channel in Asterisk
    finally:
        await engine.dispose()


async def test_a_code_is_claimed_once_before_it_expires_and_only_its_keyed_hash_is_kept(database_url: str) -> None:
    await upgrade_database(database_url)
    engine = create_engine(database_url)
    try:
        journeys = JourneyStore(engine)
        contacts = ContactStore(engine, journeys, code_key=KEY)
        contact = await contacts.create_contact("chat", T0)
        for leg in ("1795.1", "1795.2", "1795.3"):
            await journeys.open_call(CallerInfo(leg, "01011112222", "", "1588"), T0, {})
        await contacts.issue_code("111111", contact.id, "chat-old", "technical", [], 5, T0, T0 + timedelta(minutes=10))
        await contacts.issue_code("482913", contact.id, "chat-abc", "technical", ["internet"], 3, T0, T0 + timedelta(minutes=10))
        assert await contacts.code_is_live("482913", T0) and not await contacts.code_is_live("482913", T0 + timedelta(minutes=11))
        assert await contacts.claim_code("000000", "1795.1", T0) == CodeRefused("unknown")
        assert await contacts.claim_code("111111", "1795.1", T0 + timedelta(minutes=11)) == CodeRefused("expired")
        both = await asyncio.gather(contacts.claim_code("482913", "1795.1", T0 + timedelta(minutes=1)), contacts.claim_code("482913", "1795.2", T0 + timedelta(minutes=1)))
        assert sorted(type(result).__name__ for result in both) == ["ClaimedCode", "CodeRefused"]
        claimed = next(result for result in both if isinstance(result, ClaimedCode))
        assert (claimed.from_leg, claimed.queue, claimed.skills, claimed.priority) == ("chat-abc", "technical", ("internet",), 3)
        assert await contacts.claim_code("482913", "1795.3", T0 + timedelta(minutes=2)) == CodeRefused("used")
        async with engine.connect() as connection:
            stored = set((await connection.exec_driver_sql("SELECT code_hash FROM handoff_codes")).scalars().all())
        assert stored == {code_digest("482913", KEY), code_digest("111111", KEY)}, "HMAC under the server's key"
        assert hashlib.sha256(b"482913").hexdigest() not in stored and "482913" not in stored
    finally:
        await engine.dispose()


async def test_a_chat_session_is_found_by_its_token_and_keeps_its_state(database_url: str) -> None:
    await upgrade_database(database_url)
    engine = create_engine(database_url)
    try:
        contacts = ContactStore(engine, JourneyStore(engine))
        await contacts.open_chat_session("secret-token", "chat-abc", T0, {"node": "menu"})
        assert await contacts.chat_session("other") is None
        await contacts.touch_chat_session("secret-token", T0 + timedelta(minutes=1), {"node": "steps"})
        session = await contacts.chat_session("secret-token")
        assert session is not None and session.channel_id == "chat-abc" and session.state == {"node": "steps"} and session.ended_at is None
        assert session.last_seen_at == T0 + timedelta(minutes=1)
    finally:
        await engine.dispose()


async def test_erasing_a_customer_erases_their_chat_legs_and_contacts_too(database_url: str, tmp_path: Path) -> None:
    """A chat under a signed identity came from no number: the contact knows the customer, so erasure finds its legs."""
    await upgrade_database(database_url)
    engine = create_engine(database_url)
    try:
        journeys = JourneyStore(engine)
        contacts = ContactStore(engine, journeys)
        contact = await contacts.create_contact("chat", T0, number="01012345678", account="A-77", name="김민수", verified=True)
        await contacts.open_leg(contact, "chat", CallerInfo("chat-abc", "", "", "chat"), T0, to_stored(Typed(text="제 계좌는 A-77 이에요")))
        other = await contacts.create_contact("chat", T0, number="01099999999")
        await contacts.open_leg(other, "chat", CallerInfo("chat-other", "", "", "chat"), T0, to_stored(Typed(text="안녕하세요")))
        settings = Settings(recording=RecordingSettings(folder=tmp_path))  # type: ignore[call-arg]
        erased = await erase(engine, settings, number="01012345678")
        assert erased.calls == ("chat-abc",)
        chat = await journeys.get_call("chat-abc")
        assert chat is not None and chat.events[0].detail == {"erased": True}
        assert (await contacts.contact_by_ref(contact.ref)) == replace(contact, customer_number="erased", customer_account="erased", customer_name="erased")
        untouched = await journeys.get_call("chat-other")
        assert untouched is not None and untouched.events[0].detail == {"text": "안녕하세요"}
    finally:
        await engine.dispose()


async def test_a_contact_s_chat_and_call_legs_reach_the_api_s_subscribers_in_order_and_a_plain_call_does_not(database_url: str) -> None:
    """The journey store tells the relay of each committed event; a subscriber (the events websocket)
    and a webhook's outbox get the contact's chat and call events, with their leg."""
    await upgrade_database(database_url)
    engine = create_engine(database_url)
    try:
        hub = EventHub()
        publisher = JourneyPublisher(hub, WebhookOutbox(engine), [WebhookSettings(url="https://crm.example/hook", secret="s" * 20)], lambda: T0)
        journeys = JourneyStore(engine)
        contacts = ContactStore(engine, journeys)
        relay = LegEventRelay(contacts, publisher)
        journeys.on_stored = relay.stored
        listening = hub.subscribe()
        contact = await contacts.create_contact("chat", T0, number="01012345678")
        chat = await contacts.open_leg(contact, "chat", CallerInfo("chat-abc", "", "", "chat"), T0, to_stored(Typed(text="인터넷이 안 돼요")))
        await journeys.add_event(chat.call_id, "chat_sent", T0, {"text": "네", "node": "menu"})
        await journeys.add_event(chat.call_id, "prompt_started", T0, {"media": "sound:x"})  # not for other systems
        plain = await journeys.open_call(CallerInfo("1795.9", "0109", "", "1600"), T0, {})
        await journeys.add_event(plain.call_id, "queued", T0, {"queue": "billing"})  # in no contact: not relayed
        call = await journeys.open_call(CallerInfo("1795.1", "01012345678", "", "1600"), T0, {})
        await contacts.attach_leg("1795.1", contact.id)
        kind, detail = to_stored(ContinuedFrom(leg="chat-abc", channel="chat", how="code"))
        await journeys.add_event(call.call_id, kind, T0, detail)
        await journeys.close_call(call.call_id, T0, "caller", 16, "Normal Clearing")
        running = asyncio.create_task(relay.run())
        try:
            got = [await listening.next(5.0) for _ in range(5)]
        finally:
            running.cancel()
        assert [(event.leg.id, event.event.kind) for event in got if event and event.leg and event.event] == [
            ("chat-abc", "typed"), ("chat-abc", "chat_sent"), ("1795.1", "continued_from"), ("1795.1", "hung_up")]
        assert got[4] is None and all(event.contact.id == contact.ref for event in got if event)
        assert relay.dropped == 0
        async with engine.connect() as connection:
            owed = (await connection.exec_driver_sql("SELECT count(*) FROM webhook_deliveries")).scalar()
        assert owed == 4
    finally:
        await engine.dispose()
