"""`threadline run --demo` on the real Asterisk, as a newcomer uses it: read the printed logins,
log in as the demo agent and supervisor, register the agent's softphone with the printed SIP
secret, call the printed SIP address, key through the sample flow to billing, and see the demo
CRM's customer on the agent's screen-pop and in the journey. The logins are also kept in a 0600
file; a second start reprints no password and names that file. With JSON logs the banner is one log line.

Also, without the demo and without flows.inbound, people can still log in (they used not to), and
SIGHUP or POST /flows/reload re-read the agents (a removed role ends the session) with flows.watch_s = 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.demo.demo_crm import CUSTOMERS, DEMO_MARK
from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, REPO, THREADLINE, RunningEngine, free_port, require_tool, wait_for_event
from tests.integration.sip_peers import Baresip, write_tone
from tests.integration.test_acd_call import agent_phone
from tests.integration.test_agents import threadline
from tests.integration.test_recording import recordings_of

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
BANNER_FIELDS = {
    "agent_page": r"^  agent page +(http://\S+/agent)$",
    "supervisor_page": r"^  supervisor page +(http://\S+/supervisor)$",
    "caller_page": r"^  caller page +(http://\S+/try)$",
    "agent": r"^  agent +(\w+) +/ (\S+)   \(",
    "supervisor": r"^  supervisor +(\w+) +/ (\S+)   \(",
    "sip_address": r"^  call in \(SIP\) +(sip:\S+)   \(",
    "softphone": r"^  \w+'s softphone +user (\d+), secret (.+), server 127\.0\.0\.1:\d+$",
    "crm": r"^  demo CRM +(\S+)",
}


def _spawn(args: list[str], environ: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log_file:
        return subprocess.Popen([THREADLINE, *args], cwd=REPO, env=environ, stdout=log_file, stderr=subprocess.STDOUT)


@contextlib.asynccontextmanager
async def engine_process(tmp_path: Path, name: str, *args: str, **env: str) -> AsyncIterator[RunningEngine]:
    """`threadline run ARGS` with the test Asterisk's ports and instance (the usual settings and
    environment), its own database and secrets file; SIGTERM at the end."""
    port = free_port()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}"
    environ = {
        **os.environ, **PBX_ENV, "THREADLINE_DATABASE__URL": database_url, "THREADLINE_HTTP__PORT": str(port),
        "THREADLINE_RECORDING__FOLDER": str(tmp_path / "recordings"), "THREADLINE_ACD__SECRETS_FILE": str(tmp_path / "agents.json"), **env,
    }
    log_path = tmp_path / f"{name}.log"
    process = await asyncio.to_thread(_spawn, ["run", *args], environ, log_path)
    engine = RunningEngine(process, f"http://127.0.0.1:{port}", database_url, log_path)
    try:
        await engine.wait_health(200, timeout_s=90)
        yield engine
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait, 10)
        print(f"\n{engine.log_tail(3000)}")


async def printed_banner(engine: RunningEngine, timeout_s: float = 30.0) -> dict[str, tuple[str, ...]]:
    """The demo's banner as the engine printed it, field by field."""
    text = await logged_line(engine, "Passwords and secrets are shown once", timeout_s)
    banner = text[text.index("Threadline demo:"):]
    found = {field: re.search(pattern, banner, re.M) for field, pattern in BANNER_FIELDS.items()}
    missing = [field for field, match in found.items() if match is None]
    assert not missing, f"banner without {missing}:\n{banner[:1500]}"
    return {field: match.groups() for field, match in found.items() if match is not None}


async def logged_line(engine: RunningEngine, line: str, timeout_s: float = 30.0) -> str:
    for _ in range(int(timeout_s * 5)):
        text = await asyncio.to_thread(engine.log_text)
        if line in text:
            return text
        await asyncio.sleep(0.2)
    raise AssertionError(f"the engine never logged {line!r}\n{engine.log_tail()}")


async def logged_in(http: aiohttp.ClientSession, engine: RunningEngine, agent_id: str, password: str) -> None:
    async with http.post(f"{engine.http_url}/login", data={"agent": agent_id, "password": password}) as response:
        assert response.status == 200, f"{agent_id} could not log in: {response.status} {await response.text()}"


