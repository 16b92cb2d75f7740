"""The caller's session under races with the ACD: a goodbye is heard to its end even when it
replaced another announcement; the ACD is never kept waiting by a call that has ended; a survey
after an interrupted secure entry runs its flow; a failed overflow or survey flow is a flow failure.

Found by review of the one-caller-one-owner redesign; each failed before its fix."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import yaml

from test_call_session import (
    ANNOUNCEMENT_ID, CHANNEL, NOW, Call, MemoryJourneyStore, SilentVoice, flow_runtime, start_call,
)
from engine.acd import queued_call_facts as acd
from engine.asterisk.ari_events import ChannelHangupRequested, PlaybackFinished, StasisEnded
from engine.call.arrival_order import ArrivalOrder
from engine.call.call_session import CallSession
from engine.call.flow_driver import ForCaller
from engine.call.flow_services import FlowRuntime
from engine.config.config_bundle import ConfigBundle
from engine.config.flow_model import Flow, FlowSet
from engine.journey.journey_writer import JourneyWriter
from engine.settings import CallSettings
from engine.speech.prompt_audio import PromptCache
from memory_call_control import MemoryCallControl, channel_in_stasis


async def test_the_end_of_a_replaced_announcement_does_not_cut_the_goodbye(tmp_path: Path) -> None:
    """Callback question still playing when the caller keys 1: the confirmation replaces it."""
    call = await start_call(flow_runtime(tmp_path))
    call.put(ForCaller((acd.Say("Press 1 to be called back on this number."),)))
    await call.until(lambda: len([r for r in call.control.of("play") if r[3] == ANNOUNCEMENT_ID]) == 1)
    call.put(ForCaller((acd.Say("We will call you back.", hang_up_after="callback arranged"),)))
    await call.until(lambda: len([r for r in call.control.of("play") if r[3] == ANNOUNCEMENT_ID]) == 2)
    assert ("stop_playback", ANNOUNCEMENT_ID) in call.control.requests
    # Asterisk reports the end of the *stopped* question (same playback id for every announcement)
    question, confirmation = [r[2] for r in call.control.of("play") if r[3] == ANNOUNCEMENT_ID]
    call.put(PlaybackFinished(ANNOUNCEMENT_ID, CHANNEL, question, "done"))
    await asyncio.sleep(0.05)
    assert "hangup" not in call.control.operations, "hung up before the confirmation was heard"
    call.put(PlaybackFinished(ANNOUNCEMENT_ID, CHANNEL, confirmation, "done"))
    await call.until(lambda: "hangup" in call.control.operations)


QUEUE_FLOW = """
flow: line
language: en
start: q
nodes:
  q: {type: queue, queue: billing}
