"""Agents' softphones register with the credentials Threadline provisions; agents come and go without a restart."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, REPO, THREADLINE, free_port, require_tool
from tests.integration.sip_peers import Baresip, write_tone

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
INSTANCE_DIR = REPO / ".cache" / "instances" / PBX_ENV["THREADLINE_LOCALPBX__INSTANCE"]


def flows_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    shutil.copytree(REPO / "ivr_flows", folder)
    return folder


def read_with_mode(path: Path) -> tuple[str, int]:
    return path.read_text(encoding="utf-8"), path.stat().st_mode & 0o777


def add_agent(team: Path, entry: str | None) -> None:
    """Append an agent to the file, or (None) drop everything after the sample agents."""
    text = team.read_text(encoding="utf-8")
    team.write_text(text + entry if entry else text.split("  yuna:")[0], encoding="utf-8")


def threadline(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([THREADLINE, *args], cwd=REPO, env={**os.environ, **PBX_ENV, **env}, input=stdin, capture_output=True, text=True, timeout=60)


async def register(tmp_path: Path, name: str, user: str, secret: str) -> tuple[Baresip, str]:
    """Start a softphone that registers; the outcome as baresip logs it (it registers before ctrl_tcp is up)."""
    phone = Baresip(tmp_path / name, free_port(), free_port(), (45000, 45999), account=f"<sip:{user}@127.0.0.1:{SIP_PORT}>;auth_pass={secret};regint=60")
    await phone.start(await asyncio.to_thread(write_tone, tmp_path / f"{name}.wav", 5.0, amplitude=0))
    for _ in range(150):
        log = await asyncio.to_thread(phone.log_text)
        if re.search(rf"{user}@127.0.0.1: .* 200 OK", log):
            return phone, "REGISTER_OK"
        if re.search(rf"{user}@127.0.0.1(:\d+)?: (.* )?(401|403|407|failed)", log):
            return phone, "REGISTER_FAIL"
        await asyncio.sleep(0.1)
    return phone, "NO_ANSWER"


async def test_an_agent_registers_with_provisioned_credentials_and_a_wrong_secret_is_refused(pbx: LocalAsterisk, tmp_path: Path) -> None:
    require_tool("baresip")
    env = {"THREADLINE_ACD__SECRETS_FILE": str(tmp_path / "agents.json")}
    flows = await asyncio.to_thread(flows_copy, tmp_path)
    provisioned = await asyncio.to_thread(threadline, "agents", "provision", "--flows", str(flows), env=env)
    assert provisioned.returncode == 0, provisioned.stderr
    secret = re.search(r"^minsu: SIP user 2001, secret (\S+)", provisioned.stdout, re.M)
    assert secret, provisioned.stdout
    stored, mode = await asyncio.to_thread(read_with_mode, tmp_path / "agents.json")
    config, _ = await asyncio.to_thread(read_with_mode, pbx.host_dir / "etc" / "pjsip_agents.conf")
    assert mode == 0o600 and secret[1] not in stored and secret[1] not in config, "only digests are stored, in a 0600 file"

    agent, outcome = await register(tmp_path, "agent", "2001", secret[1])
    try:
        assert outcome == "REGISTER_OK", agent.log_text()
        contacts = await asyncio.to_thread(pbx.rx, "pjsip show contacts")
        assert re.search(r"2001/sip:2001\S*@127.0.0.1:\d+ .* Avail", contacts), contacts
    finally:
        await agent.stop()
    stranger, outcome = await register(tmp_path, "stranger", "2001", "not-the-secret")
    await stranger.stop()
    assert outcome == "REGISTER_FAIL"


async def test_an_agent_added_while_the_engine_runs_can_register_and_a_removed_one_is_gone(pbx: LocalAsterisk, start_engine, tmp_path: Path) -> None:
    require_tool("baresip")
    flows = await asyncio.to_thread(flows_copy, tmp_path)
    env = {"THREADLINE_FLOWS__FOLDER": str(flows), "THREADLINE_FLOWS__INBOUND": "support_ko", "THREADLINE_FLOWS__WATCH_S": "0.5", "THREADLINE_ACD__SECRETS_FILE": str(tmp_path / "agents.json")}
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'agents.sqlite3'}", **env)
    shown = INSTANCE_DIR / "new-sip-secrets" / "yuna.txt"
    await asyncio.to_thread(shown.unlink, missing_ok=True)

    team = flows / "agents" / "team.yaml"
    await asyncio.to_thread(add_agent, team, '  yuna:\n    name: 최유나\n    extension: "2077"\n    skills: {general: 3, korean: 5}\n')
    for _ in range(100):
        if await asyncio.to_thread(shown.exists) and "2077" in await asyncio.to_thread(pbx.rx, "pjsip show endpoints"):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"agent 2077 never reached Asterisk\n{engine.log_tail()}")
    text, mode = await asyncio.to_thread(read_with_mode, shown)
    assert mode == 0o600
    secret = re.search(r"secret (\S+)", text)
    assert secret
    agent, outcome = await register(tmp_path, "yuna", "2077", secret[1])
    await agent.stop()
    assert outcome == "REGISTER_OK", agent.log_text()

    await asyncio.to_thread(add_agent, team, None)
    for _ in range(100):
        if "2077" not in await asyncio.to_thread(pbx.rx, "pjsip show endpoints"):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"agent 2077 is still in Asterisk after being removed\n{engine.log_tail()}")
    assert "Asterisk restarted" not in engine.log_text()
