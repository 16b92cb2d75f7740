"""Integration fixtures: a real Asterisk 22 (chroot instance `pytest`), real databases, the real engine.

Asterisk is started once per session on its own ports, so a demo instance can keep running beside it.
On failure the tail of the Asterisk and engine logs is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from sqlalchemy.engine import make_url

from engine.localpbx.local_asterisk import LocalAsterisk
from engine.settings import Settings, load_settings
from engine.store.database import create_engine, upgrade_database
from engine.store.journey_store import CallRecord, JourneyStore

REPO = Path(__file__).resolve().parents[2]
THREADLINE = str(Path(sys.executable).with_name("threadline"))
PBX_ENV = {
    "THREADLINE_LOCALPBX__CACHE_DIR": str(REPO / ".cache"),
    "THREADLINE_LOCALPBX__INSTANCE": "pytest",
    "THREADLINE_ASTERISK__ARI_PORT": "18088",
    "THREADLINE_ASTERISK__AMI_PORT": "15038",
    "THREADLINE_ASTERISK__SIP_PORT": "15060",
    "THREADLINE_ASTERISK__RTP_START": "31000",
    "THREADLINE_ASTERISK__RTP_END": "31999",
    "THREADLINE_ASTERISK__RECONNECT_MAX_DELAY_S": "2",
    "THREADLINE_ASTERISK__EVENTS_PORT": "18090",
    "THREADLINE_CALLS__ENGINE_WAIT_S": "10",
}
POSTGRES_ADMIN_DSN = os.environ.get("THREADLINE_TEST_POSTGRES", "postgresql:///postgres?host=/var/run/postgresql")
"""A PostgreSQL role that may create databases; by default root over the local socket (`make test` creates it)."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="real-Asterisk tests need root (chroot); run `make test` as root")
    for item in items:
        if "asterisk" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def pbx_settings() -> Settings:
    return load_settings(None, environ=PBX_ENV)


@pytest.fixture(scope="session")
def session_pbx(pbx_settings: Settings) -> Iterator[LocalAsterisk]:
    """The real Asterisk, booted once for the whole session and stopped at the end."""
    local = LocalAsterisk(pbx_settings)
    local.up()
    yield local
    print("\n--- Asterisk log tail ---\n" + local.log_tail(30))
    local.down()


@pytest.fixture
def pbx(session_pbx: LocalAsterisk) -> LocalAsterisk:
    """The session Asterisk, checked before every test: running, fully booted, on the session config.

    A test that failed while Asterisk was killed, frozen or reconfigured must not take every later
    test down with it: `up` is idempotent and restarts Asterisk when its config differs.
    """
    pid = session_pbx.pid()
    if pid is not None and _state(pid) == "T":
        os.kill(pid, signal.SIGCONT)  # left frozen by a failed test
    message = session_pbx.up()
    if "already running" not in message:
        print(f"\nthe session Asterisk was not usable and was brought back: {message}")
    return session_pbx


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- databases ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """A new PostgreSQL database, dropped afterwards; yields its SQLAlchemy URL."""
    name = f"threadline_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(POSTGRES_ADMIN_DSN).set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Every storage test runs on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'threadline.sqlite3'}"
        return
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def journey_store(database_url: str) -> AsyncIterator[JourneyStore]:
    await upgrade_database(database_url)
    engine = create_engine(database_url)
    yield JourneyStore(engine)
    await engine.dispose()


# -- the engine as a real process ---------------------------------------------------------


@dataclass
class RunningEngine:
    process: subprocess.Popen[bytes]
    http_url: str
    database_url: str
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    @contextlib.asynccontextmanager
    async def store(self) -> AsyncIterator[JourneyStore]:
        """Read what the engine wrote, through the same store it uses."""
        engine = create_engine(self.database_url)
        try:
            yield JourneyStore(engine)
        finally:
            await engine.dispose()

    async def ended_calls(self, expected: int, timeout_s: float = 15.0) -> list[CallRecord]:
        """The stored calls once `expected` of them have ended (the engine commits just after the BYE).

        Fails the test, with what was stored and the engine log, if they do not end in time.
        """
        deadline = time.monotonic() + timeout_s
        async with self.store() as store:
            while True:
                calls = await store.recent_calls(limit=1000)
                ended = [call for call in calls if call.ended_at is not None]
                if len(ended) >= expected:
                    return calls
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"{len(ended)} of {expected} calls ended within {timeout_s:.0f} s; stored: "
                        f"{[(c.channel_id, c.hung_up_by, [e.kind for e in c.events]) for c in calls]}\n{self.log_tail()}"
                    )
                await asyncio.sleep(0.1)

    async def open_calls(self, expected: int = 1, timeout_s: float = 10.0) -> dict[str, int]:
        """Calls the engine is handling now, once `expected` have arrived; fails the test otherwise."""
        deadline = time.monotonic() + timeout_s
        async with self.store() as store:
            while True:
                calls = await store.open_calls()
                if len(calls) >= expected:
                    return calls
                if time.monotonic() > deadline:
                    raise AssertionError(f"{len(calls)} of {expected} calls reached the engine within {timeout_s:.0f} s\n{self.log_tail()}")
                await asyncio.sleep(0.1)

    def log_tail(self, chars: int = 3000) -> str:
        return f"--- engine log ({self.log_path.name}) ---\n{self.log_text()[-chars:]}"

    async def stop(self, timeout_s: float = 20.0) -> int:
        """SIGTERM, as systemd or docker would; returns the exit code once the engine has exited."""
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.process.wait, timeout_s)

    async def health(self) -> tuple[int, dict[str, object]]:
        async with aiohttp.ClientSession() as session, session.get(f"{self.http_url}/healthz") as response:
            return response.status, await response.json()

    async def wait_health(self, status: int, timeout_s: float = 30.0) -> dict[str, object]:
        deadline = time.monotonic() + timeout_s
        last: object = None
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"engine exited with {self.process.returncode}:\n{self.log_tail()}"
            try:
                code, body = await self.health()
                last = body
                if code == status:
                    return body
            except aiohttp.ClientError as exc:
                last = exc
            await asyncio.sleep(0.2)
        raise AssertionError(f"/healthz never returned {status}; last: {last}\n{self.log_tail()}")


@pytest.fixture
async def start_engine(pbx: LocalAsterisk, tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    """Start `threadline run` as a subprocess against the test Asterisk; stop it after the test."""
    started: list[RunningEngine] = []

    async def start(database_url: str, expect_status: int = 200, **env: str) -> RunningEngine:
        log_path = tmp_path / f"engine-{len(started)}.log"
        port = free_port()
        environ = {
            **os.environ,
            **PBX_ENV,
            "THREADLINE_DATABASE__URL": database_url,
            "THREADLINE_HTTP__PORT": str(port),
            **env,
        }
        with log_path.open("wb") as log_file:
            process = subprocess.Popen([THREADLINE, "run"], cwd=REPO, env=environ, stdout=log_file, stderr=subprocess.STDOUT)
        running = RunningEngine(process, f"http://127.0.0.1:{port}", database_url, log_path)
        started.append(running)
        await running.wait_health(expect_status)
        return running

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.send_signal(signal.SIGTERM)
            try:
                running.process.wait(10)
            except subprocess.TimeoutExpired:
                running.process.kill()
        print(f"\n--- engine log tail ({running.log_path.name}) ---\n{running.log_text()[-2500:]}")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; `make test` installs it (apt-get install baresip-core sip-tester sox)")
    return path
