"""The engine dies mid-call and a new one starts: the call is picked up again and closed exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, free_port, require_tool
from tests.integration.sip_peers import start_sipp_call, sipp_counter

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])


async def test_new_engine_adopts_a_call_left_in_stasis(pbx: LocalAsterisk, start_engine, tmp_path: Path) -> None:
    require_tool("sipp")
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'adopt.sqlite3'}"
    first = await start_engine(database_url, THREADLINE_CALLS__GREETING="sound:demo-congrats")
    caller = start_sipp_call("uac_engine_hangs_up.xml", SIP_PORT, "4600", free_port(), free_port(), timeout_s=40)
    try:
        assert len(await first.open_calls()) == 1, "the call never reached the first engine"
        first.process.kill()
        first.process.wait()

        second = await start_engine(database_url)
        output, _ = await asyncio.to_thread(caller.communicate, timeout=60)
    finally:
        if caller.poll() is None:
            caller.kill()
    assert caller.returncode == 0 and sipp_counter(output, "Successful call") == 1, output[-2500:]

    calls = await second.ended_calls(1)
    assert len(calls) == 1, "one call, one row, across two engines"
    kinds = [event.kind for event in calls[0].events]
    assert kinds.count("arrived") == 1 and "resumed" in kinds
    assert kinds[-1] == "hung_up" and calls[0].hung_up_by == "engine"
    assert [event.seq for event in calls[0].events] == list(range(1, len(kinds) + 1))
