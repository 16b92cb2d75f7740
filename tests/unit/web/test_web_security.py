"""The web layer under attack, against the real aiohttp app: sessions that end close their pages,
logins limited per id and per address, cross-origin writes refused, security headers on every
route, bad input answered 4xx naming the field. The route table is walked for headers and the
Origin rule, as test_access.py walks it for authentication."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from aiohttp import web

from engine.health import HealthBoard
from engine.config.qa_config import QualityConfig
from engine.store.database import create_engine
from engine.store.journey_store import JourneyStore
from engine.store.qa_store import QaStore
from engine.store.recording_store import RecordingStore
from engine.settings import HttpSettings
from engine.web.desktop_hub import DesktopHub
from engine.web.http_server import ACCESS, Desktop, build_app
from engine.web.qa_routes import QaDesk
from engine.web.session_gate import SESSION_ENDED
from engine.web.sessions import MAX_SESSIONS_PER_PERSON, MAX_SOCKETS_PER_SESSION, SESSION_COOKIE, SESSION_TTL_S, Sessions

PASSWORD = "correct horse battery"
SECURITY_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy")

NO_POP = {"v": 1, "type": "pop_cleared", "call_id": None}
"""An agent page's first message when the agent has no pop."""


@dataclass
class World:
    """What the engine would know: roles and password versions (mutable, as the agents' files are)."""

    roles: dict[str, frozenset[str]] = field(default_factory=lambda: {
        "minsu": frozenset({"agent"}), "jiyeon": frozenset({"agent"}), "sora": frozenset({"agent", "supervisor", "qa"}), "boss": frozenset({"supervisor"}),
    })
    versions: dict[str, str] = field(default_factory=lambda: {"minsu": "v1", "jiyeon": "v1", "sora": "v1", "boss": "v1"})
    now: float = 1_000_000.0
    hashed: list[str] = field(default_factory=list)
    hashing_now: int = 0
    most_at_once: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check_password(self, agent: str, password: str) -> bool:
        with self.lock:
            self.hashed.append(agent)
            self.hashing_now += 1
            self.most_at_once = max(self.most_at_once, self.hashing_now)
        time.sleep(0.05)  # argon2's work
        with self.lock:
            self.hashing_now -= 1
        return agent in self.roles and password == PASSWORD


def qa_desk() -> QaDesk:
    """Never reaches its database in these tests; an unopened in-memory one."""
    database = create_engine(f"sqlite+aiosqlite:///{tempfile.gettempdir()}/threadline-unit-never-opened.sqlite3")
    return QaDesk(RecordingStore(database), QaStore(database), JourneyStore(database), Path("recordings"), QualityConfig, dict)


