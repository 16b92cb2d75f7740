"""The transfer directory: each agent's page lists every colleague (never themself) with their name
and state; a real page gets it on attach and again when a colleague's state changes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from engine.health import HealthBoard
from engine.web.desktop_directory import directory_entries, directory_message
from engine.web.desktop_hub import DesktopHub
from engine.web.desktop_protocol import SERVER_MESSAGE, DirectoryMessage
from engine.web.http_server import Desktop, build_app
from engine.web.sessions import SESSION_COOKIE, Sessions

NAMES = {"minsu": "김민수", "jiyeon": "이지연", "alex": "Alex Park"}


def test_each_page_lists_the_others_by_name_with_their_state_and_not_itself() -> None:
    states = {"jiyeon": {"status": "on_call", "since_s": 3.0}, "minsu": {"status": "available"}, "gone": {"status": "available"}}
    message = SERVER_MESSAGE.validate_python(json.loads(directory_message(directory_entries(NAMES, states), "minsu")))
    assert isinstance(message, DirectoryMessage)
    assert [(a.id, a.name, a.status) for a in message.agents] == [("alex", "Alex Park", "logged_out"), ("jiyeon", "이지연", "on_call")], \
        "sorted by name; an agent not heard of is logged out; one no longer configured is left out"
    assert message.me is not None and (message.me.id, message.me.name, message.me.status) == ("minsu", "김민수", "available")


def test_an_empty_team_is_an_empty_directory() -> None:
    assert json.loads(directory_message(directory_entries({}, {}), "minsu"))["agents"] == []
    assert json.loads(directory_message(directory_entries({"minsu": ""}, {}), "minsu"))["agents"] == []
    assert json.loads(directory_message(directory_entries({"alex": "Alex"}, {}), "minsu"))["me"] is None
    assert json.loads(directory_message(directory_entries({"alex": ""}, {}), "minsu"))["agents"][0]["name"] == "alex", "no name: the id"


async def test_a_real_page_gets_the_directory_on_attach_and_when_a_colleague_changes_state() -> None:
    sessions = Sessions()
    token = sessions.open("minsu", frozenset({"agent"}))
    hub = DesktopHub(agent_names=lambda: NAMES)

    async def wrap_up(agent: str, call_id: str, disposition: str, notes: str) -> str | None:
        return None

    desktop = Desktop(sessions, hub, lambda a: frozenset({"agent"}), lambda a, p: False, lambda a: None, lambda a, b, c: None, wrap_up)
    async with TestClient(TestServer(build_app(HealthBoard(("ari",)), lambda: {}, desktop=desktop))) as client:
        client.session.cookie_jar.update_cookies({SESSION_COOKIE: token})
        socket = await client.ws_connect("/ws")

        async def next_directory() -> list[dict[str, Any]]:
            async with asyncio.timeout(3):
                while True:
                    message = await socket.receive()
                    assert message.type == aiohttp.WSMsgType.TEXT, message
                    data = json.loads(message.data)
                    if data["type"] == "directory":
                        return list(data["agents"])

        assert [(a["id"], a["status"]) for a in await next_directory()] == [("alex", "logged_out"), ("jiyeon", "logged_out")]
        hub.agent_changed("jiyeon", {"status": "available", "reason": "", "registered": True, "call_id": ""})
        assert ("jiyeon", "available") in [(a["id"], a["status"]) for a in await next_directory()]
        hub.agent_changed("jiyeon", {"status": "reserved", "reason": "", "registered": True, "call_id": "c1"})
        hub.agent_changed("jiyeon", {"status": "on_call", "reason": "", "registered": True, "call_id": "c1"})
        started = asyncio.get_running_loop().time()
        assert ("jiyeon", "on_call") in [(a["id"], a["status"]) for a in await next_directory()], "two quick changes: one message, the latest"
        assert asyncio.get_running_loop().time() - started < 2.0
        await socket.close()
