"""The browser phone's web side: its login only for the agent's own session, the SIP relay's
Origin check and bounded upstream connect, its filter, one tab per agent, relays closed at stop,
and SIP.js served only as .js files of its lib folder."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine.health import HealthBoard
from engine.web.http_server import build_app
from engine.web.caller_page import CallerLine
from engine.web.web_vendor import CHARTJS_DIST
from engine.web.phone_gateway import OTHER_TAB, REFUSED, SIPJS_LIB, STOPPING, BrowserPhone, PhoneGateway, on_ipv4_loopback, phone_config, relay_source, sipjs_file
from engine.web.sessions import SESSION_COOKIE, Sessions
from test_access import ROLES, desktop


def test_the_page_registers_over_its_own_origin_and_wss_behind_tls() -> None:
    phone = BrowserPhone("web2001", "s3cret", "김민수")
    plain = phone_config(phone, "127.0.0.1", "http://127.0.0.1:8080")
    assert plain == {"websocket_url": "ws://127.0.0.1:8080/phone/sip", "aor": "sip:web2001@127.0.0.1", "auth_user": "web2001",
                     "password": "s3cret", "display_name": "김민수"}
    assert phone_config(phone, "127.0.0.1", "https://desk.example.com")["websocket_url"] == "wss://desk.example.com/phone/sip"


@pytest.mark.parametrize("path", ["../package.json", "../../../../etc/passwd", "/etc/passwd", "index.d.ts", "platform/../../package.json", "nope.js", "..\\index.js"])
def test_only_js_files_inside_sipjs_lib_are_served(path: str) -> None:
    assert sipjs_file(path) is None


def closed_port() -> int:
    """A loopback port nothing listens on (bound, read, released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def client() -> AsyncIterator[tuple[TestClient[Any, Any], Sessions]]:
    sessions = Sessions()
    phones = {"minsu": BrowserPhone("web2001", "minsu-phone-secret", "Minsu"), "sora": BrowserPhone("web2009", "sora-phone-secret", "Sora")}
    with_phone = desktop(sessions, [])
    page_phones = {"sora": BrowserPhone("mon2009", "sora-page-secret", "Sora"), "minsu": BrowserPhone("mon2001", "stale", "Minsu")}
    with_phone.phone = PhoneGateway(f"ws://127.0.0.1:{closed_port()}/ws", "127.0.0.1", phones.get, page_phones.get)
    async with TestClient(TestServer(build_app(HealthBoard(("ari",)), lambda: {}, desktop=with_phone))) as test_client:
        yield test_client, sessions


async def test_an_agent_gets_only_their_own_phone_and_a_cross_origin_relay_is_refused(client: Any) -> None:
    test_client, sessions = client
    test_client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("minsu", ROLES["minsu"])})
    answer = await test_client.get("/phone/config")
    assert answer.status == 200 and answer.headers["Cache-Control"] == "no-store"
    body = await answer.json()
    assert (body["auth_user"], body["password"]) == ("web2001", "minsu-phone-secret") and body["websocket_url"].endswith("/phone/sip")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await test_client.ws_connect("/phone/sip", protocols=("sip",), origin="http://evil.example")
    assert refused.value.status == 403
    test_client.session.cookie_jar.clear()
    test_client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("sora", ROLES["sora"])})
    supervisor = await test_client.get("/phone/config")
    assert supervisor.status == 200 and (await supervisor.json())["auth_user"] == "web2009", "a supervisor gets their own phone only"
    page = await (await test_client.get("/phone/config?for=supervisor")).json()  # the supervisor page's phone: monitoring calls only
    assert (page["auth_user"], page["password"]) == ("mon2009", "sora-page-secret") and page["websocket_url"].endswith("/phone/sip?for=supervisor")
    test_client.session.cookie_jar.clear()
    test_client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("minsu", ROLES["minsu"])})
    assert (await test_client.get("/phone/config?for=supervisor")).status == 403, "an agent has no supervisor page phone"
    test_client.session.cookie_jar.clear()
    test_client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("qa1", ROLES["qa1"])})
    assert (await test_client.get("/phone/config")).status == 403, "QA staff have no phone here"