def routes(app: web.Application) -> list[tuple[str, str]]:
    return sorted({(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD" and r.resource is not None})


async def wrap_up(agent: str, call_id: str, disposition: str, notes: str) -> str | None:
    return None


async def no_report(start: datetime, end: datetime, interval: str, by: str) -> list[dict[str, Any]]:
    return []


@pytest.fixture
async def world() -> AsyncIterator[tuple[TestClient[Any, Any], World]]:
    state = World()
    sessions = Sessions(clock=lambda: state.now)
    desktop = Desktop(
        sessions, DesktopHub(), lambda agent: state.roles.get(agent), state.check_password, lambda agent: {"status": "available"},
        lambda agent, action, reason: None, wrap_up, password_versions=lambda: dict(state.versions),
    )
    http = HttpSettings(trusted_proxies=("127.0.0.1",))  # the test client is the proxy: X-Forwarded-For names the client
    app = build_app(HealthBoard(("ari",)), lambda: {}, None, "admin-token-0123456789", desktop, qa_desk(), no_report, http)
    async with TestClient(TestServer(app)) as client:
        yield client, state


async def log_in(client: TestClient[Any, Any], agent: str, address: str = "198.51.100.1", password: str = PASSWORD, **extra: str) -> aiohttp.ClientResponse:
    return await client.post("/login", data={"agent": agent, "password": password, **extra}, headers={"X-Forwarded-For": address})


async def closed_with(socket: aiohttp.ClientWebSocketResponse, timeout_s: float = 5.0) -> int | None:
    async with asyncio.timeout(timeout_s):
        while True:
            message = await socket.receive()
            if message.type == aiohttp.WSMsgType.CLOSE:
                return int(message.data)  # the code the engine sent (close_code may read 1006 once the engine drops the connection)
            if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                return socket.close_code


# -- sessions --------------------------------------------------------------------------------------


async def test_logout_closes_the_sessions_open_pages_and_the_cookie_stops_working(world: Any) -> None:
    client, _ = world
    assert (await log_in(client, "minsu")).status == 200
    socket = await client.ws_connect("/ws")
    assert (await client.post("/logout")).status == 200
    assert await closed_with(socket) == SESSION_ENDED


async def test_an_expired_session_closes_its_idle_page(world: Any) -> None:
    client, state = world
    await log_in(client, "minsu")
    socket = await client.ws_connect("/ws")
    state.now += SESSION_TTL_S + 1
    assert await closed_with(socket) == SESSION_ENDED, "the sweep closes pages of expired sessions"
    assert (await client.get("/protocol")).status == 401


@pytest.mark.parametrize("change", ["role removed", "password changed", "agent removed"])
async def test_a_role_or_password_change_ends_the_session_and_closes_its_pages(world: Any, change: str) -> None:
    client, state = world
    await log_in(client, "sora")
    floor = await client.ws_connect("/ws/supervisor")
    desk = await client.ws_connect("/ws")
    if change == "role removed":
        state.roles["sora"] = frozenset({"agent", "qa"})
    elif change == "password changed":
        state.versions["sora"] = "v2"
    else:
        del state.roles["sora"]
    await floor.send_json({"v": 1, "type": "set_agent_state", "agent": "minsu", "status": "paused"})
    assert await closed_with(floor) == SESSION_ENDED, "the next message is checked against the roles now"
    assert await closed_with(desk) == SESSION_ENDED, "an idle page is closed by the sweep"
    assert (await client.get("/protocol")).status == 401


async def test_a_person_has_at_most_five_sessions_and_a_sixth_login_never_ends_anyone_elses(world: Any) -> None:
    client, _ = world
    jiyeon = (await log_in(client, "jiyeon")).cookies[SESSION_COOKIE].value
    tokens = [(await log_in(client, "minsu")).cookies[SESSION_COOKIE].value for _ in range(MAX_SESSIONS_PER_PERSON)]
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: tokens[0]})
    oldest = await client.ws_connect("/ws")
    newest = (await log_in(client, "minsu")).cookies[SESSION_COOKIE].value
    assert await closed_with(oldest) == SESSION_ENDED
    for token, alive in ((tokens[0], False), (tokens[1], True), (newest, True), (jiyeon, True)):
        client.session.cookie_jar.clear()
        client.session.cookie_jar.update_cookies({SESSION_COOKIE: token})
        assert (await client.get("/protocol")).status == (200 if alive else 401), token


async def test_a_session_has_at_most_eight_pages_open_the_oldest_is_closed(world: Any) -> None:
    client, _ = world
    await log_in(client, "minsu")
    pages = [await client.ws_connect("/ws") for _ in range(MAX_SOCKETS_PER_SESSION)]
    await client.ws_connect("/ws")
    assert await closed_with(pages[0]) == 1008
    assert await pages[1].receive_json(timeout=2) == NO_POP
    await pages[1].send_json({"v": 1, "type": "set_state", "status": "dancing"})
    assert (await pages[1].receive_json(timeout=2))["type"] == "error", "the others stay open"


async def test_the_agent_websocket_needs_the_agent_role(world: Any) -> None:
    client, _ = world
    await log_in(client, "boss")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/ws")
    assert refused.value.status == 403


# -- logins ----------------------------------------------------------------------------------------


async def test_failed_logins_are_limited_per_id_and_per_address_not_for_everyone(world: Any) -> None:
    client, _ = world
    statuses = [(await log_in(client, "minsu", "203.0.113.7", "wrong-password")).status for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    assert (await log_in(client, "jiyeon", "198.51.100.2")).status == 200, "another agent from another address is not locked out"
    assert (await log_in(client, "jiyeon", "203.0.113.7")).status == 429, "the guessing address is"
    assert (await log_in(client, "minsu", "198.51.100.3")).status == 429, "and so is the guessed id"


async def test_concurrent_wrong_logins_reserve_their_slot_before_hashing_and_hashes_are_bounded(world: Any) -> None:
    client, state = world
    answers = await asyncio.gather(*(log_in(client, "minsu", "203.0.113.8", "wrong-password") for _ in range(20)))
    assert sorted(a.status for a in answers) == [401] * 10 + [429] * 10
    assert len(state.hashed) == 10, "only the reserved attempts are hashed"
    assert state.most_at_once <= 2


async def test_an_unknown_id_costs_a_hash_like_a_known_one(world: Any) -> None:
    client, state = world
    assert (await log_in(client, "nobody-at-all", "198.51.100.9", "wrong-password")).status == 401
    assert state.hashed == ["nobody-at-all"]


async def test_after_login_the_browser_goes_only_to_a_path_on_this_site(world: Any) -> None:
    client, _ = world
    for wanted, landing in (("/\\evil.example", "/agent"), ("//evil.example/x", "/agent"), ("https://evil.example", "/agent"), ("/qa?x=1", "/qa?x=1")):
        body = await (await log_in(client, "minsu", next=wanted)).json()
        assert body["next"] == landing, wanted


# -- cross-origin writes, headers ------------------------------------------------------------------


async def test_every_state_changing_route_refuses_another_origin_and_a_same_site_page(world: Any) -> None:
    client, _ = world
    await log_in(client, "sora")
    writes = [(method, path) for method, path in routes(client.server.app) if method not in ("GET", "HEAD")]
    assert ("POST", "/login") in writes and ("POST", "/logout") in writes
    for method, path in writes:
        url = path.replace("{recording_id}", "1")
        for headers in ({"Origin": "http://evil.example"}, {"Origin": "http://127.0.0.1:1"}, {"Sec-Fetch-Site": "same-site"}, {"Sec-Fetch-Site": "cross-site"}):
            response = await client.request(method, url, headers=headers, data={"agent": "sora", "password": PASSWORD})
            assert response.status == 403 and "cross-origin" in (await response.json())["error"], (method, path, headers)
    assert (await client.get("/protocol")).status == 200, "the session survived every refused write"
    own = f"http://{client.server.host}:{client.server.port}"
    assert (await client.post("/logout", headers={"Origin": own, "Sec-Fetch-Site": "same-origin"})).status == 200


async def test_every_route_answers_with_the_security_headers_and_private_json_is_not_stored(world: Any) -> None:
    client, _ = world
    await log_in(client, "sora")
    for method, path in routes(client.server.app):
        url = path.replace("{name}", "agent.js").replace("{recording_id}", "x")
        if path.startswith("/ws") or method != "GET":
            continue
        response = await client.get(url, allow_redirects=False)
        for name in SECURITY_HEADERS:
            assert name in response.headers, (path, name, response.status)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"] and "script-src 'self'" in response.headers["Content-Security-Policy"]
        if response.content_type == "application/json":
            assert response.headers.get("Cache-Control") == "no-store", path
    for path in ("/nowhere", "/static/nothing.js"):
        assert "Content-Security-Policy" in (await client.get(path)).headers


async def test_behind_a_trusted_proxy_the_cookie_is_secure_and_the_websocket_origin_is_the_public_one(world: Any) -> None:
    client, _ = world
    proxied = {"X-Forwarded-For": "198.51.100.20", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "desk.example"}
    response = await client.post("/login", data={"agent": "minsu", "password": PASSWORD}, headers={**proxied, "Origin": "https://desk.example"})
    assert response.status == 200 and "Secure" in response.headers["Set-Cookie"]
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: response.cookies[SESSION_COOKIE].value})
    socket = await client.ws_connect("/ws", headers={**proxied, "Origin": "https://desk.example"})
    await socket.close()
    assert "Secure" not in (await log_in(client, "jiyeon")).headers["Set-Cookie"], "plain http stays plain"


