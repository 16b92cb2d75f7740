"""A real caller (baresip) dials the real Asterisk; the engine answers, greets and hangs up.

Asserts what the caller heard (audio, not just signalling) and what the engine stored.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, free_port, require_tool
from tests.integration.sip_peers import Baresip, measure_wav, run_sipp, write_tone

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])


async def test_caller_hears_greeting_and_call_is_journaled(
    pbx: LocalAsterisk, start_engine, database_url: str, tmp_path: Path
) -> None:
    require_tool("baresip")
    engine = await start_engine(database_url)
    assert "threadline listening: HTTP http://127.0.0.1:" in engine.log_text()
    phone = Baresip(tmp_path / "baresip", free_port(), free_port(), (40000, 40999))
    phone.workdir.mkdir()
    await phone.start(write_tone(tmp_path / "mic.wav"))
    try:
        await phone.command("dial", f"sip:4100@127.0.0.1:{SIP_PORT}")
        await phone.wait_event("CALL_ESTABLISHED")
        closed = await phone.wait_event("CALL_CLOSED", timeout_s=20)
    finally:
        await phone.stop()

    heard = measure_wav(phone.recording("dec"))
    assert heard.seconds > 0.8, f"call too short to have carried the greeting: {heard}"
    assert heard.rms > 0.01, f"the caller heard silence: {heard}"
    assert closed["type"] == "CALL_CLOSED"

    calls = await engine.ended_calls(1)
    assert len(calls) == 1
    call = calls[0]
    assert call.dialed == "4100"
    assert call.caller_number == "caller"
    assert call.answered_at is not None and call.ended_at is not None
    assert call.hung_up_by == "engine"
    kinds = [event.kind for event in call.events]
    assert kinds == ["arrived", "answered", "prompt_started", "prompt_finished", "hung_up"]
    assert [event.seq for event in call.events] == [1, 2, 3, 4, 5]
    assert call.events[3].detail["state"] == "done"
    stamps = [event.at for event in call.events]
    assert stamps == sorted(stamps)
    assert "call_event call_id=" in engine.log_text() and "event=hung_up by=engine" in engine.log_text()


async def test_caller_hanging_up_mid_greeting_is_journaled(
    pbx: LocalAsterisk, start_engine, database_url: str
) -> None:
    require_tool("sipp")
    engine = await start_engine(database_url, THREADLINE_CALLS__GREETING="sound:demo-congrats")
    result = run_sipp("uac_caller_hangs_up.xml", SIP_PORT, "4200", calls=1, rate=1, local_port=free_port(), media_port=free_port())
    assert result.returncode == 0 and result.successful == 1, result.output[-2500:]

    await engine.wait_health(200)
    calls = await engine.ended_calls(1)
    assert len(calls) == 1
    call = calls[0]
    assert call.hung_up_by == "caller"
    kinds = [event.kind for event in call.events]
    assert kinds[:3] == ["arrived", "answered", "prompt_started"]
    assert kinds[-1] == "hung_up"
    assert "prompt_finished" not in kinds or call.events[kinds.index("prompt_finished")].detail["state"] != "done"
