"""A callback that keeps the caller's place, end to end on the real Asterisk.

Nobody can take billing, so the waiting caller hears the callback offer, presses 1, confirms its
calling number with 1 and is let go. When minsu's phone registers, minsu is reserved and answers
first; then the engine dials the caller back (a baresip peer that answers by itself), and the two
hear each other. The engine restarts while the callback is owed: the next engine puts it back in
line from the journey. The journey is one call from the first ring to the end of the callback, the
pop says it is a callback, and it is not counted as an abandon.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from engine.store.journey_store import CallRecord
from tests.integration.conftest import PBX_ENV, RunningEngine, free_port, require_tool
from tests.integration.sip_peers import Baresip, dominant_hz, measure_wav, write_speech, write_speech_then_tone, write_tone
from tests.integration.test_acd_call import CALLER_HZ, MINSU_HZ, acd_setup, agent_phone, wait_agents

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
SAMPLE_OFFER = 'callback: {offer_after_s: 60, key: "1",'


async def latest_call(engine: RunningEngine) -> CallRecord:
    async with engine.store() as store:
        (call,) = await store.recent_calls(1)
    return call


async def wait_for_event(engine: RunningEngine, kind: str, timeout_s: float = 40.0) -> CallRecord:
    for _ in range(int(timeout_s * 4)):
        async with engine.store() as store:
            calls = await store.recent_calls(1)
        if calls and any(event.kind == kind for event in calls[0].events):
            return calls[0]
        await asyncio.sleep(0.25)
    raise AssertionError(f"no `{kind}` in the journey: {[e.kind for e in (await latest_call(engine)).events]}\n{engine.log_tail()}")


def write_caller_asking_for_callback(path: Path) -> Path:
    """요금 문의요 at 6 s (the menu), then 전화 주세요 twice while waiting, then the caller's tone."""
    parts = [write_speech(path.with_suffix(".menu.wav"), "요금 문의요", 6.0, 0.5), write_speech(path.with_suffix(".ask1.wav"), "전화 주세요", 10.0, 0.5),
             write_speech(path.with_suffix(".ask2.wav"), "전화 주세요", 6.0, 0.5), write_tone(path.with_suffix(".tone.wav"), 120.0, CALLER_HZ)]
    subprocess.run(["sox", "-q", *map(str, parts), str(path)], capture_output=True, check=True, timeout=30)
    return path


@pytest.mark.parametrize("ask", ["key", "voice"])
async def test_a_caller_asks_for_a_callback_keeps_its_place_and_is_called_back_by_the_agent(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path, ask: str
) -> None:
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    crm_url, _ = mock_crm
    env, secrets = await acd_setup(tmp_path, crm_url)
    caller_port = free_port()
    queues = Path(env["THREADLINE_FLOWS__FOLDER"]) / "queues" / "support.yaml"
    text = await asyncio.to_thread(queues.read_text)
    assert SAMPLE_OFFER in text
    offer = f'callback: {{offer_after_s: 0, key: "1", dial: "PJSIP/loopback-callers/sip:{{number}}@127.0.0.1:{caller_port}", ring_s: 15,'
    await asyncio.to_thread(queues.write_text, text.replace(SAMPLE_OFFER, offer, 1))
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'callback.sqlite3'}"
    engine: RunningEngine = await start_engine(database_url, **env)
    caller = Baresip(tmp_path / "caller", caller_port, free_port(), (47000, 47999), account="<sip:0212345678@127.0.0.1>;regint=0;answermode=auto")  # callbacks go only to numbers
    minsu: Baresip | None = None
    try:
        if ask == "key":
            microphone = await asyncio.to_thread(write_speech_then_tone, tmp_path / "caller.wav", "요금 문의요", 6.0, 2.0, CALLER_HZ, 120.0)
        else:
            microphone = await asyncio.to_thread(write_caller_asking_for_callback, tmp_path / "caller.wav")
        await caller.start(microphone)
        await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
        await caller.wait_event("CALL_ESTABLISHED")
        offered = await wait_for_event(engine, "wait_announced")
        said = next(e.detail["said"] for e in offered.events if e.kind == "wait_announced")
        assert "1번을 눌러" in said, said
        if ask == "key":
            await caller.command("sndcode", "1")  # the callback offer's key
        taken = await wait_for_event(engine, "callback_offer_taken", timeout_s=40)
        assert next(e.detail for e in taken.events if e.kind == "callback_offer_taken") == {"by": "key" if ask == "key" else "speech"}
        await asyncio.sleep(1.5)
        await caller.command("sndcode", "1")  # yes, call me back at my calling number
        await caller.wait_event("CALL_CLOSED", timeout_s=30)  # told when it will be called, then let go
        await wait_for_event(engine, "callback_requested")
        await wait_for_event(engine, "hung_up")  # the caller's own call is over; the callback is still owed
        assert await engine.stop() == 0, engine.log_tail()  # the engine restarts while the callback is owed
        engine = await start_engine(database_url, **env)
        await wait_for_event(engine, "callback_restored", timeout_s=20)

        caller.events.clear()
        minsu = await agent_phone(tmp_path, "minsu", "2001", secrets["minsu"], MINSU_HZ)
        await wait_agents(engine, {"minsu": "on_call"}, timeout_s=30)
        await caller.wait_event("CALL_ESTABLISHED", timeout_s=30)  # the engine dialled the caller back
        await asyncio.sleep(12.0)  # the caller's microphone file starts again: its tone comes after ~10 s
        await caller.command("hangup")
        await caller.wait_event("CALL_CLOSED")
        await wait_agents(engine, {"minsu": "wrap_up"}, timeout_s=10)
    finally:
        await caller.stop()
        if minsu is not None:
            await minsu.stop()

    call = await wait_for_event(engine, "call_ended", timeout_s=10)
    kinds = [event.kind for event in call.events]
    order = ["queued", "wait_announced", "callback_requested", "agent_ringing", "callback_dialing", "callback_answered", "call_ended"]
    assert set(order) <= set(kinds) and [kinds.index(k) for k in order] == sorted(kinds.index(k) for k in order), kinds
    assert "abandoned" not in kinds, "a callback is not an abandon"
    ringing = next(e.detail for e in call.events if e.kind == "agent_ringing")
    assert ringing["agent"] == "minsu" and ringing["callback"] is True
    number = next(e.detail for e in call.events if e.kind == "callback_requested")["number"]
    assert number == "0212345678", "the calling number, confirmed with 1"
    heard_hz, heard_rms = await asyncio.to_thread(lambda: dominant_hz(caller.recording("dec"), -3.0, 0))
    assert heard_rms > 0.01 and abs(heard_hz - MINSU_HZ) < 30, (heard_hz, heard_rms)
    if ask == "key":
        agent_hz, agent_rms = await asyncio.to_thread(lambda: dominant_hz(minsu.recording("dec"), -3.0, 0))
        assert agent_rms > 0.01 and abs(agent_hz - CALLER_HZ) < 30, (agent_hz, agent_rms)
    else:  # this caller's microphone file starts with silence and speech: minsu hears "요금 문의요" again
        agent_rms = (await asyncio.to_thread(lambda: measure_wav(minsu.recording("dec")))).rms
        assert agent_rms > 0.002, agent_rms


