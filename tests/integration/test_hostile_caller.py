"""Caller data is untrusted: a hostile From header and a 100-digit number are answered and stored once.

Asterisk cuts SIP fields before ARI sees them; the store bounds them again (flows, lookups and
agents will bring values nobody cut), so the call works and its row holds what fits.
"""

from __future__ import annotations

import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, free_port, require_tool
from tests.integration.sip_peers import run_sipp

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])


async def test_hostile_caller_fields_are_answered_and_stored_once(pbx: LocalAsterisk, start_engine, database_url: str) -> None:
    require_tool("sipp")
    engine = await start_engine(database_url)
    dialed = "9" * 100
    result = await run_sipp("uac_hostile_caller.xml", SIP_PORT, dialed, calls=1, rate=1, local_port=free_port(), media_port=free_port())
    assert result.returncode == 0 and result.successful == 1, result.output[-2500:]

    (call,) = await engine.ended_calls(1)
    async with engine.store() as store:
        assert await store.count_calls() == 1
    assert call.hung_up_by == "engine"
    assert [event.kind for event in call.events] == ["arrived", "answered", "prompt_started", "prompt_finished", "hung_up"]
    assert 0 < len(call.caller_number) <= 80 and set(call.caller_number) == {"1"}
    assert 0 < len(call.dialed) <= 80 and set(call.dialed) == {"9"}
    assert 0 < len(call.caller_name) <= 80 and "김철수" in call.caller_name, call.caller_name
    assert call.events[0].detail["caller_number"] == call.caller_number
