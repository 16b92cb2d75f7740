"""The transfer directory: every page gets the same text, the whole team on attach and then only
the agents that changed; a page that reconnects always ends with the true state (reviewer's repro)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from engine.health import HealthBoard
from engine.web.desktop_directory import Directory
from engine.web.desktop_hub import DesktopHub
from engine.web.desktop_protocol import SERVER_MESSAGE, DirectoryMessage
from engine.web.http_server import Desktop, build_app
from engine.web.sessions import SESSION_COOKIE, Sessions

NAMES = {"minsu": "김민수", "jiyeon": "이지연", "alex": "Alex Park"}
AVAILABLE = {"status": "available", "reason": "", "registered": True, "call_id": ""}
ON_CALL = {"status": "on_call", "reason": "", "registered": True, "call_id": "c"}


def test_the_whole_team_on_attach_sorted_by_name_with_me() -> None:
    directory = Directory()
    states = {"jiyeon": {"status": "on_call"}, "minsu": {"status": "available"}, "gone": {"status": "available"}}
    directory.refresh(NAMES, states)
    message = SERVER_MESSAGE.validate_python(json.loads(directory.full("minsu") or ""))
    assert isinstance(message, DirectoryMessage) and message.replace
    assert [(a.id, a.name, a.status) for a in message.agents] == [("alex", "Alex Park", "logged_out"), ("minsu", "김민수", "available"), ("jiyeon", "이지연", "on_call")], \
        "sorted by name; the page's own agent too (the page leaves itself out); not heard of: logged out; not configured: left out"
    assert message.me is not None and (message.me.id, message.me.status) == ("minsu", "available")


def test_an_agent_without_colleagues_gets_no_directory() -> None:
    directory = Directory()
    directory.refresh({"minsu": ""}, {})
    assert directory.full("minsu") is None
    directory.refresh({"alex": ""}, {})
    full = json.loads(directory.full("minsu") or "")
    assert full["me"] is None and full["agents"][0]["name"] == "alex", "no name: the id"


def test_a_change_is_a_delta_of_the_changed_entries_only_and_no_change_is_nothing() -> None:
    directory = Directory()
    states: dict[str, dict[str, Any]] = {}
    directory.refresh(NAMES, states)
    assert directory.refresh(NAMES, states) is None
    states["jiyeon"] = {"status": "available"}
    directory.mark("jiyeon")
    delta = SERVER_MESSAGE.validate_python(json.loads(directory.refresh(NAMES, states) or ""))
    assert isinstance(delta, DirectoryMessage) and not delta.replace
    assert [(a.id, a.status) for a in delta.agents] == [("jiyeon", "available")]
    states["jiyeon"] = {"status": "on_call"}
    directory.mark("jiyeon")
    states["jiyeon"] = {"status": "available"}  # and back before the next refresh: nothing to say
    assert directory.refresh(NAMES, states) is None
    assert json.loads(directory.full("minsu") or "")["agents"][2]["status"] == "available"


def test_a_reloaded_team_sends_new_names_and_removed_agents() -> None:
    directory = Directory()
    directory.refresh(NAMES, {})
    renamed = {"minsu": "김민수", "jiyeon": "이지연 팀장", "bora": "박보라"}
    delta = json.loads(directory.refresh(renamed, {}) or "")
    assert sorted((a["id"], a["name"]) for a in delta["agents"]) == [("bora", "박보라"), ("jiyeon", "이지연 팀장")]
    assert delta["removed"] == ["alex"]
    assert [a["id"] for a in json.loads(directory.full("minsu") or "")["agents"]] == ["minsu", "bora", "jiyeon"]


def test_two_thousand_agents_one_change_is_one_small_text() -> None:
    names = {f"a{n:04}": f"Agent {n:04}" for n in range(2000)}
    states = {agent: {"status": "available"} for agent in names}
    directory = Directory()
    directory.refresh(names, states)
    states["a0007"] = {"status": "on_call"}
    directory.mark("a0007")
    delta = directory.refresh(names, states) or ""
    assert len(delta) < 200, "one entry, not the list"


@asynccontextmanager
async def agent_client(hub: DesktopHub, agent: str = "minsu") -> AsyncIterator[TestClient[Any, Any]]:
    sessions = Sessions()
    token = sessions.open(agent, frozenset({"agent"}))

    async def wrap_up(agent: str, call_id: str, disposition: str, notes: str) -> str | None:
        return None

    desktop = Desktop(sessions, hub, lambda a: frozenset({"agent"}), lambda a, p: False, lambda a: None, lambda a, b, c: None, wrap_up)
    async with TestClient(TestServer(build_app(HealthBoard(("ari",)), lambda: {}, desktop=desktop))) as client:
        client.session.cookie_jar.update_cookies({SESSION_COOKIE: token})
        yield client


async def received(socket: aiohttp.ClientWebSocketResponse, wait: float) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(wait):
            while True:
                message = await socket.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                got.append(json.loads(message.data))
    except TimeoutError:
        pass
    return got


def page_view(messages: list[dict[str, Any]], own: str = "minsu") -> dict[str, str]:
    """What agent.js shows: the directory messages applied in order, the page's own agent left out."""
    team: dict[str, str] = {}
    for message in messages:
        if message["type"] != "directory":
            continue
        if message["replace"]:
            team = {}
        team.update({agent["id"]: agent["status"] for agent in message["agents"]})
        for gone in message.get("removed", []):
            team.pop(gone, None)
    team.pop(own, None)
    return team


