"""One YAML typo must never take calls down: a tagged file saved into the running engine's flows folder
is refused as a problem at file:line:column, the call in progress goes on, and the engine keeps serving."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, RunningEngine, free_port, require_tool
from tests.integration.sip_peers import run_sipp, start_sipp_call
from tests.integration.test_flow_reload import TOKEN, running_versions, write_flow

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])

TAGGED_FLOW = "flow: hello\nlanguage: en\nstart: hi\nnodes:\n  hi: {type: say, prompt: Hello, next: bye, timeout_s: !!int 3s}\n  bye: {type: hangup}\n"
GREETING = "This greeting is long on purpose, so that the call is still going while a typo is saved into the folder."
TAGGED_QUEUE = "queues:\n  general: !!python/object/apply:os.system ['touch /tmp/threadline-owned']\n"


async def wait_for_log(engine: RunningEngine, text: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in engine.log_text():
        assert engine.process.poll() is None, f"the engine exited with {engine.process.returncode}\n{engine.log_tail()}"
        assert time.monotonic() < deadline, f"never logged {text!r}\n{engine.log_tail()}"
        await asyncio.sleep(0.2)


async def test_a_tagged_file_saved_mid_call_is_refused_and_the_call_goes_on(pbx: LocalAsterisk, start_engine, tmp_path: Path) -> None:
    require_tool("sipp")
    require_tool("espeak-ng")
    flows = tmp_path / "flows"
    await asyncio.to_thread(flows.mkdir)
    await asyncio.to_thread(write_flow, flows, GREETING)
    engine = await start_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'typo.sqlite3'}",
        THREADLINE_FLOWS__FOLDER=str(flows), THREADLINE_FLOWS__INBOUND="hello", THREADLINE_FLOWS__WATCH_S="0.3",
        THREADLINE_HTTP__ADMIN_TOKEN=TOKEN,
    )
    before = await running_versions(engine)

    caller = await start_sipp_call("uac_engine_hangs_up.xml", SIP_PORT, "6200", free_port(), free_port(), timeout_s=40)
    try:
        await engine.open_calls()
        await asyncio.to_thread((flows / "hello.yaml").write_text, TAGGED_FLOW)
        await wait_for_log(engine, f"{flows / 'hello.yaml'}:5:56: YAML syntax: YAML tags are not allowed (!!int)")
        await asyncio.to_thread((flows / "queues").mkdir)
        await asyncio.to_thread((flows / "queues" / "typo.yaml").write_text, TAGGED_QUEUE)
        await asyncio.to_thread(write_flow, flows, GREETING)  # the flow is right again: now the queue file is read
        await wait_for_log(engine, f"{flows / 'queues' / 'typo.yaml'}:2:12: YAML syntax: YAML tags are not allowed (!!python/object/apply:os.system)")
        assert engine.process.poll() is None, engine.log_tail()
        assert await engine.open_calls() and (await engine.health())[0] == 200, "the call goes on and the engine stays healthy"
        await caller.finish()  # the greeting played to its end and the engine hung up: nobody was dropped
    finally:
        await caller.stop()

    assert await running_versions(engine) == before, "the running flows stay"
    assert not await asyncio.to_thread(Path("/tmp/threadline-owned").exists)
    result = await run_sipp("uac_engine_hangs_up.xml", SIP_PORT, "6201", calls=1, rate=1, local_port=free_port(), media_port=free_port())
    assert result.returncode == 0 and result.successful == 1, result.output[-2000:]
    calls = await engine.ended_calls(2)
    assert all(call.hung_up_by == "engine" for call in calls), [(c.channel_id, c.hung_up_by) for c in calls]
    assert "Traceback" not in engine.log_text()

    await asyncio.to_thread((flows / "queues" / "typo.yaml").unlink)
    await asyncio.to_thread(write_flow, flows, "Fixed.")
    deadline = time.monotonic() + 20
    while await running_versions(engine) == before:
        assert time.monotonic() < deadline, f"the fixed folder was not picked up\n{engine.log_tail()}"
        await asyncio.sleep(0.2)
    assert engine.process.poll() is None
