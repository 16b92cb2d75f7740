"""CallSession without Asterisk: events go into its inbox, ARI requests come out of an in-memory
CallControl, and the journey lands in an in-memory store through the real JourneyWriter."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.acd import queued_call as acd
from engine.acd.wait_announcements import announcement_playback_id
from engine.asterisk.ari_events import ChannelHangupRequested, DtmfReceived, PlaybackFinished, PlaybackStarted, StasisEnded
from engine.call import call_session
from engine.call.arrival_order import ArrivalOrder
from engine.call.call_control import CallControl
from engine.call.call_session import CallSession
from engine.call.flow_driver import ForCaller
from engine.call.flow_services import FlowRuntime
from engine.config.config_bundle import ConfigBundle
from engine.config.flow_model import Flow, FlowSet
from engine.journey.journey_writer import JourneyWriter
from engine.settings import CallSettings, LookupEndpoint
from engine.speech.prompt_audio import PromptCache
from engine.store.journey_store import OpenedCall
from memory_call_control import MemoryCallControl, SilentVoice, channel_in_stasis

CHANNEL = "7.1"
GREETING_ID = f"greeting-{CHANNEL}"
ANNOUNCEMENT_ID = announcement_playback_id(CHANNEL)
NOW = datetime(2026, 5, 14, 9, 0, tzinfo=UTC)
FLOW = """
flow: line
language: en
start: hello
nodes:
  hello: {type: say, prompt: Welcome to the line., next: bye}
  bye: {type: hangup}
