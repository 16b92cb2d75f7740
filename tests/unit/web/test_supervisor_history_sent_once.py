"""The wallboard's whole day is encoded once per version of the history, not once per page that
attaches: a busy day is a megabyte and tens of milliseconds of the event loop."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from engine.health import HealthBoard
from engine.web.desktop_hub import DesktopHub
from engine.web.http_server import Desktop, build_app
from engine.web.sessions import SESSION_COOKIE, Sessions


async def wrap_up(agent: str, call_id: str, disposition: str, notes: str) -> str | None:
    return None


async def test_attaching_pages_share_one_encoding_of_the_day_until_it_changes() -> None:
    sessions = Sessions()
    hub = DesktopHub()
    roles = frozenset({"agent", "supervisor"})
    reads: list[int] = []
    day: dict[str, Any] = {"day_start": 0, "minute_s": 60, "since": 60, "at": [60], "waiting": {"billing": [3]}, "service_level": {"billing": [0.5]}, "agents": {}}

    def history() -> dict[str, Any]:
        reads.append(1)
        return day

    app = build_app(HealthBoard(("ari",)), lambda: {}, desktop=Desktop(sessions, hub, lambda a: roles, lambda a, p: False, lambda a: None, lambda a, b, c: None, wrap_up))
    async with TestClient(TestServer(app)) as client:
        client.session.cookie_jar.update_cookies({SESSION_COOKIE: sessions.open("minsu", roles)})
        hub.floor_history_changed(history, {**day, "at": [60]})  # a minute's column: the day is not encoded
        assert reads == []
        pages = [await client.ws_connect("/ws/supervisor") for _ in range(3)]
        received = [await page.receive_str(timeout=2) for page in pages]
        assert len(reads) == 1 and len(set(received)) == 1, "one encoding, the same text to every page"
        assert '"replace": true' in received[0] and '"waiting": {"billing": [3]}' in received[0]
        day["waiting"] = {"billing": [4]}
        hub.floor_history_changed(history, None)  # a new version: encoded again, once
        later = await client.ws_connect("/ws/supervisor")
        assert len(reads) == 2 and '"billing": [4]' in await later.receive_str(timeout=2)
        for page in [*pages, later]:
            await page.close()
