"""The events listener Asterisk connects to: a real aiohttp server and a real websocket client on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from engine.asterisk.ari_events import AriEvent, StasisEnded
from engine.asterisk.ari_events_server import AriEventsServer, EventsListener, EventsPortBusy


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Recorder:
    def __init__(self) -> None:
        self.events: list[AriEvent] = []
        self.states: list[tuple[bool, str]] = []
        self.changed = asyncio.Event()

    async def on_event(self, event: AriEvent) -> None:
        self.events.append(event)
        self.changed.set()

    async def on_state(self, connected: bool, detail: str) -> None:
        self.states.append((connected, detail))
        self.changed.set()

    async def wait(self, condition: object) -> None:
        async with asyncio.timeout(5):
            while not condition():  # type: ignore[operator]
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def served() -> AsyncIterator[tuple[AriEventsServer, Recorder, EventsListener]]:
    recorder = Recorder()
    listener = EventsListener("127.0.0.1", free_port(), "asterisk", "s3cret", heartbeat_s=1.0)
    server = AriEventsServer(listener, recorder.on_event, recorder.on_state)
    runner = await server.start()
    yield server, recorder, listener
    await server.close()
    await runner.cleanup()


def auth(user: str, password: str) -> dict[str, str]:
    """What websocket_client.conf's username/password make Asterisk send."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_asterisk_with_the_right_credentials_delivers_events_in_order(served: tuple[AriEventsServer, Recorder, EventsListener]) -> None:
    server, recorder, listener = served
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(listener.url, protocols=("ari",), headers=auth("asterisk", "s3cret")) as ws:
            assert ws.protocol == "ari"
            await recorder.wait(lambda: recorder.states == [(True, "Asterisk connected")])
            assert server.connected
            for n in range(3):
                await ws.send_str(json.dumps({"type": "StasisEnd", "channel": {"id": f"c.{n}"}}))
            await ws.send_str("not json")  # logged and skipped, the stream goes on
            await ws.send_str(json.dumps({"type": "StasisEnd", "channel": {"id": "c.3"}}))
            await recorder.wait(lambda: len(recorder.events) == 4)
    assert recorder.events == [StasisEnded(f"c.{n}") for n in range(4)]
    await recorder.wait(lambda: recorder.states[-1][0] is False)
    assert not server.connected


@pytest.mark.parametrize("credentials", [("asterisk", "wrong"), ("someone", "s3cret"), None])
async def test_wrong_or_missing_credentials_are_refused(served: tuple[AriEventsServer, Recorder, EventsListener], credentials: tuple[str, str] | None) -> None:
    _, recorder, listener = served
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(listener.url, protocols=("ari",), headers=auth(*credentials) if credentials else None)
    assert refused.value.status == 401
    assert recorder.states == []


async def test_a_newer_connection_replaces_an_older_one(served: tuple[AriEventsServer, Recorder, EventsListener]) -> None:
    _, recorder, listener = served
    async with aiohttp.ClientSession() as session:
        first = await session.ws_connect(listener.url, protocols=("ari",), headers=auth("asterisk", "s3cret"))
        second = await session.ws_connect(listener.url, protocols=("ari",), headers=auth("asterisk", "s3cret"))
        closed = await first.receive(timeout=5)
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await second.send_str(json.dumps({"type": "StasisEnd", "channel": {"id": "x"}}))
        await recorder.wait(lambda: recorder.events == [StasisEnded("x")])
        assert [state for state, _ in recorder.states] == [True, True], "the replaced socket must not report a disconnect"
        await second.close()


async def test_after_close_asterisk_is_refused_until_the_next_engine(served: tuple[AriEventsServer, Recorder, EventsListener]) -> None:
    server, _, listener = served
    await server.close()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(listener.url, protocols=("ari",), headers=auth("asterisk", "s3cret"))
    assert refused.value.status == 503


async def test_a_taken_port_names_the_setting() -> None:
    async def nothing(_: object) -> None:
        return None

    async def nothing_state(_: bool, __: str) -> None:
        return None

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        listener = EventsListener("127.0.0.1", squatter.getsockname()[1], "a", "b")
        with pytest.raises(EventsPortBusy, match="asterisk.events_port: cannot listen on 127.0.0.1:"):
            await AriEventsServer(listener, nothing, nothing_state).start()