async def test_an_untrusted_client_cannot_claim_https_or_another_address(world: Any) -> None:
    client, _ = world
    sessions = Sessions()
    http = HttpSettings()  # no trusted proxies
    app = build_app(HealthBoard(("ari",)), lambda: {}, None, None, Desktop(sessions, DesktopHub(), lambda a: frozenset({"agent"}), lambda a, p: False,
                    lambda a: None, lambda a, b, c: None, wrap_up), http=http)
    async with TestClient(TestServer(app)) as direct:
        statuses = [(await direct.post("/login", data={"agent": "minsu", "password": "x" * 12}, headers={"X-Forwarded-For": f"198.51.100.{n}"})).status for n in range(11)]
        assert statuses[-1] == 429, "a forged X-Forwarded-For does not escape the limit"
        forged = await direct.get("/healthz", headers={"X-Forwarded-Proto": "https"})
        assert "Strict-Transport-Security" not in forged.headers, "a forged X-Forwarded-Proto is not the client's scheme"


async def test_metrics_on_loopback_need_a_local_host_name(world: Any) -> None:
    client, _ = world
    client.session.cookie_jar.clear()
    assert (await client.get("/metrics")).status == 200
    assert (await client.get("/metrics", headers={"Host": "localhost:9"})).status == 200
    assert (await client.get("/metrics", headers={"Host": "evil.example"})).status == 401, "DNS rebinding: a page elsewhere sends its own name"


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "field"), [
    ("from=1900-01-01&to=2100-12-31&interval=15m", "from"),
    ("from=2026-01-01&to=2026-12-31&interval=15m", "to"),
    ("from=2020-01-01&to=2026-12-31&interval=day", "to"),
    ("from=9999-12-31", "from"),
    ("from=2026-02-30", "from"),
    ("to=yesterday", "to"),
    ("interval=5m", "interval"),
    ("by=caller", "by"),
])
async def test_a_report_period_is_capped_and_bad_dates_are_a_422_naming_the_field(world: Any, query: str, field: str) -> None:
    client, _ = world
    await log_in(client, "sora")
    response = await client.get(f"/reports/data?{query}")
    body = await response.json()
    assert response.status == 422 and body["field"] == field and body["error"].startswith(f"{field}: "), (query, body)
    assert (await client.get("/reports/data?from=2026-01-01&to=2026-01-31&interval=15m")).status == 200


