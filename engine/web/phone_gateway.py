"""The agent page's browser phone: what it registers with, SIP.js served from node_modules, and the
SIP-over-websocket relay from the page to Asterisk.

Why a relay and not the browser talking to Asterisk: Asterisk's SIP websocket (`/ws`) lives on its
HTTP port, which also carries ARI (full control of every call) and must never be exposed; and the
page stays on the engine's own origin, so the CSP keeps `connect-src 'self'`, the session cookie
and the Origin check apply, and one TLS proxy in front of the engine serves the page, its /ws and
the phone's wss alike. The relay passes SIP messages as they are, after one check of what the page
sends (engine/web/sip_relay_policy.py): requests come From the page's own SIP user only, and a
refused frame closes the relay with 1008.

Asterisk sees every relayed page as the relay's address. So that no page can be taken for an
endpoint identified by address (loopback-callers at 127.0.0.1, carrier-trunk at 127.0.0.2: see
asterisk_conf/templates/pjsip.conf.j2), the relay connects from RELAY_SOURCE_ADDRESS whenever
Asterisk's host resolves to IPv4 loopback, an address no `identify` matches: only endpoints with a
password answer.

`relay_sip` serves the agent page (under the agent's session, one relay per agent: a newer tab
closes the older one with OTHER_TAB, unless the agent is on a call or being rung: then the newer
tab is refused with OTHER_TAB, so a call is never dropped by opening a tab) and the caller page (/try, engine/web/caller_page.py). Every
open relay is in OpenRelays, which closes them all when the engine stops.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import WSMsgType, web

from engine.acd.agent_secrets import AgentSecrets, SecretsError
from engine.acd.agent_state import Status
from engine.config.acd_config import AcdConfig
from engine.web.request_policy import own_origin, refuse_cross_origin_socket
from engine.web.sip_relay_policy import RelayPolicy, RelayRules
from engine.web.web_vendor import NODE_MODULES, vendor_answer, vendor_file

log = logging.getLogger(__name__)
SIP_SUBPROTOCOL = "sip"
"""RFC 7118: the websocket subprotocol of SIP; Asterisk and SIP.js both require it."""
MAX_SIP_MESSAGE = 64 * 1024
"""A SIP message with a WebRTC offer is a few kB; anything far larger is refused, both ways."""
UPSTREAM_CONNECT_S = 5.0
CLOSE_S = 2.0
RESOLVE_S = 2.0
RELAY_SOURCE_ADDRESS = "127.0.0.3"
"""The relay's side of its connection to an Asterisk on loopback: matched by no `identify` in pjsip.conf."""
REFUSED = 1008
"""A frame from the page broke the relay's rules (RFC 6455 policy violation)."""
OTHER_TAB = 4409
"""The agent opened their phone in another tab; this one must not reconnect (it would take the registration back)."""
TIME_UP = 4408
"""A /try line closed by time: no call started soon enough, or open too long."""
STOPPING = 1001
SIPJS_LIB = NODE_MODULES / "sip.js" / "lib"
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
    monitor_phone_of: Callable[[str], BrowserPhone | None] | None = None
    """The same for the supervisor page's phone (`mon<extension>`: monitoring calls only)."""


def browser_phone_reader(secrets_path: Path, acd: Callable[[], AcdConfig | None], supervisor_page: bool = False) -> Callable[[str], BrowserPhone | None]:
    """Reads an agent's browser phone (or with `supervisor_page` the supervisor page's phone) from
    the agents' secrets file (0600) at each request, so a re-provisioned secret is the one the page gets next."""

    def read(agent_id: str) -> BrowserPhone | None:
        config = acd()
        agent = config.agents.get(agent_id) if config is not None else None
        if agent is None:
            return None
        try:
            stored = AgentSecrets(secrets_path)
            phone = stored.monitor_phone(agent_id) if supervisor_page else stored.browser_phone(agent_id)
        except SecretsError as exc:
            log.error("browser phone of %s not given to the page: %s", agent_id, exc)
            return None
        return BrowserPhone(phone[0], phone[1], agent.name) if phone is not None else None

    return read


def relay_url(page_origin: str, path: str) -> str:
    """A relay on the page's own origin: wss when the page came over https (behind a TLS proxy)."""
    scheme, _, host = page_origin.partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{host}{path}"


SUPERVISOR_PAGE = "supervisor"
"""`?for=supervisor`: the supervisor page's phone, not the agent page's."""


