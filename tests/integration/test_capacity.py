"""Capacity: 200 SIPp callers arriving at 20 per second into the sample IVR (support_ko, no CRM, no
agents), each staying 30 s. Every one is held to the end and none is hung up by the engine.

Before the fix, 187 of 200 were hung up (`hung_up by=engine`, "Asterisk did not confirm it in time"):
Asterisk's default http.conf sessionlimit (100) and the engine's one shared HTTP pool (aiohttp's
default of 100 connections) were both filled by the callers' audio-tap websockets, so REST commands
such as `play` waited unanswered for 5 s.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from engine.asterisk.caller_audio import is_tap_resource
from engine.localpbx.credentials import load_credentials
from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, REPO, RunningEngine, free_port, require_tool, wait_for_event
from tests.integration.sip_peers import run_sipp, start_sipp_call

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
ARI_PORT = int(PBX_ENV["THREADLINE_ASTERISK__ARI_PORT"])
CALLERS, RATE = 200, 20
"""As measured in issue 17: 200 callers at 20 per second, 30 s each (tests/integration/sipp/uac_holds_30s.xml)."""


@dataclass
class ConnectionPeaks:
    """The engine's TCP connections to Asterisk's HTTP port, sampled while the calls run."""

    samples: list[int] = field(default_factory=list)

    @property
    def peak(self) -> int:
        return max(self.samples, default=0)


def engine_connections(engine_pid: int) -> int:
    """Established connections from the engine process to the ARI port (REST pool plus media websockets)."""
    out = subprocess.run(["ss", "-Htnp", "state", "established", "dport", f"= :{ARI_PORT}"], capture_output=True, text=True, timeout=10).stdout
    return sum(1 for line in out.splitlines() if re.search(rf"pid={engine_pid}\b", line))


@contextlib.asynccontextmanager
async def sampled_connections(engine_pid: int) -> AsyncIterator[ConnectionPeaks]:
    peaks = ConnectionPeaks()

    async def sample() -> None:
        while True:
            peaks.samples.append(await asyncio.to_thread(engine_connections, engine_pid))
            await asyncio.sleep(0.5)

    task = asyncio.create_task(sample())
    try:
        yield peaks
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_two_hundred_callers_at_twenty_per_second_are_all_held(pbx: LocalAsterisk, start_engine: Callable[..., Awaitable[RunningEngine]], tmp_path: Path) -> None:
    require_tool("sipp")
    require_tool("ss")
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'capacity.sqlite3'}", THREADLINE_FLOWS__INBOUND="support_ko")
    started = time.monotonic()
    async with sampled_connections(engine.process.pid) as connections:
        result = await run_sipp("uac_holds_30s.xml", SIP_PORT, "1588", calls=CALLERS, rate=RATE, local_port=free_port(), media_port=free_port(), timeout_s=150)
    took_s = time.monotonic() - started
    print(f"\n{CALLERS} callers at {RATE}/s held 30 s: SIPp ran {took_s:.0f} s; engine connections to the ARI port peaked at {connections.peak}")

    assert (result.successful, result.failed) == (CALLERS, 0), f"a caller was cut off or never answered:\n{result.output[-3000:]}\n{engine.log_tail()}"
    assert connections.peak > 100, f"the callers' audio taps never took the engine past Asterisk's old default of 100 HTTP sessions ({connections.peak}): is the Korean speech model installed?"
    calls = await engine.ended_calls(CALLERS, timeout_s=60)
    assert len(calls) == CALLERS
    by_engine = [(call.channel_id, call.hung_up_by, call.events[-1].detail) for call in calls if call.hung_up_by != "caller"]
    assert by_engine == [], f"{len(by_engine)} calls not ended by their caller: {by_engine[:5]}\n{engine.log_tail()}"
    log = engine.log_text()
    assert "did not confirm it in time" not in log, engine.log_tail()
    assert "unexpected failure" not in log, engine.log_tail()
    # Each caller reached the flow: its menu or account prompt played (the welcome first).
    for call in calls:
        kinds = [event.kind for event in call.events]
        assert "answered" in kinds and kinds.count("prompt_started") >= 2, (call.channel_id, kinds)


FROZEN_CALLERS = 20
FREEZE_AT_S, FREEZE_FOR_S = 9.0, 7.0
"""The callers' no-input reprompts fall due about 4-6 s into the freeze; each ARI request may take 1 s
(asterisk.connect_timeout_s below), so they time out and are sent again until Asterisk thaws, within
calls.engine_wait_s (10 s in the tests)."""


async def test_callers_are_kept_on_hold_and_retried_while_asterisk_does_not_answer(
    pbx: LocalAsterisk, start_engine: Callable[..., Awaitable[RunningEngine]], tmp_path: Path
) -> None:
    """Asterisk stops answering for 7 s (SIGSTOP) while 20 callers sit in the sample flow's account
    prompt: the engine's no-input reprompts time out (1 s here) and are sent again, with the caller on
    hold, until Asterisk answers. Before, each timed-out command was checked 5 s later, found the channel
    alive, and hung the caller up ("Asterisk did not confirm it in time")."""
    require_tool("sipp")
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'frozen.sqlite3'}", THREADLINE_FLOWS__INBOUND="support_ko", THREADLINE_ASTERISK__CONNECT_TIMEOUT_S="1")
    pid = await asyncio.to_thread(pbx.pid)
    assert pid is not None

    async def freeze_for_a_moment() -> None:
        await asyncio.sleep(FREEZE_AT_S)
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(FREEZE_FOR_S)
        finally:
            os.kill(pid, signal.SIGCONT)

    freezer = asyncio.create_task(freeze_for_a_moment())
    try:
        result = await run_sipp("uac_holds_30s.xml", SIP_PORT, "1588", calls=FROZEN_CALLERS, rate=10, local_port=free_port(), media_port=free_port(), timeout_s=120)
    finally:
        await freezer
    assert (result.successful, result.failed) == (FROZEN_CALLERS, 0), f"a caller was cut off:\n{result.output[-3000:]}\n{engine.log_tail()}"
    calls = await engine.ended_calls(FROZEN_CALLERS, timeout_s=60)
    assert [call.hung_up_by for call in calls] == ["caller"] * FROZEN_CALLERS, engine.log_tail()
    for call in calls:  # a play that ran late in Asterisk is never sent again: no prompt is heard twice
        started = [event.detail.get("playback_id") for event in call.events if event.kind == "prompt_started"]
        assert len(started) == len(set(started)), f"{call.channel_id} heard a prompt twice: {started}"
    log = engine.log_text()
    assert "did not confirm it in time" not in log, engine.log_tail()
    retried = log.count("Asterisk busy")
    print(f"\ncommands sent again while Asterisk was frozen: {retried}")
    assert retried > 0, f"no command was in flight during the freeze, so nothing was tested\n{engine.log_tail()}"


TAP_FLOW = """flow: tap_test
language: ko
start: menu
nodes:
  menu:
    type: ask
    prompt: 요금 문의는 1번을 누르시거나 말씀해 주세요.
    intents:
      billing:
        phrases: [요금, 요금 문의]
        keys: ["1"]
        next: goodbye
    fallback: goodbye
  goodbye:
    type: hangup
    prompt: 이용해 주셔서 감사합니다. 고객지원 센터는 언제나 여러분의 의견을 기다리고 있습니다. 더 궁금하신 점이 있으시면 언제든지 다시 전화해 주세요. 좋은 하루 되세요.
