"""The websocket Asterisk opens to the engine for our Stasis app's events (ARI outbound websocket).

Asterisk, not the engine, owns the connection (ari.conf `type=outbound_websocket`, websocket_client.conf
`connection_type=persistent`), so the app stays registered while no engine runs: callers who arrive
meanwhile wait in Stasis and their events reach the next engine when Asterisk reconnects. This module
serves that one socket on loopback, checks Asterisk's credentials, and turns frames into typed events.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from engine.asterisk.ari_events import AriEvent, AriEventMalformed, parse_event

log = logging.getLogger(__name__)

EVENTS_PATH = "/ari/events"
EventHandler = Callable[[AriEvent], Awaitable[None]]
StateHandler = Callable[[bool, str], Awaitable[None]]


@dataclass(frozen=True)
class EventsListener:
    host: str
    port: int
    user: str
    password: str
    heartbeat_s: float = 5.0
    """Ping interval; a frozen Asterisk that misses a pong for half of it is disconnected (and reported)."""

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}{EVENTS_PATH}"


class EventsPortBusy(Exception):
    def __init__(self, listener: EventsListener, reason: str) -> None:
        super().__init__(
            f"asterisk.events_port: cannot listen on {listener.host}:{listener.port} ({reason}); "
            "another engine may be running: stop it, or set asterisk.events_port and run `threadline asterisk up`"
        )


class AriEventsServer:
    """One Asterisk connection at a time; a newer one replaces an older one that Asterisk gave up on."""

    def __init__(self, listener: EventsListener, on_event: EventHandler, on_state: StateHandler) -> None:
        self.listener = listener
        self._on_event = on_event
        self._on_state = on_state
        self._current: web.WebSocketResponse | None = None
        self._closing = False

    @property
    def connected(self) -> bool:
        return self._current is not None

    async def start(self) -> web.AppRunner:
        """Listen; raises EventsPortBusy with the setting to change. The caller owns the runner's cleanup."""
        app = web.Application()
        app.router.add_get(EVENTS_PATH, self._serve)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.listener.host, self.listener.port).start()
        except OSError as exc:
            await runner.cleanup()
            raise EventsPortBusy(self.listener, exc.strerror or str(exc)) from None
        log.info("waiting for Asterisk's ARI websocket on %s", self.listener.url)
        return runner

    async def close(self) -> None:
        """The engine is stopping: close Asterisk's connection now and refuse its immediate retry, so
        no event is written to a socket nobody will read; Asterisk keeps them for the next engine."""
        self._closing = True
        socket, self._current = self._current, None
        if socket is not None:
            await socket.close(code=1001, message=b"engine stopping")

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        if self._closing:
            raise web.HTTPServiceUnavailable(text="engine stopping")
        if not self._authorised(request.headers.get("Authorization", "")):
            log.warning("refused an ARI websocket from %s: wrong or missing credentials", request.remote)
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="threadline"'})
        socket = web.WebSocketResponse(protocols=("ari",), heartbeat=self.listener.heartbeat_s, max_msg_size=16 * 1024 * 1024)
        await socket.prepare(request)
        previous, self._current = self._current, socket
        if previous is not None:
            await previous.close(code=1001, message=b"replaced by a newer connection from Asterisk")
        log.info("ARI events connected: Asterisk at %s", request.remote)
        await self._on_state(True, "Asterisk connected")
        reason = "closed"
        try:
            reason = await self._read(socket)
        finally:
            if self._current is socket:
                self._current = None
                await asyncio.shield(self._on_state(False, f"Asterisk's ARI websocket {reason}"))
        return socket

    async def _read(self, socket: web.WebSocketResponse) -> str:
        async for message in socket:
            if message.type is WSMsgType.TEXT:
                await self._dispatch(message.data)
            elif message.type is WSMsgType.ERROR:
                return f"failed: {socket.exception()}"
        return f"closed (code {socket.close_code})"

    async def _dispatch(self, text: str) -> None:
        try:
            event = parse_event(json.loads(text))
        except (ValueError, AriEventMalformed) as exc:
            log.error("ignoring unreadable ARI event: %s", exc)
            return
        await self._on_event(event)

    def _authorised(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user.encode(), self.listener.user.encode()) & hmac.compare_digest(
            password.encode(), self.listener.password.encode()
        )
