"""Chaos on the real Asterisk: 200 SIPp callers hang up at random moments while agents answer,
reject and hang up. Afterwards nobody is stuck: every agent is in a consistent state, every call
has one row with a final outcome, and Asterisk holds no channel or bridge.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import aiohttp
import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, RunningEngine, free_port, require_tool
from tests.integration.sip_peers import Baresip, run_sipp, write_tone
from tests.integration.test_acd_call import MINSU_HZ, acd_setup, agent_phone, status, wait_agents
from tests.integration.test_agents import threadline

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
CALLS, RATE = 200, 5
SEED = 20261124
CHAOS_FLOW = """\
# Straight to the general queue: the chaos test measures the ACD, not the IVR.
flow: chaos
language: ko
start: queue_now
nodes:
  queue_now:
    type: queue
    queue: general
"""
SETTLED = {"available", "paused", "logged_out"}
"""States an agent may be in once every call is over; reserved, on call or wrap-up would be stuck."""


async def fickle_agent(phone: Baresip, engine: RunningEngine, password: str, rng: random.Random, tally: dict[str, int]) -> None:
    """sora answers some calls, rejects others, and hangs up on some callers; after a rejection
    (paused by the engine) she makes herself available again from her desktop's websocket."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as desk:
        login = await desk.post(f"{engine.http_url}/login", data={"agent": "sora", "password": password})
        assert login.status == 200
        socket = await desk.ws_connect(f"{engine.http_url.replace('http', 'ws')}/ws", origin=engine.http_url)
        try:
            while True:
                event = await phone._read_message()
                kind = event.get("type")
                if kind == "CALL_INCOMING":
                    if rng.random() < 0.3:
                        tally["rejected"] += 1
                        await phone.command("hangup")
                        await asyncio.sleep(rng.uniform(0.2, 1.5))
                        await socket.send_json({"v": 1, "type": "set_state", "status": "available"})
                    else:
                        tally["answered"] += 1
                        await phone.command("accept")
                elif kind == "CALL_ESTABLISHED" and rng.random() < 0.3:
                    tally["hung_up"] += 1
                    await asyncio.sleep(rng.uniform(0.2, 3.0))
                    await phone.command("hangup")
        finally:
            await socket.close()


async def test_two_hundred_callers_hang_up_at_random_and_nobody_is_stuck(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    for tool in ("baresip", "sipp", "sox"):
        require_tool(tool)
    crm_url, _ = mock_crm
    env, secrets = await acd_setup(tmp_path, crm_url)
    flows = Path(env["THREADLINE_FLOWS__FOLDER"])
    await asyncio.to_thread((flows / "chaos.yaml").write_text, CHAOS_FLOW)
    queues = flows / "queues" / "support.yaml"
    text = await asyncio.to_thread(queues.read_text)
    general = "  general:\n    skills: {general: 1}\n    priority: 5\n"
    assert general in text
    await asyncio.to_thread(queues.write_text, text.replace(general, general + "    wrap_up_s: 1\n    ring_timeout_s: 5\n"))
    env["THREADLINE_FLOWS__INBOUND"] = "chaos"
    passwd = await asyncio.to_thread(threadline, "agents", "passwd", "sora", "--password-stdin", "--flows", str(flows), env=env, stdin="sora-password-1\n")
    assert passwd.returncode == 0, passwd.stderr
    engine: RunningEngine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'chaos.sqlite3'}", **env)

    rng = random.Random(SEED)
    phones = [await agent_phone(tmp_path, name, extension, secrets[name], MINSU_HZ) for name, extension in (("minsu", "2001"), ("jiyeon", "2002"), ("alex", "2003"))]
    sora = Baresip(tmp_path / "sora", free_port(), free_port(), (46000, 46999), account=f"<sip:2009@127.0.0.1:{SIP_PORT}>;auth_pass={secrets['sora']};regint=60")
    await sora.start(await asyncio.to_thread(write_tone, tmp_path / "sora.wav", 120.0, MINSU_HZ))
    phones.append(sora)
    tally = {"rejected": 0, "answered": 0, "hung_up": 0}
    agent_task = asyncio.create_task(fickle_agent(sora, engine, "sora-password-1", rng, tally))
    try:
        await wait_agents(engine, {"minsu": "available", "jiyeon": "available", "alex": "available", "sora": "available"})
        result = await run_sipp("uac_chaos.xml", SIP_PORT, "1588", calls=CALLS, rate=RATE, local_port=free_port(), media_port=free_port(), timeout_s=120)
        assert result.successful + result.failed == CALLS, result.output[-3000:]
        calls = await engine.ended_calls(CALLS, timeout_s=60)
        await asyncio.sleep(3.0)  # the last wrap-ups (1 s) end by time
        agents = (await status(engine))["agents"]
    finally:
        agent_task.cancel()
        await asyncio.gather(agent_task, return_exceptions=True)
        for phone in phones:
            await phone.stop()

    stuck = {agent: state for agent, state in agents.items() if state["status"] not in SETTLED or state.get("call_id")}
    assert not stuck, f"agents stuck after the chaos run: {stuck}\n{engine.log_tail()}"
    for agent in ("minsu", "jiyeon", "alex"):
        assert agents[agent]["status"] == "available", agents
    assert len(calls) == CALLS and len({call.channel_id for call in calls}) == CALLS, "one row per call"
    outcomes: dict[str, int] = {}
    for call in calls:
        assert call.ended_at is not None, call.channel_id
        kinds = [event.kind for event in call.events]
        final = next((kind for kind in reversed(kinds) if kind in ("abandoned", "call_ended")), None)
        if "queued" in kinds:
            assert final is not None, (call.channel_id, kinds)
            assert kinds.count("abandoned") + kinds.count("call_ended") == 1, (call.channel_id, kinds)
        outcomes[final or "left before queueing"] = outcomes.get(final or "left before queueing", 0) + 1
    announced = [e.detail for call in calls for e in call.events if e.kind == "wait_announced"]
    assert any(a["estimate_s"] is not None and "예상 대기 시간은" in a["said"] for a in announced), announced[:5]
    heard = [call for call in calls if "prompt_finished" in _after([e.kind for e in call.events], "wait_announced")]
    print(f"chaos: {len(announced)} wait announcements, {len(heard)} calls with a prompt finished after one")
    print(f"chaos: {CALLS} calls, outcomes {outcomes}, sora {tally}, SIPp successful {result.successful} failed {result.failed}")
    assert outcomes.get("call_ended", 0) >= 10 and outcomes.get("abandoned", 0) >= 10, outcomes

    channels = await asyncio.to_thread(pbx.rx, "core show channels concise")
    bridges = await asyncio.to_thread(pbx.rx, "bridge show all")
    assert channels.strip() == "", channels
    left = [line for line in bridges.splitlines() if line.strip() not in ("", ".") and not line.startswith("Bridge-ID")]
    assert left == [], bridges
    async with engine.store() as store:
        assert await store.open_calls() == {}


def _after(kinds: list[str], first: str) -> list[str]:
    return kinds[kinds.index(first) + 1:] if first in kinds else []
