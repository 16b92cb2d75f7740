"""Transfers keep one journey: minsu hands the caller to jiyeon (agent to agent: jiyeon's pop says
who transferred it and carries the IVR context), then jiyeon transfers it blind to the sales queue,
where alex answers. The caller hears each agent in turn; it is one call, one journey, throughout.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, RunningEngine, free_port, require_tool
from tests.integration.sip_peers import Baresip, dominant_hz, write_speech_then_tone
from tests.integration.test_acd_call import CALLER_HZ, JIYEON_HZ, MINSU_HZ, acd_setup, agent_phone, status, wait_agents
from tests.integration.test_agents import threadline

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
ALEX_HZ = 700.0


class Desk:
    """An agent's desktop websocket, as the page uses it."""

    def __init__(self, session: aiohttp.ClientSession, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.session, self.socket = session, socket
        self.seen: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, engine: RunningEngine, agent: str, password: str) -> Desk:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        login = await session.post(f"{engine.http_url}/login", data={"agent": agent, "password": password})
        assert login.status == 200
        socket = await session.ws_connect(f"{engine.http_url.replace('http', 'ws')}/ws", origin=engine.http_url)
        return cls(session, socket)

    async def wait_for(self, kind: str, timeout_s: float = 30.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            while True:
                for message in self.seen:
                    if message.get("type") == kind:
                        self.seen.remove(message)
                        return message
                self.seen.append(await self.socket.receive_json())

    async def close(self) -> None:
        await self.socket.close()
        await self.session.close()


async def test_agent_to_agent_and_blind_transfers_keep_one_journey_and_the_pop_follows(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    crm_url, _ = mock_crm
    env, secrets = await acd_setup(tmp_path, crm_url)
    for agent in ("minsu", "jiyeon"):
        done = await asyncio.to_thread(threadline, "agents", "passwd", agent, "--password-stdin", "--flows", env["THREADLINE_FLOWS__FOLDER"], env=env, stdin=f"{agent}-password-1\n")
        assert done.returncode == 0, done.stderr
    engine: RunningEngine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'transfer.sqlite3'}", **env)
    minsu = await agent_phone(tmp_path, "minsu", "2001", secrets["minsu"], MINSU_HZ)
    jiyeon = await agent_phone(tmp_path, "jiyeon", "2002", secrets["jiyeon"], JIYEON_HZ)
    caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999))
    alex: Baresip | None = None
    desks: list[Desk] = []
    try:
        await wait_agents(engine, {"minsu": "available", "jiyeon": "available"})
        minsu_desk = await Desk.open(engine, "minsu", "minsu-password-1")
        jiyeon_desk = await Desk.open(engine, "jiyeon", "jiyeon-password-1")
        desks += [minsu_desk, jiyeon_desk]
        await caller.start(await asyncio.to_thread(write_speech_then_tone, tmp_path / "caller.wav", "요금 문의요", 6.0, 2.0, CALLER_HZ, 120.0))
        await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
        await caller.wait_event("CALL_ESTABLISHED")
        first_pop = await minsu_desk.wait_for("pop", timeout_s=40)
        await wait_agents(engine, {"minsu": "on_call"}, timeout_s=20)
        await asyncio.sleep(1.0)

        await minsu_desk.socket.send_json({"v": 1, "type": "transfer", "call_id": first_pop["call_id"], "to": "agent:minsu"})
        assert "no other agent" in (await minsu_desk.wait_for("error"))["error"]
        await minsu_desk.socket.send_json({"v": 1, "type": "transfer", "call_id": first_pop["call_id"], "to": "agent:jiyeon"})
        await minsu_desk.wait_for("transfer_started")
        second_pop = await jiyeon_desk.wait_for("pop")
        assert second_pop["call_id"] == first_pop["call_id"] and second_pop["transferred_from"] == "minsu"
        assert second_pop["intent"] == "billing" and second_pop["utterances"], "the IVR context follows the call"
        await wait_agents(engine, {"jiyeon": "on_call", "minsu": "wrap_up"}, timeout_s=20)
        left = (await status(engine))["agents"]["minsu"]["wrap_up_left_s"]
        await minsu_desk.socket.send_json({"v": 1, "type": "extend_wrap_up", "seconds": 30})
        await asyncio.sleep(0.5)
        assert (await status(engine))["agents"]["minsu"]["wrap_up_left_s"] > left + 25, "minsu asked for 30 s more wrap-up"
        await asyncio.sleep(4.5)

        alex = await agent_phone(tmp_path, "alex", "2003", secrets["alex"], ALEX_HZ)
        await wait_agents(engine, {"alex": "available"})
        await jiyeon_desk.socket.send_json({"v": 1, "type": "transfer", "call_id": first_pop["call_id"], "to": "queue:sales"})
        await jiyeon_desk.wait_for("transfer_started")
        await wait_agents(engine, {"alex": "on_call", "jiyeon": "wrap_up"}, timeout_s=20)
        await asyncio.sleep(4.0)
        await caller.command("hangup")
        await caller.wait_event("CALL_CLOSED")
    finally:
        for desk in desks:
            await desk.close()
        await caller.stop()
        for phone in (minsu, jiyeon, alex):
            if phone is not None:
                await phone.stop()

    (call,) = await engine.ended_calls(1)
    steps = [(e.kind, e.detail.get("agent") or e.detail.get("to") or e.detail.get("queue")) for e in call.events
             if e.kind in ("queued", "agent_answered", "transferred", "call_ended")]
    assert steps == [
        ("queued", "billing"), ("agent_answered", "minsu"), ("transferred", "agent:jiyeon"), ("agent_answered", "jiyeon"),
        ("transferred", "queue:sales"), ("queued", "sales"), ("agent_answered", "alex"), ("call_ended", "alex"),
    ], steps
    assert alex is not None
    caller_heard_hz, caller_heard_rms = await asyncio.to_thread(lambda: dominant_hz(caller.recording("dec"), -2.5, 0))
    assert caller_heard_rms > 0.01 and abs(caller_heard_hz - ALEX_HZ) < 30, ("the caller hears alex at the end", caller_heard_hz, caller_heard_rms)
    jiyeon_heard_hz, jiyeon_heard_rms = await asyncio.to_thread(lambda: dominant_hz(jiyeon.recording("dec"), -2.5, 0))
    assert jiyeon_heard_rms > 0.01 and abs(jiyeon_heard_hz - CALLER_HZ) < 30, ("jiyeon heard the caller", jiyeon_heard_hz, jiyeon_heard_rms)
    alex_heard_hz, alex_heard_rms = await asyncio.to_thread(lambda: dominant_hz(alex.recording("dec"), -2.5, 0))
    assert alex_heard_rms > 0.01 and abs(alex_heard_hz - CALLER_HZ) < 30, (alex_heard_hz, alex_heard_rms)
    leftovers = await asyncio.to_thread(pbx.rx, "core show channels concise")
    assert "tl-agent-" not in leftovers, leftovers
