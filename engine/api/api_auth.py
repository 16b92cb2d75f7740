"""Who may call the Journey API: a bearer token (`threadline tokens create`) holding the route's scope,
within its rate. The web server's access middleware calls `api_guarded` for every route whose ACCESS
rule names an `api_scope` (engine/web/http_server.py); sessions and the admin token do not open it.

Refusals are JSON `{"error": ..., "field": ...}`: 401 without a live token, 403 without the scope,
429 over the rate (with Retry-After), 503 when the engine has no API (no database).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from engine.api.api_schema import SCOPES
from engine.api.rate_window import RateWindow
from engine.store.api_store import ApiToken, ApiTokenStore

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FAILED_PER_MINUTE = 30
"""Requests with a wrong token per client address a minute; further wrong ones are answered 429. Only
failures count and only failures are refused: a valid token behind the same address (a proxy, a NAT)
is never locked out by someone else's mistakes."""
REALM = 'Bearer realm="threadline-api"'


class ApiGuard:
    def __init__(self, tokens: ApiTokenStore, per_minute: int, clock: Callable[[], datetime], monotonic: Callable[[], float] = time.monotonic) -> None:
        self.tokens = tokens
        self._rate = RateWindow(per_minute)
        self._failures = RateWindow(FAILED_PER_MINUTE)
        self._clock = clock
        self._monotonic = monotonic

    async def admit(self, request: web.Request, scope: str) -> ApiToken | web.Response:
        secret = bearer(request)
        if secret is None:
            return refusal(401, "send Authorization: Bearer <token> (an administrator makes one with `threadline tokens create`)", "Authorization")
        token = await self.tokens.authenticate(secret, self._clock())  # a wrong shape is refused without the database
        if token is None:
            wait = self._failures.admit(request.remote or "", self._monotonic())
            if wait is not None:
                return refusal(429, "too many requests with a wrong token from this address; wait", "Authorization", retry_after=max(1, round(wait)))
            return refusal(401, "this token is not valid (revoked, or never made here)", "Authorization")
        if scope not in token.scopes:
            return refusal(403, f"this token lacks the scope {scope} (it has: {', '.join(token.scopes) or 'none'})", "Authorization")
        wait = self._rate.admit(token.name, self._monotonic())
        if wait is not None:
            return refusal(429, "too many requests for this token; slow down", None, retry_after=max(1, round(wait)))
        return token


API_GUARD = web.AppKey("journey_api_guard", ApiGuard)
API_CLIENT = web.RequestKey("journey_api_client", ApiToken)


def bearer(request: web.Request) -> str | None:
    given = request.headers.get("Authorization", "")
    if not given.startswith("Bearer "):
        return None
    return given.removeprefix("Bearer ").strip() or None


def refusal(status: int, error: str, field: str | None, retry_after: int | None = None) -> web.Response:
    headers: dict[str, Any] = {"WWW-Authenticate": REALM} if status == 401 else {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return web.json_response({"error": error, "field": field}, status=status, headers=headers)


async def api_guarded(request: web.Request, handler: Handler, scope: str) -> web.StreamResponse:
    """The access middleware's check for an API route: a live token with `scope`, then the handler."""
    if scope not in SCOPES:
        return refusal(403, f"this route's scope {scope!r} is not a Journey API scope", None)  # a wrong ACCESS entry: closed, never open
    guard = request.app.get(API_GUARD)
    if guard is None:
        if bearer(request) is None:
            return refusal(401, "send Authorization: Bearer <token>", "Authorization")
        return refusal(503, "the Journey API is not running on this engine (it needs the database)", None)
    admitted = await guard.admit(request, scope)
    if isinstance(admitted, web.Response):
        return admitted
    request[API_CLIENT] = admitted
    return await handler(request)
