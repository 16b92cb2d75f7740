"""Supervisors' call monitoring over HTTP: start (listen, whisper, barge), change mode, stop, and
read the audit. The rules live in engine/acd/monitoring.py; the work in engine/acd/call_monitor.py.

Routes (each has its ACCESS entry in http_server.py: supervisors and admins only):
- GET  /monitor        the supervisor's own session, the live calls and every running session;
- POST /monitor        JSON {"agent": ID, "mode": "listen"|"whisper"|"barge"}: start, or change mode;
- POST /monitor/stop   end the supervisor's session;
- GET  /monitor/audit  the audit's sessions of the last `hours` (default 24, at most 720): the
  newest AUDIT_ROWS rows; `truncated` says older ones were left out.
Bad input answers 422 with {"error", "field"}.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from aiohttp import web

from engine.acd.monitoring import audit_sessions
from engine.store.monitoring_store import MonitoringStep
from engine.web.request_policy import BODY_TIMEOUT_S
from engine.web.sessions import Principal

MAX_AUDIT_HOURS = 720
AUDIT_ROWS = 1000


class MonitorDesk(Protocol):
    """What the routes need from the engine (engine/acd/call_monitor.py's CallMonitor, and the audit store)."""

    def calls(self) -> list[dict[str, Any]]: ...

    def sessions(self) -> list[dict[str, Any]]: ...

    def session_of(self, supervisor: str) -> dict[str, Any] | None: ...

    async def monitor(self, supervisor: str, agent: str, raw_mode: object) -> dict[str, Any]: ...

    async def stop(self, supervisor: str) -> None: ...


def refused(message: str) -> web.Response:
    """An error for the page, naming the field it is about (the text before the first colon)."""
    field = message.split(":", 1)[0] if ":" in message else ""
    return web.json_response({"error": message, "field": field}, status=422)


def add_monitor_routes(
    app: web.Application, desk: MonitorDesk | None, audit: Callable[[datetime, int], Awaitable[list[MonitoringStep]]] | None,
    principal_of: Callable[[web.Request], Principal],
) -> None:
    def unavailable() -> web.Response:
        return web.json_response({"error": "monitoring needs the ACD: no agents are configured on this engine"}, status=404)

    async def overview(request: web.Request) -> web.Response:
        if desk is None:
            return unavailable()
        me = principal_of(request).agent_id
        return web.json_response({"supervisor": me, "session": desk.session_of(me), "calls": desk.calls(), "sessions": desk.sessions()})

    async def start(request: web.Request) -> web.Response:
        if desk is None:
            return unavailable()
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        agent = body.get("agent")
        if not isinstance(agent, str) or not agent.strip():
            return refused("agent: the id of the agent whose call to monitor")
        try:
            session = await desk.monitor(principal_of(request).agent_id, agent.strip()[:64], body.get("mode"))
        except ValueError as exc:
            return refused(str(exc))
        return web.json_response({"session": session})

    async def stop(request: web.Request) -> web.Response:
        if desk is None:
            return unavailable()
        try:
            await desk.stop(principal_of(request).agent_id)
        except ValueError as exc:
            return refused(str(exc))
        return web.json_response({"session": None})

    async def audit_list(request: web.Request) -> web.Response:
        if audit is None:
            return web.json_response({"error": "the monitoring audit needs the database"}, status=503)
        raw = request.query.get("hours", "24")
        try:
            hours = float(raw)
            if not 0 < hours <= MAX_AUDIT_HOURS:
                raise ValueError
        except ValueError:
            return refused(f"hours: a number of hours from 0 to {MAX_AUDIT_HOURS} (got {raw[:20]!r})")
        steps = await audit(datetime.now(UTC) - timedelta(hours=hours), AUDIT_ROWS + 1)
        truncated = len(steps) > AUDIT_ROWS
        return web.json_response({"sessions": audit_sessions(steps[1:] if truncated else steps), "truncated": truncated})

    app.router.add_get("/monitor", overview)
    app.router.add_post("/monitor", start)
    app.router.add_post("/monitor/stop", stop)
    app.router.add_get("/monitor/audit", audit_list)


async def _json_body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            raw = await request.text()
    except TimeoutError:
        raise web.HTTPRequestTimeout(text=f"the body did not arrive within {BODY_TIMEOUT_S:.0f} s") from None
    try:
        body = json.loads(raw)
    except ValueError:
        return refused("body: a JSON object such as {\"agent\": \"minsu\", \"mode\": \"listen\"}")
    if not isinstance(body, dict):
        return refused("body: a JSON object such as {\"agent\": \"minsu\", \"mode\": \"listen\"}")
    return body