def phone_config(phone: BrowserPhone, sip_domain: str, page_origin: str, relay_path: str = "/phone/sip") -> dict[str, str]:
    """What the page registers with: the relay on the page's own origin, its AOR and login."""
    return {
        "websocket_url": relay_url(page_origin, relay_path),
        "aor": f"sip:{phone.sip_user}@{sip_domain}",
        "auth_user": phone.sip_user,
        "password": phone.password,
        "display_name": phone.display_name,
    }


def phone_reader(gateway: PhoneGateway, request: web.Request) -> tuple[Callable[[str], BrowserPhone | None] | None, str]:
    """Which phone a page asks for (`?for=supervisor`: the supervisor page's) and its relay path."""
    if request.query.get("for") == SUPERVISOR_PAGE:
        return gateway.monitor_phone_of, f"/phone/sip?for={SUPERVISOR_PAGE}"
    return gateway.phone_of, "/phone/sip"


async def config_answer(request: web.Request, gateway: PhoneGateway, agent_id: str) -> web.Response:
    reader, relay_path = phone_reader(gateway, request)
    phone = await asyncio.to_thread(reader, agent_id) if reader is not None else None
    if phone is None:
        return web.json_response({"error": "no browser phone for you yet: an administrator runs `threadline agents provision`", "code": "no_phone_yet"}, status=404)
    return web.json_response(phone_config(phone, gateway.sip_domain, own_origin(request), relay_path))


async def open_page_socket(request: web.Request) -> web.WebSocketResponse:
    """The page's side: same origin only, subprotocol sip, bounded messages."""
    refuse_cross_origin_socket(request)
    offered = {protocol.strip() for protocol in request.headers.get("Sec-WebSocket-Protocol", "").split(",")}
    if SIP_SUBPROTOCOL not in offered:
        raise web.HTTPBadRequest(text="a SIP websocket is expected: offer the subprotocol sip (Sec-WebSocket-Protocol: sip)")
    page = web.WebSocketResponse(protocols=(SIP_SUBPROTOCOL,), max_msg_size=MAX_SIP_MESSAGE, heartbeat=20)
    if not page.can_prepare(request).ok:
        raise web.HTTPBadRequest(text="a SIP websocket is expected (Upgrade: websocket, Sec-WebSocket-Protocol: sip)")
    await page.prepare(request)
    return page


IN_CALL = frozenset({Status.RESERVED.value, Status.ON_CALL.value})
"""An agent's statuses while a call rings their phone or is connected to it."""


def in_call(shown_state: dict[str, Any] | None) -> bool:
    """Whether the agent's state as the pages show it has a call ringing or connected."""
    return shown_state is not None and shown_state.get("status") in IN_CALL


@dataclass
class OpenRelays:
    """Every open relay's page socket: at most one per agent, and all closed when the engine stops
    (before the web server waits for its handlers, which would otherwise wait out its timeout)."""

    pages: set[web.WebSocketResponse] = field(default_factory=set)
    by_agent: dict[str, web.WebSocketResponse] = field(default_factory=dict)

    async def open(self, page: web.WebSocketResponse, agent_id: str | None = None, in_call: bool = False) -> bool:
        """A relay opens; an agent's older one (another tab) is closed with OTHER_TAB, unless the
        agent is `in_call` (ringing or talking, maybe on that older tab): then this newer page is
        closed with OTHER_TAB and False returned (the caller must not relay it)."""
        if agent_id is not None and in_call and agent_id in self.by_agent:
            log.info("browser phone of %s opened in another tab during a call: the new tab is refused", agent_id)
            await _close(page, OTHER_TAB, "your phone is on a call in another tab")
            return False
        self.pages.add(page)
        if agent_id is None:
            return True
        older = self.by_agent.get(agent_id)
        self.by_agent[agent_id] = page
        if older is not None:
            log.info("browser phone of %s opened in another tab: the older relay is closed", agent_id)
            await _close(older, OTHER_TAB, "phone opened in another tab")
        return True

    def closed(self, page: web.WebSocketResponse, agent_id: str | None = None) -> None:
        self.pages.discard(page)
        if agent_id is not None and self.by_agent.get(agent_id) is page:
            del self.by_agent[agent_id]

    async def close_all(self) -> None:
        await asyncio.gather(*(_close(page, STOPPING, "the server is stopping") for page in list(self.pages)))


def on_ipv4_loopback(addresses: list[str]) -> bool:
    """Whether a host's resolved addresses reach it on IPv4 loopback: some IPv4 address, all loopback."""
    ipv4 = [address for address in (ipaddress.ip_address(text.split("%")[0]) for text in addresses) if address.version == 4]
    return bool(ipv4) and all(address.is_loopback for address in ipv4)