async def test_a_relay_whose_asterisk_is_unreachable_closes_the_page_socket_with_1011(client: Any) -> None:
    test_client, sessions = client
    test_client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("minsu", ROLES["minsu"])})
    socket = await test_client.ws_connect("/phone/sip", protocols=("sip",))
    assert socket.protocol == "sip"
    message = await socket.receive(timeout=10)
    assert message.type == aiohttp.WSMsgType.CLOSE and socket.close_code == 1011


@pytest.mark.parametrize(("library", "folder", "name", "module", "inside"), [
    ("sip.js", SIPJS_LIB, "SIP.js", "index.js", "export"),
    ("chart.js", CHARTJS_DIST, "Chart.js", "chart.umd.min.js", "Chart"),
])
async def test_a_browser_library_is_served_as_javascript_or_a_clear_404(client: Any, library: str, folder: Path, name: str, module: str, inside: str) -> None:
    test_client, _ = client
    answer = await test_client.get(f"/static/vendor/{library}/{module}")
    if folder.is_dir():
        assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/javascript")
        assert inside in await answer.text()
    else:
        assert answer.status == 404 and f"{name} is not installed" in await answer.text() and "make install" in await answer.text()
    assert (await test_client.get(f"/static/vendor/{library}/../../package.json")).status == 404
    assert (await test_client.get(f"/static/vendor/{library}/%2e%2e/package.json")).status == 404


@pytest.mark.parametrize("url, source", [("ws://127.0.0.1:8088/ws", ("127.0.0.3", 0)), ("ws://localhost:8088/ws", ("127.0.0.3", 0)),
                                         ("ws://127.1.2.3:8088/ws", ("127.0.0.3", 0)), ("ws://asterisk.invalid:8088/ws", None),
                                         ("ws://10.0.0.5:8088/ws", None), ("ws://[::1]:8088/ws", None)])
async def test_the_relay_reaches_a_loopback_asterisk_from_an_address_no_identify_matches(url: str, source: tuple[str, int] | None) -> None:
    assert await relay_source(url) == source


@pytest.mark.parametrize("addresses, loopback", [(["127.0.0.1"], True), (["::1", "127.0.0.1"], True), (["127.0.1.1"], True),
                                                 (["::1"], False), (["127.0.0.1", "10.0.0.5"], False), (["fe80::1%eth0"], False), ([], False)])
def test_a_host_that_resolves_to_ipv4_loopback_is_reached_from_the_relay_address(addresses: list[str], loopback: bool) -> None:
    assert on_ipv4_loopback(addresses) is loopback


@dataclass
class FakeAsterisk:
    """Stands in for Asterisk's SIP websocket: what arrived, and from where."""

    url: str
    frames: list[str] = field(default_factory=list)
    remotes: list[str] = field(default_factory=list)


@pytest.fixture
async def fake_asterisk() -> AsyncIterator[FakeAsterisk]:
    port = closed_port()
    heard = FakeAsterisk(f"ws://127.0.0.1:{port}/ws")

    async def sip(request: web.Request) -> web.WebSocketResponse:
        heard.remotes.append(request.remote or "")
        socket = web.WebSocketResponse(protocols=("sip",))
        await socket.prepare(request)
        async for message in socket:
            heard.frames.append(message.data)
        return socket

    app = web.Application()
    app.router.add_get("/ws", sip)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield heard
    finally:
        await runner.cleanup()


def phone_app(fake: FakeAsterisk, sessions: Sessions, status: str = "available") -> web.Application:
    with_phone = desktop(sessions, [])
    with_phone.agent_state = lambda _agent: {"status": status}
    with_phone.phone = PhoneGateway(fake.url, "127.0.0.1", {"minsu": BrowserPhone("web2001", "minsu-phone-secret", "Minsu")}.get)
    line = CallerLine(fake.url, "127.0.0.1", "try-caller", "try-secret", "800")
    return build_app(HealthBoard(("ari",)), lambda: {}, desktop=with_phone, caller_line=line)


