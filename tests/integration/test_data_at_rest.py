"""Personal data at rest on the real engine: a prompt with the caller's number is rendered for that
call alone, readable by Asterisk (the caller hears it) and by nobody else, and deleted when the call
ends; the SQLite database is created 0640 in a 0750 folder; `threadline db upgrade` never prints the
database password."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from engine.localpbx.local_asterisk import LocalAsterisk
from engine.settings import load_settings
from engine.speech.prompt_audio import EspeakNg, PromptCache
from tests.integration.conftest import PBX_ENV, REPO, THREADLINE, free_port, fresh_postgres_database, require_tool
from tests.integration.sip_peers import Baresip, write_tone

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])

FLOW = """\
flow: private
language: en
start: welcome
nodes:
  welcome: {type: say, prompt: Welcome to the private line., next: number}
  number: {type: say, prompt: "Your number is {caller_number}.", next: bye}
  bye: {type: hangup}
"""


def call_prompts(folder: Path) -> list[Path]:
    return sorted(folder.glob("call-*.wav"))


def modes(paths: list[Path]) -> list[tuple[int, int]]:
    """(permission bits, group) of each file."""
    return [(path.stat().st_mode & 0o777, path.stat().st_gid) for path in paths]


async def test_a_per_caller_prompt_plays_and_is_gone_after_the_call(pbx: LocalAsterisk, start_engine, tmp_path: Path) -> None:
    require_tool("baresip")
    require_tool("espeak-ng")
    flows = tmp_path / "flows"
    await asyncio.to_thread(flows.mkdir)
    await asyncio.to_thread((flows / "private.yaml").write_text, FLOW)
    database = tmp_path / "data" / "threadline.sqlite3"
    engine = await start_engine(f"sqlite+aiosqlite:///{database}", THREADLINE_FLOWS__FOLDER=str(flows), THREADLINE_FLOWS__INBOUND="private")
    prompts = (await asyncio.to_thread(load_settings, None, PBX_ENV)).prompt_dirs[0]
    asterisk_group = (await asyncio.to_thread(prompts.parent.stat)).st_gid

    folder_stat = await asyncio.to_thread(prompts.stat)
    assert folder_stat.st_mode & 0o7777 == 0o2750 and folder_stat.st_gid == asterisk_group
    static = [PromptCache(prompts, EspeakNg()).path_for("Welcome to the private line.", "en")]  # this flow's static prompt
    assert static and await asyncio.to_thread(modes, static) == [(0o640, asterisk_group)] * len(static)

    phone = Baresip(tmp_path / "baresip", free_port(), free_port(), (43000, 43999))
    await phone.start(await asyncio.to_thread(write_tone, tmp_path / "mic.wav", 30.0, amplitude=0))
    seen: list[Path] = []
    earlier = set(await asyncio.to_thread(call_prompts, prompts))  # another test's engine may have been killed mid-call
    try:
        await phone.command("dial", f"sip:6400@127.0.0.1:{SIP_PORT}")
        await phone.wait_event("CALL_ESTABLISHED")
        deadline = time.monotonic() + 20
        while not (seen := [p for p in await asyncio.to_thread(call_prompts, prompts) if p not in earlier]):
            assert time.monotonic() < deadline, f"the per-call prompt was never rendered\n{engine.log_tail()}"
            await asyncio.sleep(0.05)
        assert await asyncio.to_thread(modes, seen) == [(0o640, asterisk_group)] * len(seen)
        await phone.wait_event("CALL_CLOSED", timeout_s=40)  # the engine hangs up after the prompts
    finally:
        await phone.stop()

    heard = await phone.heard()
    assert heard.seconds > 3 and heard.rms > 0.01, f"the caller did not hear the prompts: {heard}"
    (call,) = await engine.ended_calls(1)
    finished = [e.detail for e in call.events if e.kind == "prompt_finished"]
    assert len(finished) == 2 and all(d["state"] == "done" for d in finished), finished
    assert any(seen[0].stem in str(d["media"]) for d in finished), "the per-call file is what Asterisk played"
    deadline = time.monotonic() + 10
    while await asyncio.to_thread(lambda: any(p.exists() for p in seen)):
        assert time.monotonic() < deadline, f"the per-call prompt outlived its call\n{engine.log_tail()}"
        await asyncio.sleep(0.1)
    assert await asyncio.to_thread(lambda: all(p.exists() for p in static)), "the static prompts stay cached"

    assert (await asyncio.to_thread(database.parent.stat)).st_mode & 0o777 == 0o750
    for name in ("threadline.sqlite3", "threadline.sqlite3-wal", "threadline.sqlite3-shm"):
        path = database.parent / name
        if await asyncio.to_thread(path.exists):
            assert (await asyncio.to_thread(path.stat)).st_mode & 0o777 == 0o640, name


async def test_db_upgrade_never_prints_the_password() -> None:
    secret = "S3cret-Passw0rd-not-to-print"
    async with fresh_postgres_database() as url:
        with_password = make_url(url).set(username="root", password=secret).render_as_string(hide_password=False)
        environ = {**os.environ, **PBX_ENV, "THREADLINE_DATABASE__URL": with_password}
        done = await asyncio.to_thread(
            subprocess.run, [THREADLINE, "db", "upgrade"], cwd=REPO, env=environ, capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout + done.stderr
    assert "root:***@" in done.stdout and "at revision" in done.stdout, done.stdout
