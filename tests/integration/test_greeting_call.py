"""A real caller (baresip) dials the real Asterisk; the engine answers, greets and hangs up.

Asserts what the caller heard (audio, not just signalling) and what the engine stored.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.localpbx.credentials import load_credentials
from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, free_port, require_tool
from tests.integration.sip_peers import Baresip, run_sipp, write_tone

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])


async def test_caller_hears_greeting_and_call_is_journaled(
    pbx: LocalAsterisk, start_engine, database_url: str, tmp_path: Path
) -> None:
    require_tool("baresip")
    engine = await start_engine(database_url)
    assert "threadline listening: HTTP http://127.0.0.1:" in engine.log_text()
    phone = Baresip(tmp_path / "baresip", free_port(), free_port(), (40000, 40999))
    await phone.start(await asyncio.to_thread(write_tone, tmp_path / "mic.wav"))
    try:
        await phone.command("dial", f"sip:4100@127.0.0.1:{SIP_PORT}")
        await phone.wait_event("CALL_ESTABLISHED")
        closed = await phone.wait_event("CALL_CLOSED", timeout_s=20)
    finally:
        await phone.stop()

    heard = await phone.heard()
    assert heard.seconds > 0.8, f"call too short to have carried the greeting: {heard}"
    assert heard.rms > 0.01, f"the caller heard silence: {heard}"
    # baresip's reason when the far end sent the BYE: the engine ended the call, not the phone.
    assert closed["param"] == "Connection reset by peer", closed
    assert closed["peeruri"] == f"sip:4100@127.0.0.1:{SIP_PORT}"

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
    result = await run_sipp("uac_caller_hangs_up.xml", SIP_PORT, "4200", calls=1, rate=1, local_port=free_port(), media_port=free_port())
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


async def test_registered_softphone_with_generated_password_reaches_the_engine(
    pbx: LocalAsterisk, pbx_settings, start_engine, tmp_path: Path
) -> None:
    """The README's Linphone/Zoiper set-up: user `softphone`, the password from the credentials file."""
    require_tool("baresip")
    credentials = await asyncio.to_thread(load_credentials, pbx_settings.credentials_path)
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'softphone.sqlite3'}")
    account = (
        f"<sip:{credentials.softphone_user}@127.0.0.1:{SIP_PORT}>;auth_pass={credentials.softphone_password};regint=60"
    )
    phone = Baresip(tmp_path / "softphone", free_port(), free_port(), (41000, 41999), account=account)
    await phone.start(await asyncio.to_thread(write_tone, tmp_path / "mic.wav"))
    try:
        registered = ""
        for _ in range(50):  # baresip may register before the test's control connection is up
            registered = await asyncio.to_thread(pbx.rx, "pjsip show contacts")
            if f"{credentials.softphone_user}/sip:" in registered:
                break
            await asyncio.sleep(0.2)
        assert f"{credentials.softphone_user}/sip:" in registered, registered
        await phone.command("dial", f"sip:4800@127.0.0.1:{SIP_PORT}")
        await phone.wait_event("CALL_ESTABLISHED")
        await phone.wait_event("CALL_CLOSED", timeout_s=20)
    finally:
        await phone.stop()
    assert (await phone.heard()).rms > 0.01
    calls = await engine.ended_calls(1)
    assert calls[0].caller_number == credentials.softphone_user and calls[0].dialed == "4800"
    assert calls[0].hung_up_by == "engine"