async def test_a_real_page_gets_the_team_then_the_changes() -> None:
    hub = DesktopHub(agent_names=lambda: NAMES)
    async with agent_client(hub) as client:
        socket = await client.ws_connect("/ws")
        first = await received(socket, 0.3)
        assert page_view(first) == {"alex": "logged_out", "jiyeon": "logged_out"}
        hub.agent_changed("jiyeon", AVAILABLE)
        hub.agent_changed("jiyeon", {**AVAILABLE, "status": "reserved"})
        hub.agent_changed("jiyeon", ON_CALL)
        later = await received(socket, 1.5)
        assert [m for m in later if m["type"] == "directory"] == [{"v": 1, "type": "directory", "replace": False, "agents": [{"id": "jiyeon", "name": "이지연", "status": "on_call"}], "removed": []}], \
            "three quick changes: one delta, the latest"
        assert page_view(first + later) == {"alex": "logged_out", "jiyeon": "on_call"}
        await socket.close()


async def test_a_page_that_reconnects_converges_to_the_true_state() -> None:
    """Reviewer's repro: a change while no page was open, then a change back, was never sent."""
    hub = DesktopHub(agent_names=lambda: NAMES)
    async with agent_client(hub) as client:
        socket = await client.ws_connect("/ws")
        hub.agent_changed("jiyeon", AVAILABLE)
        assert page_view(await received(socket, 1.5))["jiyeon"] == "available"
        await socket.close()
        await asyncio.sleep(0.2)
        hub.agent_changed("jiyeon", ON_CALL)  # while the page reloads
        socket = await client.ws_connect("/ws")
        seen = await received(socket, 1.5)
        assert page_view(seen)["jiyeon"] == "on_call"
        hub.agent_changed("jiyeon", AVAILABLE)
        seen += await received(socket, 1.5)
        assert page_view(seen)["jiyeon"] == "available", "the change back reached the page"
        await socket.close()


async def test_a_reloaded_team_reaches_open_pages() -> None:
    names = dict(NAMES)
    hub = DesktopHub(agent_names=lambda: names)
    async with agent_client(hub) as client:
        socket = await client.ws_connect("/ws")
        seen = await received(socket, 0.3)
        names["bora"] = "박보라"
        del names["alex"]
        hub.team_changed()
        seen += await received(socket, 1.5)
        assert page_view(seen) == {"bora": "logged_out", "jiyeon": "logged_out"}
        await socket.close()


async def test_a_pop_cleared_while_the_page_was_away_is_cleared_on_reconnect() -> None:
    """Reviewer's repro: ring-no-answer cleared the pop during a drop; the page kept showing it."""
    hub = DesktopHub(agent_names=lambda: NAMES)
    async with agent_client(hub) as client:
        hub.agent_changed("minsu", {**AVAILABLE, "status": "reserved", "call_id": "c1"})
        hub.call_offered("minsu", {"v": 1, "type": "pop", "call_id": "c1"})
        socket = await client.ws_connect("/ws")
        assert "pop" in [m["type"] for m in await received(socket, 0.3)]
        await socket.close()
        await asyncio.sleep(0.2)
        hub.agent_changed("minsu", {**AVAILABLE, "status": "paused", "reason": "no-answer"})
        hub.call_cleared("minsu", "c1")
        socket = await client.ws_connect("/ws")
        messages = await received(socket, 0.5)
        cleared = [m for m in messages if m["type"] == "pop_cleared"]
        assert cleared == [{"v": 1, "type": "pop_cleared", "call_id": None}]
        SERVER_MESSAGE.validate_python(cleared[0])
        assert "pop" not in [m["type"] for m in messages]
        await socket.close()


class _FailingHub(DesktopHub):
    async def attach(self, agent_id: str, socket: Any) -> None:
        await super().attach(agent_id, socket)
        raise RuntimeError("attach failed")


async def test_a_failing_attach_still_detaches_the_page() -> None:
    hub = _FailingHub(agent_names=lambda: NAMES)
    async with agent_client(hub) as client:
        socket = await client.ws_connect("/ws")
        await received(socket, 0.3)
        await socket.close()
        await asyncio.sleep(0.1)
        assert hub.connected == 0
