"""Hand-off codes on a call, through the real CallSession, FlowDriver and CodeTaking, the real
HandoffService and a real SQLite database (the call's journey is written by its real JourneyWriter);
only the channel is in memory (tests/unit/call/memory_call_control.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.asterisk.ari_events import ChannelHangupRequested, DtmfReceived, PlaybackFinished, StasisEnded
from engine.call import code_taking
from engine.call.arrival_order import ArrivalOrder
from engine.call.call_session import CallSession
from engine.acd.call_distributor import CallDistributor
from engine.call.flow_services import FlowRuntime
from engine.config.acd_config import AcdConfig, AgentSettings, QueueSettings
from engine.config.config_bundle import ConfigBundle
from engine.config.flow_model import Flow, FlowSet
from engine.handoff.handoff_service import HandoffService
from engine.journey.events import CheckpointSaved, FlowStarted, to_stored
from engine.journey.journey_writer import JourneyWriter
from engine.settings import CallSettings, HandoffSettings
from engine.speech.prompt_audio import PromptCache
from engine.store.contact_store import ClaimedCode, ContactStore
from engine.store.database import create_engine, upgrade_database
from engine.store.journey_store import CallerInfo, CallRecord, JourneyStore
from tests.unit.acd.test_call_distributor import MemoryBridges
from tests.unit.call.memory_call_control import MemoryCallControl, SilentVoice, channel_in_stasis

CHANNEL, NUMBER, CHAT_LEG, CODE = "7.1", "01012345678", "chat-1", "482913"
KEY = b"t" * 32
FLOW = """
flow: line
language: en
start: hello
nodes:
  hello: {type: say, prompt: Welcome to the line., next: bye}
  bye: {type: hangup}
"""
FLOW_KO = """
flow: line_ko
language: ko
start: hello
nodes:
  hello: {type: say, prompt: 안녕하세요., next: bye}
  bye: {type: hangup}
"""


class Slowed(HandoffService):
    """The real service, with a gate before a claim or the start check (a slow database)."""

    gate: asyncio.Event | None = None
    asking = False
    """A codes_waiting is in progress (not answered, not given up)."""
    slow_claims = 0

    async def codes_waiting(self) -> bool:
        self.asking = True
        try:
            if self.gate is not None:
                await self.gate.wait()
            return await super().codes_waiting()
        finally:
            self.asking = False

    async def claim(self, code: str, call_id: str, how: str) -> ClaimedCode | str:
        if self.slow_claims:
            self.slow_claims -= 1
            await asyncio.sleep(3600)
        return await super().claim(code, call_id, how)


@dataclass
class Desk:
    service: Slowed
    contacts: ContactStore
    journeys: JourneyStore
    folder: Path

    async def call(self, settings: HandoffSettings | None = None, channel: str = CHANNEL, distributor: CallDistributor | None = None,
                   resumed: bool = False) -> Call:
        if settings is not None:
            self.service._settings = settings
        flow, korean = (Flow.model_validate(yaml.safe_load(text)) for text in (FLOW, FLOW_KO))
        bundle = ConfigBundle(FlowSet({flow.flow: flow, korean.flow: korean}, {}, {flow.flow: "v1", korean.flow: "v1"}), flow.flow)
        runtime = FlowRuntime(bundle, PromptCache(self.folder, SilentVoice()), "threadline-prompts", {}, None, {}, distributor=distributor,  # type: ignore[arg-type]
                              handoff=self.service)
        control = MemoryCallControl(channel_in_stasis(channel, "Up" if resumed else "Ring"))
        journey = JourneyWriter(self.journeys, channel)
        session = CallSession(control.channel, control, journey, CallSettings(), lambda: datetime.now(UTC), ArrivalOrder(), runtime)
        loop = asyncio.get_running_loop()
        call = Call(channel, session, control, self.journeys, [loop.create_task(session.run(resumed=resumed)), loop.create_task(journey.run())])
        if not resumed:
            await call.until(lambda: "play" in control.operations)
        return call


@dataclass
class Call:
    channel: str
    session: CallSession
    control: MemoryCallControl
    journeys: JourneyStore
    tasks: list[asyncio.Task[None]]

    def put(self, *items: Any) -> None:
        for item in items:
            self.session.inbox.put_nowait(item)

    def keys(self, digits: str) -> None:
        self.put(*(DtmfReceived(self.channel, digit, 100) for digit in digits))

    @property
    def greeting(self) -> str:
        return self.control.of("play")[0][3]

    async def until(self, done: Callable[[], bool], timeout_s: float = 5.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not done():
                await asyncio.sleep(0.005)

    async def hang_up(self) -> CallRecord:
        self.put(ChannelHangupRequested(self.channel, 16, False), StasisEnded(self.channel))
        async with asyncio.timeout(5):
            await asyncio.gather(*self.tasks)
        record = await self.journeys.get_call(self.channel)
        assert record is not None
        return record


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    """A chat of a signed customer (NUMBER) with a live code for the technical queue and a checkpoint."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'codes.sqlite3'}"
    await upgrade_database(url)
    database = create_engine(url)
    journeys = JourneyStore(database)
    contacts = ContactStore(database, journeys, KEY)
    now = datetime.now(UTC)
    contact = await contacts.create_contact("chat", now, NUMBER, verified=True)
    opened = await contacts.open_leg(contact, "chat", CallerInfo(CHAT_LEG, NUMBER, "", "chat"), now,
                                     to_stored(CheckpointSaved(flow="line", node="steps", variables={"intent": "technical", "account": "123456"})))
    assert opened.created
    await contacts.issue_code(CODE, contact.id, CHAT_LEG, "technical", ["internet"], 6, now, now + timedelta(minutes=10))
    service = Slowed(contacts, journeys, None, HandoffSettings(), lambda: {})
    try:
        yield Desk(service, contacts, journeys, tmp_path)
    finally:
        await database.dispose()


