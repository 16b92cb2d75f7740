"""The monitoring routes: supervisors only, and every bad input is a 422 naming its field."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine.acd.monitoring import parse_mode
from engine.health import HealthBoard
from engine.store.monitoring_store import MonitoringStep
from engine.web.http_server import build_app
from engine.web.sessions import SESSION_COOKIE, Sessions
from test_access import ROLES, desktop


class Desk:
    """The engine's side in memory: one agent on a call; the mode checked by the real core."""

    def __init__(self) -> None:
        self.session: dict[str, Any] | None = None

    def calls(self) -> list[dict[str, Any]]:
        return [{"agent": "minsu", "name": "Minsu", "call_id": "c1", "number": "0212345678", "queue": "billing", "talk_s": 12}]

    def sessions(self) -> list[dict[str, Any]]:
        return [self.session] if self.session else []

    def session_of(self, supervisor: str) -> dict[str, Any] | None:
        return self.session if self.session and self.session["supervisor"] == supervisor else None

    async def monitor(self, supervisor: str, agent: str, raw_mode: object) -> dict[str, Any]:
        mode = parse_mode(raw_mode)
        if agent != "minsu":
            raise ValueError(f"agent: {agent!r} is not on a call now")
        self.session = {"supervisor": supervisor, "agent": agent, "mode": mode.value, "phase": "ringing"}
        return self.session

    async def stop(self, supervisor: str) -> None:
        if self.session_of(supervisor) is None:
            raise ValueError("supervisor: you are not monitoring a call")
        self.session = None


async def steps_since(_since: datetime, _limit: int) -> list[MonitoringStep]:
    at = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    return [MonitoringStep("s1", 1, at, "started", "sora", "minsu", "c1", "listen")]


@pytest.fixture
async def client() -> AsyncIterator[tuple[TestClient[Any, Any], Sessions]]:
    sessions = Sessions()
    with_monitor = desktop(sessions, [])
    with_monitor.monitor, with_monitor.monitoring_audit = Desk(), steps_since
    async with TestClient(TestServer(build_app(HealthBoard(("ari",)), lambda: {}, None, "admin-token-0123456789", with_monitor))) as test_client:
        yield test_client, sessions


def as_(test_client: Any, sessions: Sessions, person: str) -> None:
    test_client.session.cookie_jar.clear()
    test_client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open(person, ROLES[person])})


async def post(test_client: Any, path: str, body: object) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, str) else json.dumps(body)
    response = await test_client.post(path, data=raw, headers={"Content-Type": "application/json", "Origin": str(test_client.make_url("/")).rstrip("/")})
    return response.status, await response.json()


@pytest.mark.parametrize(("body", "field"), [
    ("not json", "body"), ([1, 2], "body"), ({"mode": "listen"}, "agent"), ({"agent": " ", "mode": "listen"}, "agent"),
    ({"agent": "minsu", "mode": "spy"}, "mode"), ({"agent": "minsu"}, "mode"), ({"agent": "nobody", "mode": "barge"}, "agent"),
])
async def test_bad_input_is_refused_naming_the_field(client: Any, body: object, field: str) -> None:
    test_client, sessions = client
    as_(test_client, sessions, "sora")
    status, answer = await post(test_client, "/monitor", body)
    assert status == 422 and answer["field"] == field and answer["error"].startswith(f"{field}:"), answer


async def test_a_supervisor_starts_and_stops_and_sees_the_calls_and_the_audit(client: Any) -> None:
    test_client, sessions = client
    as_(test_client, sessions, "sora")
    status, answer = await post(test_client, "/monitor", {"agent": "minsu", "mode": "whisper"})
    assert status == 200 and answer["session"]["mode"] == "whisper"
    overview = await (await test_client.get("/monitor")).json()
    assert overview["supervisor"] == "sora" and overview["session"]["agent"] == "minsu" and overview["calls"][0]["number"] == "0212345678"
    assert await post(test_client, "/monitor/stop", {}) == (200, {"session": None})
    status, answer = await post(test_client, "/monitor/stop", {})
    assert status == 422 and answer["field"] == "supervisor"
    audit = await (await test_client.get("/monitor/audit?hours=2")).json()
    assert audit["sessions"][0]["supervisor"] == "sora" and audit["sessions"][0]["ended_at"] is None
    bad = await test_client.get("/monitor/audit?hours=abc")
    assert bad.status == 422 and (await bad.json())["field"] == "hours"


@pytest.mark.parametrize("person", ["minsu", "qa1"])
async def test_agents_and_qa_staff_cannot_monitor(client: Any, person: str) -> None:
    test_client, sessions = client
    as_(test_client, sessions, person)
    status, _answer = await post(test_client, "/monitor", {"agent": "minsu", "mode": "listen"})
    assert status == 403
    assert (await test_client.get("/monitor")).status == 403