"""


class FakeAcd:
    """The ACD seen from the caller: caller_left first finishes a fact queued before CallerLeft
    (AgentAnswered), which posts [StopListening, Hush] with a done future and waits for it."""

    recorder = None

    def __init__(self, wait_s: float) -> None:
        self.caller: Any = None
        self.wait_s = wait_s
        self.confirmed_in: float | None = None

    def serves(self, queue: str) -> bool:
        return True

    def in_secure_entry(self, caller_id: str) -> bool:
        return False

    def call_phase(self, caller_id: str) -> str | None:
        return "waiting"

    def enqueue(self, caller_id: str, queue: str, skills: Any, priority: int, snapshot: Any, record: Any, caller: Any, waited_s: float = 0.0) -> None:
        self.caller = caller

    def caller_fact(self, caller_id: str, fact: Any) -> None:
        pass

    async def caller_left(self, caller_id: str) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.caller.for_caller([acd.StopListening(), acd.Hush()], done)
        t0 = time.monotonic()
        try:
            async with asyncio.timeout(self.wait_s):
                await done
            self.confirmed_in = time.monotonic() - t0
        except TimeoutError:
            self.confirmed_in = None


async def test_the_acd_is_not_kept_waiting_by_a_call_that_has_ended(tmp_path: Path) -> None:
    fake = FakeAcd(wait_s=0.3)
    flow = Flow.model_validate(yaml.safe_load(QUEUE_FLOW))
    runtime = FlowRuntime(ConfigBundle(FlowSet({"line": flow}, {}, {"line": "v1"}), "line"), PromptCache(tmp_path, SilentVoice()),
                          "p", {}, None, {}, distributor=fake)  # type: ignore[arg-type]
    control = MemoryCallControl(channel_in_stasis(CHANNEL))
    store = MemoryJourneyStore()
    journey = JourneyWriter(store, CHANNEL)  # type: ignore[arg-type]
    session = CallSession(control.channel, control, journey, CallSettings(), lambda: NOW, ArrivalOrder(), runtime)
    loop = asyncio.get_running_loop()
    call = Call(session, control, store, [loop.create_task(session.run(resumed=False)), loop.create_task(journey.run())])
    await call.until(lambda: fake.caller is not None)
    call.put(ChannelHangupRequested(CHANNEL, 16, False), StasisEnded(CHANNEL))
    await call.finished()
    assert fake.confirmed_in is not None, "the ACD waited its whole bound for a call that had ended"


async def test_a_refused_overflow_flow_fails_as_a_flow_step(tmp_path: Path) -> None:
    call = await start_call(flow_runtime(tmp_path))
    call.control.refuse("play", 500, "boom")
    call.put(ForCaller((acd.ContinueFlow("hello", "queue overflow"),)))
    await call.until(lambda: "hangup" in call.control.operations)
    call.end()
    await call.finished()
    assert call.store.closed == [("engine", 16, "flow failed: boom", "hung_up")]  # cb5ad56's reason


class SecureAcd(FakeAcd):
    def __init__(self) -> None:
        super().__init__(0.1)
        self.secure = False
        self.enqueued = 0

    def in_secure_entry(self, caller_id: str) -> bool:
        return self.secure

    def enqueue(self, *args: Any, **kw: Any) -> None:
        self.enqueued += 1
        self.caller = args[6] if len(args) > 6 else kw.get("caller")

    async def caller_left(self, caller_id: str) -> None:
        pass


FLOWS = {
    "line": "flow: line\nlanguage: en\nstart: q\nnodes:\n  q: {type: queue, queue: billing}\n",
    "secure": "flow: secure\nlanguage: en\nstart: s\nnodes:\n  s: {type: say, prompt: Key your card., next: back}\n  back: {type: queue, queue: billing}\n",
    "survey": "flow: survey\nlanguage: en\nstart: again\nnodes:\n  again: {type: queue, queue: billing}\n",
}


async def test_a_survey_after_an_interrupted_secure_entry_runs_its_queue_node(tmp_path: Path) -> None:
    fake = SecureAcd()
    flows = {name: Flow.model_validate(yaml.safe_load(text)) for name, text in FLOWS.items()}
    runtime = FlowRuntime(ConfigBundle(FlowSet(flows, {}, {n: "v1" for n in flows}), "line"), PromptCache(tmp_path, SilentVoice()),
                          "p", {}, None, {}, distributor=fake)  # type: ignore[arg-type]
    control = MemoryCallControl(channel_in_stasis(CHANNEL))
    store = MemoryJourneyStore()
    journey = JourneyWriter(store, CHANNEL)  # type: ignore[arg-type]
    session = CallSession(control.channel, control, journey, CallSettings(), lambda: NOW, ArrivalOrder(), runtime)
    loop = asyncio.get_running_loop()
    call = Call(session, control, store, [loop.create_task(session.run(resumed=False)), loop.create_task(journey.run())])
    await call.until(lambda: fake.enqueued == 1)
    fake.secure = True
    call.put(ForCaller((acd.ContinueFlow("secure", "secure entry"),)))
    await call.until(lambda: "play" in control.operations)
    fake.secure = False  # the agent hung up: the ACD ends secure entry and offers the survey
    call.put(ForCaller((acd.StartSurvey("survey", "billing", "a1"),)))
    await asyncio.sleep(0.1)
    print(control.operations, fake.enqueued)
    assert fake.enqueued == 2 or "hangup" in control.operations, "caller left in silence: survey's queue node swallowed"
