"""Hot reload of ivr_flows/ on the real engine: only a set that validates is swapped in, and a call in
progress finishes on the flow version it started with."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, RunningEngine, free_port, require_tool
from tests.integration.sip_peers import run_sipp, start_sipp_call

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
TOKEN = "reload-token-for-tests-0123456789"
FLOW = "flow: hello\nlanguage: en\nstart: hi\nnodes:\n  hi: {{type: say, prompt: \"{text}\", next: bye}}\n  bye: {{type: hangup}}\n"


def write_flow(folder: Path, text: str, target: str = "bye") -> None:
    (folder / "hello.yaml").write_text(FLOW.format(text=text).replace("next: bye", f"next: {target}"))


async def post_reload(engine: RunningEngine, token: str | None = TOKEN) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.post(f"{engine.http_url}/flows/reload", headers=headers) as response:
        return response.status, await response.json()


async def running_versions(engine: RunningEngine) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as session, session.get(f"{engine.http_url}/status", headers=headers) as response:
        body = await response.json()
    return dict(body["flows"]["versions"])


def flow_version(call: object) -> str:
    return next(e.detail["version"] for e in call.events if e.kind == "flow_started")  # type: ignore[attr-defined]


async def test_reload_swaps_only_a_valid_set_and_calls_keep_their_version(pbx: LocalAsterisk, start_engine, tmp_path: Path) -> None:
    require_tool("sipp")
    require_tool("espeak-ng")
    flows = tmp_path / "flows"
    await asyncio.to_thread(flows.mkdir)
    await asyncio.to_thread(write_flow, flows, "This is version one of the greeting, spoken slowly enough to last a few seconds.")
    engine = await start_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'reload.sqlite3'}",
        THREADLINE_FLOWS__FOLDER=str(flows), THREADLINE_FLOWS__INBOUND="hello", THREADLINE_FLOWS__WATCH_S="0",
        THREADLINE_HTTP__ADMIN_TOKEN=TOKEN,
    )
    first = await running_versions(engine)
    assert (await post_reload(engine, token=None))[0] == 401
    assert (await post_reload(engine, token="wrong-token-wrong-token"))[0] == 401

    caller = await start_sipp_call("uac_engine_hangs_up.xml", SIP_PORT, "6100", free_port(), free_port(), timeout_s=40)
    try:
        await engine.open_calls()  # the first call is on version one
        await asyncio.to_thread(write_flow, flows, "Version two.", target="nowhere")
        status, refused = await post_reload(engine)
        assert status == 422 and refused["ok"] is False
        assert any("hello.yaml:5:" in str(p) and "goes to `nowhere`" in str(p) for p in refused["problems"]), refused  # type: ignore[union-attr]
        assert await running_versions(engine) == first, "a broken set must never be swapped in"

        await asyncio.to_thread(write_flow, flows, "Version two.")
        status, accepted = await post_reload(engine)
        reloaded_at = datetime.now(UTC)
        assert status == 200 and accepted["versions"] != first
        await caller.finish()
    finally:
        await caller.stop()

    result = await run_sipp("uac_engine_hangs_up.xml", SIP_PORT, "6101", calls=1, rate=1, local_port=free_port(), media_port=free_port())
    assert result.returncode == 0 and result.successful == 1, result.output[-2000:]
    calls = sorted(await engine.ended_calls(2), key=lambda call: call.id)
    assert flow_version(calls[0]) == first["hello"], "the call in progress finished on the version it started with"
    ended = calls[0].ended_at
    assert ended is not None and (ended if ended.tzinfo else ended.replace(tzinfo=UTC)) > reloaded_at, "the reload came mid-call"
    assert flow_version(calls[1]) == accepted["versions"]["hello"]  # type: ignore[index]
    assert all(call.hung_up_by == "engine" for call in calls)

    await asyncio.to_thread(write_flow, flows, "Version three.")
    engine.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while await running_versions(engine) == accepted["versions"]:
        assert time.monotonic() < deadline, f"SIGHUP did not reload\n{engine.log_tail()}"
        await asyncio.sleep(0.2)


async def test_an_edited_flow_folder_is_reloaded_by_itself(pbx: LocalAsterisk, start_engine, tmp_path: Path) -> None:
    require_tool("espeak-ng")
    flows = tmp_path / "flows"
    await asyncio.to_thread(flows.mkdir)
    await asyncio.to_thread(write_flow, flows, "Before the edit.")
    engine = await start_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'watch.sqlite3'}",
        THREADLINE_FLOWS__FOLDER=str(flows), THREADLINE_FLOWS__INBOUND="hello", THREADLINE_FLOWS__WATCH_S="0.3", THREADLINE_HTTP__ADMIN_TOKEN=TOKEN,
    )
    before = await running_versions(engine)
    assert (await post_reload(engine, token=None))[0] == 401, "strangers cannot reload"
    await asyncio.to_thread(write_flow, flows, "After the edit.")
    deadline = time.monotonic() + 20
    while await running_versions(engine) == before:
        assert time.monotonic() < deadline, f"the edit was not picked up\n{engine.log_tail()}"
        await asyncio.sleep(0.2)
    assert "flows reloaded (files changed)" in engine.log_text()
