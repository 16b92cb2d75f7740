"""The caller page (/try): a newcomer calls the IVR from a browser tab, as a caller would.

It is off unless `http.caller_page` is on (`threadline run --demo` turns it on). It is public, so
anyone who can load it can place calls into the flows, the way anyone can dial a public number.
What bounds that: the page's SIP login is the try-caller endpoint, whose calls can only enter the
inbound context (they run the flows and never dial out); the relay is the engine's, as for the
agents' phones (engine/web/phone_gateway.py), so Asterisk's HTTP port stays private. What is
enforced, exactly:
- at most MAX_LINES relays (lines) open at once, MAX_LINES_PER_CLIENT from one client address; more get 429;
- per relay (engine/web/sip_relay_policy.py): only call methods (INVITE, ACK, BYE, CANCEL, OPTIONS,
  INFO, UPDATE, PRACK; no REGISTER, SUBSCRIBE, PUBLISH, MESSAGE, REFER), requests From the
  try-caller user only, one call in all (new INVITEs of one Call-ID: the page opens a new line for
  each call), at most MAX_NEW_INVITES INVITEs without a To tag in any 60 s (the call's INVITE is
  re-sent once with the credentials); a broken rule closes the relay with 1008;
- a relay that starts no call within FIRST_CALL_WITHIN_S of opening, and any relay open for
  MAX_OPEN_S, is closed with 4408.
There is no limit on how long a single call lasts beyond MAX_OPEN_S of its relay.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from engine.web.phone_gateway import OpenRelays, open_page_socket, relay_sip, relay_url
from engine.web.request_policy import own_origin
from engine.web.sip_relay_policy import TRY_METHODS, RelayRules

MAX_LINES = 20
MAX_LINES_PER_CLIENT = 2
MAX_NEW_INVITES = 4
FIRST_CALL_WITHIN_S = 60.0
MAX_OPEN_S = 30 * 60.0
PAGE = Path(__file__).with_name("static") / "try.html"


@dataclass(frozen=True)
class CallerLine:
    """The try-caller endpoint's login, and the number its calls dial."""

    asterisk_ws_url: str
    """Asterisk's SIP websocket, reached only through the relay."""
    sip_domain: str
    user: str
    password: str
    dial: str
    """Any number works: every inbound call runs flows.inbound."""


@dataclass
class OpenLines:
    """Relays open now, per client address: what strangers can hold open is bounded."""

    by_client: Counter[str] = field(default_factory=Counter)

    def admit(self, client: str) -> bool:
        if self.by_client.total() >= MAX_LINES or self.by_client[client] >= MAX_LINES_PER_CLIENT:
            return False
        self.by_client[client] += 1
        return True

    def release(self, client: str) -> None:
        self.by_client[client] -= 1
        if self.by_client[client] <= 0:
            del self.by_client[client]


def caller_config(line: CallerLine, page_origin: str) -> dict[str, str]:
    """What the page calls with: the relay on its own origin, its login, the number."""
    return {
        "websocket_url": relay_url(page_origin, "/try/sip"),
        "aor": f"sip:{line.user}@{line.sip_domain}",
        "auth_user": line.user,
        "password": line.password,
        "target": f"sip:{line.dial}@{line.sip_domain}",
    }


def caller_rules(user: str) -> RelayRules:
    """What a /try page may send through its relay (see the module docstring)."""
    return RelayRules(user, TRY_METHODS, MAX_NEW_INVITES, FIRST_CALL_WITHIN_S, MAX_OPEN_S, one_call=True)


def add_caller_page_routes(app: web.Application, line: CallerLine, relays: OpenRelays) -> None:
    lines = OpenLines()

    async def page(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE)

    async def config(request: web.Request) -> web.Response:
        return web.json_response(caller_config(line, own_origin(request)))

    async def relay(request: web.Request) -> web.WebSocketResponse:
        client = request.remote or ""
        if not lines.admit(client):
            raise web.HTTPTooManyRequests(text=f"the demo line is busy: at most {MAX_LINES_PER_CLIENT} lines open from one address and {MAX_LINES} in all")
        try:
            socket = await open_page_socket(request)
            try:
                await relays.open(socket)
                await relay_sip(socket, line.asterisk_ws_url, f"caller page {client}", caller_rules(line.user))
            finally:
                relays.closed(socket)
        finally:
            lines.release(client)
        return socket

    app.router.add_get("/try", page)
    app.router.add_get("/try/config", config)
    app.router.add_get("/try/sip", relay)
