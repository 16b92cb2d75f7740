"""The web layer of a real engine under attack: sessions end when `threadline agents passwd` or a
role removal changes the agent (and their open pages close), logins do not reveal which ids exist,
half-sent requests are closed and capped, and bad input (a report of a century, a superscript
recording id, a malformed Range) is a 4xx naming what was wrong, never a 500."""

from __future__ import annotations

import asyncio
import hashlib
import re
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import async_playwright, expect

from engine.localpbx.local_asterisk import LocalAsterisk
from engine.store.database import create_engine
from engine.store.recording_store import Recording, RecordingStore
from tests.integration.conftest import RunningEngine, require_tool
from tests.integration.test_acd_call import ADMIN_TOKEN, acd_setup
from tests.integration.test_agents import threadline
from tests.integration.test_supervisor import CHROMIUM

pytestmark = pytest.mark.asterisk
SESSION_ENDED = 4401


async def passwd(env: dict[str, str], agent: str, password: str) -> None:
    done = await asyncio.to_thread(threadline, "agents", "passwd", agent, "--password-stdin", "--flows", env["THREADLINE_FLOWS__FOLDER"], env=env, stdin=f"{password}\n")
    assert done.returncode == 0, done.stderr


async def logged_in(engine: RunningEngine, agent: str, password: str) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.post(f"{engine.http_url}/login", data={"agent": agent, "password": password}) as response:
        assert response.status == 200, await response.text()
    return session


async def close_code(socket: aiohttp.ClientWebSocketResponse, timeout_s: float) -> int | None:
    async with asyncio.timeout(timeout_s):
        while True:
            message = await socket.receive()
            if message.type == aiohttp.WSMsgType.CLOSE:
                return int(message.data)  # the code the engine sent (close_code may read 1006 once the engine drops the connection)
            if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                return socket.close_code


async def timed_login(engine: RunningEngine, agent: str) -> float:
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        async with session.post(f"{engine.http_url}/login", data={"agent": agent, "password": "not-the-password"}) as response:
            assert response.status == 401, await response.text()
        return time.perf_counter() - started


async def test_a_password_change_or_a_role_removal_ends_sessions_and_logins_reveal_no_ids(
    pbx: LocalAsterisk, start_engine: Any, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    crm_url, _ = mock_crm
    env, _secrets = await acd_setup(tmp_path, crm_url)
    await passwd(env, "minsu", "minsu-password-1")
    await passwd(env, "sora", "sora-password-1")
    engine: RunningEngine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'web.sqlite3'}", **env)

    # `threadline agents passwd` while minsu's desktop is open: the page is closed, the cookie is dead.
    minsu = await logged_in(engine, "minsu", "minsu-password-1")
    try:
        desk = await minsu.ws_connect(f"{engine.http_url}/ws")
        started = time.monotonic()
        await passwd(env, "minsu", "minsu-password-2")
        assert await close_code(desk, 10.0) == SESSION_ENDED
        print(f"page closed {time.monotonic() - started:.1f} s after agents passwd")
        async with minsu.get(f"{engine.http_url}/protocol") as response:
            assert response.status == 401, "the old session is gone"
    finally:
        await minsu.close()
    renewed = await logged_in(engine, "minsu", "minsu-password-2")  # the new password works
    await renewed.close()

    # sora loses the supervisor role in the agents file (the engine reloads it): her floor page closes.
    sora = await logged_in(engine, "sora", "sora-password-1")
    try:
        floor = await sora.ws_connect(f"{engine.http_url}/ws/supervisor")
        team = Path(env["THREADLINE_FLOWS__FOLDER"]) / "agents" / "team.yaml"
        text = await asyncio.to_thread(team.read_text, encoding="utf-8")
        assert "roles: [agent, supervisor, qa]" in text
        await asyncio.to_thread(team.write_text, text.replace("roles: [agent, supervisor, qa]", "roles: [agent, qa]"), encoding="utf-8")
        assert await close_code(floor, 15.0) == SESSION_ENDED
        async with sora.get(f"{engine.http_url}/supervisor", allow_redirects=False) as response:
            assert response.status == 303 and response.headers["Location"].startswith("/login")
    finally:
        await sora.close()

    # An unknown id takes as long as a known id with a wrong password (both are hashed).
    known, unknown = [], []
    for _ in range(4):
        known.append(await timed_login(engine, "jiyeon"))
        unknown.append(await timed_login(engine, "nobody-here"))
    print(f"wrong password: known id {statistics.median(known) * 1000:.0f} ms, unknown id {statistics.median(unknown) * 1000:.0f} ms")
    assert statistics.median(unknown) > 0.5 * statistics.median(known), (known, unknown)

    # A page elsewhere cannot post a login, and pages carry the security headers.
    async with aiohttp.ClientSession() as stranger:
        async with stranger.post(f"{engine.http_url}/login", data={"agent": "minsu", "password": "minsu-password-2"}, headers={"Origin": "http://127.0.0.1:1"}) as response:
            assert response.status == 403 and "Set-Cookie" not in response.headers
        async with stranger.get(f"{engine.http_url}/login") as response:
            assert "script-src 'self'" in response.headers["Content-Security-Policy"] and response.headers["X-Frame-Options"] == "DENY"
            assert response.headers["X-Content-Type-Options"] == "nosniff" and response.headers["Referrer-Policy"] == "no-referrer"