def kinds(record: CallRecord) -> list[str]:
    return [event.kind for event in record.events]


async def test_the_greeting_starts_at_once_while_the_database_is_still_asked_about_codes(desk: Desk) -> None:
    desk.service.gate = asyncio.Event()
    call = await desk.call()  # returns once the greeting's play was asked for
    assert call.control.operations == ["set_variable", "answer", "play"]
    assert desk.service.asking, "the greeting plays while the database is still being asked (nobody waited for it)"
    desk.service.gate.set()
    call.put(PlaybackFinished(call.greeting, call.channel, "sound:x", "done"))
    await call.until(lambda: "hangup" in call.control.operations)
    record = await call.hang_up()
    assert "continued_from" not in kinds(record)


async def test_a_keyed_code_holds_the_flow_is_never_journaled_and_takes_the_chat_over_with_a_checkpoint(desk: Desk) -> None:
    call = await desk.call()
    call.keys(CODE[:3])
    call.put(PlaybackFinished(call.greeting, call.channel, "sound:x", "done"))  # the greeting ends while the code is keyed: held
    await asyncio.sleep(0.1)
    assert "hangup" not in call.control.operations, "the flow waits while a code is keyed"
    call.keys(CODE[3:])
    await call.until(lambda: len(call.control.of("play")) == 2)  # the chat's queue: not served here, so its apology
    record = await call.hang_up()

    dtmf = [event.detail["digit"] for event in record.events if event.kind == "dtmf"]
    assert dtmf == ["masked"] * 6 and CODE not in str([event.detail for event in record.events])
    continued = next(event.detail for event in record.events if event.kind == "continued_from")
    assert continued == {"leg": CHAT_LEG, "channel": "chat", "how": "code"}
    checkpoint = [event.detail for event in record.events if event.kind == "checkpoint"][-1]
    assert checkpoint["variables"]["account"] == "123456" and checkpoint["variables"]["caller_number"] == NUMBER, "a restart requeues with the chat's values"
    asked = next(event.detail for event in record.events if event.kind == "transfer")
    assert asked["queue"] == "technical" and asked["priority"] == 6
    contact = await desk.contacts.contact_of_leg(CHANNEL)
    assert contact is not None and contact == await desk.contacts.contact_of_leg(CHAT_LEG), "one contact"