"""


@dataclass
class MemoryJourneyStore:
    """The JourneyStore calls a JourneyWriter makes, kept in memory."""

    opened: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    closed: list[tuple[str, int | None, str | None, str]] = field(default_factory=list)

    async def open_call(self, caller: object, at: datetime, detail: dict[str, Any]) -> OpenedCall:
        self.opened.append(detail)
        return OpenedCall(call_id=1, created=True, last_seq=0, ended=False)

    async def add_event(self, call_id: int, kind: str, at: datetime, detail: dict[str, Any] | None = None, seq: int | None = None) -> int:
        self.events.append((kind, dict(detail or {})))
        return len(self.events)

    async def close_call(self, call_id: int, at: datetime, hung_up_by: str, cause: int | None, cause_txt: str | None, kind: str = "hung_up") -> bool:
        self.closed.append((hung_up_by, cause, cause_txt, kind))
        return True

    async def get_call(self, channel_id: str) -> None:
        return None

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


@dataclass
class Call:
    session: CallSession
    control: MemoryCallControl
    store: MemoryJourneyStore
    tasks: list[asyncio.Task[None]]

    def put(self, *items: Any) -> None:
        for item in items:
            self.session.inbox.put_nowait(item)

    def end(self, soft: bool = True) -> None:
        """Asterisk reports the hang-up: soft when the engine asked for it, hard for the caller's BYE."""
        self.put(ChannelHangupRequested(CHANNEL, 16, soft), StasisEnded(CHANNEL))

    async def until(self, done: Callable[[], bool], timeout_s: float = 2.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not done():
                await asyncio.sleep(0.001)

    async def finished(self) -> None:
        """The session ended and its journey reached the store."""
        async with asyncio.timeout(2.0):
            await asyncio.gather(*self.tasks)


LOOKUP_FLOW = """
flow: line
language: en
start: find
nodes:
  find: {type: lookup, endpoint: crm, into: customer, timeout_s: 15, next: bye, on_failure: bye}
  bye: {type: hangup}
"""


class EndlessCrm:
    """A lookup client whose requests never answer; counts those cancelled."""

    def __init__(self) -> None:
        self.waiting = 0
        self.cancelled = 0

    def get(self, url: str, *, params: Any, headers: Any) -> EndlessCrm:
        return self

    async def __aenter__(self) -> None:
        self.waiting += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    async def __aexit__(self, *exc: object) -> None:
        return None


def flow_runtime(folder: Path, text: str = FLOW, http: Any = None) -> FlowRuntime:
    flow = Flow.model_validate(yaml.safe_load(text))
    bundle = ConfigBundle(FlowSet({flow.flow: flow}, {}, {flow.flow: "v1"}), flow.flow)
    lookups = {"crm": LookupEndpoint(url="http://crm.invalid/customers", timeout_s=15)}
    return FlowRuntime(bundle, PromptCache(folder, SilentVoice()), "threadline-prompts", lookups, http, {})


async def start_call(flows: FlowRuntime | None = None, state: str = "Ring") -> Call:
    control = MemoryCallControl(channel_in_stasis(CHANNEL, state))
    _: CallControl = control
    store = MemoryJourneyStore()
    journey = JourneyWriter(store, CHANNEL)  # type: ignore[arg-type]
    session = CallSession(control.channel, control, journey, CallSettings(), lambda: NOW, ArrivalOrder(), flows)
    loop = asyncio.get_running_loop()
    call = Call(session, control, store, [loop.create_task(session.run(resumed=False)), loop.create_task(journey.run())])
    await call.until(lambda: "play" in control.operations or "hangup" in control.operations)
    return call


@pytest.fixture
def quick_timers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(call_session, "GOODBYE_WAIT_S", 0.05)
    monkeypatch.setattr(call_session, "CHECK_AFTER_S", 0.05)
    yield


async def test_a_call_is_taken_greeted_and_hung_up_when_the_greeting_ends() -> None:
    call = await start_call()
    control = call.control
    assert control.requests == [
        ("set_variable", CHANNEL, "TIMEOUT(absolute)", "0"),
        ("answer", CHANNEL),
        ("play", CHANNEL, "sound:hello-world", GREETING_ID),
    ]

    call.put(PlaybackStarted(GREETING_ID, CHANNEL, "sound:hello-world"), PlaybackFinished(GREETING_ID, CHANNEL, "sound:hello-world", "done"))
    await call.until(lambda: "hangup" in control.operations)
    call.end()
    await call.finished()

    assert control.of("hangup") == [("hangup", CHANNEL, "normal")]
    assert call.store.opened == [{"channel": f"PJSIP/trunk-{CHANNEL}", "caller_number": "01012345678", "dialed": "1000"}]
    assert call.store.events == [
        ("answered", {}),
        ("prompt_started", {"media": "sound:hello-world", "playback_id": GREETING_ID}),
        ("prompt_finished", {"media": "sound:hello-world", "state": "done"}),
    ]
    assert call.store.closed == [("engine", 16, "greeting finished", "hung_up")]


async def test_a_call_already_up_is_not_answered_again() -> None:
    call = await start_call(state="Up")

    assert call.control.operations == ["set_variable", "play"]
    call.end(soft=False)
    await call.finished()
    assert call.store.closed == [("caller", 16, None, "hung_up")]


async def test_a_refused_command_hangs_the_caller_up_naming_it() -> None:
    """The one failure policy: a refused request never leaves the caller in silence."""
    control = MemoryCallControl(channel_in_stasis(CHANNEL))
    control.refuse("play", 500, "Internal Server Error")
    control.refuse("hangup", 500, "Internal Server Error")
    store = MemoryJourneyStore()
    journey = JourneyWriter(store, CHANNEL)  # type: ignore[arg-type]
    session = CallSession(control.channel, control, journey, CallSettings(), lambda: NOW, ArrivalOrder())
    loop = asyncio.get_running_loop()
    call = Call(session, control, store, [loop.create_task(session.run(resumed=False)), loop.create_task(journey.run())])

    await call.until(lambda: "hangup" in control.operations)
    await asyncio.sleep(0.01)
    assert control.operations == ["set_variable", "answer", "play", "hangup"], "a refused hang-up is not answered by another"

    call.end()
    await call.finished()
    assert call.store.closed == [("system", 16, None, "hung_up")], "Asterisk hung up: the engine's request never went through"


async def test_a_refused_command_closes_the_call_with_its_reason() -> None:
    control = MemoryCallControl(channel_in_stasis(CHANNEL))
    control.refuse("answer", 409, "Channel not in Stasis application")
    store = MemoryJourneyStore()
    journey = JourneyWriter(store, CHANNEL)  # type: ignore[arg-type]
    session = CallSession(control.channel, control, journey, CallSettings(), lambda: NOW, ArrivalOrder())
    loop = asyncio.get_running_loop()
    call = Call(session, control, store, [loop.create_task(session.run(resumed=False)), loop.create_task(journey.run())])

    await call.until(lambda: "hangup" in control.operations)
    call.end()
    await call.finished()

    assert control.operations == ["set_variable", "answer", "hangup"], "nothing more is sent after the refusal"
    assert call.store.closed == [("engine", 16, "Answer failed: Channel not in Stasis application", "hung_up")]


async def test_a_gone_channel_is_checked_on_later_and_hung_up_once(quick_timers: None) -> None:
    control = MemoryCallControl(channel_in_stasis(CHANNEL))
    control.gone("play")
    control.gone("get_channel")
    store = MemoryJourneyStore()
    journey = JourneyWriter(store, CHANNEL)  # type: ignore[arg-type]
    session = CallSession(control.channel, control, journey, CallSettings(), lambda: NOW, ArrivalOrder())
    loop = asyncio.get_running_loop()
    call = Call(session, control, store, [loop.create_task(session.run(resumed=False)), loop.create_task(journey.run())])

    await call.finished()

    assert control.operations == ["set_variable", "answer", "play", "get_channel", "hangup"]
    assert call.store.closed == [("lost", None, "channel gone but Asterisk sent no StasisEnd", "lost")]


async def test_a_gone_channel_whose_end_arrives_is_never_hung_up(quick_timers: None) -> None:
    control = MemoryCallControl(channel_in_stasis(CHANNEL))
    control.gone("play")
    store = MemoryJourneyStore()
    journey = JourneyWriter(store, CHANNEL)  # type: ignore[arg-type]
    session = CallSession(control.channel, control, journey, CallSettings(), lambda: NOW, ArrivalOrder())
    loop = asyncio.get_running_loop()
    call = Call(session, control, store, [loop.create_task(session.run(resumed=False)), loop.create_task(journey.run())])
    await call.until(lambda: "play" in control.operations)

    call.end(soft=False)
    await call.finished()

    assert "hangup" not in control.operations and "get_channel" not in control.operations
    assert call.store.closed == [("caller", 16, None, "hung_up")]


async def test_an_unconfirmed_hang_up_is_sent_again_once_the_channel_is_seen_still_there(quick_timers: None) -> None:
    call = await start_call()
    call.control.silent("hangup")

    call.put(PlaybackFinished(GREETING_ID, CHANNEL, "sound:hello-world", "done"))
    await call.until(lambda: len(call.control.of("hangup")) == 2)
    call.end()
    await call.finished()

    assert call.control.operations[-3:] == ["hangup", "get_channel", "hangup"]
    assert call.store.closed == [("engine", 16, "hanging up again: the first hangup was not confirmed", "hung_up")]


async def test_the_acd_hangs_the_caller_up_with_its_reason() -> None:
    call = await start_call()

    call.put(ForCaller((acd.HangUpCaller("the queue closed"),)))
    await call.until(lambda: "hangup" in call.control.operations)
    call.end()
    await call.finished()

    assert call.store.closed == [("engine", 16, "the queue closed", "hung_up")]


async def test_a_flow_call_is_answered_then_runs_its_flow(tmp_path: Path) -> None:
    call = await start_call(flow_runtime(tmp_path))

    operations = call.control.operations
    assert operations == ["set_variable", "answer", "play"]
    flow_prompt = call.control.of("play")[0][3]
    assert flow_prompt.startswith(f"flow-{CHANNEL}-"), "the flow's own playback, not the greeting"

    call.put(DtmfReceived(CHANNEL, "5", 120))
    call.put(PlaybackFinished(flow_prompt, CHANNEL, "sound:x", "done"))
    await call.until(lambda: "hangup" in call.control.operations)
    call.end()
    await call.finished()

    assert ("dtmf", {"digit": "5", "duration_ms": 120}) in call.store.events
    assert "flow_started" in call.store.kinds()
    assert call.store.closed[0][0] == "engine"


async def test_a_last_sentence_is_heard_to_its_end_before_the_hang_up(tmp_path: Path) -> None:
    call = await start_call(flow_runtime(tmp_path))

    call.put(ForCaller((acd.Say("We will call you back.", hang_up_after="callback arranged"),)))
    await call.until(lambda: any(request[3] == ANNOUNCEMENT_ID for request in call.control.of("play")))
    await asyncio.sleep(0.02)
    assert "hangup" not in call.control.operations, "not while the sentence plays"

    played = next(request[2] for request in call.control.of("play") if request[3] == ANNOUNCEMENT_ID)
    call.put(PlaybackFinished(ANNOUNCEMENT_ID, CHANNEL, played, "done"))
    await call.until(lambda: "hangup" in call.control.operations)
    call.end()
    await call.finished()

    assert call.store.closed == [("engine", 16, "callback arranged", "hung_up")]


async def test_a_last_sentence_that_never_ends_is_cut_after_the_goodbye_wait(tmp_path: Path, quick_timers: None) -> None:
    call = await start_call(flow_runtime(tmp_path))

    call.put(ForCaller((acd.Say("The queue is closed.", hang_up_after="max wait reached"),)))
    await call.until(lambda: "hangup" in call.control.operations)
    call.end()
    await call.finished()

    assert call.control.of("hangup") == [("hangup", CHANNEL, "normal")]
    assert call.store.closed == [("engine", 16, "max wait reached", "hung_up")]


async def test_a_last_sentence_that_cannot_play_hangs_up_at_once(tmp_path: Path) -> None:
    call = await start_call(flow_runtime(tmp_path))
    call.control.refuse("play", 500)

    call.put(ForCaller((acd.Say("Goodbye.", hang_up_after="callback arranged"),)))
    await call.until(lambda: "hangup" in call.control.operations)
    call.end()
    await call.finished()

    assert call.store.closed == [("engine", 16, "callback arranged", "hung_up")]


async def test_a_stopping_engine_leaves_the_caller_on_hold_for_the_next_one() -> None:
    call = await start_call()

    await call.session.hand_over()
    for task in call.tasks[:1]:
        task.cancel()
    call.session.journey.finish()
    await asyncio.gather(*call.tasks, return_exceptions=True)

    assert call.control.requests[-3:] == [
        ("stop_playback", GREETING_ID),
        ("set_variable", CHANNEL, "TIMEOUT(absolute)", "30"),
        ("start_hold_music", CHANNEL, "default"),
    ]
    assert call.store.events[-1] == ("handed_over", {"wait_s": 30, "reason": "engine stopping"})
    assert call.store.closed == [], "the call stays open for the next engine"


async def test_a_lookup_still_running_when_the_call_ends_is_cancelled_and_awaited(tmp_path: Path) -> None:
    crm = EndlessCrm()
    control = MemoryCallControl(channel_in_stasis(CHANNEL))
    store = MemoryJourneyStore()
    journey = JourneyWriter(store, CHANNEL)  # type: ignore[arg-type]
    session = CallSession(control.channel, control, journey, CallSettings(), lambda: NOW, ArrivalOrder(), flow_runtime(tmp_path, LOOKUP_FLOW, crm))
    loop = asyncio.get_running_loop()
    call = Call(session, control, store, [loop.create_task(session.run(resumed=False)), loop.create_task(journey.run())])
    await call.until(lambda: crm.waiting == 1)

    call.end(soft=False)
    await call.finished()

    assert crm.cancelled == 1, "the call's end cancelled the lookup and waited for it"
    assert call.store.closed == [("caller", 16, None, "hung_up")]
