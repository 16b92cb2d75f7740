"""HTTP endpoints for operators and load balancers: /healthz (200 or 503) and JSON /status."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from engine.health import HealthBoard

StatusSource = Callable[[], dict[str, Any]]


def build_app(board: HealthBoard, status: StatusSource) -> web.Application:
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

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/status", status_page)
    return app