async def test_bad_input_is_a_4xx_not_a_traceback(world: Any) -> None:
    client, _ = world
    await log_in(client, "sora")
    assert (await client.post("/qa/recordings/1/scores", data="{}", headers={"Content-Type": "text/plain"})).status == 415
    assert (await client.post("/login", data=b"--x\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=x"})).status in (400, 422)
    assert (await client.post("/login", data={"agent": "", "password": ""})).status == 422
    for query in ("since=9999-12-31", "until=9999-12-31", "since=0001-01-01"):
        response = await client.get(f"/qa/calls?{query}")
        assert response.status == 422 and (await response.json())["error"].startswith(query.split("=")[0]), query


async def test_a_handlers_bug_is_a_500_without_a_traceback(world: Any) -> None:
    client, _ = world
    sessions = Sessions()

    def broken_status() -> dict[str, Any]:
        raise RuntimeError("secret internals")

    app = build_app(HealthBoard(("ari",)), broken_status, None, "admin-token-0123456789", Desktop(sessions, DesktopHub(), lambda a: None, lambda a, p: False, lambda a: None, lambda a, b, c: None, wrap_up))
    async with TestClient(TestServer(app)) as direct:
        response = await direct.get("/status", headers={"Authorization": "Bearer admin-token-0123456789"})
        text = await response.text()
        assert response.status == 500 and "reference" in text and "secret internals" not in text and "Traceback" not in text


def test_every_route_keeps_an_access_rule() -> None:
    assert ("GET", "/ws") in ACCESS and ACCESS[("GET", "/ws")].roles == frozenset({"agent"})


