"""A small typed ARI client on aiohttp: REST calls, plus the events websocket with reconnect.

The PyPI `ari` package is a 2014 Python-2 prototype, so this covers just the calls the engine uses.
Reconnect and back-off live here, in the adapter; callers see typed events and connection changes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from engine.asterisk.ari_events import AriEvent, AriEventMalformed, Channel, parse_channel, parse_event
from engine.asterisk.backoff import Backoff
from engine.asterisk.errors import AriAuthFailed, AriRequestFailed, AriUnavailable, ChannelGone

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AriEndpoint:
    host: str
    port: int
    user: str
    password: str
    app_name: str
    request_timeout_s: float = 5.0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/ari"


class AriClient:
    """REST half of ARI. Every request has a timeout; failures raise typed errors."""

    def __init__(self, endpoint: AriEndpoint, session: aiohttp.ClientSession) -> None:
        self.endpoint = endpoint
        self._session = session
        self._auth = aiohttp.BasicAuth(endpoint.user, endpoint.password)

    async def asterisk_info(self) -> dict[str, Any]:
        info = await self._request("GET", "/asterisk/info")
        return info if isinstance(info, dict) else {}

    async def list_channels(self) -> list[Channel]:
        raw = await self._request("GET", "/channels")
        return [parse_channel(item) for item in raw or []]

    async def get_channel(self, channel_id: str) -> Channel:
        """The channel as Asterisk sees it now; ChannelGone if it no longer exists."""
        return parse_channel(await self._request("GET", f"/channels/{quote(channel_id)}"))

    async def subscribe_channel(self, channel_id: str) -> None:
        """Ask for a channel's events again: after the app was re-created, old channels are not subscribed."""
        await self._request(
            "POST",
            f"/applications/{quote(self.endpoint.app_name)}/subscription",
            params={"eventSource": f"channel:{channel_id}"},
        )

    async def answer(self, channel_id: str) -> None:
        await self._request("POST", f"/channels/{quote(channel_id)}/answer")

    async def play(self, channel_id: str, media: str, playback_id: str) -> None:
        await self._request(
            "POST", f"/channels/{quote(channel_id)}/play/{quote(playback_id)}", params={"media": media}
        )

    async def stop_playback(self, playback_id: str) -> None:
        await self._request("DELETE", f"/playbacks/{quote(playback_id)}")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self._request("DELETE", f"/channels/{quote(channel_id)}", params={"reason": reason})

    async def _request(self, method: str, path: str, params: dict[str, str] | None = None) -> Any:
        url = self.endpoint.base_url + path
        try:
            async with asyncio.timeout(self.endpoint.request_timeout_s):
                async with self._session.request(method, url, params=params, auth=self._auth) as response:
                    body = await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AriUnavailable(f"ARI {method} {path}: {exc or type(exc).__name__}") from exc
        if response.status >= 300:
            raise _request_error(method, path, response.status, body)
        try:
            return json.loads(body) if body else None
        except ValueError:
            raise AriUnavailable(f"ARI {method} {path}: answer is not JSON: {body[:200]!r}") from None


def _request_error(method: str, path: str, status: int, body: str) -> AriRequestFailed:
    try:
        message = str(json.loads(body).get("message", body))
    except (ValueError, AttributeError):
        message = body
    if status == 401:
        return AriAuthFailed(method, path, status, "ARI rejected the credentials (check the credentials file)")
    if status == 404 and path.startswith("/channels/"):
        return ChannelGone(method, path, status, message)
    return AriRequestFailed(method, path, status, message)


STABLE_AFTER_S = 5.0
EventHandler = Callable[[AriEvent], Awaitable[None]]
StateHandler = Callable[[bool, str], Awaitable[None]]


class AriEventStream:
    """Keeps the events websocket of our Stasis app open for as long as the engine runs.

    On every (re)connection Asterisk registers the app again; `on_state(True, ...)` then lets the
    engine reconcile calls that ended while it could not hear. While disconnected, `on_state(False,
    reason)` marks the engine degraded. It never raises out of `run` except on cancellation.
    """

    def __init__(
        self,
        endpoint: AriEndpoint,
        session: aiohttp.ClientSession,
        on_event: EventHandler,
        on_state: StateHandler,
        backoff: Backoff | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._session = session
        self._on_event = on_event
        self._on_state = on_state
        self._backoff = backoff or Backoff()

    async def run(self) -> None:
        while True:
            reason = await self._connect_and_read()
            await self._on_state(False, reason)
            delay = self._backoff.next_delay()
            log.warning("ARI events disconnected (%s); reconnecting in %.1f s", reason, delay)
            await asyncio.sleep(delay)

    async def _connect_and_read(self) -> str:
        url = f"ws://{self.endpoint.host}:{self.endpoint.port}/ari/events"
        params = {"app": self.endpoint.app_name, "subscribeAll": "false"}
        auth = aiohttp.BasicAuth(self.endpoint.user, self.endpoint.password)
        try:
            async with asyncio.timeout(self.endpoint.request_timeout_s):
                socket = await self._session.ws_connect(url, params=params, auth=auth, heartbeat=10.0)
        except aiohttp.WSServerHandshakeError as exc:
            return f"websocket refused: HTTP {exc.status}" + (" (bad ARI credentials)" if exc.status == 401 else "")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return f"cannot connect to {url}: {exc or type(exc).__name__}"
        async with socket:
            log.info("ARI events connected: app %s at %s", self.endpoint.app_name, url)
            connected_at = asyncio.get_running_loop().time()
            await self._on_state(True, "connected")
            reason = await self._read(socket)
        if asyncio.get_running_loop().time() - connected_at >= STABLE_AFTER_S:
            self._backoff.reset()  # only a connection that held counts as recovered
        return reason

    async def _read(self, socket: aiohttp.ClientWebSocketResponse) -> str:
        async for message in socket:
            if message.type is aiohttp.WSMsgType.TEXT:
                await self._dispatch(message.data)
            elif message.type is aiohttp.WSMsgType.ERROR:
                return f"websocket error: {socket.exception()}"
        return f"websocket closed by Asterisk (code {socket.close_code})"

    async def _dispatch(self, text: str) -> None:
        try:
            event = parse_event(json.loads(text))
        except (ValueError, AriEventMalformed) as exc:
            log.error("ignoring unreadable ARI event: %s", exc)
            return
        await self._on_event(event)
