"""The ACD on the real Asterisk: a caller who speaks reaches the agent with the right skill; audio both ways.

Agents are baresip softphones that register with the credentials Threadline provisioned and answer
automatically. Each party sends its own tone, so the test can tell that each one hears the other.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, RunningEngine, free_port, require_tool, wait_for_event
from tests.integration.sip_peers import Baresip, dominant_hz, longest_silence, write_sentences_then_tone, write_speech_then_tone, write_tone
from tests.integration.test_agents import flows_copy, register, threadline

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
CALLER_HZ, MINSU_HZ, JIYEON_HZ = 440.0, 1000.0, 1500.0


ADMIN_TOKEN = "acd-test-admin-token-0123456789"


async def status(engine: RunningEngine) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession() as session, session.get(f"{engine.http_url}/status", headers=headers) as response:
        body: dict[str, Any] = await response.json()
        return body


async def wait_agents(engine: RunningEngine, wanted: dict[str, str], timeout_s: float = 20.0) -> None:
    for _ in range(int(timeout_s * 5)):
        agents = (await status(engine)).get("agents", {})
        if all(agents.get(agent, {}).get("status") == state for agent, state in wanted.items()):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"agents never reached {wanted}: {(await status(engine)).get('agents')}\n{engine.log_tail()}")


async def agent_phone(tmp_path: Path, name: str, extension: str, secret: str, tone_hz: float, says: list[tuple[float, str]] | None = None) -> Baresip:
    """An auto-answering softphone whose microphone sends a tone (after `says`, each (pause, text), if given)."""
    phone = Baresip(tmp_path / name, free_port(), free_port(), (46000, 46999), account=f"<sip:{extension}@127.0.0.1:{SIP_PORT}>;auth_pass={secret};regint=60;answermode=auto")
    microphone = tmp_path / f"{name}.wav"
    if says:
        await phone.start(await asyncio.to_thread(write_sentences_then_tone, microphone, says, tone_hz, 120.0))
    else:
        await phone.start(await asyncio.to_thread(write_tone, microphone, 120.0, tone_hz))
    return phone


async def acd_setup(tmp_path: Path, crm_url: str, queue_setting: str = "") -> tuple[dict[str, str], dict[str, str]]:
    """A copy of the sample flows (the billing queue given `queue_setting`, e.g. "ring_timeout_s: 5"),
    agents provisioned; returns the engine's environment and the agents' SIP secrets."""
    flows = await asyncio.to_thread(flows_copy, tmp_path)
    if queue_setting:
        queues = flows / "queues" / "support.yaml"
        await asyncio.to_thread(lambda: queues.write_text(queues.read_text().replace("    priority: 5\n    service_level", f"    priority: 5\n    {queue_setting}\n    service_level", 1)))
    env = {"THREADLINE_FLOWS__FOLDER": str(flows), "THREADLINE_FLOWS__INBOUND": "support_ko", "THREADLINE_LOOKUPS__CRM__URL": crm_url,
           "THREADLINE_ACD__SECRETS_FILE": str(tmp_path / "agents.json"), "THREADLINE_HTTP__ADMIN_TOKEN": ADMIN_TOKEN}
    provisioned = await asyncio.to_thread(threadline, "agents", "provision", "--flows", str(flows), env=env)
    assert provisioned.returncode == 0, provisioned.stderr
    return env, dict(re.findall(r"^(\w+): SIP user \d+, secret (\S+)", provisioned.stdout, re.M))


async def test_a_caller_who_says_billing_reaches_the_billing_agent_and_they_hear_each_other(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    crm_url, _ = mock_crm
    env, secrets = await acd_setup(tmp_path, crm_url)
    passwd = await asyncio.to_thread(threadline, "agents", "passwd", "minsu", "--password-stdin", "--flows", env["THREADLINE_FLOWS__FOLDER"], env=env, stdin="minsu-password-1\n")
    assert passwd.returncode == 0, passwd.stderr
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'acd.sqlite3'}", **env)
    minsu = await agent_phone(tmp_path, "minsu", "2001", secrets["minsu"], MINSU_HZ)
    jiyeon = await agent_phone(tmp_path, "jiyeon", "2002", secrets["jiyeon"], JIYEON_HZ)
    caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999))
    try:
        await wait_agents(engine, {"minsu": "available", "jiyeon": "available"})
        await caller.start(await asyncio.to_thread(write_speech_then_tone, tmp_path / "caller.wav", "요금 문의요", 6.0, 2.0, CALLER_HZ, 60.0))
        await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
        await caller.wait_event("CALL_ESTABLISHED")
        await wait_agents(engine, {"minsu": "on_call", "jiyeon": "available"}, timeout_s=40)
        await asyncio.sleep(7.0)  # both talk: the caller's tone starts 2 s after its words, the agent's plays throughout
        await caller.command("hangup")
        await caller.wait_event("CALL_CLOSED")
        await wait_agents(engine, {"minsu": "wrap_up"})
    finally:
        await caller.stop()
        await minsu.stop()
        await jiyeon.stop()

    (call,) = await engine.ended_calls(1)
    events = [(e.kind, e.detail) for e in call.events]
    kinds = [kind for kind, _ in events]
    assert "dtmf" not in kinds, "routed by voice alone"
    assert kinds.index("intent_chosen") < kinds.index("queued") < kinds.index("agent_ringing") < kinds.index("agent_answered") < kinds.index("call_ended")
    assert next(d for k, d in events if k == "agent_ringing")["agent"] == "minsu", "the agent with the billing skill"
    assert next(d for k, d in events if k == "call_ended")["by"] == "caller"

    agent_heard_hz, agent_heard_rms = await asyncio.to_thread(lambda: dominant_hz(minsu.recording("dec"), -3.0, 0))
    caller_heard_hz, caller_heard_rms = await asyncio.to_thread(lambda: dominant_hz(caller.recording("dec"), -3.0, 0))
    assert agent_heard_rms > 0.01 and abs(agent_heard_hz - CALLER_HZ) < 30, (agent_heard_hz, agent_heard_rms)
    assert caller_heard_rms > 0.01 and abs(caller_heard_hz - MINSU_HZ) < 30, (caller_heard_hz, caller_heard_rms)
    leftovers = await asyncio.to_thread(pbx.rx, "core show channels concise")
    assert "tl-agent-" not in leftovers and "tl-tap-" not in leftovers, leftovers

    # Wrap-up on the desktop's websocket: the disposition and notes go into the call's journey.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as desk:  # unsafe: cookies for an IP address
        login = await desk.post(f"{engine.http_url}/login", data={"agent": "minsu", "password": "minsu-password-1"})
        assert login.status == 200
        socket = await desk.ws_connect(f"{engine.http_url.replace('http', 'ws')}/ws", origin=engine.http_url)
        await socket.send_json({"v": 1, "type": "wrap_up", "call_id": call.channel_id, "disposition": "refund_issued", "notes": "두 번 결제된 요금 환불"})
        while (reply := await socket.receive_json(timeout=5))["type"] in ("state", "pop", "queues", "directory", "pop_cleared"):
            pass
        assert reply == {"v": 1, "type": "wrap_up_saved", "call_id": call.channel_id}, reply
        await socket.close()
    async with engine.store() as store:
        record = await store.get_call(call.channel_id)
    assert record is not None
    saved = next(e.detail for e in record.events if e.kind == "disposition")
    assert saved == {"agent": "minsu", "disposition": "refund_issued", "notes": "두 번 결제된 요금 환불"}


async def test_an_agent_who_does_not_answer_is_paused_and_the_caller_reaches_the_next(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    """minsu's phone rings out (no auto-answer): minsu is paused `no-answer`, the caller keeps its
    place and reaches alex. Then alex's phone unregisters and alex is no longer offered calls."""
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    crm_url, _ = mock_crm
    env, secrets = await acd_setup(tmp_path, crm_url, "ring_timeout_s: 5")
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'acd.sqlite3'}", **env)
    minsu = Baresip(tmp_path / "minsu", free_port(), free_port(), (46000, 46999), account=f"<sip:2001@127.0.0.1:{SIP_PORT}>;auth_pass={secrets['minsu']};regint=60")
    await minsu.start(await asyncio.to_thread(write_tone, tmp_path / "minsu.wav", 60.0, MINSU_HZ))
    alex = await agent_phone(tmp_path, "alex", "2003", secrets["alex"], JIYEON_HZ)
    caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999))
    try:
        await wait_agents(engine, {"minsu": "available", "alex": "available"})
        # Routed by key: this test is about ring-no-answer, not the recogniser (a missed "요금 문의요"
        # sent a fresh-clone CI run's caller to the menu's fallback queue instead).
        await caller.start(await asyncio.to_thread(write_tone, tmp_path / "caller.wav", 60.0, amplitude=0))
        await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
        await caller.wait_event("CALL_ESTABLISHED")
        await wait_for_event(engine, "node_entered", node="menu")
        await caller.command("sndcode", "1")
        await wait_agents(engine, {"alex": "on_call"}, timeout_s=40)
        agents = (await status(engine))["agents"]
        assert (agents["minsu"]["status"], agents["minsu"]["reason"]) == ("paused", "no-answer"), agents
        await caller.command("hangup")
        await caller.wait_event("CALL_CLOSED")
        await alex.stop()  # the softphone unregisters
        for _ in range(50):
            if not (await status(engine))["agents"]["alex"]["registered"]:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"alex still counts as registered\n{engine.log_tail()}")
    finally:
        await caller.stop()
        await minsu.stop()
        await alex.stop()

    (call,) = await engine.ended_calls(1)
    events = [(e.kind, e.detail) for e in call.events]
    kinds = [kind for kind, _ in events]
    missed = next(d for k, d in events if k == "agent_not_answered")
    assert (missed["agent"], missed["reason"]) == ("minsu", "no-answer")
    assert next(d for k, d in events if k == "agent_answered")["agent"] == "alex"
    assert kinds.index("agent_not_answered") < kinds.index("agent_answered")