async def test_a_bug_behind_a_page_message_is_an_error_message_and_the_page_stays_open() -> None:
    async def broken_wrap_up(agent: str, call_id: str, disposition: str, notes: str) -> str | None:
        raise KeyError("internals")

    sessions = Sessions()
    app = build_app(HealthBoard(("ari",)), lambda: {}, desktop=Desktop(sessions, DesktopHub(), lambda a: frozenset({"agent"}), lambda a, p: False,
                    lambda a: None, lambda a, b, c: None, broken_wrap_up))
    async with TestClient(TestServer(app)) as client:
        client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("minsu", frozenset({"agent"}))})
        socket = await client.ws_connect("/ws")
        assert await socket.receive_json(timeout=2) == NO_POP
        await socket.send_json({"v": 1, "type": "wrap_up", "call_id": "c1", "disposition": "resolved"})
        reply = await socket.receive_json(timeout=2)
        assert reply["type"] == "error" and "reference" in reply["error"] and "internals" not in reply["error"]
        await socket.send_json({"v": 1, "type": "dance"})
        assert (await socket.receive_json(timeout=2))["type"] == "error", "still open"


async def test_a_login_body_that_trickles_is_a_408(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = world
    monkeypatch.setattr("engine.web.http_server.BODY_TIMEOUT_S", 0.5)
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nagent=mi")
    await writer.drain()
    async with asyncio.timeout(5):
        head = await reader.readline()
    assert head.startswith(b"HTTP/1.1 408"), head
    writer.close()


# -- review of the hardening: HSTS behind a proxy, a handshake racing a session's end, cleanup -------


async def test_behind_a_trusted_proxy_every_https_answer_carries_hsts_and_plain_http_none(world: Any) -> None:
    """aiohttp prepares most answers with the original request, not the forwarded clone: the client's
    scheme must reach the header hook anyway (404s, redirects, JSON, files, the login)."""
    client, _ = world
    proxied = {"X-Forwarded-For": "198.51.100.21", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "desk.example"}
    for path in ("/login", "/healthz", "/protocol", "/agent", "/nowhere", "/static/agent.js"):
        response = await client.get(path, headers=proxied, allow_redirects=False)
        assert response.headers.get("Strict-Transport-Security") == "max-age=31536000", (path, response.status)
        assert "Strict-Transport-Security" not in (await client.get(path, allow_redirects=False)).headers, path
    login = await client.post("/login", data={"agent": "minsu", "password": PASSWORD}, headers={**proxied, "Origin": "https://desk.example"})
    assert login.status == 200 and login.headers.get("Strict-Transport-Security") == "max-age=31536000"


@pytest.mark.parametrize("path", ["/ws", "/ws/supervisor"])
async def test_a_session_that_ends_during_the_websocket_handshake_closes_the_page_before_any_pop(path: str) -> None:
    sessions = Sessions()
    roles = frozenset({"agent", "supervisor"})
    token = sessions.open("minsu", roles)
    hub = DesktopHub()
    app = build_app(HealthBoard(("ari",)), lambda: {}, desktop=Desktop(sessions, hub, lambda a: roles, lambda a, p: False,
                    lambda a: None, lambda a, b, c: None, wrap_up))

    async def end_during_handshake(_request: web.BaseRequest, response: web.StreamResponse) -> None:
        if isinstance(response, web.WebSocketResponse):
            sessions.close(token)  # a logout or expiry lands after the access check, before the page is attached

    app.on_response_prepare.append(end_during_handshake)
    async with TestClient(TestServer(app)) as client:
        client.session.cookie_jar.update_cookies({SESSION_COOKIE: token})
        socket = await client.ws_connect(path)
        hub.call_offered("minsu", {"v": 1, "type": "pop", "call_id": "c1", "caller": "+821012345678"})
        hub.broadcast({"v": 1, "type": "floor", "caller": "+821012345678"})
        received: list[str] = []
        async with asyncio.timeout(4):
            while (message := await socket.receive()).type == aiohttp.WSMsgType.TEXT:
                received.append(message.data)
        assert message.type == aiohttp.WSMsgType.CLOSE and int(message.data) == SESSION_ENDED, message
        assert not [text for text in received if "+821012345678" in text], received
        assert hub.connected == 0


async def test_cancelling_the_apps_cleanup_is_not_swallowed_with_the_sweepers_own_cancellation() -> None:
    app = build_app(HealthBoard(("ari",)), lambda: {})
    session_sweeps = next(ctx for ctx in app.cleanup_ctx if getattr(ctx, "__name__", "") == "session_sweeps")
    steps = cast(AsyncIterator[None], session_sweeps(app))
    await anext(steps)  # started: the sweeper runs

    async def clean_up() -> None:
        await anext(steps, None)

    cleanup = asyncio.get_running_loop().create_task(clean_up())
    await asyncio.sleep(0)  # the cleanup has cancelled the sweeper and waits for it to end
    cleanup.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cleanup


async def test_addresses_in_one_ipv6_64_share_the_failed_login_limit(world: Any) -> None:
    client, _ = world
    statuses = [(await log_in(client, f"nobody-{n}", f"2001:db8:7:1::{n + 1:x}", "wrong-password")).status for n in range(10)]
    assert statuses == [401] * 10
    assert (await log_in(client, "jiyeon", "2001:db8:7:1:ffff:ffff:ffff:ffff")).status == 429, "rotating within the /64 does not escape"
    assert (await log_in(client, "jiyeon", "2001:db8:7:2::1")).status == 200, "the next /64 is someone else"


async def test_a_flood_of_made_up_ids_does_not_forget_a_real_agents_failures(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, state = world
    monkeypatch.setattr("engine.web.login_limiter.MAX_TRACKED", 20)
    assert [(await log_in(client, "minsu", f"203.0.113.{n}", "wrong-password")).status for n in range(10)] == [401] * 10
    for n in range(40):
        await log_in(client, f"junk-{n}", f"198.51.100.{n + 100}", "wrong-password")
    assert (await log_in(client, "minsu", "192.0.2.1")).status == 429, "minsu's 10 failures still count"


async def test_agent_pages_decline_compression_and_supervisor_pages_take_it() -> None:
    """A compressor per agent page costs the server about 200 KB: 2,000 pages would hold 400 MB for
    small messages. The few supervisor pages, with large floor snapshots, keep it."""
    sessions = Sessions()
    hub = DesktopHub()
    roles = frozenset({"agent", "supervisor"})
    app = build_app(HealthBoard(("ari",)), lambda: {}, desktop=Desktop(sessions, hub, lambda a: roles, lambda a, p: False,
                    lambda a: None, lambda a, b, c: None, wrap_up))
    async with TestClient(TestServer(app)) as client:
        client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("minsu", roles)})
        agent = await client.ws_connect("/ws", compress=15)
        supervisor = await client.ws_connect("/ws/supervisor", compress=15)
        assert (agent.compress, supervisor.compress) == (0, 15)
        assert await agent.receive_json(timeout=2) == NO_POP
        hub.broadcast({"v": 1, "type": "notice", "text": "fire drill at 3"})
        for page in (agent, supervisor):
            assert (await page.receive_json(timeout=2))["text"] == "fire drill at 3"


