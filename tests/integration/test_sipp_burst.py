"""Twenty callers at once (SIPp): every call answered, greeted, hung up, and stored exactly once."""

from __future__ import annotations

import json

import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, free_port, require_tool
from tests.integration.sip_peers import run_sipp

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
BURST = 20


async def test_burst_of_twenty_calls(pbx: LocalAsterisk, start_engine, database_url: str) -> None:
    require_tool("sipp")
    engine = await start_engine(database_url, THREADLINE_LOG__FORMAT="json")
    result = await run_sipp("uac_engine_hangs_up.xml", SIP_PORT, "4300", calls=BURST, rate=BURST, local_port=free_port(), media_port=free_port())
    assert result.returncode == 0, result.output[-3000:]
    assert (result.successful, result.failed) == (BURST, 0)

    calls = await engine.ended_calls(BURST)
    async with engine.store() as store:
        assert await store.open_calls() == {}
    assert len(calls) == BURST
    assert len({call.channel_id for call in calls}) == BURST
    for call in calls:
        kinds = [event.kind for event in call.events]
        assert kinds == ["arrived", "answered", "prompt_started", "prompt_finished", "hung_up"], (call.channel_id, kinds)
        assert call.hung_up_by == "engine"
        assert call.dialed == "4300"

    lines = [json.loads(line) for line in engine.log_text().splitlines() if line.startswith("{")]
    call_events = [line for line in lines if line.get("logger") == "engine.call_event"]
    assert len(call_events) == 5 * BURST, "one JSON line per call event"
    assert {line["call_id"] for line in call_events} == {call.channel_id for call in calls}
    assert sum(line["event"] == "hung_up" for line in call_events) == BURST
