"""Chat to phone by a one-time code, end to end on the real Asterisk.

A chat leg is seeded in the engine's database as the web chat writes it (the customer typed "인터넷이
안 돼요", the intent, two troubleshooting steps done, a checkpoint) with a code for the technical
queue. A baresip caller keys the code during the greeting: no menu, straight into the technical
queue, and jiyeon's pop (on the agent page's websocket) shows what was typed and "steps 1–2 done,
next: step 3". An expired code and a wrong code are refused cleanly (the journey keeps the reason,
never the code) and the call goes on in the menu.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.acd.call_distributor import CallDistributor
from engine.acd.owed_callbacks import restore_callbacks
from engine.config.acd_config import AcdConfig, AgentSettings, CallbackOffer, QueueSettings
from engine.handoff.handoff_port import CallbackArranged, ChatLeg, CodeIssued, HandoffRefused, HandoffTarget
from engine.handoff.code_key import load_code_key
from engine import metrics
from engine.handoff import handoff_service
from engine.handoff.handoff_service import HandoffService
from engine.settings import HandoffSettings

from engine.journey.channel_events import HandoffRefused as HandoffRefusedEvent
from engine.journey.channel_events import Typed
from engine.journey.events import CheckpointSaved, FlowStarted, IntentChosen, JourneyEventModel, NodeEntered, StepDone, to_stored
from engine.localpbx.local_asterisk import LocalAsterisk
from engine.store.contact_store import ClaimedCode, CodeRefused, Contact, ContactStore, code_digest
from engine.store.database import create_engine, upgrade_database
from engine.store.journey_store import CallerInfo, JourneyStore
from tests.integration.conftest import PBX_ENV, RunningEngine, free_port, require_tool, wait_for_event
from tests.integration.sip_peers import Baresip, write_tone
from tests.integration.test_acd_call import CALLER_HZ, JIYEON_HZ, acd_setup, agent_phone, wait_agents
from tests.integration.test_agents import threadline
from tests.unit.acd.test_call_distributor import MemoryBridges

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
CODE, EXPIRED, WRONG = "482913", "135790", "999999"
CHAT_LEG = "chat-handoff-test"
KEY = b"k" * 32


async def seed_chat(database_url: str, key: bytes | None = None) -> None:
    """The chat's leg, as the web chat journals it, and its codes: one live, one expired (issued
    first: a new code revokes the chat's live ones). `key`: the codes' HMAC key; by default a running
    engine's (handoff.key beside its agents' secrets file, which acd_setup puts beside the database)."""
    now = datetime.now(UTC)
    if key is None:
        database_file = make_url(database_url).database
        assert database_file, f"{database_url}: pass the engine's key"
        key = await load_code_key(Path(database_file).parent / "handoff.key")
    database = create_engine(database_url)
    try:
        journeys = JourneyStore(database)
        contacts = ContactStore(database, journeys, key)
        contact = await contacts.create_contact("chat", now)
        opened = await contacts.open_leg(contact, "chat", CallerInfo(CHAT_LEG, "", "", ""), now, to_stored(FlowStarted(flow="support_ko", version="chat")))
        chat: list[JourneyEventModel] = [
            NodeEntered(flow="support_ko", node="menu", type="ask"),
            Typed(text="인터넷이 안 돼요", node="menu"),
            IntentChosen(node="menu", intent="technical", into="intent"),
            NodeEntered(flow="support_ko", node="internet_steps", type="steps"),
            StepDone(procedure="internet_down_ko", step="restart_router", index=1, fixed=False),
            StepDone(procedure="internet_down_ko", step="check_cable", index=2, fixed=False),
            CheckpointSaved(flow="support_ko", node="internet_steps", variables={"intent": "technical", "account": "123456"}, step=2),
        ]
        for event in chat:
            kind, detail = to_stored(event)
            await journeys.add_event(opened.call_id, kind, now, detail)
        await contacts.issue_code(EXPIRED, contact.id, CHAT_LEG, "technical", ["internet", "korean"], 6, now - timedelta(minutes=20), now - timedelta(minutes=10))
        await contacts.issue_code(CODE, contact.id, CHAT_LEG, "technical", ["internet", "korean"], 6, now, now + timedelta(minutes=10))
    finally:
        await database.dispose()


async def start(tmp_path: Path, start_engine: Any, crm_url: str, name: str) -> tuple[RunningEngine, dict[str, str]]:
    env, secrets = await acd_setup(tmp_path, crm_url)
    passwd = await asyncio.to_thread(threadline, "agents", "passwd", "jiyeon", "--password-stdin", "--flows", env["THREADLINE_FLOWS__FOLDER"], env=env,
                                     stdin="jiyeon-password-1\n")
    assert passwd.returncode == 0, passwd.stderr
    engine: RunningEngine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / name}", **env)
    await seed_chat(engine.database_url)  # under the key the engine made at its start
    return engine, secrets


async def key_after_greeting_starts(caller: Baresip, keys: str) -> None:
    await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
    await caller.wait_event("CALL_ESTABLISHED")
    await asyncio.sleep(0.8)  # the greeting is playing
    await caller.command("sndcode", keys)


async def test_a_caller_who_keys_the_chats_code_skips_the_menu_and_the_agents_pop_shows_the_chat(
    pbx: LocalAsterisk, start_engine: Any, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    engine, secrets = await start(tmp_path, start_engine, mock_crm[0], "handoff.sqlite3")
    jiyeon = await agent_phone(tmp_path, "jiyeon", "2002", secrets["jiyeon"], JIYEON_HZ)
    caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999))
    pops: list[dict[str, Any]] = []
    try:
        await wait_agents(engine, {"jiyeon": "available"})
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as desk:
            login = await desk.post(f"{engine.http_url}/login", data={"agent": "jiyeon", "password": "jiyeon-password-1"})
            assert login.status == 200
            socket = await desk.ws_connect(f"{engine.http_url.replace('http', 'ws')}/ws", origin=engine.http_url)
            await caller.start(await asyncio.to_thread(write_tone, tmp_path / "caller.wav", 90.0, CALLER_HZ))
            await key_after_greeting_starts(caller, CODE)
            async with asyncio.timeout(40):
                while not pops:
                    message = await socket.receive_json()
                    if message.get("type") == "pop":
                        pops.append(message)
            await socket.close()
        await wait_agents(engine, {"jiyeon": "on_call"}, timeout_s=30)
        await caller.command("hangup")
        await caller.wait_event("CALL_CLOSED")
    finally:
        await caller.stop()
        await jiyeon.stop()

    (pop,) = pops
    assert pop["queue"] == "technical" and pop["intent"] == "technical"
    typed = [entry for entry in pop["timeline"] if entry["kind"] == "typed"]
    assert typed == [{"kind": "typed", "text": "인터넷이 안 돼요", "button": False}], pop["timeline"]
    assert pop["continued_from"] == {"leg": CHAT_LEG, "channel": "chat", "how": "code"}
    (steps,) = pop["steps"]
    assert [done["step"] for done in steps["done"]] == ["restart_router", "check_cable"], "steps 1-2 done"
    assert steps["next"]["step"] == "check_lights", "next: step 3"

    (call,) = [leg for leg in await engine.ended_calls(1) if leg.channel == "phone"]
    kinds = [event.kind for event in call.events]
    assert "continued_from" in kinds and "queued" in kinds and "intent_chosen" not in kinds, f"no menu: {kinds}"
    assert not any(event.kind == "node_entered" and event.detail.get("node") == "menu" for event in call.events), "the menu never played"
    queued = next(event.detail for event in call.events if event.kind == "queued")
    assert queued["queue"] == "technical" and queued["priority"] == 6
    assert CODE not in str([event.detail for event in call.events]), "the code is never in the journey"
    assert call.contact_id is not None
    async with engine.store() as store:
        chat = await store.get_call(CHAT_LEG)
    assert chat is not None and chat.contact_id == call.contact_id, "one contact: the chat leg and the call leg"
    claimed = next(event.detail for event in chat.events if event.kind == "handoff_claimed")
    assert claimed == {"leg": call.channel_id, "how": "code"}


async def test_an_expired_code_and_a_wrong_code_are_refused_and_the_call_goes_on_in_the_menu(
    pbx: LocalAsterisk, start_engine: Any, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    engine, _ = await start(tmp_path, start_engine, mock_crm[0], "refused.sqlite3")
    caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999))
    try:
        await caller.start(await asyncio.to_thread(write_tone, tmp_path / "caller.wav", 90.0, CALLER_HZ, amplitude=0))  # silent: keys only
        await key_after_greeting_starts(caller, EXPIRED)
        await wait_for_event(engine, "handoff_refused", reason="expired")
        await caller.command("sndcode", WRONG)  # tried again while the caller may
        await wait_for_event(engine, "handoff_refused", reason="unknown")
        await wait_for_event(engine, "checkpoint", timeout_s=30, node="menu")  # the call's (the chat leg entered its menu too)
        await caller.command("sndcode", "1")
        await wait_for_event(engine, "queued", queue="billing")
        await caller.command("hangup")
        await caller.wait_event("CALL_CLOSED")
    finally:
        await caller.stop()

    (call,) = [leg for leg in await engine.ended_calls(1) if leg.channel == "phone"]
    refused = [event.detail for event in call.events if event.kind == "handoff_refused"]
    assert refused == [{"reason": "expired"}, {"reason": "unknown"}]
    assert "continued_from" not in [event.kind for event in call.events] and call.contact_id is None
    chosen = next(event.detail for event in call.events if event.kind == "intent_chosen")
    assert (chosen["intent"], chosen["key"]) == ("billing", "1"), "the menu took its key as always"
    shown = str([event.detail for event in call.events])
    assert EXPIRED not in shown and WRONG not in shown, "refused codes are never in the journey"


# -- the callback path, at the store and distributor level (the chat is wired by the lead) ------------

def technical_queue() -> AcdConfig:
    return AcdConfig({"technical": QueueSettings(skills={"internet": 2}, priority=6, callback=CallbackOffer())},
                     {"jiyeon": AgentSettings(name="Jiyeon", extension="2002", skills={"internet": 5, "korean": 5})}, {})


async def chat_leg(database_url: str) -> ChatLeg:
    await seed_chat(database_url, KEY)
    database = create_engine(database_url)
    try:
        journeys = JourneyStore(database)
        record = await journeys.get_call(CHAT_LEG)
    finally:
        await database.dispose()
    assert record is not None and record.contact_id is not None
    return ChatLeg(CHAT_LEG, record.contact_id, "ko", {"intent": "technical", "account": "123456"}, [(e.kind, e.detail) for e in record.events])


async def test_a_chat_becomes_a_callback_in_its_queue_with_the_chat_on_the_pop_and_survives_a_restart(database_url: str) -> None:
    url = database_url
    await upgrade_database(url)
    leg = await chat_leg(url)
    database = create_engine(url)
    journeys = JourneyStore(database)
    distributor = CallDistributor(MemoryBridges(), recent_callbacks=lambda since: journeys.events_of_kinds_since(["callback_requested"], since))  # as app.py
    distributor.configure(technical_queue())
    try:
        service = HandoffService.for_engine(database, journeys, distributor, HandoffSettings(), lambda: {}, KEY)
        target = HandoffTarget("technical", ("internet", "korean"), 6)
        assert await service.call_me_back(leg, "+4420123456", target) == HandoffRefused("international")
        assert await service.call_me_back(leg, "010-1234-5678", target) == HandoffRefused("not_digits")
        assert await service.call_me_back(leg, "01012345678", HandoffTarget("nowhere")) == HandoffRefused("no_queue")
        callbacks = metrics.CALLS.labels("callback")._value.get()
        arranged = await service.call_me_back(leg, "01012345678", target)
        assert isinstance(arranged, CallbackArranged) and arranged.number == "010****5678" and arranged.queue == "technical"
        assert metrics.CALLS.labels("callback")._value.get() == callbacks + 1, "counted on /metrics as a caller's callback"

        ((call, snapshot),) = distributor.calls()
        assert call.caller_id == arranged.call_id and call.callback and call.priority == 6 and call.extra_skills == {"korean": 1}
        kinds = [kind for kind, _ in snapshot.journal]
        assert kinds[:3] == ["flow_started", "node_entered", "typed"] and kinds[-3:] == ["continued_from", "queued", "callback_requested"]
        assert snapshot.variables["account"] == "123456", "the pop shows what the chat collected"

        record = await journeys.get_call(arranged.call_id)
        assert record is not None and record.channel == "phone" and record.contact_id == leg.contact_id and record.ended_at is not None
        assert [e.kind for e in record.events] == ["continued_from", "queued", "callback_requested", "hung_up"]
        assert record.events[2].detail["source"] == "chat"

        for _ in range(2):  # the per-number limit counts chat callbacks like keyed ones (3 an hour)
            assert isinstance(await service.call_me_back(leg, "01012345678", target), CallbackArranged)
        assert await service.call_me_back(leg, "01012345678", target) == HandoffRefused("rate_limited")

        restarted = CallDistributor(MemoryBridges())
        restarted.configure(technical_queue())
        await restore_callbacks(journeys, restarted, {}, {"support_ko": "ko"}, datetime.now(UTC))
        restored = {call.caller_id: (call, snap) for call, snap in restarted.calls()}
        again, snap = restored[arranged.call_id]
        assert again.callback and again.callback_number == "01012345678" and snap.language == "ko"
        assert ("typed", {"text": "인터넷이 안 돼요", "node": "menu"}) in [(k, dict(d)) for k, d in snap.journal], "a restart keeps the chat on the pop"
        assert snap.variables == {"intent": "technical", "account": "123456"}
        await restarted.aclose()
    finally:
        await distributor.aclose()
        await database.dispose()


async def test_a_code_is_issued_hashed_and_claimed_once_by_a_call(database_url: str) -> None:
    url = database_url
    await upgrade_database(url)
    leg = await chat_leg(url)
    database = create_engine(url)
    distributor = CallDistributor(MemoryBridges())
    distributor.configure(technical_queue())
    draws = iter([482913, 7])  # the first collides with the seeded live code
    try:
        journeys = JourneyStore(database)
        contacts = ContactStore(database, journeys, KEY)
        service = HandoffService(contacts, journeys, distributor, HandoffSettings(code_ttl_s=300, dial_number="1588"), lambda: {}, draw=lambda _: next(draws))
        issued = await service.i_will_call(leg, HandoffTarget("technical", ("internet",), 6))
        assert isinstance(issued, CodeIssued) and issued.code == "000007" and issued.dial == "1588"
        assert 299 <= (issued.expires_at - datetime.now(UTC)).total_seconds() <= 300
        async with database.connect() as connection:
            stored = set((await connection.exec_driver_sql("SELECT code_hash FROM handoff_codes")).scalars().all())
        assert code_digest("000007", KEY) in stored, "stored as HMAC-SHA256 under the server's key"
        assert not {hashlib.sha256(code.encode()).hexdigest() for code in ("000007", CODE)} & stored and "000007" not in stored
        assert not await contacts.code_is_live(CODE, datetime.now(UTC)), "the chat's new code revoked its earlier one"
        assert await service.codes_waiting()
        now = datetime.now(UTC)
        await journeys.open_call(CallerInfo("call-1", "01099998888", "", "1588"), now, {})
        await journeys.open_call(CallerInfo("call-2", "01099997777", "", "1588"), now, {})
        claimed = await service.claim("000007", "call-1", "code")
        assert isinstance(claimed, ClaimedCode)
        call = await journeys.get_call("call-1")
        assert call is not None and call.contact_id == leg.contact_id, "claimed and attached in one transaction"
        handed = await service.continue_chat(claimed, "call-1", "code")
        assert (handed.chat_leg, handed.queue, handed.skills, handed.priority) == (CHAT_LEG, "technical", ("internet",), 6)
        assert handed.variables == {"intent": "technical", "account": "123456"} and ("typed", {"text": "인터넷이 안 돼요", "node": "menu"}) in handed.journal
        assert await service.claim("000007", "call-2", "code") == "used"
        assert await service.claim(EXPIRED, "call-2", "code") == "expired"
        assert await service.claim(CODE, "call-2", "code") == "expired"
        assert await service.claim("123123", "call-2", "code") == "unknown"
        await service.release("call-1")  # call-1 hung up before an agent answered
        assert isinstance(await service.claim("000007", "call-2", "code"), ClaimedCode), "the released code works again"
    finally:
        await distributor.aclose()
        await database.dispose()


async def stores(database_url: str) -> tuple[AsyncEngine, JourneyStore, ContactStore, Contact]:
    """An empty database with a signed customer's chat (CHAT_LEG, 01012345678) holding a live CODE."""
    await upgrade_database(database_url)
    database = create_engine(database_url)
    journeys = JourneyStore(database)
    contacts = ContactStore(database, journeys, KEY)
    now = datetime.now(UTC)
    contact = await contacts.create_contact("chat", now, "01012345678", verified=True)
    await contacts.open_leg(contact, "chat", CallerInfo(CHAT_LEG, "01012345678", "", "chat"), now, to_stored(Typed(text="인터넷이 안 돼요")))
    await contacts.issue_code(CODE, contact.id, CHAT_LEG, "technical", ["internet"], 6, now, now + timedelta(minutes=10))
    return database, journeys, contacts, contact


