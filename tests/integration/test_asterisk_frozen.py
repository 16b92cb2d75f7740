"""Asterisk freezes (SIGSTOP) mid-greeting and thaws: the engine reports degraded, recovers, and the
call still ends with exactly one closed row."""

from __future__ import annotations

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
    require_tool("sipp")
    engine = await start_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'frozen.sqlite3'}",
        THREADLINE_CALLS__GREETING="sound:demo-congrats", THREADLINE_CALLS__MAX_PROMPT_S="30",
    )
    caller = start_sipp_call("uac_engine_hangs_up.xml", SIP_PORT, "4700", free_port(), free_port(), timeout_s=90)
    pid = pbx.pid()
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
        calls = await engine.ended_calls(1, timeout_s=60)
    finally:
        caller.kill()
        caller.wait()
    assert len(calls) == 1
    assert calls[0].ended_at is not None
    assert calls[0].hung_up_by in ("engine", "caller", "lost")
    assert [e.seq for e in calls[0].events] == list(range(1, len(calls[0].events) + 1))
    assert engine.process.poll() is None
