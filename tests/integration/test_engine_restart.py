"""The engine dies mid-call and a new one starts: the call is picked up again and closed exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, free_port, require_tool
from tests.integration.sip_peers import start_sipp_call

pytestmark = pytest.mark.asterisk


def asterisk_messages(pbx: LocalAsterisk) -> str:
    return (pbx.host_dir / "log" / "messages.log").read_text(errors="replace")
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])


async def test_new_engine_adopts_a_call_left_in_stasis(pbx: LocalAsterisk, start_engine, tmp_path: Path) -> None:
    require_tool("sipp")
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'adopt.sqlite3'}"
    first = await start_engine(database_url, THREADLINE_CALLS__GREETING="sound:demo-congrats")
    caller = await start_sipp_call("uac_engine_hangs_up.xml", SIP_PORT, "4600", free_port(), free_port(), timeout_s=40)
    try:
        assert len(await first.open_calls()) == 1, "the call never reached the first engine"
        first.process.kill()
        await asyncio.to_thread(first.process.wait)

        second = await start_engine(database_url)
        await caller.finish()
    finally:
        await caller.stop()

    calls = await second.ended_calls(1)
    assert len(calls) == 1, "one call, one row, across two engines"
    kinds = [event.kind for event in calls[0].events]
    assert kinds.count("arrived") == 1 and "resumed" in kinds
    assert kinds[-1] == "hung_up" and calls[0].hung_up_by == "engine"
    assert [event.seq for event in calls[0].events] == list(range(1, len(kinds) + 1))


async def test_engine_stopped_with_sigterm_leaves_the_caller_on_hold_for_the_next(
    pbx: LocalAsterisk, start_engine, tmp_path: Path
) -> None:
    require_tool("sipp")
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'handover.sqlite3'}"
    first = await start_engine(database_url, THREADLINE_CALLS__GREETING="sound:demo-congrats")
    caller = await start_sipp_call("uac_engine_hangs_up.xml", SIP_PORT, "4610", free_port(), free_port(), timeout_s=60)
    try:
        channel_id = next(iter(await first.open_calls()))
        assert await first.stop() == 0, first.log_tail()
        assert "left 1 calls on hold for the next engine" in first.log_text()
        async with first.store() as store:
            record = await store.get_call(channel_id)
        assert record is not None and record.events[-1].kind == "handed_over", record
        name = record.events[0].detail["channel"]
        log = await asyncio.to_thread(asterisk_messages, pbx)
        assert any("Started music on hold" in line and name in line for line in log.splitlines()), log[-3000:]
        assert caller.running, "the caller was cut off when the engine stopped"
        await asyncio.sleep(2)  # no engine for a while: the caller hears hold music

        second = await start_engine(database_url, THREADLINE_CALLS__GREETING="sound:hello-world")
        await caller.finish()
    finally:
        await caller.stop()

    calls = await second.ended_calls(1)
    assert len(calls) == 1 and calls[0].channel_id == channel_id
    kinds = [event.kind for event in calls[0].events]
    assert kinds.count("arrived") == 1 and kinds.count("answered") == 1
    assert kinds.index("handed_over") < kinds.index("resumed"), kinds
    assert kinds[-2:] == ["prompt_finished", "hung_up"] and calls[0].hung_up_by == "engine", kinds
    assert calls[0].events[-2].detail["media"] == "sound:hello-world"
    assert [event.seq for event in calls[0].events] == list(range(1, len(kinds) + 1))


async def test_caller_left_by_a_stopped_engine_hears_the_apology_if_none_comes(
    pbx: LocalAsterisk, start_engine, tmp_path: Path
) -> None:
    require_tool("sipp")
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'nobody.sqlite3'}"
    first = await start_engine(database_url, THREADLINE_CALLS__GREETING="sound:demo-congrats")
    caller = await start_sipp_call("uac_engine_hangs_up.xml", SIP_PORT, "4620", free_port(), free_port(), timeout_s=60)
    try:
        await first.open_calls()
        assert await first.stop() == 0, first.log_tail()
        # engine_wait_s later Asterisk plays the apology and hangs up: the caller gets its BYE.
        await caller.finish(timeout_s=int(PBX_ENV["THREADLINE_CALLS__ENGINE_WAIT_S"]) + 20)
    finally:
        await caller.stop()
    log = await asyncio.to_thread(asterisk_messages, pbx)
    assert "Executing [T@threadline-inbound:1]" in log and "sorry&please-try-call-later" in log, log[-3000:]

    second = await start_engine(database_url)
    calls = await second.ended_calls(1)
    kinds = [event.kind for event in calls[0].events]
    assert kinds[-1] in ("hung_up", "lost") and "handed_over" in kinds, kinds