async def test_a_page_speaking_as_someone_else_is_cut_off_before_asterisk_hears_it(fake_asterisk: FakeAsterisk) -> None:
    sessions = Sessions()
    async with TestClient(TestServer(phone_app(fake_asterisk, sessions))) as test_client:
        test_client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("minsu", ROLES["minsu"])})
        with pytest.raises(aiohttp.WSServerHandshakeError) as no_sip:
            await test_client.ws_connect("/phone/sip")
        assert no_sip.value.status == 400
        page = await test_client.ws_connect("/phone/sip", protocols=("sip",))
        await page.send_str(sip_request("REGISTER", "web2001"))
        await page.send_str(sip_request("INVITE", "carrier-trunk"))
        assert (await page.receive(timeout=10)).type == aiohttp.WSMsgType.CLOSE and page.close_code == REFUSED
        caller = await test_client.ws_connect("/try/sip", protocols=("sip",))
        await caller.send_str(sip_request("REGISTER", "try-caller"))
        assert (await caller.receive(timeout=10)).type == aiohttp.WSMsgType.CLOSE and caller.close_code == REFUSED
    assert fake_asterisk.frames == [sip_request("REGISTER", "web2001")], "only the page's own registration got through"
    assert set(fake_asterisk.remotes) == {"127.0.0.3"}


async def test_an_agents_phone_lives_in_one_tab_and_relays_end_when_the_engine_stops(fake_asterisk: FakeAsterisk) -> None:
    sessions = Sessions()
    runner = web.AppRunner(phone_app(fake_asterisk, sessions), shutdown_timeout=60.0)
    await runner.setup()
    port = closed_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    cookie = {SESSION_COOKIE: sessions.open("minsu", ROLES["minsu"])}
    async with aiohttp.ClientSession(cookies=cookie) as browser:
        try:
            first = await browser.ws_connect(f"http://127.0.0.1:{port}/phone/sip", protocols=("sip",))
            second = await browser.ws_connect(f"http://127.0.0.1:{port}/phone/sip", protocols=("sip",))
            assert (await first.receive(timeout=10)).type == aiohttp.WSMsgType.CLOSE and first.close_code == OTHER_TAB
            caller = await browser.ws_connect(f"http://127.0.0.1:{port}/try/sip", protocols=("sip",))
            await second.send_str(sip_request("REGISTER", "web2001"))
            while not fake_asterisk.frames:
                await asyncio.sleep(0.05)
            async with asyncio.timeout(30):  # far below the server's 60 s wait for handlers
                await runner.cleanup()
            for page in (second, caller):
                closing = await page.receive(timeout=5)
                assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, STOPPING)
        finally:
            await runner.cleanup()


async def test_a_second_tab_cannot_take_the_phone_while_it_carries_a_call(fake_asterisk: FakeAsterisk) -> None:
    sessions = Sessions()
    async with TestClient(TestServer(phone_app(fake_asterisk, sessions, status="on_call"))) as test_client:
        test_client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("minsu", ROLES["minsu"])})
        first = await test_client.ws_connect("/phone/sip", protocols=("sip",))
        await first.send_str(sip_request("REGISTER", "web2001"))
        while not fake_asterisk.frames:
            await asyncio.sleep(0.05)
        second = await test_client.ws_connect("/phone/sip", protocols=("sip",))
        closing = await second.receive(timeout=10)
        assert (closing.type, second.close_code, closing.extra) == (aiohttp.WSMsgType.CLOSE, OTHER_TAB, "your phone is on a call in another tab")
        await first.send_str(sip_request("OPTIONS", "web2001"))
        while len(fake_asterisk.frames) < 2:
            await asyncio.sleep(0.05)
        assert not first.closed, "the tab with the call keeps its phone"


def sip_request(method: str, user: str) -> str:
    return (f"{method} sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bK{method}\r\nTo: <sip:{user}@127.0.0.1>\r\n"
            f"From: <sip:{user}@127.0.0.1>;tag=1\r\nCall-ID: {method}-1\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize(("phones", "code"), [(None, "phone_not_set_up"), ({}, "no_phone_yet")])
async def test_a_refused_phone_config_carries_a_code_the_page_translates(phones: dict[str, BrowserPhone] | None, code: str) -> None:
    """The page says the code in the reader's language (common.error_code.*), not the engine's English."""
    sessions = Sessions()
    agent_desktop = desktop(sessions, [])
    if phones is not None:
        agent_desktop.phone = PhoneGateway(f"ws://127.0.0.1:{closed_port()}/ws", "127.0.0.1", phones.get)
    async with TestClient(TestServer(build_app(HealthBoard(("ari",)), lambda: {}, desktop=agent_desktop))) as test_client:
        test_client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("minsu", ROLES["minsu"])})
        answer = await test_client.get("/phone/config")
        assert answer.status == 404 and (await answer.json())["code"] == code
