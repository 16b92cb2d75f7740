"""A real Asterisk and a real `threadline run` for a bench, set up as the integration tests set them up.

Reuses the integration fixtures' pieces (PBX_ENV and its slot from THREADLINE_TEST_SLOT, acd_setup,
the engine's process and store) so the bench measures the same system the tests check. The sample
flows are copied with the billing queue's wrap-up set to 0 s, so the agent is offered the next call
as soon as the last one ends; the demo CRM knows every caller, so the flow goes from the welcome
to the menu. Callers are SIPp running tests/integration/sipp/uac_menu_key.xml:
answered, they key 1 (billing) 5 s later and wait for the other side to hang up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

from engine.demo.demo_crm import serve_demo_crm
from engine.localpbx.local_asterisk import LocalAsterisk
from engine.settings import load_settings
from tests.integration.conftest import PBX_ENV, REPO, RunningEngine, _spawn_engine, free_port
from tests.integration.test_acd_call import SIP_PORT, acd_setup
from tests.integration.test_agents import threadline

AGENT = "minsu"
AGENT_PASSWORD = "minsu-password-1"
CALLER_SCENARIO = REPO / "tests" / "integration" / "sipp" / "uac_menu_key.xml"
SERVICE = "1588"


@dataclass
class RealEngine:
    engine: RunningEngine
    pbx: LocalAsterisk
    workdir: Path
    secrets: dict[str, str] = field(default_factory=dict)
    """The agents' SIP secrets by agent (minsu's phone registers with his)."""

    async def ringing_at(self, call_id: str, timeout_s: float = 15.0) -> float:
        """When the engine decided to ring the agent (the journey's agent_ringing, written just before
        the pop is sent and the agent leg originated), as time.time()."""
        async with self.engine.store() as store, asyncio.timeout(timeout_s):
            while True:
                record = await store.get_call(call_id)
                at = next((e.at for e in record.events if e.kind == "agent_ringing"), None) if record is not None else None
                if at is not None:
                    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
                await asyncio.sleep(0.1)

    def caller_dir(self, number: int) -> Path:
        """Caller `number`'s SIPp folder (its scenario's relative files, its -trace_msg file)."""
        path = self.workdir / f"caller-{number:03d}"
        path.mkdir(exist_ok=True)
        return path

    async def place_call(self, number: int, scenario: Path = CALLER_SCENARIO, *sipp_args: str) -> asyncio.subprocess.Process:
        """One SIPp caller to the inbound number; by default it keys 1 and waits for the agent's hang-up
        (bench/chat.py gives its own scenario, and -trace_msg)."""
        port = free_port()
        return await asyncio.create_subprocess_exec(
            "sipp", f"127.0.0.1:{SIP_PORT}", "-i", "127.0.0.1", "-nostdin", "-sf", str(scenario), "-s", SERVICE, "-m", "1",
            "-p", str(port), "-mp", str(port + 2), "-timeout", "120s", *sipp_args,
            cwd=self.caller_dir(number), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


@contextlib.asynccontextmanager
async def real_engine(extra_env: dict[str, str] | None = None) -> AsyncIterator[RealEngine]:
    """Asterisk of this slot up, the engine running with the sample flows and minsu able to log in; all stopped after.
    `extra_env` adds THREADLINE_* settings (bench/chat.py turns the chat on)."""
    pbx = LocalAsterisk(load_settings(None, environ=PBX_ENV))
    print(f"asterisk {PBX_ENV['THREADLINE_LOCALPBX__INSTANCE']}: {await asyncio.to_thread(pbx.up)}")
    engine: RunningEngine | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="threadline-pop-") as tmp:
            workdir = Path(tmp)
            async with serve_demo_crm() as crm_url:
                env, secrets = await acd_setup(workdir, crm_url, "wrap_up_s: 0")
                passwd = await asyncio.to_thread(threadline, "agents", "passwd", AGENT, "--password-stdin", "--flows", env["THREADLINE_FLOWS__FOLDER"],
                                                 env=env, stdin=f"{AGENT_PASSWORD}\n")
                if passwd.returncode != 0:
                    raise RuntimeError(f"agents passwd failed: {passwd.stderr}")
                port = free_port()
                database_url = f"sqlite+aiosqlite:///{workdir / 'pop.sqlite3'}"
                environ = {**os.environ, **PBX_ENV, "THREADLINE_DATABASE__URL": database_url, "THREADLINE_HTTP__PORT": str(port),
                           "THREADLINE_RECORDING__FOLDER": str(workdir / "recordings"), **env, **(extra_env or {})}
                log_path = workdir / "engine.log"
                engine = RunningEngine(await asyncio.to_thread(_spawn_engine, environ, log_path), f"http://127.0.0.1:{port}", database_url, log_path)
                try:
                    await engine.wait_health(200)
                    yield RealEngine(engine, pbx, workdir, secrets)
                finally:
                    code = await _stop(engine)
                    print(f"engine stopped ({code}); log tail:\n{engine.log_tail(800)}")
    finally:
        print(f"asterisk: {await asyncio.to_thread(pbx.down)}")


async def _stop(engine: RunningEngine) -> int:
    if engine.process.poll() is not None:
        return engine.process.returncode
    try:
        return await engine.stop()
    except Exception:
        engine.process.kill()
        return await asyncio.to_thread(engine.process.wait, 10)

