"""The agent page's browser phone: what it registers with, SIP.js served from node_modules, and the
SIP-over-websocket relay from the page to Asterisk.

Why a relay and not the browser talking to Asterisk: Asterisk's SIP websocket (`/ws`) lives on its
HTTP port, which also carries ARI (full control of every call) and must never be exposed; and the
page stays on the engine's own origin, so the CSP keeps `connect-src 'self'`, the session cookie
and the Origin check apply, and one TLS proxy in front of the engine serves the page, its /ws and
the phone's wss alike. The relay passes SIP messages as they are; it does not read them.

`relay_sip` is reusable: the agent page relays under the agent's session; a caller page (/try)
may relay the same way for the try-caller endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import WSMsgType, web

from engine.acd.agent_secrets import AgentSecrets, SecretsError
from engine.config.acd_config import AcdConfig
from engine.web.request_policy import own_origin, refuse_cross_origin_socket

log = logging.getLogger(__name__)
SIP_SUBPROTOCOL = "sip"
"""RFC 7118: the websocket subprotocol of SIP; Asterisk and SIP.js both require it."""
MAX_SIP_MESSAGE = 64 * 1024
"""A SIP message with a WebRTC offer is a few kB; anything far larger is refused, both ways."""
UPSTREAM_CONNECT_S = 5.0
CLOSE_S = 2.0
SIPJS_LIB = Path(__file__).resolve().parents[2] / "node_modules" / "sip.js" / "lib"
"""Installed by `make install` (npm ci, pinned in package-lock.json)."""


@dataclass(frozen=True)
class BrowserPhone:
    """One agent's browser phone: its SIP user (the endpoint `web<extension>`) and secret."""

    sip_user: str
    password: str
    display_name: str


@dataclass(frozen=True)
class PhoneGateway:
    """What the engine's web layer needs for browser phones."""

    asterisk_ws_url: str
    """Asterisk's SIP websocket, ws://<asterisk.host>:<ari_port>/ws: reached only through the relay."""
    sip_domain: str
    phone_of: Callable[[str], BrowserPhone | None]
    """Blocking (a file read): agent id -> their browser phone, or None before provisioning."""


def browser_phone_reader(secrets_path: Path, acd: Callable[[], AcdConfig | None]) -> Callable[[str], BrowserPhone | None]:
    """Reads an agent's browser phone from the agents' secrets file (0600) at each request, so a
    re-provisioned secret is the one the page gets next."""

    def read(agent_id: str) -> BrowserPhone | None:
        config = acd()
        agent = config.agents.get(agent_id) if config is not None else None
        if agent is None:
            return None
        try:
            phone = AgentSecrets(secrets_path).browser_phone(agent_id)
        except SecretsError as exc:
            log.error("browser phone of %s not given to the page: %s", agent_id, exc)
            return None
        return BrowserPhone(phone[0], phone[1], agent.name) if phone is not None else None

    return read


def phone_config(phone: BrowserPhone, sip_domain: str, page_origin: str) -> dict[str, str]:
    """What the page registers with: the relay on the page's own origin (wss behind TLS), its AOR and login."""
    scheme, _, host = page_origin.partition("://")
    return {
        "websocket_url": f"{'wss' if scheme == 'https' else 'ws'}://{host}/phone/sip",
        "aor": f"sip:{phone.sip_user}@{sip_domain}",
        "auth_user": phone.sip_user,
        "password": phone.password,
        "display_name": phone.display_name,
    }


async def config_answer(request: web.Request, gateway: PhoneGateway, agent_id: str) -> web.Response:
    phone = await asyncio.to_thread(gateway.phone_of, agent_id)
    if phone is None:
        return web.json_response({"error": "no browser phone for you yet: an administrator runs `threadline agents provision`"}, status=404)
    return web.json_response(phone_config(phone, gateway.sip_domain, own_origin(request)))