async def half_sent(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # never finished
    await writer.drain()
    return reader, writer


async def test_half_sent_requests_are_closed_and_capped_and_bad_input_is_a_4xx(
    pbx: LocalAsterisk, start_engine: Any, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    crm_url, _ = mock_crm
    env, _secrets = await acd_setup(tmp_path, crm_url)
    await passwd(env, "minsu", "minsu-password-1")
    engine: RunningEngine = await start_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'slow.sqlite3'}", THREADLINE_HTTP__IDLE_TIMEOUT_S="3", THREADLINE_HTTP__MAX_CONNECTIONS="40", **env,
    )

    # 30 half-sent requests: a normal request still works meanwhile; 20 more: those over the cap get 503 at once.
    slow = [await half_sent(engine.http_url) for _ in range(30)]
    opened = time.monotonic()
    async with aiohttp.ClientSession() as session, session.get(f"{engine.http_url}/healthz") as response:
        assert response.status == 200
    more = [await half_sent(engine.http_url) for _ in range(20)]
    refused = 0
    for reader, _ in more:
        try:
            first = await asyncio.wait_for(reader.read(200), 0.5)
        except TimeoutError:
            continue
        refused += first.startswith(b"HTTP/1.1 503")
    assert refused >= 9, f"{refused} of 20 refused over the cap of 40"
    for reader, _ in slow + more:
        async with asyncio.timeout(10.0):
            while await reader.read(4096):
                pass  # until the engine closes it
    closed_after = time.monotonic() - opened
    print(f"50 half-sent requests: {refused} refused at once, the rest closed within {closed_after:.1f} s (idle_timeout_s 3)")
    assert closed_after < 9.0
    for _, writer in slow + more:
        writer.close()
    async with aiohttp.ClientSession() as session, session.get(f"{engine.http_url}/healthz") as response:
        assert response.status == 200, "the engine serves again"

    # Bad input: 4xx naming the field, never a 500.
    recordings = tmp_path / "recordings"
    await asyncio.to_thread(recordings.mkdir, exist_ok=True)
    audio = recordings / "probe.wav"
    await asyncio.to_thread(audio.write_bytes, b"RIFF" + bytes(2000))
    digest = hashlib.sha256(b"RIFF" + bytes(2000)).hexdigest()
    database = create_engine(engine.database_url)
    try:
        recording_id = await RecordingStore(database).add(Recording(
            0, "probe.1", "probe.wav", "wav", 1, 8000, 0.1, 2004, digest, "minsu", "billing", datetime.now(UTC), datetime.now(UTC), "filed", (),
        ))
    finally:
        await database.dispose()
    minsu = await logged_in(engine, "minsu", "minsu-password-1")
    try:
        async with minsu.get(f"{engine.http_url}/qa/recordings/\u00b2") as response:
            assert response.status == 403, response.status
        for bad_range in ("bytes=abc", "bytes=5-2", "pages=1-2", "bytes=0-1,5-9"):
            async with minsu.get(f"{engine.http_url}/qa/recordings/{recording_id}/audio", headers={"Range": bad_range}) as response:
                assert response.status == 416 and "Range: use bytes=" in await response.text(), (bad_range, response.status)
        async with minsu.get(f"{engine.http_url}/qa/recordings/{recording_id}/audio", headers={"Range": "bytes=0-9"}) as response:
            assert response.status == 206 and len(await response.read()) == 10
    finally:
        await minsu.close()
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(headers=bearer) as operator:
        for query, field in (("from=1900-01-01&to=2100-12-31&interval=15m", "from"), ("from=9999-12-31", "from"), ("from=2026-01-01&to=2026-12-31&interval=15m", "to")):
            async with operator.get(f"{engine.http_url}/reports/data?{query}") as response:
                body = await response.json()
                assert response.status == 422 and body["field"] == field, (query, response.status, body)
    report = await asyncio.to_thread(threadline, "report", "--from", "1900-01-01", "--to", "2100-12-31", "--interval", "15m", env=env)
    assert report.returncode == 2 and report.stderr.startswith("threadline report: --from:"), report.stderr
    report = await asyncio.to_thread(threadline, "report", "--from", "2026-01-01", "--to", "2026-12-31", "--interval", "15m", env=env)
    assert report.returncode == 2 and "at most 31 days" in report.stderr, report.stderr
    assert "internal error" not in engine.log_text() and "Error handling request" not in engine.log_text(), engine.log_tail()