async def relay_source(upstream_url: str) -> tuple[str, int] | None:
    """Where the relay connects from: RELAY_SOURCE_ADDRESS for an Asterisk whose host resolves to IPv4
    loopback (by name or address), else the system's choice (Asterisk elsewhere sees the engine's own
    address, which no identify matches). A name not resolved within RESOLVE_S gets the system's choice."""
    host = urlsplit(upstream_url).hostname or ""
    try:
        async with asyncio.timeout(RESOLVE_S):
            found = await asyncio.to_thread(socket.getaddrinfo, host, None, type=socket.SOCK_STREAM)
    except (TimeoutError, OSError) as exc:
        log.warning("Asterisk's host %r not resolved: %s", host, exc or type(exc).__name__)
        return None
    return (RELAY_SOURCE_ADDRESS, 0) if on_ipv4_loopback([str(entry[4][0]) for entry in found]) else None


async def relay_sip(page: web.WebSocketResponse, upstream_url: str, who: str, rules: RelayRules) -> None:
    """Relay SIP between an open page socket and Asterisk until either side closes, the page sends
    a frame the policy refuses (closed with REFUSED) or the policy's time is up (TIME_UP); then both
    are closed. The upstream connect is bounded by UPSTREAM_CONNECT_S; a page whose Asterisk cannot
    be reached is closed with 1011 (the page's SIP.js reconnects by itself)."""
    policy = RelayPolicy(rules, asyncio.get_running_loop().time())
    timeout = aiohttp.ClientTimeout(total=None, connect=UPSTREAM_CONNECT_S, sock_connect=UPSTREAM_CONNECT_S)
    source = await relay_source(upstream_url)
    connector = aiohttp.TCPConnector(local_addr=source, family=socket.AF_INET if source is not None else socket.AF_UNSPEC)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as client:
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
                to_asterisk = relays.create_task(_pass_checked(page, upstream, policy, who), name=f"sip-relay-up-{who}")
                to_page = relays.create_task(_pass(upstream, page), name=f"sip-relay-down-{who}")
                time_up = relays.create_task(_close_when_due(page, policy, who), name=f"sip-relay-time-{who}")
                done, _ = await asyncio.wait((to_asterisk, to_page, time_up), return_when=asyncio.FIRST_COMPLETED)
                for task in (to_asterisk, to_page, time_up):
                    if task not in done:
                        task.cancel()
        finally:
            await _close(upstream, 1000, "")
            await _close(page, 1000, "")
            log.info("browser phone of %s: relay closed", who)


async def _pass_checked(page: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse, policy: RelayPolicy, who: str) -> None:
    """The page's text frames to Asterisk, each checked first; a refused one (or any binary frame) closes the page."""
    loop = asyncio.get_running_loop()
    try:
        async for message in page:
            if message.type == WSMsgType.TEXT:
                try:
                    refusal = policy.refusal(message.data, loop.time())
                except Exception as exc:  # a frame the filter cannot read closes this relay, not the handler
                    log.error("browser phone of %s: relay closed, a frame could not be checked: %s", who, type(exc).__name__)
                    await _close(page, 1011, "the relay could not check a message")
                    return
            elif message.type == WSMsgType.BINARY:
                refusal = "a binary frame (the page sends SIP as text)"
            else:
                return
            if refusal is not None:
                log.warning("browser phone of %s: relay closed, the page sent %s", who, refusal)
                await _close(page, REFUSED, "refused by the relay's rules")
                return
            await upstream.send_str(message.data)
    except ConnectionError as exc:  # the other side went away mid-send: the relay ends
        log.debug("SIP relay: %s", exc or type(exc).__name__)


async def _close_when_due(page: web.WebSocketResponse, policy: RelayPolicy, who: str) -> None:
    """Closes the page with TIME_UP at the policy's deadline (which an INVITE may move later)."""
    loop = asyncio.get_running_loop()
    while (due := policy.deadline()) is not None:
        if loop.time() >= due[0]:
            log.info("browser phone of %s: relay closed, %s", who, due[1])
            await _close(page, TIME_UP, due[1])
            return
        await asyncio.sleep(due[0] - loop.time())
    await asyncio.Future()  # no deadline: wait to be cancelled with the relay


async def _pass(source: aiohttp.ClientWebSocketResponse, target: web.WebSocketResponse) -> None:
    """Text and binary frames from Asterisk to the page until either closes or fails."""
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
    return vendor_file(SIPJS_LIB, relative)


sipjs_answer = vendor_answer(SIPJS_LIB, "SIP.js", "the browser phone's")
