"""The agent page itself (agent.js, i18n.js) in headless Chromium against the real app and hub, no
Asterisk: pause reasons and engine errors in Korean, a pop cleared during a drop, the shared
directory's deltas, a stale language load, and seconds said in words."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from engine.health import HealthBoard
from engine.web.desktop_hub import DesktopHub
from engine.web.http_server import Desktop, build_app
from engine.web.sessions import SESSION_COOKIE, Sessions

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
NAMES = {"minsu": "김민수", "jiyeon": "이지연", "alex": "Alex Park"}
IDLE = {"registered": True, "call_id": "", "since_s": 0}


@pytest.fixture
async def agent_page() -> AsyncIterator[tuple[Any, DesktopHub, list[str]]]:
    """The Korean agent page of minsu, the hub behind it, and the paths the page requested."""
    from playwright.async_api import async_playwright

    sessions = Sessions()
    token = sessions.open("minsu", frozenset({"agent"}))
    hub = DesktopHub(agent_names=lambda: NAMES)

    async def wrap_up(agent: str, call_id: str, disposition: str, notes: str) -> str | None:
        return None

    desktop = Desktop(sessions, hub, lambda a: frozenset({"agent"}), lambda a, p: False, lambda a: None, lambda a, b, c: None, wrap_up)
    server = TestServer(build_app(HealthBoard(("ari",)), lambda: {}, desktop=desktop), host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url(""))
    hub.agent_changed("minsu", {"status": "paused", "reason": "logged-in", **IDLE})
    requested: list[str] = []
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            context = await browser.new_context(bypass_csp=True)  # lets the test evaluate JS; the CSP is tested elsewhere
            await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": base}, {"name": "tl_lang", "value": "ko", "url": base}])
            page = await context.new_page()
            page.on("request", lambda request: requested.append(request.url.removeprefix(base.rstrip("/"))))
            await page.goto(f"{base}/agent")
            await page.wait_for_function("document.getElementById('connection').textContent === '연결됨'")
            yield page, hub, requested
            await browser.close()
    finally:
        await server.close()


async def test_pause_reasons_the_engine_sets_are_said_in_korean(agent_page: tuple[Any, DesktopHub, list[str]]) -> None:
    page, hub, _ = agent_page
    await page.wait_for_function("document.getElementById('reason').textContent === '(로그인 직후)'")
    hub.agent_changed("minsu", {"status": "paused", "reason": "no-answer", **IDLE})
    await page.wait_for_function("document.getElementById('reason').textContent === '(응답 없음)'")
    hub.agent_changed("minsu", {"status": "paused", "reason": "gone-fishing", **IDLE})
    await page.wait_for_function("document.getElementById('reason').textContent === '(기타 사유)'")


async def test_a_pop_cleared_during_a_drop_is_gone_after_the_reconnect_and_no_protocol_probe(agent_page: tuple[Any, DesktopHub, list[str]]) -> None:
    page, hub, requested = agent_page
    hub.agent_changed("minsu", {**IDLE, "status": "reserved", "reason": "", "call_id": "c1"})
    hub.call_offered("minsu", {"v": 1, "type": "pop", "call_id": "c1", "queue": "billing", "caller": {"number": "01012345678", "name": "", "verified": False},
                               "customer": None, "intent": "billing", "path": [], "utterances": [], "collected": {}, "steps": [], "timeline": [],
                               "previous_calls": [], "waited_s": 3.0, "callback": False, "dispositions": ["resolved"]})
    await page.wait_for_function("!document.getElementById('pop').hidden")
    requested.clear()
    for socket in [socket for sockets in hub._sockets.values() for socket in sockets]:
        await socket.close(code=1013)  # as a page that fell behind is closed
    hub.agent_changed("minsu", {"status": "paused", "reason": "no-answer", **IDLE})
    hub.call_cleared("minsu", "c1")
    await page.wait_for_function("document.getElementById('pop').hidden", timeout=10_000)
    assert await page.text_content("#connection") == "연결됨"
    assert "/protocol" not in requested, "a clean close (not 1006) does not probe the session"


async def test_the_shared_directory_leaves_the_page_out_and_applies_deltas(agent_page: tuple[Any, DesktopHub, list[str]]) -> None:
    page, hub, _ = agent_page
    await page.wait_for_function("directory.length > 0")
    assert await page.evaluate("directory.map((a) => a.id)") == ["alex", "jiyeon"], "sorted by name, minsu left out by its own id"
    assert await page.evaluate("me.name") == "김민수"
    hub.agent_changed("jiyeon", {"status": "available", "reason": "", **IDLE})
    await page.wait_for_function("directory.find((a) => a.id === 'jiyeon').status === 'available'", timeout=5_000)
    NAMES["bora"] = "박보라"
    try:
        hub.team_changed()
        await page.wait_for_function("directory.length === 3", timeout=5_000)
        assert await page.evaluate("directory.map((a) => a.id)") == ["alex", "bora", "jiyeon"]
    finally:
        del NAMES["bora"]


async def test_engine_errors_are_said_by_code_and_unknown_ones_keep_the_english_note(agent_page: tuple[Any, DesktopHub, list[str]]) -> None:
    page, _hub, _ = agent_page
    await page.evaluate("received({v: 1, type: 'error', code: 'not_your_call', error: 'you are not talking to that caller'})")
    assert await page.text_content("#wrap-up-result") == "처리되지 않음: 해당 고객과 통화 중이 아닙니다"
    await page.evaluate("received({v: 1, type: 'error', code: 'something_new', error: 'the moon is full'})")
    assert await page.text_content("#wrap-up-result") == "처리되지 않았습니다. the moon is full"
    assert await page.get_attribute("#wrap-up-result .engine-note", "lang") == "en"


async def test_seconds_in_words_for_korean_and_a_clock_for_english_and_the_last_pick_wins(agent_page: tuple[Any, DesktopHub, list[str]]) -> None:
    page, _hub, _ = agent_page
    assert await page.evaluate("I18N.seconds(185)") == "3분 5초"
    slow = asyncio.Event()

    async def delay_first(route: Any) -> None:
        answer = await route.fetch()  # asked now, with the cookie of its pick
        if not slow.is_set():
            slow.set()
            await asyncio.sleep(1.0)  # the first pick's answer comes last
        await route.fulfill(response=answer)

    await page.route("**/language", delay_first)
    await page.evaluate("void I18N.choose('zh')")
    async with asyncio.timeout(5):
        await slow.wait()
    await page.evaluate("void I18N.choose('en')")
    await page.wait_for_timeout(1_500)
    assert await page.evaluate("document.documentElement.lang") == "en"
    assert await page.evaluate("I18N.seconds(185)") == "3:05"
