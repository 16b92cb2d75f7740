"""HTTP endpoints for operators and load balancers: /healthz (200 or 503) and JSON /status."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from engine.health import HealthBoard

if TYPE_CHECKING:
    from engine.flows.flow_runtime import ReloadResult

StatusSource = Callable[[], dict[str, Any]]
Reload = Callable[[str], Awaitable["ReloadResult"]]


def build_app(board: HealthBoard, status: StatusSource, reload: Reload | None = None, admin_token: str | None = None) -> web.Application:
    app = web.Application()

    async def healthz(_request: web.Request) -> web.Response:
        healthy = board.healthy
        body = {
            "status": "ok" if healthy else "degraded",
            "components": {name: {"ok": s.ok, "detail": s.detail} for name, s in board.snapshot().items()},
        }
        return web.json_response(body, status=200 if healthy else 503)

    async def status_page(_request: web.Request) -> web.Response:
        now = time.time()
        components = {
            name: {"ok": s.ok, "detail": s.detail, "for_s": round(now - s.since, 1) if s.since else None}
            for name, s in board.snapshot().items()
        }
        return web.json_response({"healthy": board.healthy, "components": components, **status()})

    async def reload_flows(request: web.Request) -> web.Response:
        """Operators: validate ivr_flows/ and swap it in if everything is right (calls in progress keep theirs)."""
        if admin_token is None:
            return web.json_response({"error": "operator endpoints are off: set http.admin_token"}, status=403)
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), admin_token.encode()):
            return web.json_response({"error": "wrong or missing bearer token"}, status=401, headers={"WWW-Authenticate": "Bearer"})
        if reload is None:
            return web.json_response({"error": "no flow runs inbound calls (flows.inbound is unset)"}, status=409)
        result = await reload("POST /flows/reload")
        body = {"ok": result.ok, "problems": list(result.problems), "versions": dict(result.versions)}
        return web.json_response(body, status=200 if result.ok else 422)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/status", status_page)
    app.router.add_post("/flows/reload", reload_flows)
    return app