async def test_a_claim_for_a_call_whose_row_is_not_written_yet_uses_nothing_up(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reviewer's case: the call's journey writer is behind. No claim may commit without its leg."""
    monkeypatch.setattr(handoff_service, "ATTACH_WAIT_S", 0.01)
    database, journeys, contacts, contact = await stores(database_url)
    try:
        now = datetime.now(UTC)
        assert await contacts.claim_code(CODE, "call-1", now) == CodeRefused("no_call")
        assert await contacts.claim_code_for_number("01012345678", "call-1", now) == CodeRefused("no_call")
        service = HandoffService(contacts, journeys, None, HandoffSettings(continue_by_number=True), lambda: {})
        assert await service.claim_by_number("01012345678", "call-1") is None
        assert await service.claim(CODE, "call-1", "code") == "no_call"
        assert await contacts.code_is_live(CODE, now), "nothing was used up"
        await journeys.open_call(CallerInfo("call-1", "01012345678", "", "1588"), now, {})
        claimed = await service.claim_by_number("01012345678", "call-1")
        assert claimed is not None and claimed.from_leg == CHAT_LEG
        assert (await contacts.contact_of_leg("call-1")) == contact
    finally:
        await database.dispose()


async def test_only_a_signed_customers_newest_live_code_is_taken_by_number_and_only_when_turned_on(database_url: str) -> None:
    database, journeys, contacts, contact = await stores(database_url)
    try:
        now = datetime.now(UTC)
        unsigned = await contacts.create_contact("chat", now, "01055556666")
        await contacts.issue_code("111111", unsigned.id, "chat-unsigned", "billing", [], 5, now, now + timedelta(minutes=10))
        for leg, number in (("call-1", "01012345678"), ("call-2", "01055556666"), ("call-3", "")):
            await journeys.open_call(CallerInfo(leg, number, "", "1588"), now, {})
        assert await contacts.claim_code_for_number("01055556666", "call-2", now) is None, "not a signed number"
        assert await contacts.claim_code_for_number("", "call-3", now) is None
        assert await HandoffService(contacts, journeys, None, HandoffSettings(), lambda: {}).claim_by_number("01012345678", "call-1") is None, "off by default"
        assert await contacts.claim_code_for_number("01012345678", "call-1", now + timedelta(minutes=11)) is None, "expired"
        claimed = await contacts.claim_code_for_number("01012345678", "call-1", now)
        assert isinstance(claimed, ClaimedCode) and (claimed.from_leg, claimed.queue, claimed.priority) == (CHAT_LEG, "technical", 6)
        assert await contacts.claim_code_for_number("01012345678", "call-1", now) is None, "claimed once"
        assert await contacts.release_claim("call-1", now) and await contacts.code_is_live(CODE, now)
        assert not await contacts.release_claim("call-1", now), "nothing more to release"
        assert await contacts.claim_code(CODE, "call-1", now) == claimed
        assert not await contacts.release_claim("call-1", now + timedelta(minutes=11)), "an expired code is not given back"
    finally:
        await database.dispose()


async def test_code_guessing_is_bounded_per_number_and_across_the_engine(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    database, journeys, contacts, contact = await stores(database_url)
    try:
        now = datetime.now(UTC)
        clock = [now]
        settings = HandoffSettings(refused_per_number=2, refused_budget=4, refused_window_s=120)
        service = HandoffService(contacts, journeys, None, settings, lambda: {}, clock=lambda: clock[0])
        guesser = await journeys.open_call(CallerInfo("g-1", "01077778888", "", "1588"), now, {})
        kind, detail = to_stored(HandoffRefusedEvent(reason="unknown"))
        for _ in range(2):  # earlier calls of this number were refused twice (their journeys say so)
            await journeys.add_event(guesser.call_id, kind, now, detail)
        await journeys.open_call(CallerInfo("g-2", "01077778888", "", "1588"), now, {})
        assert await service.claim(CODE, "g-2", "code") == "limited", "this number is refused even the right code"
        limited = metrics.HANDOFF_CLAIMS_REFUSED.labels("budget")._value.get()
        for n in range(4):  # other numbers guess: the engine-wide budget runs out
            await journeys.open_call(CallerInfo(f"o-{n}", f"0103333000{n}", "", "1588"), now, {})
            assert await service.claim(f"00000{n}", f"o-{n}", "code") == "unknown"
        assert "claims refused within 120 s" in caplog.text
        await journeys.open_call(CallerInfo("ok-1", "01012345678", "", "1588"), now, {})
        assert await service.claim(CODE, "ok-1", "code") == "limited", "no code is taken while the budget is used up"
        assert metrics.HANDOFF_CLAIMS_REFUSED.labels("budget")._value.get() == limited + 1
        clock[0] = now + timedelta(seconds=121)
        assert isinstance(await service.claim(CODE, "ok-1", "code"), ClaimedCode), "taken again after the window"
    finally:
        await database.dispose()


class CountingContacts(ContactStore):
    asked = 0

    async def live_codes_until(self, now: datetime) -> datetime | None:
        self.asked += 1
        return await super().live_codes_until(now)


async def test_calls_ask_the_database_whether_a_code_waits_only_when_one_might(database_url: str) -> None:
    database, journeys, _, contact = await stores(database_url)
    try:
        now = datetime.now(UTC)
        clock = [now + timedelta(minutes=11)]  # the seeded code has expired
        contacts = CountingContacts(database, journeys, KEY)
        distributor = CallDistributor(MemoryBridges())
        distributor.configure(technical_queue())
        service = HandoffService(contacts, journeys, distributor, HandoffSettings(), lambda: {}, clock=lambda: clock[0])
        assert [await service.codes_waiting() for _ in range(20)] == [False] * 20 and contacts.asked == 1, "one read for a burst of calls"
        leg = ChatLeg(CHAT_LEG, contact.id, "ko", {}, [])
        assert isinstance(await service.i_will_call(leg, HandoffTarget("technical")), CodeIssued)
        assert [await service.codes_waiting() for _ in range(20)] == [True] * 20 and contacts.asked == 1, "issued here: known live"
        clock[0] += timedelta(minutes=11)
        assert not await service.codes_waiting() and contacts.asked == 2, "expired: read again"
        await distributor.aclose()
    finally:
        await database.dispose()


async def test_a_customers_earlier_legs_come_from_both_indexed_selects(database_url: str) -> None:
    database, journeys, contacts, contact = await stores(database_url)
    try:
        now = datetime.now(UTC)
        for n, (leg, number) in enumerate((("p-1", "01012345678"), ("x-1", "01099990000"), ("p-2", "01012345678"), ("now", "01012345678"))):
            await journeys.open_call(CallerInfo(leg, number, "", "1588"), now + timedelta(seconds=n), {})
        earlier = await journeys.previous_calls("01012345678", "now")
        assert [(call.channel_id, call.channel) for call in earlier] == [("p-2", "phone"), ("p-1", "phone"), (CHAT_LEG, "chat")]
        assert [call.channel_id for call in await journeys.previous_calls("01012345678", "now", limit=2)] == ["p-2", "p-1"]
        assert await journeys.previous_calls("01000000000", "now") == []
    finally:
        await database.dispose()
