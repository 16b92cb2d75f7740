"""Integration fixtures: a real Asterisk 22 (chroot instance `pytest`), real databases, the real engine.

Asterisk is started once per session on its own ports, so a demo instance can keep running beside it.
On failure the tail of the Asterisk and engine logs is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
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
from aiohttp import web
from blockbuster import blockbuster_ctx
import pytest
from sqlalchemy.engine import make_url

from engine.localpbx.credentials import load_credentials
from engine.localpbx.local_asterisk import LocalAsterisk
from engine.settings import Settings, load_settings
from engine.store.database import create_engine, upgrade_database
from engine.store.journey_store import CallRecord, JourneyStore

REPO = Path(__file__).resolve().parents[2]
THREADLINE = str(Path(sys.executable).with_name("threadline"))
TEST_SLOT = int(os.environ.pop("THREADLINE_TEST_SLOT", "0"))  # popped: the engine refuses unknown THREADLINE_ variables
"""Two test runs on one machine (say, two developers' branches) each take a slot (0-4): its own
Asterisk instance and ports, so they never answer each other's calls."""
PBX_ENV = {
    "THREADLINE_LOCALPBX__CACHE_DIR": str(REPO / ".cache"),
    "THREADLINE_LOCALPBX__INSTANCE": "pytest" if TEST_SLOT == 0 else f"pytest{TEST_SLOT}",
    "THREADLINE_ASTERISK__ARI_PORT": str(18088 + 400 * TEST_SLOT),
    "THREADLINE_ASTERISK__AMI_PORT": str(15038 + 400 * TEST_SLOT),
    "THREADLINE_ASTERISK__SIP_PORT": str(15060 + 400 * TEST_SLOT),
    "THREADLINE_ASTERISK__RTP_START": str(31000 + 1000 * TEST_SLOT),
    "THREADLINE_ASTERISK__RTP_END": str(31999 + 1000 * TEST_SLOT),
    "THREADLINE_ASTERISK__RECONNECT_MAX_DELAY_S": "2",
    "THREADLINE_ASTERISK__EVENTS_PORT": str(18090 + 400 * TEST_SLOT),
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Every async test body runs with a blocking-call detector armed: test code that blocked the
    loop (a synchronous SIPp run, a file read, a sleep) would hide the very timing it checks."""
    function = getattr(item, "function", None)
    if function is None or not inspect.iscoroutinefunction(function):
        return (yield)
    with blockbuster_ctx() as detector:
        # Libraries' own start-up reads, allowed: asyncpg looks for ~/.pgpass when it connects,
        # and Alembic reads its scripts once when the database is migrated.
        detector.functions["os.stat"].can_block_in("asyncpg/connect_utils.py", "_read_password_file")
        for name in ("os.stat", "os.path.abspath", "os.access", "os.listdir", "os.scandir", "io.BufferedReader.read", "io.TextIOWrapper.read", "os.getcwd"):
            detector.functions[name].can_block_in("engine/store/database.py", {"_upgrade", "head_revision", "current_revision"})
        for name in ("os.stat", "os.access"):  # one PATH lookup per test, before any call is placed
            detector.functions[name].can_block_in("tests/integration/conftest.py", "require_tool")
        # The engine's own log is a small local file; reading it for an assertion is not what the detector is for.
        detector.functions["io.TextIOWrapper.read"].can_block_in("tests/integration/conftest.py", "log_text")
        # Playwright finds its driver once when it starts (the browser runs in its own process).
        for name in ("os.stat", "os.path.abspath", "os.access", "os.getcwd"):
            detector.functions[name].can_block_in("playwright/_impl/_driver.py", {"compute_driver_executable", "get_driver_env"})
            detector.functions[name].can_block_in("playwright/_impl/transport.py", "connect")
        # SQLAlchemy resolves a SQLite file path once when an engine is created.
        detector.functions["os.path.abspath"].can_block_in("sqlalchemy/dialects/sqlite/pysqlite.py", "create_connect_args")
        return (yield)


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
    if _hang_up_leftover_channels(session_pbx) or _events_queued_for_no_engine(session_pbx):
        asyncio.run(_swallow_queued_events(session_pbx))
    return session_pbx


def _events_queued_for_no_engine(pbx: LocalAsterisk) -> bool:
    """Asterisk logs every event it keeps because no engine is connected; were any kept since the last one left?"""
    log = (pbx.host_dir / "log" / "messages.log").read_text(errors="replace")
    return log.rfind("websocket is not ready") > log.rfind("Outbound websocket connected")


def _hang_up_leftover_channels(pbx: LocalAsterisk, timeout_s: float = 10.0) -> bool:
    """Calls an earlier test left behind (a SIPp killed mid-call) must not reach this test's engine."""
    if _channel_count(pbx) == 0:
        return False
    pbx.rx("channel request hangup all")
    deadline = time.monotonic() + timeout_s
    while _channel_count(pbx) != 0:
        assert time.monotonic() < deadline, f"leftover channels would not hang up:\n{pbx.rx('core show channels')}"
        time.sleep(0.1)
    return True


def _channel_count(pbx: LocalAsterisk) -> int:
    text = pbx.rx("core show channels count")
    line = next((line for line in text.splitlines() if "active channel" in line), None)
    assert line is not None, f"cannot read the channel count: {text}"
    return int(line.split()[0])


async def _swallow_queued_events(pbx: LocalAsterisk, quiet_s: float = 1.0) -> None:
    """Asterisk keeps the events of those hung-up calls for the next engine: take them here instead."""
    credentials = load_credentials(pbx.settings.credentials_path)
    got_connection = asyncio.Event()

    async def sink(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(protocols=("ari",))
        await socket.prepare(request)
        got_connection.set()
        with contextlib.suppress(TimeoutError):
            while True:
                async with asyncio.timeout(quiet_s):
                    if (await socket.receive()).type is not aiohttp.WSMsgType.TEXT:
                        break
        await socket.close()
        return socket

    app = web.Application()
    app.router.add_get("/ari/events", sink)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", pbx.settings.asterisk.events_port).start()
    try:
        async with asyncio.timeout(10):
            await got_connection.wait()
        await asyncio.sleep(quiet_s + 0.5)
    finally:
        await runner.cleanup()
    assert credentials.events_user  # the sink does not check them; the engine's own tests do


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


_next_port = iter(range(20000 + (os.getpid() % 50) * 100, 30000, 4))


def free_port() -> int:
    """A port no other test of this run was given, free on UDP and TCP with the three above it.

    The kernel's ephemeral ports can come back twice in a row, and SIPp's media port uses the
    ports just above it, so every test peer gets its own block of four from a counter.
    """
    for port in _next_port:
        if all(_free(candidate, kind) for candidate in range(port, port + 4) for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM)):
            return port
    raise AssertionError("no free test ports left between 20000 and 30000")


def _free(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


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
            "THREADLINE_RECORDING__FOLDER": str(tmp_path / "recordings"),  # never the repository's recordings/
            **env,
        }
        process = await asyncio.to_thread(_spawn_engine, environ, log_path)
        running = RunningEngine(process, f"http://127.0.0.1:{port}", database_url, log_path)
        started.append(running)
        await running.wait_health(expect_status)
        return running

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(running.process.wait, 20)
            except subprocess.TimeoutExpired:
                running.process.kill()
                await asyncio.to_thread(running.process.wait, 10)
        print(f"\n{running.log_tail(2500)}")


def _spawn_engine(environ: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log_file:
        return subprocess.Popen([THREADLINE, "run"], cwd=REPO, env=environ, stdout=log_file, stderr=subprocess.STDOUT)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; `make test` installs it (apt-get install baresip-core sip-tester sox)")
    return path


@pytest.fixture
async def mock_crm() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A CRM that knows one caller; records every request."""
    requests: list[dict[str, str]] = []

    async def customers(request: web.Request) -> web.Response:
        requests.append(dict(request.query))
        if request.query.get("phone") in ("caller", "0212345678"):  # a caller ID, or a national number (callbacks go only to numbers)
            return web.json_response({"found": True, "name": "김민수", "plan": "gold"})
        return web.json_response({"found": False})

    app = web.Application()
    app.router.add_get("/customers", customers)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/customers", requests
    finally:
        await runner.cleanup()


async def wait_for_event(engine: RunningEngine, kind: str, timeout_s: float = 30.0, **detail: object) -> None:
    deadline = time.monotonic() + timeout_s
    async with engine.store() as store:
        while time.monotonic() < deadline:
            for call in await store.recent_calls(limit=5):
                if any(e.kind == kind and all(e.detail.get(k) == v for k, v in detail.items()) for e in call.events):
                    return
            await asyncio.sleep(0.1)
    raise AssertionError(f"no {kind} {detail} in the journey within {timeout_s:.0f} s\n{engine.log_tail()}")
