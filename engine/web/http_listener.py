"""The HTTP listener: slow and idle clients are bounded, so they cannot hold the engine's file
descriptors (which also carry calls).

- `idle_timeout_s` (aiohttp's keep-alive timeout): a connection that has not sent a complete
  request head that long after connecting or after its last response is closed; half-sent
  requests and idle keep-alives included.
- `max_connections`: beyond it a new connection is answered 503 and closed at once.
- request heads are bounded in size (line, field and header count).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from engine.settings import HttpSettings

MAX_LINE = 8190
MAX_FIELD = 8190
MAX_HEADERS = 64
LINGER_S = 1.0
REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
    b"Retry-After: 5\r\nContent-Length: 46\r\n\r\ntoo many open connections; try again shortly\r\n"
)


class _Counted(asyncio.Protocol):
    """One admitted connection: aiohttp's handler, counted until the connection is lost."""

    def __init__(self, inner: RequestHandler, cap: ConnectionCap) -> None:
        self._inner = inner
        self._cap = cap

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> None:
        self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cap.open -= 1
        self._inner.connection_lost(exc)


class _Refused(asyncio.Protocol):
    """Over the cap: answer 503, then linger up to LINGER_S discarding what the client sends, so the
    answer is not lost to a reset (closing with unread data resets the connection)."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(REFUSED)
        if transport.can_write_eof():
            transport.write_eof()
        self._timer = asyncio.get_running_loop().call_later(LINGER_S, transport.close)

    def data_received(self, data: bytes) -> None:
        pass  # discarded

    def eof_received(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()


class ConnectionCap:
    """A protocol factory around aiohttp's server that admits at most `limit` open connections."""

    def __init__(self, server: web.Server, limit: int) -> None:
        self._server = server
        self.limit = limit
        self.open = 0
        self.refused = 0

    def __call__(self) -> asyncio.Protocol:
        if self.open >= self.limit:
            self.refused += 1
            return _Refused()
        self.open += 1
        return _Counted(self._server(), self)


class GuardedRunner(web.AppRunner):
    """An AppRunner whose sites accept connections through a ConnectionCap."""

    def __init__(self, app: web.Application, max_connections: int, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._max_connections = max_connections
        self.cap: ConnectionCap | None = None

    @property
    def server(self) -> Any:
        inner = super().server
        if inner is None:
            return None
        if self.cap is None:
            self.cap = ConnectionCap(inner, self._max_connections)
        return self.cap


def runner(app: web.Application, http: HttpSettings) -> GuardedRunner:
    return GuardedRunner(
        app, http.max_connections, access_log=None, keepalive_timeout=http.idle_timeout_s,
        max_line_size=MAX_LINE, max_field_size=MAX_FIELD, max_headers=MAX_HEADERS,
    )