async def page_status(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(url, allow_redirects=False) as response:
        return response.status


async def wait_available(supervisor: aiohttp.ClientSession, engine: RunningEngine, agent_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
    status: dict[str, Any] = {}
    for _ in range(int(timeout_s * 5)):
        async with supervisor.get(f"{engine.http_url}/status") as response:
            assert response.status == 200, "the demo supervisor may read /status"
            status = await response.json()
        if status.get("agents", {}).get(agent_id, {}).get("status") == "available":
            return status
        await asyncio.sleep(0.2)
    raise AssertionError(f"{agent_id} never became available: {status.get('agents')}\n{engine.log_tail()}")


async def next_pop(socket: aiohttp.ClientWebSocketResponse, timeout_s: float = 60.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            message: dict[str, Any] = await socket.receive_json()
            if message["type"] == "pop":
                return message


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} has no {old!r}"
    path.write_text(text.replace(old, new, 1))


def jar() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # unsafe: cookies for an IP address


async def test_the_demo_prints_logins_that_work_and_a_keyed_call_reaches_billing_with_the_demo_customer(pbx: LocalAsterisk, tmp_path: Path) -> None:
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    async with engine_process(tmp_path, "demo-1", "--demo") as engine:
        printed = await printed_banner(engine)
        (agent_id, agent_password), (supervisor_id, supervisor_password) = printed["agent"], printed["supervisor"]
        sip_user, sip_secret = printed["softphone"]
        assert (agent_id, supervisor_id, sip_user) == ("minsu", "sora", "2001")
        assert printed["agent_page"] == (f"{engine.http_url}/agent",) and printed["supervisor_page"] == (f"{engine.http_url}/supervisor",)
        assert printed["caller_page"] == (f"{engine.http_url}/try",)
        assert printed["sip_address"] == (f"sip:1588@127.0.0.1:{SIP_PORT}",), "the test Asterisk's SIP port, from the usual settings"
        assert printed["crm"][0].startswith("http://127.0.0.1:") and printed["crm"][0] != engine.http_url
        kept = tmp_path / "demo-credentials.txt"  # next to acd.secrets_file
        assert (await asyncio.to_thread(kept.stat)).st_mode & 0o777 == 0o600 and f"kept in {kept}" in await asyncio.to_thread(engine.log_text)
        kept_text = await asyncio.to_thread(kept.read_text)
        assert f"minsu password: {agent_password}" in kept_text and f"secret {sip_secret}" in kept_text

        async with jar() as stranger:
            assert await page_status(stranger, printed["caller_page"][0]) == 200, "the printed caller page is served to anyone"
            async with stranger.get(f"{engine.http_url}/try/config") as answer:
                assert answer.status == 200 and (await answer.json())["websocket_url"].endswith("/try/sip")
        async with jar() as agent, jar() as supervisor:
            await logged_in(agent, engine, agent_id, agent_password)
            await logged_in(supervisor, engine, supervisor_id, supervisor_password)
            assert await page_status(agent, f"{engine.http_url}/agent") == 200
            assert await page_status(supervisor, f"{engine.http_url}/supervisor") == 200
            assert await page_status(agent, f"{engine.http_url}/supervisor") == 403, "the demo agent is no supervisor"
            await logged_line(engine, "agents' SIP endpoints reloaded in Asterisk")  # the new secret's digest is in Asterisk
            phone = await agent_phone(tmp_path, "minsu", sip_user, sip_secret, 1000.0)  # the printed SIP secret registers
            caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999))
            try:
                status = await wait_available(supervisor, engine, agent_id)
                assert status["flows"]["inbound"] == "support_ko"
                desk = await agent.ws_connect(f"{engine.http_url.replace('http', 'ws')}/ws", origin=engine.http_url)
                await caller.start(await asyncio.to_thread(write_tone, tmp_path / "caller.wav", 90.0, amplitude=0))  # keys only
                await caller.command("dial", printed["sip_address"][0])
                await caller.wait_event("CALL_ESTABLISHED")
                await wait_for_event(engine, "node_entered", node="menu")
                await asyncio.sleep(1.0)  # into the menu prompt: the key barges in
                await caller.command("sndcode", "1")
                pop = await next_pop(desk)
                await wait_for_event(engine, "agent_answered", timeout_s=30)
                await asyncio.sleep(3.0)  # a short conversation, recorded
                await caller.command("hangup")
                await caller.wait_event("CALL_CLOSED", timeout_s=30)
                await desk.close()
            finally:
                await caller.stop()
                await phone.stop()

        assert pop["queue"] == "billing" and pop["intent"] == "billing"
        assert pop["customer"]["name"] == CUSTOMERS[0].name and pop["customer"]["demo"] == DEMO_MARK, pop["customer"]
        (call,) = await engine.ended_calls(1)
        events = [(e.kind, e.detail) for e in call.events]
        lookup = next(detail for kind, detail in events if kind == "lookup")
        assert lookup["ok"] is True and lookup["result"]["customer_id"] == CUSTOMERS[0].customer_id and lookup["result"]["demo"] == DEMO_MARK
        assert next(detail for kind, detail in events if kind == "queued")["queue"] == "billing"
        assert next(detail for kind, detail in events if kind == "agent_answered")["agent"] == agent_id
        (recording,) = await recordings_of(engine, call.channel_id)
        assert recording.call_id == call.channel_id, "the demo records calls"

    async with engine_process(tmp_path, "demo-2", "--demo") as again:
        text = await logged_line(again, "Passwords and secrets are shown once")
        assert agent_password not in text and supervisor_password not in text and sip_secret not in text, "a later start reprints nothing"
        assert text.count(f"not shown again; see {kept}") == 3, text[-2000:]
        async with jar() as agent:
            await logged_in(agent, again, agent_id, agent_password)  # the first start's password still works

    settings_file = tmp_path / "json-logs.toml"
    await asyncio.to_thread(settings_file.write_text, '[log]\nformat = "json"\n[flows]\ninbound = "support_ko"\n')
    async with engine_process(tmp_path, "demo-json", "--demo", THREADLINE_CONFIG=str(settings_file)) as in_json:
        text = await logged_line(in_json, "demo running")
        assert "warning: --demo runs under your settings (flows.inbound = support_ko)" not in text, "the demo's own flow is no override"
        stdout = [line for line in text.splitlines() if line.startswith("{")]
        (announced,) = [json.loads(line) for line in stdout if "demo running" in line]
        assert announced["demo"]["credentials_file"] == str(kept) and "Threadline demo:" not in text, "no banner inside the JSON stream"
        assert agent_password not in text and supervisor_password not in text and sip_secret not in text