async def open_page_socket(request: web.Request) -> web.WebSocketResponse:
    """The page's side: same origin only, subprotocol sip, bounded messages."""
    refuse_cross_origin_socket(request)
    page = web.WebSocketResponse(protocols=(SIP_SUBPROTOCOL,), max_msg_size=MAX_SIP_MESSAGE, heartbeat=20)
    if not page.can_prepare(request).ok:
        raise web.HTTPBadRequest(text="a SIP websocket is expected (Upgrade: websocket, Sec-WebSocket-Protocol: sip)")
    await page.prepare(request)
    return page


async def relay_sip(page: web.WebSocketResponse, upstream_url: str, who: str) -> None:
    """Relay SIP between an open page socket and Asterisk until either side closes; then both are
    closed. The upstream connect is bounded by UPSTREAM_CONNECT_S; a page whose Asterisk cannot be
    reached is closed with 1011 (the page's SIP.js reconnects by itself)."""
    timeout = aiohttp.ClientTimeout(total=None, connect=UPSTREAM_CONNECT_S, sock_connect=UPSTREAM_CONNECT_S)
    async with aiohttp.ClientSession(timeout=timeout) as client:
        try:
            async with asyncio.timeout(UPSTREAM_CONNECT_S):
                upstream = await client.ws_connect(upstream_url, protocols=(SIP_SUBPROTOCOL,), max_msg_size=MAX_SIP_MESSAGE, heartbeat=20)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("browser phone of %s: Asterisk's SIP websocket %s not reachable: %s", who, upstream_url, exc or type(exc).__name__)
            await _close(page, 1011, "the phone server is not reachable; retrying")
            return
        log.info("browser phone of %s: relay open", who)
        try:
            async with asyncio.TaskGroup() as relays:
                to_asterisk = relays.create_task(_pass(page, upstream), name=f"sip-relay-up-{who}")
                to_page = relays.create_task(_pass(upstream, page), name=f"sip-relay-down-{who}")
                done, _ = await asyncio.wait((to_asterisk, to_page), return_when=asyncio.FIRST_COMPLETED)
                for task in (to_asterisk, to_page):
                    if task not in done:
                        task.cancel()
        finally:
            await _close(upstream, 1000, "")
            await _close(page, 1000, "")
            log.info("browser phone of %s: relay closed", who)


async def _pass(source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse, target: web.WebSocketResponse | aiohttp.ClientWebSocketResponse) -> None:
    """Text and binary frames from source to target until either closes or fails."""
    try:
        async for message in source:
            if message.type == WSMsgType.TEXT:
                await target.send_str(message.data)
            elif message.type == WSMsgType.BINARY:
                await target.send_bytes(message.data)
            else:
                return
    except ConnectionError as exc:  # the other side went away mid-send: the relay ends
        log.debug("SIP relay: %s", exc or type(exc).__name__)


async def _close(socket: web.WebSocketResponse | aiohttp.ClientWebSocketResponse, code: int, reason: str) -> None:
    if socket.closed:
        return
    try:
        async with asyncio.timeout(CLOSE_S):
            await socket.close(code=code, message=reason.encode()[:120])
    except (TimeoutError, ConnectionError, RuntimeError) as exc:
        log.debug("SIP relay socket dropped while closing: %s", exc or type(exc).__name__)


def sipjs_file(relative: str) -> Path | None:
    """A .js file of SIP.js's lib folder, or None (not there, not .js, or outside it)."""
    if not relative.endswith(".js") or "\\" in relative or "\x00" in relative:
        return None
    candidate = (SIPJS_LIB / relative).resolve()
    if not candidate.is_relative_to(SIPJS_LIB) or not candidate.is_file():
        return None
    return candidate


async def sipjs_answer(request: web.Request) -> web.FileResponse:
    relative = request.match_info["path"]
    found = await asyncio.to_thread(sipjs_file, relative)
    if found is None:
        if not await asyncio.to_thread(SIPJS_LIB.is_dir):
            log.error("the browser phone's SIP.js is not installed (%s is missing): run `make install` (npm ci)", SIPJS_LIB)
            raise web.HTTPNotFound(text="SIP.js is not installed on this server: the operator runs `make install`")
        raise web.HTTPNotFound(text="no such SIP.js module")
    return web.FileResponse(found, headers={"Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "public, max-age=3600"})