async def test_a_caller_who_waits_the_queues_maximum_overflows_to_the_next_queue_and_is_answered_there(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    """Nobody with billing is logged in; after billing's max_wait (8 s here) the caller moves to
    general, where sora (general only) answers."""
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    crm_url, _ = mock_crm
    env, secrets = await acd_setup(tmp_path, crm_url)
    queues = Path(env["THREADLINE_FLOWS__FOLDER"]) / "queues" / "support.yaml"
    text = await asyncio.to_thread(queues.read_text)
    billing_max = "    max_wait:\n      seconds: 600\n      overflow: {callback: true}\n"
    assert billing_max in text
    await asyncio.to_thread(queues.write_text, text.replace(billing_max, "    max_wait:\n      seconds: 8\n      overflow: {queue: general}\n", 1))
    engine: RunningEngine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'overflow.sqlite3'}", **env)
    sora = await agent_phone(tmp_path, "sora", "2009", secrets["sora"], MINSU_HZ)
    caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999))
    try:
        await wait_agents(engine, {"sora": "available"})
        await caller.start(await asyncio.to_thread(write_speech_then_tone, tmp_path / "caller.wav", "요금 문의요", 6.0, 2.0, CALLER_HZ, 60.0))
        await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
        await caller.wait_event("CALL_ESTABLISHED")
        await wait_agents(engine, {"sora": "on_call"}, timeout_s=45)
        await caller.command("hangup")
        await caller.wait_event("CALL_CLOSED")
    finally:
        await caller.stop()
        await sora.stop()
    call = await wait_for_event(engine, "call_ended", timeout_s=10)
    visits = [(e.kind, e.detail.get("queue"), e.detail.get("to")) for e in call.events if e.kind in ("queued", "overflowed")]
    assert visits == [("queued", "billing", None), ("overflowed", "billing", "queue:general"), ("queued", "general", None)], visits
    overflowed = next(e.detail for e in call.events if e.kind == "overflowed")
    assert 8.0 <= overflowed["waited_s"] < 11.0, overflowed
    assert next(e.detail for e in call.events if e.kind == "agent_ringing")["agent"] == "sora"


async def test_a_caller_who_waits_the_maximum_overflows_into_a_flow_that_says_goodbye(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    """billing's overflow is the flow's `goodbye` node: after max_wait the hold music stops, the
    flow goes on there (its prompt is played to the end) and the flow hangs up."""
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    crm_url, _ = mock_crm
    env, _ = await acd_setup(tmp_path, crm_url)
    queues = Path(env["THREADLINE_FLOWS__FOLDER"]) / "queues" / "support.yaml"
    text = await asyncio.to_thread(queues.read_text)
    billing_max = "    max_wait:\n      seconds: 600\n      overflow: {callback: true}\n"
    await asyncio.to_thread(queues.write_text, text.replace(billing_max, "    max_wait:\n      seconds: 6\n      overflow: {flow: support_ko.goodbye}\n", 1))
    engine: RunningEngine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'overflow-flow.sqlite3'}", **env)
    caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999))
    try:
        await caller.start(await asyncio.to_thread(write_speech_then_tone, tmp_path / "caller.wav", "요금 문의요", 6.0, 2.0, CALLER_HZ, 60.0))
        await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
        await caller.wait_event("CALL_ESTABLISHED")
        await caller.wait_event("CALL_CLOSED", timeout_s=60)
    finally:
        await caller.stop()
    (call,) = await engine.ended_calls(1)
    kinds = [e.kind for e in call.events]
    assert kinds.index("queued") < kinds.index("overflowed") < kinds.index("flow_continued"), kinds
    assert next(e.detail for e in call.events if e.kind == "overflowed")["to"] == "flow:support_ko.goodbye"
    after = call.events[kinds.index("flow_continued"):]
    assert any(e.kind == "node_entered" and e.detail.get("node") == "goodbye" for e in after)
    assert any(e.kind == "prompt_finished" and e.detail.get("state") == "done" for e in after), "the goodbye was heard to its end"
    assert call.hung_up_by == "engine"
