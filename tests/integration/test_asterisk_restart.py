"""Asterisk dies mid-call and comes back: the engine stays up, reports degraded, reconnects,
closes the call it lost, and the next call works."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, RunningEngine, free_port, require_tool
from tests.integration.sip_peers import start_sipp_call, run_sipp

pytestmark = pytest.mark.asterisk


async def wait_for_log(engine: RunningEngine, text: str, count: int, timeout_s: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while engine.log_text().count(text) < count:
        assert asyncio.get_running_loop().time() < deadline, f"{text!r} not logged {count} times\n{engine.log_tail()}"
        await asyncio.sleep(0.1)
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])


async def test_engine_survives_asterisk_crash_and_restart(pbx: LocalAsterisk, start_engine, tmp_path: Path) -> None:
    require_tool("sipp")
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'restart.sqlite3'}", THREADLINE_CALLS__GREETING="sound:demo-congrats")
    caller = await start_sipp_call("uac_engine_hangs_up.xml", SIP_PORT, "4400", free_port(), free_port(), timeout_s=20)
    try:
        in_flight = await engine.open_calls()
        assert len(in_flight) == 1, "the first call never reached the engine"

        await asyncio.to_thread(pbx.kill)
        degraded = await engine.wait_health(503, timeout_s=15)
        assert degraded["status"] == "degraded"
        # Asterisk stays dead while the engine retries AMI: it must keep running through failed attempts.
        await wait_for_log(engine, "Not able to reconnect", count=2)
        assert engine.process.poll() is None, "the engine died with Asterisk"

        await asyncio.to_thread(pbx.up)
        await engine.wait_health(200, timeout_s=30)
    finally:
        await caller.stop()

    (lost,) = await engine.ended_calls(1)  # written by the call's journey writer just after the reconnect
    assert lost.channel_id == next(iter(in_flight)) and lost.hung_up_by == "lost", lost
    assert lost.events[-1].kind == "lost"
    async with engine.store() as store:
        assert await store.open_calls() == {}

    result = await run_sipp("uac_caller_hangs_up.xml", SIP_PORT, "4401", calls=1, rate=1, local_port=free_port(), media_port=free_port())
    assert result.returncode == 0 and result.successful == 1, result.output[-2500:]
    calls = await engine.ended_calls(2)
    assert calls[0].dialed == "4401"
    assert [e.kind for e in calls[0].events][:3] == ["arrived", "answered", "prompt_started"]
    assert calls[0].hung_up_by == "caller"
    assert "ari down" in engine.log_text() and "ari up" in engine.log_text()