async def test_a_claim_that_times_out_uses_nothing_up_and_the_caller_keys_it_again(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(code_taking, "CLAIM_TIMEOUT_S", 0.1)
    desk.service.slow_claims = 1
    call = await desk.call()
    call.keys(CODE)
    await call.until(lambda: len(call.control.of("play")) == 2)  # "that code is not valid": said
    assert await desk.contacts.code_is_live(CODE, datetime.now(UTC)), "a claim that timed out used nothing up"
    call.keys(CODE)
    await call.until(lambda: len(call.control.of("play")) == 3)
    record = await call.hang_up()
    assert [event.detail for event in record.events if event.kind == "handoff_refused"] == [{"reason": "unavailable"}]
    assert "continued_from" in kinds(record)


async def test_a_few_keys_in_the_greeting_are_dropped_and_the_held_flow_goes_on(desk: Desk) -> None:
    call = await desk.call(HandoffSettings(key_timeout_s=1.0))
    call.keys("12")
    call.put(PlaybackFinished(call.greeting, call.channel, "sound:x", "done"))
    await asyncio.sleep(0.2)
    assert "hangup" not in call.control.operations, "held while the keys might be a code"
    await call.until(lambda: "hangup" in call.control.operations)  # the key timeout: released, in order
    record = await call.hang_up()
    assert "handoff_refused" not in kinds(record) and "continued_from" not in kinds(record)
    assert await desk.contacts.code_is_live(CODE, datetime.now(UTC))


async def test_a_call_that_took_a_chat_but_never_reached_its_queue_gives_the_code_back(desk: Desk) -> None:
    call = await desk.call()  # no ACD here: the chat's queue is not served, the caller hears an apology
    call.keys(CODE)
    await call.until(lambda: len(call.control.of("play")) == 2)
    assert not await desk.contacts.code_is_live(CODE, datetime.now(UTC))
    await call.hang_up()
    assert await desk.contacts.code_is_live(CODE, datetime.now(UTC)), "the customer may call again with the same code"

    distributor = technical()
    call = await desk.call(distributor=distributor, channel="7.2")
    call.keys(CODE)
    await call.until(lambda: bool(distributor.calls()))
    await call.hang_up()  # gave up waiting: the hand-off happened, the chat gives a new code
    assert not await desk.contacts.code_is_live(CODE, datetime.now(UTC))
    await distributor.aclose()


async def test_a_call_from_the_chats_number_takes_it_over_only_when_the_operator_turned_that_on(desk: Desk) -> None:
    assert HandoffSettings().continue_by_number is False
    call = await desk.call()
    await asyncio.sleep(0.2)
    call.put(PlaybackFinished(call.greeting, call.channel, "sound:x", "done"))
    await call.until(lambda: "hangup" in call.control.operations)
    record = await call.hang_up()
    assert "continued_from" not in kinds(record), "caller ID proves nothing: off by default"

    call = await desk.call(HandoffSettings(continue_by_number=True), channel="7.2")
    await call.until(lambda: len(call.control.of("play")) == 2)
    record = await call.hang_up()
    continued = [event.detail for event in record.events if event.kind == "continued_from"]
    assert continued == [{"leg": CHAT_LEG, "channel": "chat", "how": "number"}]


def technical() -> CallDistributor:
    distributor = CallDistributor(MemoryBridges())
    distributor.configure(AcdConfig({"technical": QueueSettings(skills={"internet": 2})}, {"jiyeon": AgentSettings(name="Jiyeon", extension="2002", skills={"internet": 5})}, {}))
    return distributor


async def test_a_caller_waiting_in_the_queue_after_a_restart_still_has_the_chat_on_the_pop(desk: Desk) -> None:
    before = technical()
    call = await desk.call(distributor=before)
    call.keys(CODE)
    await call.until(lambda: bool(before.calls()))
    ((_, snapshot),) = before.calls()
    assert snapshot.journal[0][0] == "checkpoint", "the chat's journal first"
    await asyncio.sleep(0.1)
    call.tasks[0].cancel()  # the engine stops: the caller stays, the next engine adopts the call
    await asyncio.gather(call.tasks[0], return_exceptions=True)
    call.session.journey.finish()
    await asyncio.gather(*call.tasks[1:])
    await before.aclose()

    after = technical()
    adopted = await desk.call(distributor=after, resumed=True)
    await adopted.until(lambda: bool(after.calls()))
    ((queued, snapshot),) = after.calls()
    assert queued.queue == "technical"
    assert [kind for kind, _ in snapshot.journal][:3] == ["checkpoint", "handoff_claimed", "arrived"], "the chat leg's journal, then the call's"
    assert snapshot.variables["account"] == "123456", "the chat's values, from the call's checkpoint"
    await adopted.hang_up()
    await after.aclose()


async def test_the_queue_speaks_the_chats_language_to_a_caller_who_went_on_from_it(desk: Desk) -> None:
    now = datetime.now(UTC)
    contact = await desk.contacts.create_contact("chat", now)
    await desk.contacts.open_leg(contact, "chat", CallerInfo("chat-ko", "", "", "chat"), now, to_stored(FlowStarted(flow="line_ko", version="chat")))
    await desk.contacts.issue_code("135790", contact.id, "chat-ko", "technical", [], 5, now, now + timedelta(minutes=10))
    distributor = technical()
    call = await desk.call(distributor=distributor)  # the phone's flow speaks English
    call.keys("135790")
    await call.until(lambda: bool(distributor.calls()))
    ((_, snapshot),) = distributor.calls()
    assert snapshot.language == "ko", "the chat was in Korean: its announcements and its agent's pop are too"
    await call.hang_up()
    await distributor.aclose()


async def test_with_no_code_live_anywhere_a_caller_keying_early_is_never_held_and_the_key_is_journaled(desk: Desk) -> None:
    """The regression test_agent_desktop found: a caller who keys a menu choice during the greeting
    (no chat has a code waiting) must go on at once, as before hand-offs existed."""
    desk.service._clock = lambda: datetime.now(UTC) + timedelta(hours=2)  # the only code has expired by then
    call = await desk.call(HandoffSettings(key_timeout_s=10.0))
    await asyncio.sleep(0.2)  # the start check has answered: nothing waits
    call.keys("2")
    call.put(PlaybackFinished(call.greeting, call.channel, "sound:x", "done"))
    await call.until(lambda: "hangup" in call.control.operations, timeout_s=3.0)  # not held for the 10 s key timeout
    record = await call.hang_up()
    assert [event.detail["digit"] for event in record.events if event.kind == "dtmf"] == ["2"]  # a menu key, not a code's: not masked
