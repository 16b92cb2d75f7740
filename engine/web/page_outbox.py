"""Each open page's outbox: one long-lived sender per websocket, fed through a bounded queue.

A broadcast to 2,000 pages posts the same (already encoded) text to 2,000 outboxes: no task is
created per message, and each page's messages leave in the order they were posted. A page that
cannot keep up is dropped, never waited on: a send that does not finish within SEND_TIMEOUT_S, or
an outbox holding OUTBOX_LIMIT messages it has not taken, closes the page. Its script reconnects
and is sent the latest state at once (the hub keeps it), so dropping loses nothing a snapshot does
not restore. The senders are owned by one TaskOwner: `aclose` cancels and awaits them all.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket as sockets
from collections import deque
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, web

from engine.task_owner import TaskOwner

log = logging.getLogger(__name__)
SEND_TIMEOUT_S = 2.0
OUTBOX_LIMIT = 64
"""Messages waiting for one page before it counts as too slow: 12 s of floor updates at 5 a second."""


@dataclass
class _Outbox:
    socket: web.WebSocketResponse
    waiting: deque[str] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: bool = False


class PageOutboxes:
    def __init__(self, owner: str, limit: int = OUTBOX_LIMIT, send_timeout_s: float = SEND_TIMEOUT_S) -> None:
        self._senders = TaskOwner(owner)
        self._outboxes: dict[web.WebSocketResponse, _Outbox] = {}
        self._limit = limit
        self._send_timeout_s = send_timeout_s
        self._numbers = itertools.count(1)

    @property
    def closed(self) -> bool:
        return self._senders.closed

    @property
    def senders(self) -> int:
        return self._senders.running

    def open(self, socket: web.WebSocketResponse) -> None:
        """Starts the page's sender; a page already open, or any page once closing, is left as it is."""
        if self.closed or socket in self._outboxes:
            return
        outbox = _Outbox(socket)
        self._outboxes[socket] = outbox
        self._senders.spawn(f"page-sender-{next(self._numbers)}", self._send_all(outbox))

    def post(self, socket: web.WebSocketResponse, text: str) -> None:
        """Queues `text` for the page, after what it was posted before; a page not open is skipped."""
        outbox = self._outboxes.get(socket)
        if outbox is None or outbox.dropped:
            return
        if len(outbox.waiting) >= self._limit:
            log.info("page dropped: %d messages waiting, it does not keep up", len(outbox.waiting))
            outbox.dropped = True
            outbox.waiting.clear()
        else:
            outbox.waiting.append(text)
        outbox.ready.set()

    def shut(self, socket: web.WebSocketResponse) -> None:
        """The page is gone (its handler ended): its sender is cancelled, whatever it still held is moot."""
        outbox = self._outboxes.pop(socket, None)
        if outbox is not None:
            outbox.dropped = True
            outbox.waiting.clear()
            outbox.ready.set()

    async def aclose(self) -> None:
        """Refuses new pages, cancels every sender and awaits them."""
        for outbox in self._outboxes.values():
            outbox.dropped = True
        await self._senders.aclose()
        self._outboxes.clear()

    async def _send_all(self, outbox: _Outbox) -> None:
        """The page's one sender: waits for work (ended by a post, `shut` or cancellation), sends each
        message within the timeout, and closes the page once it is dropped or a send fails."""
        try:
            while not outbox.dropped:
                if not outbox.waiting:
                    outbox.ready.clear()
                    await outbox.ready.wait()
                    continue
                text = outbox.waiting.popleft()
                async with asyncio.timeout(self._send_timeout_s):
                    await outbox.socket.send_str(text)
        except (TimeoutError, ConnectionError, RuntimeError, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError) and cancelling():
                raise
            log.info("page dropped: %s", str(exc) or type(exc).__name__)
        except Exception:  # a bug, not the page: still closed, so it reconnects rather than hears nothing
            log.exception("page dropped: its sender failed")
        outbox.dropped = True
        outbox.waiting.clear()
        if self._outboxes.get(outbox.socket) is outbox:
            del self._outboxes[outbox.socket]
            await close_page(outbox.socket, self._send_timeout_s, WSCloseCode.TRY_AGAIN_LATER)  # the page reconnects
            cut_off(outbox.socket)  # a page with unsent data is closed only once that data is sent: never, if it does not read


async def close_page(socket: web.WebSocketResponse, timeout_s: float = SEND_TIMEOUT_S, code: int = WSCloseCode.OK) -> None:
    """Closes a page within `timeout_s`, so a page that does not answer cannot hold the caller. A page
    that does not even take the close frame (its socket's buffers full) is cut off: otherwise its
    connection, its handler and its heartbeat-less socket would stay until the peer's TCP gave up."""
    try:
        async with asyncio.timeout(timeout_s):
            await socket.close(code=code)
    except (TimeoutError, ConnectionError, RuntimeError, asyncio.CancelledError) as exc:
        if isinstance(exc, asyncio.CancelledError) and cancelling():
            raise
        log.info("page dropped while closing: %s", str(exc) or type(exc).__name__)
        cut_off(socket)


def cancelling() -> bool:
    """Whether this task is being cancelled. aiohttp can raise CancelledError out of a send or close
    to a socket it has given up on (a future of its own cancelled); only our own cancellation propagates."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def cut_off(socket: web.WebSocketResponse) -> None:
    """Shuts the TCP connection down: the handler's read ends at once and the unsent data is discarded."""
    raw = socket.get_extra_info("socket")
    if raw is None:
        return
    try:
        raw.shutdown(sockets.SHUT_RDWR)
    except OSError:  # already gone
        pass
