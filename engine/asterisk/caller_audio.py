"""The caller's voice as 16 kHz frames, for speech recognition: chan_websocket on a snoop channel.

Measured on Asterisk 22.10.1 (../shared/ASTERISK_AUDIO.md): a snoop (spy=in) of the caller and a
server-mode externalMedia channel in one mixing bridge give the engine the caller's audio during
prompts (barge-in) and none of the prompt; the caller stays out of every bridge, so prompts, DTMF
and hangup work as before. Asterisk removes the snoop when the caller hangs up but keeps the media
channel and the bridge, so `close` deletes them, and `TapRegistry.sweep` removes any a stopped
engine left behind. Helper channels and bridges carry the TAP_PREFIX so they are never taken for calls.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable

import aiohttp

from engine.asterisk.ari_client import AriClient
from engine.asterisk.errors import AriRequestFailed, AriUnavailable

log = logging.getLogger(__name__)
TAP_PREFIX = "tl-tap-"
SETUP_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 10.0
"""No frame for this long (they come every 20 ms) means the media channel is gone."""
MAX_MESSAGE_BYTES = 64 * 1024


class TapFailed(Exception):
    pass


def is_tap_resource(resource_id: str) -> bool:
    return resource_id.startswith(TAP_PREFIX)


class TapRegistry:
    """Engine-wide: routes the StasisStart of tap channels to whoever is setting them up."""

    def __init__(self, ari: AriClient, http: aiohttp.ClientSession | None = None) -> None:
        self.ari = ari
        self.http = http or ari.media_session
        """Media websockets get their own connection pool: they must never wait behind, or starve, REST requests."""
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._live: set[str] = set()

    def stasis_started(self, channel_id: str) -> None:
        waiter = self._waiting.get(channel_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def expect(self, channel_id: str) -> asyncio.Future[None]:
        """Register before asking Asterisk for the channel, so its StasisStart cannot be missed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[channel_id] = future
        return future

    def forget(self, channel_id: str) -> None:
        self._waiting.pop(channel_id, None)

    async def open(self, caller_id: str) -> CallerAudioTap:
        tap = CallerAudioTap(self, caller_id)
        self._live.add(tap.token)
        try:
            await tap.setup()
        except BaseException:
            await tap.close()
            raise
        return tap

    def closed(self, token: str) -> None:
        self._live.discard(token)

    async def sweep(self, live_channel_ids: set[str]) -> int:
        """Remove tap channels and bridges that no running tap owns (left by an engine that stopped)."""
        removed = 0
        for channel_id in sorted(c for c in live_channel_ids if is_tap_resource(c)):
            if _token_of(channel_id) not in self._live:
                removed += await _quietly(self.ari.hangup(channel_id))
        for bridge_id in await self.ari.list_bridge_ids():
            if is_tap_resource(bridge_id) and _token_of(bridge_id) not in self._live:
                removed += await _quietly(self.ari.delete_bridge(bridge_id))
        return removed


def _token_of(resource_id: str) -> str:
    return resource_id.removeprefix(TAP_PREFIX).split("-", 1)[-1]


async def _quietly(request: Awaitable[None]) -> int:
    try:
        await request
        return 1
    except (AriRequestFailed, AriUnavailable):
        return 0


class CallerAudioTap:
    """One call's audio tap. `frames()` yields 640-byte frames of 16 kHz slin until the call or tap ends."""

    def __init__(self, registry: TapRegistry, caller_id: str) -> None:
        self.token = secrets.token_hex(6)
        self.caller_id = caller_id
        self.media_id = f"{TAP_PREFIX}media-{self.token}"
        self.snoop_id = f"{TAP_PREFIX}snoop-{self.token}"
        self.bridge_id = f"{TAP_PREFIX}bridge-{self.token}"
        self._registry = registry
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._closed = False

    async def setup(self) -> None:
        ari = self._registry.ari
        try:
            async with asyncio.timeout(SETUP_TIMEOUT_S):
                media_started = self._registry.expect(self.media_id)
                variables = await ari.external_media(self.media_id)
                connection_id = variables.get("MEDIA_WEBSOCKET_CONNECTION_ID")
                if not connection_id:
                    raise TapFailed(f"externalMedia gave no MEDIA_WEBSOCKET_CONNECTION_ID (got {sorted(variables)})")
                self._socket = await self._registry.http.ws_connect(ari.endpoint.media_url(connection_id), max_msg_size=MAX_MESSAGE_BYTES, autoping=False)
                first = await self._socket.receive()
                if first.type != aiohttp.WSMsgType.TEXT or not str(first.data).startswith("MEDIA_START"):
                    raise TapFailed(f"the media websocket did not start with MEDIA_START (got {first.type.name})")
                await media_started
                snoop_started = self._registry.expect(self.snoop_id)
                await ari.snoop(self.caller_id, self.snoop_id)
                await snoop_started
                await ari.create_bridge(self.bridge_id)
                await ari.add_to_bridge(self.bridge_id, [self.snoop_id, self.media_id])
        except TimeoutError:
            raise TapFailed(f"setting up the audio tap took longer than {SETUP_TIMEOUT_S:g} s") from None
        except aiohttp.ClientError as exc:
            raise TapFailed(f"media websocket: {exc}") from None
        finally:
            self._registry.forget(self.media_id)
            self._registry.forget(self.snoop_id)

    async def frames(self) -> AsyncIterator[bytes]:
        assert self._socket is not None
        while not self._closed:
            try:
                async with asyncio.timeout(READ_TIMEOUT_S):
                    message = await self._socket.receive()
            except TimeoutError:
                log.warning("call %s: no caller audio for %.0f s; speech stops for this call", self.caller_id, READ_TIMEOUT_S)
                return
            if message.type == aiohttp.WSMsgType.BINARY:
                yield bytes(message.data)
            elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                return
            # TEXT: control messages (MEDIA_XOFF and friends) need nothing from a listener

    async def close(self) -> None:
        """Delete the media channel and bridge (Asterisk keeps them after the caller leaves), then the snoop."""
        if self._closed:
            return
        self._closed = True
        ari = self._registry.ari
        for cleanup in (ari.hangup(self.media_id), ari.delete_bridge(self.bridge_id), ari.hangup(self.snoop_id)):
            await _quietly(cleanup)
        if self._socket is not None:
            await self._socket.close()
        self._registry.closed(self.token)