async def test_an_engine_restart_leaves_a_conversation_with_an_agent_alone(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    """SIGTERM while a caller talks to an agent: no hold music over them, no bound that cuts them off;
    the next engine adopts the call without replaying the menu, and the two still hear each other."""
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    crm_url, _ = mock_crm
    env, secrets = await acd_setup(tmp_path, crm_url)
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'restart.sqlite3'}"
    first = await start_engine(database_url, **env)
    minsu = await agent_phone(tmp_path, "minsu", "2001", secrets["minsu"], MINSU_HZ)
    caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999))
    try:
        await wait_agents(first, {"minsu": "available"})
        await caller.start(await asyncio.to_thread(write_speech_then_tone, tmp_path / "caller.wav", "요금 문의요", 6.0, 2.0, CALLER_HZ, 90.0))
        await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
        await caller.wait_event("CALL_ESTABLISHED")
        await wait_agents(first, {"minsu": "on_call"}, timeout_s=40)
        assert await first.stop() == 0, first.log_tail()
        await asyncio.sleep(12.0)  # longer than calls.engine_wait_s (10 s here): nothing may cut them off
        second = await start_engine(database_url, **env)
        for _ in range(50):
            async with second.store() as store:
                calls = await store.recent_calls(limit=1)
            if calls and any(e.kind == "left_with_agent" for e in calls[0].events):
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"the call was not adopted\n{second.log_tail()}")
        await wait_agents(second, {"minsu": "on_call"}, timeout_s=10)  # the new engine knows minsu is busy
        await asyncio.sleep(3.0)
        await caller.command("hangup")
        await caller.wait_event("CALL_CLOSED")
        await minsu.wait_event("CALL_CLOSED", timeout_s=10)  # the caller left: the agent's leg is ended too
        await wait_agents(second, {"minsu": "wrap_up"}, timeout_s=10)
    finally:
        await caller.stop()
        await minsu.stop()

    (call,) = await second.ended_calls(1)
    kinds = [e.kind for e in call.events]
    after = kinds[kinds.index("left_with_agent"):]
    assert "node_entered" not in after and "prompt_started" not in after, f"the flow was replayed into the conversation: {after}"
    handed = next(e.detail for e in call.events if e.kind == "handed_over")
    assert handed.get("talking_to_agent") is True
    heard_hz, heard_rms = await asyncio.to_thread(lambda: dominant_hz(caller.recording("dec"), -3.0, 0))
    assert heard_rms > 0.01 and abs(heard_hz - MINSU_HZ) < 30, ("the caller still hears the agent at the end", heard_hz, heard_rms)
    assert "conversation_adopted" in after and next(e.detail for e in call.events if e.kind == "call_ended")["by"] == "caller"
    bridges = await asyncio.to_thread(pbx.rx, "bridge show all")
    assert "tl-call-" not in bridges, bridges


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
async def test_callers_waiting_when_the_engine_restarts_keep_their_order(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path, stop: str
) -> None:
    """Three callers wait (no agent is there yet); the engine is stopped (SIGTERM) or killed
    (SIGKILL) and started again; then an agent arrives and answers them in the order they first
    queued, without the menu again. The queue's music goes on meanwhile: no dead air."""
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    crm_url, _ = mock_crm
    env, secrets = await acd_setup(tmp_path, crm_url, "wrap_up_s: 0")
    # The first engine leaves its callers on hold for this long: room for the second one to start on a
    # busy 2-core runner (model load, flows, ARI), where 10 s was sometimes not enough.
    env["THREADLINE_CALLS__ENGINE_WAIT_S"] = "30"
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'requeue.sqlite3'}"
    first = await start_engine(database_url, **env)
    callers = [Baresip(tmp_path / f"caller{n}", free_port(), free_port(), (47000 + 300 * n, 47299 + 300 * n)) for n in range(3)]
    minsu: Baresip | None = None
    try:
        for n, caller in enumerate(callers):  # by key: this test is about the queue, not the recogniser
            await caller.start(await asyncio.to_thread(write_tone, tmp_path / f"caller{n}.wav", 120.0, CALLER_HZ, amplitude=0))
            await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
            await caller.wait_event("CALL_ESTABLISHED")
            for _ in range(200):
                async with first.store() as store:
                    at_menu = [c for c in await store.recent_calls(limit=5) if any(e.kind == "node_entered" and e.detail.get("node") == "menu" for e in c.events)]
                if len(at_menu) == n + 1:
                    break
                await asyncio.sleep(0.1)
            await caller.command("sndcode", "1")
            for _ in range(200):
                async with first.store() as store:
                    waiting = [c for c in await store.recent_calls(limit=5) if any(e.kind == "queued" for e in c.events)]
                if len(waiting) == n + 1:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"caller {n} never queued\n{first.log_tail()}")
        arrival = [c.channel_id for c in sorted(waiting, key=lambda c: c.arrived_at)]
        if stop == "sigkill":
            first.process.kill()
            await asyncio.to_thread(first.process.wait, 10)
        else:
            assert await first.stop() == 0, first.log_tail()
        second = await start_engine(database_url, **env)
        for _ in range(100):
            async with second.store() as store:
                calls = await store.recent_calls(limit=5)
            if sum(1 for c in calls for e in c.events if e.kind == "queued" and e.detail.get("after_restart")) == 3:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"the waiting callers were not queued again\n{second.log_tail()}")
        minsu = await agent_phone(tmp_path, "minsu", "2001", secrets["minsu"], MINSU_HZ)
        answered: list[str] = []
        for _ in range(3):
            for _ in range(200):
                async with second.store() as store:
                    calls = await store.recent_calls(limit=5)
                talking = [c.channel_id for c in calls if c.ended_at is None and any(e.kind == "agent_answered" for e in c.events)]
                if talking:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"no caller reached the agent (answered so far: {answered})\n{second.log_tail()}")
            answered.append(talking[0])
            index = arrival.index(talking[0])
            await callers[index].command("hangup")
            await callers[index].wait_event("CALL_CLOSED")
            await second.ended_calls(len(answered))
    finally:
        for caller in callers:
            await caller.stop()
        if minsu is not None:
            await minsu.stop()

    assert answered == arrival, "served in the order they first queued"
    for caller in callers:  # from the queue on, music, announcements, then the agent: never silence
        silent_s = await asyncio.to_thread(lambda: longest_silence(caller.recording("dec"), 4.0))
        assert silent_s < 2.5, f"{caller.workdir.name} heard {silent_s:.1f} s of dead air"
    async with second.store() as store:
        for channel_id in arrival:
            record = await store.get_call(channel_id)
            assert record is not None
            kinds = [e.kind for e in record.events]
            after = kinds[kinds.index("resumed"):]
            assert "node_entered" not in after and "flow_resumed" not in after, f"the menu was replayed: {after}"