async def test_a_page_gets_the_hubs_messages_in_order_and_close_ends_every_page_and_sender() -> None:
    sessions = Sessions()
    hub = DesktopHub()
    app = build_app(HealthBoard(("ari",)), lambda: {}, desktop=Desktop(sessions, hub, lambda a: frozenset({"agent"}), lambda a, p: False,
                    lambda a: None, lambda a, b, c: None, wrap_up))
    async with TestClient(TestServer(app)) as client:
        client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("minsu", frozenset({"agent"}))})
        pages = [await client.ws_connect("/ws") for _ in range(2)]
        for page in pages:
            assert await page.receive_json(timeout=2) == NO_POP
        async with asyncio.timeout(2):
            while hub.connected < 2:
                await asyncio.sleep(0.01)
        for number in range(20):
            hub.call_offered("minsu", {"v": 1, "type": "pop", "call_id": f"c{number}"})
            hub.call_cleared("minsu", f"c{number}")
        expected = [(kind, f"c{number}") for number in range(20) for kind in ("pop", "pop_cleared")]
        for page in pages:
            assert [(m["type"], m["call_id"]) for m in [await page.receive_json(timeout=2) for _ in expected]] == expected
        await hub.close()
        for page in pages:
            assert (await page.receive(timeout=2)).type in {aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED}
        hub.call_offered("minsu", {"v": 1, "type": "pop", "call_id": "late"})  # nobody to tell, and no error