async def test_without_the_demo_and_without_an_inbound_flow_people_can_still_log_in(pbx: LocalAsterisk, tmp_path: Path) -> None:
    env = {"THREADLINE_ACD__SECRETS_FILE": str(tmp_path / "agents.json")}
    passwd = await asyncio.to_thread(threadline, "agents", "passwd", "sora", "--password-stdin", env=env, stdin="sora-password-1\n")
    assert passwd.returncode == 0, passwd.stderr
    folder = tmp_path / "flows"
    await asyncio.to_thread(shutil.copytree, REPO / "ivr_flows", folder)
    team = folder / "agents" / "team.yaml"
    token = "staff-reload-token-0123456789abcdef"
    watch_off = {"THREADLINE_FLOWS__FOLDER": str(folder), "THREADLINE_FLOWS__WATCH_S": "0", "THREADLINE_HTTP__ADMIN_TOKEN": token}
    async with engine_process(tmp_path, "plain", **env, **watch_off) as engine, jar() as supervisor:
        assert "Threadline demo" not in await asyncio.to_thread(engine.log_text), "the demo is never the default"
        await logged_in(supervisor, engine, "sora", "sora-password-1")
        assert await page_status(supervisor, f"{engine.http_url}/supervisor") == 200
        async with supervisor.get(f"{engine.http_url}/status") as response:
            assert (await response.json())["flows"]["inbound"] is None

        await asyncio.to_thread(edit, team, "roles: [agent, supervisor, qa]", "roles: [agent]")
        engine.process.send_signal(signal.SIGHUP)
        await logged_line(engine, "(SIGHUP; no flow runs inbound calls)")
        assert await page_status(supervisor, f"{engine.http_url}/supervisor") != 200, "SIGHUP re-read the agents: the removed role is gone"

        await asyncio.to_thread(edit, team, "roles: [agent]", "roles: [agent, supervisor, qa]")
        async with aiohttp.ClientSession() as operator:
            async with operator.post(f"{engine.http_url}/flows/reload", headers={"Authorization": f"Bearer {token}"}) as response:
                assert response.status == 200, await response.text()
        async with jar() as again:
            await logged_in(again, engine, "sora", "sora-password-1")
            assert await page_status(again, f"{engine.http_url}/supervisor") == 200, "POST /flows/reload re-read the agents at once"
