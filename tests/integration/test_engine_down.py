"""Callers who arrive while no engine runs: they hear ringing and wait, bounded by calls.engine_wait_s.

Asterisk keeps our Stasis app registered over its outbound websocket, so their calls and hangups
reach the engine when it starts. The test instance renders engine_wait_s = 10 into its dialplan.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, free_port, require_tool
from tests.integration.sip_peers import Baresip, SippCall, start_sipp_call, write_tone

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
ENGINE_WAIT_S = int(PBX_ENV["THREADLINE_CALLS__ENGINE_WAIT_S"])


async def asterisk_channels(pbx: LocalAsterisk) -> int:
    text = await asyncio.to_thread(pbx.rx, "core show channels count")
    line = next((line for line in text.splitlines() if "active channel" in line), "")
    return int(line.split()[0]) if line else -1


async def test_callers_who_arrive_while_the_engine_is_down_are_greeted_in_order(
    pbx: LocalAsterisk, start_engine, database_url: str
) -> None:
    require_tool("sipp")
    callers: list[SippCall] = []
    try:
        for n in range(3):  # no engine runs: Asterisk holds them in Stasis, ringing
            callers.append(await start_sipp_call("uac_engine_hangs_up.xml", SIP_PORT, f"510{n}", free_port(), free_port(), timeout_s=60))
            await asyncio.sleep(0.4)
        deadline = time.monotonic() + 5
        while await asterisk_channels(pbx) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert await asterisk_channels(pbx) == 3, "the callers did not all reach Asterisk:\n" + "\n".join(
            caller.process.stdout.read()[-1500:] if not caller.running and caller.process.stdout else "(still running)" for caller in callers
        )
        await asyncio.sleep(2)
        assert all(caller.running for caller in callers), "a caller was turned away while no engine ran"

        engine = await start_engine(database_url)  # well within the 10 s bound
        for caller in callers:
            await caller.finish()
    finally:
        for caller in callers:
            await caller.stop()

    calls = await engine.ended_calls(3)
    assert len(calls) == 3 and len({call.channel_id for call in calls}) == 3, "one row per caller"
    by_arrival = sorted(calls, key=lambda call: call.arrived_at)
    assert [call.dialed for call in by_arrival] == ["5100", "5101", "5102"]
    answered = [call.answered_at for call in by_arrival]
    assert all(answered) and answered == sorted(answered), "callers were not answered in arrival order"
    for call in calls:
        kinds = [event.kind for event in call.events]
        assert kinds == ["arrived", "answered", "prompt_started", "prompt_finished", "hung_up"], kinds
        assert call.hung_up_by == "engine"
        assert call.events[0].detail["waited_for_engine_ms"] >= 2000, "arrival time is when the caller called"


async def test_caller_who_gives_up_while_the_engine_is_down_is_closed_as_caller(
    pbx: LocalAsterisk, start_engine, tmp_path: Path
) -> None:
    require_tool("sipp")
    caller = await start_sipp_call("uac_cancels_while_ringing.xml", SIP_PORT, "5200", free_port(), free_port(), timeout_s=30)
    await caller.finish()  # rang for 2 s, then hung up; no engine was running

    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'gave-up.sqlite3'}")
    calls = await engine.ended_calls(1)
    assert len(calls) == 1
    call = calls[0]
    assert call.dialed == "5200" and call.hung_up_by == "caller", (call.hung_up_by, [e.kind for e in call.events])
    assert call.answered_at is None
    assert [event.kind for event in call.events] == ["arrived", "hung_up"]


async def test_caller_hears_an_apology_when_no_engine_comes(pbx: LocalAsterisk, start_engine, tmp_path: Path) -> None:
    """No engine within the bound: Asterisk apologises. An engine that starts during the apology
    records the call and lets the apology finish instead of hanging up on it."""
    require_tool("baresip")
    phone = Baresip(tmp_path / "baresip", free_port(), free_port(), (42000, 42999))
    await phone.start(await asyncio.to_thread(write_tone, tmp_path / "mic.wav"))
    try:
        dialled_at = time.monotonic()
        await phone.command("dial", f"sip:5300@127.0.0.1:{SIP_PORT}")
        await phone.wait_event("CALL_RINGING", timeout_s=5)
        await phone.wait_event("CALL_ESTABLISHED", timeout_s=ENGINE_WAIT_S + 5)
        answered_after = time.monotonic() - dialled_at
        engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'late.sqlite3'}")  # during the apology
        await phone.wait_event("CALL_CLOSED", timeout_s=15)
    finally:
        await phone.stop()

    assert answered_after >= ENGINE_WAIT_S - 0.5, f"answered after {answered_after:.1f} s: the bound is {ENGINE_WAIT_S} s"
    heard = await phone.heard()
    assert heard.seconds > 3.0 and heard.rms > 0.01, f"the caller did not hear the whole apology: {heard}"
    log = await asyncio.to_thread((pbx.host_dir / "log" / "messages.log").read_text)
    assert "Executing [T@threadline-inbound:1]" in log and "sorry&please-try-call-later" in log

    (call,) = await engine.ended_calls(1)
    assert call.dialed == "5300" and call.answered_at is None
    assert call.hung_up_by == "system", (call.hung_up_by, [e.kind for e in call.events])
    assert "no engine took the call in time" in call.events[-1].detail["cause_txt"]