async def test_every_page_works_under_the_content_security_policy_and_login_never_leaves_the_site(
    pbx: LocalAsterisk, start_engine: Any, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    """Chromium loads the agent desktop, the floor, QA review and reports as sora (agent, supervisor,
    qa) with no CSP violation or script error; `next=/\\evil.example` after login stays on the site."""
    require_tool("chromium")
    crm_url, _ = mock_crm
    env, _secrets = await acd_setup(tmp_path, crm_url)
    await passwd(env, "sora", "sora-password-1")
    engine: RunningEngine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'pages.sqlite3'}", **env)
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = await browser.new_page()
            page.on("console", lambda m: problems.append(f"{m.text} ({m.location.get('url', '')})") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            await page.goto(f"{engine.http_url}/login?next=/%5Cevil.example")
            await page.fill("#agent", "sora")
            await page.fill("#password", "sora-password-1")
            await page.click("button[type=submit]")
            await expect(page).to_have_url(re.compile(rf"^{re.escape(engine.http_url)}/agent$"))
            await expect(page.locator("#agent-id")).to_have_text("sora")
            await expect(page.locator("#connection")).to_have_text("connected")
            await page.screenshot(path=str(tmp_path / "agent.png"), full_page=True)
            await page.goto(f"{engine.http_url}/supervisor")
            await expect(page.locator("#connection")).to_have_text("connected")
            await expect(page.locator('#queues tr[data-queue="billing"] td[data-field="waiting"]')).to_have_text("0")
            await page.screenshot(path=str(tmp_path / "supervisor.png"), full_page=True)
            await page.goto(f"{engine.http_url}/qa")
            await page.click("#find button[type=submit]")
            await expect(page.locator("#find-result")).to_have_text("0 call(s)")
            await page.screenshot(path=str(tmp_path / "qa.png"), full_page=True)
            await page.goto(f"{engine.http_url}/reports")
            await page.click("#choose button[type=submit]")
            await expect(page.locator("#result")).to_contain_text("row(s)")
            await page.screenshot(path=str(tmp_path / "reports.png"), full_page=True)
            await page.click("#logout button")
            await expect(page).to_have_url(re.compile(r"/login"))
            await page.screenshot(path=str(tmp_path / "login.png"), full_page=True)
        finally:
            await browser.close()
    print(f"screenshots in {tmp_path}")
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    assert not [p for p in problems if "favicon" not in p], problems
