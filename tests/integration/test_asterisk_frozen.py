"""Asterisk freezes (SIGSTOP) mid-greeting and thaws: the engine reports degraded, recovers, and the
call still ends with exactly one closed row."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, free_port, require_tool
from tests.integration.sip_peers import start_sipp_call

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])


async def test_frozen_asterisk_degrades_then_the_call_completes(pbx: LocalAsterisk, start_engine, tmp_path: Path) -> None:
    """Frozen mid-greeting (30 s prompt), thawed: the greeting goes on, the engine hangs up at its end."""
    require_tool("sipp")
    engine = await start_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'frozen.sqlite3'}",
        THREADLINE_CALLS__GREETING="sound:demo-congrats", THREADLINE_CALLS__MAX_PROMPT_S="120",
    )
    caller = await start_sipp_call("uac_engine_hangs_up.xml", SIP_PORT, "4700", free_port(), free_port(), timeout_s=90)
    pid = await asyncio.to_thread(pbx.pid)
    assert pid is not None
    try:
        assert len(await engine.open_calls()) == 1, "the call never reached the engine"
        os.kill(pid, signal.SIGSTOP)
        try:
            body = await engine.wait_health(503, timeout_s=40)
            assert body["status"] == "degraded"
        finally:
            os.kill(pid, signal.SIGCONT)
        await engine.wait_health(200, timeout_s=40)
        await caller.finish(timeout_s=90)  # the BYE came: the engine hung up after the greeting
    finally:
        await caller.stop()

    calls = await engine.ended_calls(1, timeout_s=30)
    assert len(calls) == 1
    call = calls[0]
    kinds = [event.kind for event in call.events]
    assert kinds == ["arrived", "answered", "prompt_started", "prompt_finished", "hung_up"], kinds
    assert call.events[3].detail["state"] == "done", "the greeting did not play to its end"
    assert call.hung_up_by == "engine"
    assert [e.seq for e in call.events] == [1, 2, 3, 4, 5]
    assert engine.process.poll() is None
