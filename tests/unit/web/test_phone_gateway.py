"""The browser phone's web side: its login only for the agent's own session, the SIP relay's
Origin check and bounded upstream connect, and SIP.js served only as .js files of its lib folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import socket

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine.health import HealthBoard
from engine.web.http_server import build_app
from engine.web.phone_gateway import SIPJS_LIB, BrowserPhone, PhoneGateway, phone_config, sipjs_file
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
    phones = {"minsu": BrowserPhone("web2001", "minsu-phone-secret", "Minsu")}
    with_phone = desktop(sessions, [])
    with_phone.phone = PhoneGateway(f"ws://127.0.0.1:{closed_port()}/ws", "127.0.0.1", phones.get)
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
    assert (await test_client.get("/phone/config")).status == 403, "a supervisor has no phone here"


async def test_a_relay_whose_asterisk_is_unreachable_closes_the_page_socket_with_1011(client: Any) -> None:
    test_client, sessions = client
    test_client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("minsu", ROLES["minsu"])})
    socket = await test_client.ws_connect("/phone/sip", protocols=("sip",))
    assert socket.protocol == "sip"
    message = await socket.receive(timeout=10)
    assert message.type == aiohttp.WSMsgType.CLOSE and socket.close_code == 1011


async def test_sipjs_is_served_as_javascript_or_a_clear_404(client: Any) -> None:
    test_client, _ = client
    answer = await test_client.get("/static/vendor/sip.js/index.js")
    if SIPJS_LIB.is_dir():
        assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/javascript")
        assert "export" in await answer.text()
    else:
        assert answer.status == 404 and "make install" in await answer.text()
    assert (await test_client.get("/static/vendor/sip.js/../../package.json")).status == 404
    assert (await test_client.get("/static/vendor/sip.js/%2e%2e/package.json")).status == 404
