"""Every endpoint refuses strangers and wrong roles; the table of routes is walked so none can be forgotten."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine.chat.chat_service import ChatService
from engine.health import HealthBoard
from engine.settings import ChatSettings
from engine.store.contact_store import ContactStore
from engine.web.desktop_hub import DesktopHub
from engine.config.qa_config import QualityConfig
from engine.store.database import create_engine
from engine.store.journey_store import JourneyStore
from engine.store.qa_store import QaStore
from engine.store.recording_store import RecordingStore
from engine.web.caller_page import CallerLine
from engine.web.http_server import ACCESS, Desktop, build_app
from engine.web.qa_routes import QaDesk
from engine.web.sessions import SESSION_COOKIE, Sessions

ROLES = {"minsu": frozenset({"agent"}), "sora": frozenset({"supervisor"}), "qa1": frozenset({"qa"})}
PASSWORD = "correct horse battery"


def desktop(sessions: Sessions, actions: list[tuple[str, str, str]]) -> Desktop:
    def supervise(by: str, agent: str, status: str, reason: str) -> str | None:
        if agent not in ROLES:
            return f"no agent `{agent}`"
        actions.append((agent, status, f"{reason} by {by}"))
        return None

    return Desktop(
        sessions,
        DesktopHub(),
        ROLES.get,
        lambda agent, password: agent in ROLES and password == PASSWORD,
        lambda agent: {"status": "available"},
        lambda agent, action, reason: actions.append((agent, action, reason)),
        wrap_up,
        supervise,
    )


def qa_desk() -> QaDesk:
    """Never reached in these tests (the middleware refuses first); an unopened in-memory database."""
    database = create_engine(f"sqlite+aiosqlite:///{tempfile.gettempdir()}/threadline-unit-never-opened.sqlite3")
    return QaDesk(RecordingStore(database), QaStore(database), JourneyStore(database), Path("recordings"), QualityConfig, dict)


async def wrap_up(agent: str, call_id: str, disposition: str, notes: str) -> str | None:
    return None if (call_id, disposition) == ("c1", "resolved") else "disposition must be one of: resolved"


@pytest.fixture
async def client() -> AsyncIterator[tuple[TestClient[Any, Any], Sessions, list[tuple[str, str, str]]]]:
    sessions: Sessions = Sessions()
    actions: list[tuple[str, str, str]] = []
    app = build_app(HealthBoard(("ari",)), lambda: {}, None, "admin-token-0123456789", desktop(sessions, actions), qa_desk())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client, sessions, actions


def routes(app: web.Application) -> list[tuple[str, str]]:
    return sorted({(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD" and r.resource is not None})


def chat_service() -> ChatService:
    """Never reached in the route walk; an unopened in-memory database."""
    database = create_engine(f"sqlite+aiosqlite:///{tempfile.gettempdir()}/threadline-unit-never-opened.sqlite3")
    return ChatService(ChatSettings(enabled=True), lambda: None, JourneyStore(database), ContactStore(database, JourneyStore(database)))


def test_every_route_has_an_access_rule() -> None:
    app = build_app(HealthBoard(("ari",)), lambda: {}, qa=qa_desk(), caller_line=CallerLine("ws://127.0.0.1:8088/ws", "127.0.0.1", "try-caller", "pw", "1588"),
                    chat=chat_service())
    assert set(routes(app)) == set(ACCESS), "a route without a rule would answer 403; a rule without a route is stale"


async def test_strangers_and_wrong_roles_are_refused_everywhere_but_healthz(client: Any) -> None:
    test_client, sessions, _ = client
    for method, path in routes(test_client.server.app):
        rule = ACCESS[(method, path)]
        if rule.public or rule.loopback:
            continue  # loopback rules: see the /metrics test
        url = path.replace("{name}", "agent.js").replace("{recording_id}", "1").replace("{contact_id}", "ct_0123456789ab")
        response = await test_client.request(method, url, allow_redirects=False)
        if rule.api_scope:  # Journey API: only an API token opens it (tests/integration/test_journey_api.py walks the tokens and scopes on every operation)
            test_client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("sora", ROLES["sora"])})
            with_session = await test_client.request(method, url, allow_redirects=False)
            test_client.session.cookie_jar.clear()
            assert (response.status, with_session.status) == (401, 401), (method, path, "a session does not open the API")
            continue
        if rule.page:
            assert response.status == 303 and response.headers["Location"].startswith("/login"), (method, path)
        else:
            assert response.status == 401, (method, path, response.status)
        wrong = next((name for name, roles in ROLES.items() if not roles & rule.roles), None)
        if wrong is not None:
            test_client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open(wrong, ROLES[wrong])})
            response = await test_client.request(method, url, allow_redirects=False)
            assert response.status == 403, (method, path, wrong, response.status)
            test_client.session.cookie_jar.clear()
    assert (await test_client.get("/healthz")).status in (200, 503)


async def test_login_sets_a_strict_http_only_cookie_and_failures_are_rate_limited(client: Any) -> None:
    test_client, _, _ = client
    ok = await test_client.post("/login", data={"agent": "minsu", "password": PASSWORD})
    assert ok.status == 200
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert (await test_client.get("/agent")).status == 200
    test_client.session.cookie_jar.clear()
    statuses = [(await test_client.post("/login", data={"agent": "minsu", "password": "nope"})).status for _ in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429

NO_POP = {"v": 1, "type": "pop_cleared", "call_id": None}
"""What an agent page gets first when the agent has no pop (one it still shows is gone)."""


async def test_the_websocket_checks_origin_and_closes_on_a_flood_or_a_huge_frame(client: Any) -> None:
    test_client, sessions, actions = client
    test_client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("minsu", ROLES["minsu"])})
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await test_client.ws_connect("/ws", headers={"Origin": "http://evil.example"})
    assert refused.value.status == 403
    socket = await test_client.ws_connect("/ws")
    assert await socket.receive_json(timeout=2) == NO_POP, "on attach: the page shows no pop"
    await socket.send_json({"v": 1, "type": "set_state", "status": "paused", "reason": "lunch"})
    await socket.send_json({"v": 1, "type": "dance"})
    reply = await socket.receive_json(timeout=2)
    assert reply["type"] == "error" and actions == [("minsu", "paused", "lunch")]
    for _ in range(40):
        await socket.send_str("{}")
    closed = await socket.receive(timeout=2)
    while closed.type == aiohttp.WSMsgType.TEXT:
        closed = await socket.receive(timeout=2)
    assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and socket.close_code == 1008
    big = await test_client.ws_connect("/ws")
    assert await big.receive_json(timeout=2) == NO_POP
    await big.send_str("x" * 100_000)
    message = await big.receive(timeout=2)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    assert (await test_client.get("/healthz")).status in (200, 503), "the engine is still serving"


async def test_a_disposition_is_saved_or_refused_with_the_reason(client: Any) -> None:
    test_client, sessions, _ = client
    test_client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("minsu", ROLES["minsu"])})
    socket = await test_client.ws_connect("/ws")
    assert await socket.receive_json(timeout=2) == NO_POP
    await socket.send_json({"v": 1, "type": "wrap_up", "call_id": "c1", "disposition": "resolved", "notes": "refund sent"})
    assert (await socket.receive_json(timeout=2)) == {"v": 1, "type": "wrap_up_saved", "call_id": "c1"}
    await socket.send_json({"v": 1, "type": "wrap_up", "call_id": "c1", "disposition": "whatever"})
    assert (await socket.receive_json(timeout=2))["error"] == "disposition must be one of: resolved"



async def test_only_supervisors_get_the_floor_and_may_set_an_agents_state(client: Any) -> None:
    test_client, sessions, actions = client
    test_client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("minsu", ROLES["minsu"])})
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await test_client.ws_connect("/ws/supervisor")
    assert refused.value.status == 403
    test_client.session.cookie_jar.clear()
    test_client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("sora", ROLES["sora"])})
    socket = await test_client.ws_connect("/ws/supervisor")
    await socket.send_json({"v": 1, "type": "set_agent_state", "agent": "minsu", "status": "logged_out"})
    assert (await socket.receive_json(timeout=2)) == {"v": 1, "type": "agent_state_set", "agent": "minsu", "status": "logged_out"}
    await socket.send_json({"v": 1, "type": "set_agent_state", "agent": "nobody", "status": "paused"})
    assert (await socket.receive_json(timeout=2))["error"] == "no agent `nobody`"
    await socket.send_json({"v": 1, "type": "set_agent_state", "agent": "minsu", "status": "dancing"})
    assert (await socket.receive_json(timeout=2))["error"].startswith("status: Input should be 'available'")
    assert actions == [("minsu", "logged_out", " by sora")]


async def test_metrics_are_open_on_loopback_and_need_a_login_or_the_token_from_elsewhere(client: Any) -> None:
    test_client, sessions, _ = client
    local = await test_client.get("/metrics")
    assert local.status == 200 and "threadline_journey_write_seconds" in await local.text()
    assert local.headers["Content-Type"].startswith("text/plain")
    proxied = await test_client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status == 401, "a request relayed by a local proxy is not a local client"
    token = await test_client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer admin-token-0123456789"})
    assert token.status == 200
    test_client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("minsu", ROLES["minsu"])})
    assert (await test_client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})).status == 403, "agents do not get metrics"