"""


async def ari_channel_ids(pbx: LocalAsterisk) -> list[str]:
    credentials = await asyncio.to_thread(load_credentials, pbx.settings.credentials_path)
    token = base64.b64encode(f"{credentials.ari_user}:{credentials.ari_password}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{ARI_PORT}/ari/channels", headers=headers) as response:
        return [str(channel["id"]) for channel in await response.json()]


async def test_the_audio_tap_is_removed_when_the_ask_ends_not_when_the_call_ends(
    pbx: LocalAsterisk, start_engine: Callable[..., Awaitable[RunningEngine]], tmp_path: Path
) -> None:
    """A caller keys 1 in a menu (an ask: it listens, so a tap opens) and then hears a long goodbye:
    the tap (snoop, media channel, its websocket on Asterisk's HTTP port) is gone while the goodbye
    still plays. Before, it stayed until the call ended, holding an HTTP session per caller."""
    require_tool("sipp")
    flows = tmp_path / "flows"
    await asyncio.to_thread(shutil.copytree, REPO / "ivr_flows", flows)
    await asyncio.to_thread((flows / "tap_test.yaml").write_text, TAP_FLOW)
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'tap.sqlite3'}", THREADLINE_FLOWS__FOLDER=str(flows), THREADLINE_FLOWS__INBOUND="tap_test")
    caller = await start_sipp_call("uac_menu_key.xml", SIP_PORT, "1588", free_port(), free_port(), timeout_s=90)
    try:
        deadline = time.monotonic() + 20
        while not any(is_tap_resource(c) for c in await ari_channel_ids(pbx)):
            assert time.monotonic() < deadline, f"no audio tap opened while the menu listened\n{engine.log_tail()}"
            await asyncio.sleep(0.2)
        deadline = time.monotonic() + 20
        channels = await ari_channel_ids(pbx)
        while any(is_tap_resource(c) for c in channels):
            assert time.monotonic() < deadline, f"the tap stayed after the menu: {channels}\n{engine.log_tail()}"
            await asyncio.sleep(0.2)
            channels = await ari_channel_ids(pbx)
        assert caller.running and channels, "the tap went only because the call ended; it should go when the ask ends"
        await wait_for_event(engine, "intent_chosen", timeout_s=5)
        await caller.finish(timeout_s=60)  # the goodbye played to its end, then the engine hung up
    finally:
        await caller.stop()
    calls = await engine.ended_calls(1)
    assert calls[0].hung_up_by == "engine"
    kinds = [event.kind for event in calls[0].events]
    assert kinds.index("intent_chosen") < len(kinds) - 1 and "dtmf" in kinds, kinds
