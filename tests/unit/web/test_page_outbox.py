"""Page outboxes on a real aiohttp server with real websocket clients on 127.0.0.1: every page gets its
messages in order, a page that does not read is dropped without holding the others, and aclose
cancels and awaits every sender, even one stuck on a full socket."""

from __future__ import annotations

import asyncio
import base64
import os
import socket as sockets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from engine.web.page_outbox import PageOutboxes

BIG = "x" * 256 * 1024
"""A message large enough that a page which does not read fills the socket's buffers in a few dozen."""


@dataclass
class Pages:
    outboxes: PageOutboxes
    server: TestServer
    open: list[web.WebSocketResponse] = field(default_factory=list)
    ended: list[web.WebSocketResponse] = field(default_factory=list)

    async def wait_open(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.open) < count:
                await asyncio.sleep(0.01)


@pytest.fixture
async def pages() -> AsyncIterator[Pages]:
    outboxes = PageOutboxes("test-pages", limit=8, send_timeout_s=0.5)

    async def page(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(compress=False)
        await socket.prepare(request)
        outboxes.open(socket)
        state.open.append(socket)
        try:
            async for _ in socket:
                pass
        finally:
            outboxes.shut(socket)
            state.ended.append(socket)
        return socket

    app = web.Application()
    app.router.add_get("/ws", page)
    server = TestServer(app, host="127.0.0.1")
    state = Pages(outboxes, server)
    await server.start_server()
    try:
        yield state
    finally:
        await outboxes.aclose()
        await server.close()


async def receive_all(client: aiohttp.ClientWebSocketResponse, count: int) -> list[str]:
    received: list[str] = []
    async with asyncio.timeout(10):
        while len(received) < count:
            message = await client.receive()
            assert message.type == aiohttp.WSMsgType.TEXT, message
            received.append(message.data)
    return received


async def silent_page(pages: Pages) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A page that completes the websocket handshake and then never reads (a tiny receive buffer)."""
    raw = sockets.socket(sockets.AF_INET, sockets.SOCK_STREAM)
    raw.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 4096)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", pages.server.port or 0))
    reader, writer = await asyncio.open_connection(sock=raw)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    async with asyncio.timeout(5):
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    return reader, writer


async def reading_and_silent_pages(session: aiohttp.ClientSession, pages: Pages) -> tuple[aiohttp.ClientWebSocketResponse, asyncio.StreamWriter]:
    """pages.open[0] reads whatever it is sent; pages.open[1] never reads."""
    reading = await session.ws_connect(pages.server.make_url("/ws"), max_msg_size=0)
    await pages.wait_open(1)
    _reader, writer = await silent_page(pages)
    await pages.wait_open(2)
    return reading, writer


async def test_every_page_gets_every_message_in_the_order_posted(pages: Pages) -> None:
    async with aiohttp.ClientSession() as session:
        clients = [await session.ws_connect(pages.server.make_url("/ws")) for _ in range(3)]
        await pages.wait_open(3)
        for number in range(300):
            for socket in pages.open:
                pages.outboxes.post(socket, f"m{number}")
            if number % 5 == 4:  # the limit is 8: let the senders take their share as a live engine would
                await asyncio.sleep(0)
        for client in clients:
            assert await receive_all(client, 300) == [f"m{number}" for number in range(300)]
        assert pages.ended == []


async def test_a_page_that_does_not_read_is_dropped_and_the_others_are_not_held(pages: Pages) -> None:
    async with aiohttp.ClientSession() as session:
        fast, writer = await reading_and_silent_pages(session, pages)
        started = time.monotonic()
        for number in range(40):
            for socket in pages.open:
                pages.outboxes.post(socket, f"{number}:{BIG}")
            received = await receive_all(fast, 1)  # the reading page keeps getting each one at once
            assert received[0].startswith(f"{number}:")
        async with asyncio.timeout(5):
            while len(pages.ended) < 1:
                await asyncio.sleep(0.01)
        assert pages.ended == [pages.open[1]]  # the silent one, within the send timeout
        assert time.monotonic() - started < 5
        assert not fast.closed
        writer.close()


async def test_an_outbox_that_overflows_drops_its_page_which_can_reconnect(pages: Pages) -> None:
    async with aiohttp.ClientSession() as session:
        client = await session.ws_connect(pages.server.make_url("/ws"))
        await pages.wait_open(1)
        for number in range(20):  # all at once: the sender has not had a turn, the outbox holds 8
            pages.outboxes.post(pages.open[0], f"m{number}")
        async with asyncio.timeout(5):
            while (message := await client.receive()).type == aiohttp.WSMsgType.TEXT:
                pass
        assert message.type == aiohttp.WSMsgType.CLOSE and message.data == aiohttp.WSCloseCode.TRY_AGAIN_LATER, message
        again = await session.ws_connect(pages.server.make_url("/ws"))
        await pages.wait_open(2)
        pages.outboxes.post(pages.open[1], "latest")
        assert await receive_all(again, 1) == ["latest"]


async def test_aclose_cancels_and_awaits_every_sender_even_one_stuck_on_a_full_socket(pages: Pages) -> None:
    async with aiohttp.ClientSession() as session:
        client, writer = await reading_and_silent_pages(session, pages)
        for number in range(6):
            pages.outboxes.post(pages.open[1], f"{number}:{BIG}")
        await asyncio.sleep(0.1)  # the silent page's sender now waits on its full socket
        assert pages.outboxes.senders == 2
        started = time.monotonic()
        await pages.outboxes.aclose()
        assert time.monotonic() - started < 0.4  # cancelled, not waited out (the send timeout is 0.5 s)
        assert pages.outboxes.senders == 0 and pages.outboxes.closed
        pages.outboxes.post(pages.open[0], "late")  # ignored, not an error
        pages.outboxes.open(pages.open[0])
        assert pages.outboxes.senders == 0
        await client.close()
        writer.close()
