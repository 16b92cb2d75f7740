"""A small typed ARI client on aiohttp: the REST half of ARI.

The PyPI `ari` package is a 2014 Python-2 prototype, so this covers just the calls the engine uses.
Events arrive the other way, over the websocket Asterisk opens to the engine (ari_events_server.py).

Connections: REST requests share one bounded pool of keep-alive connections
(`asterisk.ari_max_connections`), and the callers' media websockets have a pool of their own, so
open audio taps can never starve commands (with one shared pool of 100, 100 listening callers left
no connection for `play`). Each HTTP connection is one of Asterisk's `http.conf` sessions
(`sessionlimit`, see asterisk_conf/templates/http.conf.j2).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from engine.asterisk.ari_events import Channel, parse_channel
from engine.asterisk.backoff import Backoff
from engine.asterisk.errors import AriAuthFailed, AriRefused, AriRequestFailed, AriUnavailable, ChannelGone

log = logging.getLogger(__name__)
KEEPALIVE_S = 5.0
"""How long an idle REST connection is kept: well under Asterisk's `session_keep_alive` (15 s), so the
engine never sends on a connection Asterisk is closing."""


@dataclass(frozen=True)
class AriEndpoint:
    host: str
    port: int
    user: str
    password: str
    app_name: str
    request_timeout_s: float = 5.0
    max_connections: int = 32
    """REST connections open at once, at most; more requests at a time wait for a free one."""

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/ari"

    def media_url(self, connection_id: str) -> str:
        """Where chan_websocket serves a server-mode media channel (Asterisk's HTTP server, no credentials)."""
        return f"ws://{self.host}:{self.port}/media/{quote(connection_id)}"


class AriClient:
    """REST half of ARI. Every request has a timeout; failures raise typed errors."""

    def __init__(self, endpoint: AriEndpoint, session: aiohttp.ClientSession, media: aiohttp.ClientSession | None = None) -> None:
        self.endpoint = endpoint
        self._session = session
        self.media_session = media or session
        """Where callers' media websockets connect (its own pool, see the module docstring)."""
        token = base64.b64encode(f"{endpoint.user}:{endpoint.password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}

    @classmethod
    @contextlib.asynccontextmanager
    async def pooled(cls, endpoint: AriEndpoint) -> AsyncIterator[AriClient]:
        """The engine's client: a bounded keep-alive REST pool and a separate pool for media websockets,
        both closed on exit."""
        rest = aiohttp.TCPConnector(limit=endpoint.max_connections, limit_per_host=endpoint.max_connections, keepalive_timeout=KEEPALIVE_S)
        media = aiohttp.TCPConnector(limit=0, force_close=True)  # bounded by the callers listening, and by http.conf's sessionlimit
        async with aiohttp.ClientSession(connector=rest) as rest_session, aiohttp.ClientSession(connector=media) as media_session:
            yield cls(endpoint, rest_session, media_session)

    def for_call(self, channel_id: str, patience_s: float) -> CallAriClient:
        """The same client for one caller's commands: a request Asterisk is too busy to answer is
        retried for up to `patience_s` while the caller hears music on hold, instead of failing the call."""
        return CallAriClient(self, channel_id, patience_s)

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
        """Stop a playback; one that already finished (404) has nothing left to stop, which is fine."""
        try:
            await self._request("DELETE", f"/playbacks/{quote(playback_id)}")
        except AriRequestFailed as exc:
            if exc.status != 404:
                raise

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        """Set a channel variable or write a dialplan function, e.g. TIMEOUT(absolute)."""
        await self._request(
            "POST", f"/channels/{quote(channel_id)}/variable", params={"variable": variable, "value": value}
        )

    async def start_hold_music(self, channel_id: str, moh_class: str = "default") -> None:
        await self._request("POST", f"/channels/{quote(channel_id)}/moh", params={"mohClass": moh_class})

    async def stop_hold_music(self, channel_id: str) -> None:
        await self._request("DELETE", f"/channels/{quote(channel_id)}/moh")

    async def external_media(self, channel_id: str, audio_format: str = "slin16") -> dict[str, str]:
        """A chan_websocket media channel in server mode (the engine connects to it); returns its channel variables."""
        raw = await self._request(
            "POST",
            "/channels/externalMedia",
            params={
                "app": self.endpoint.app_name,
                "channelId": channel_id,
                "transport": "websocket",
                "encapsulation": "none",
                "connection_type": "server",
                "format": audio_format,
            },
        )
        variables = raw.get("channelvars", {}) if isinstance(raw, dict) else {}
        return {str(key): str(value) for key, value in variables.items()}

    async def snoop(self, channel_id: str, snoop_id: str, spy: str = "in") -> None:
        """A channel that hears what the caller sends (spy=in), never what is played to them."""
        await self._request(
            "POST", f"/channels/{quote(channel_id)}/snoop", params={"spy": spy, "app": self.endpoint.app_name, "snoopId": snoop_id}
        )

    async def snoop_leg(self, leg_id: str, snoop_id: str, spy: str, whisper: str) -> None:
        """A snoop on one of the ACD's own legs (an agent's, for a supervisor), never a caller's:
        spy hears what the leg sends (in), what is sent to it (out) or both; whisper speaks into it
        the same way (out: to the leg's phone; in: as if from it; none)."""
        params = {"spy": spy, "app": self.endpoint.app_name, "snoopId": snoop_id}
        if whisper != "none":
            params["whisper"] = whisper
        await self._request("POST", f"/channels/{quote(leg_id)}/snoop", params=params)

    async def create_bridge(self, bridge_id: str, bridge_type: str = "mixing") -> None:
        await self._request("POST", f"/bridges/{quote(bridge_id)}", params={"type": bridge_type})

    async def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        await self._request("POST", f"/bridges/{quote(bridge_id)}/addChannel", params={"channel": ",".join(channel_ids)})

    async def delete_bridge(self, bridge_id: str) -> None:
        """Destroy a bridge; one already gone (404) is fine."""
        try:
            await self._request("DELETE", f"/bridges/{quote(bridge_id)}")
        except AriRequestFailed as exc:
            if exc.status != 404:
                raise

    async def remove_from_bridge(self, bridge_id: str, channel_id: str) -> None:
        await self._request("POST", f"/bridges/{quote(bridge_id)}/removeChannel", params={"channel": channel_id})

    async def start_bridge_music(self, bridge_id: str, moh_class: str = "default") -> None:
        await self._request("POST", f"/bridges/{quote(bridge_id)}/moh", params={"mohClass": moh_class})

    async def start_silence(self, channel_id: str) -> None:
        """Play silence to a channel (a playback suspends it; it does not resume by itself)."""
        await self._request("POST", f"/channels/{quote(channel_id)}/silence")

    async def stop_silence(self, channel_id: str) -> None:
        await self._request("DELETE", f"/channels/{quote(channel_id)}/silence")

    async def stop_bridge_music(self, bridge_id: str) -> None:
        await self._request("DELETE", f"/bridges/{quote(bridge_id)}/moh")

    async def originate(self, endpoint: str, channel_id: str, caller_id: str, timeout_s: int, app_args: str) -> None:
        """Call an endpoint into our app: it enters Stasis (StasisStart) once answered."""
        await self._request(
            "POST",
            "/channels",
            params={
                "endpoint": endpoint,
                "app": self.endpoint.app_name,
                "appArgs": app_args,
                "channelId": channel_id,
                "callerId": caller_id,
                "timeout": str(timeout_s),
            },
        )

    async def endpoint_state(self, technology: str, resource: str) -> str:
        """online, offline or unknown: whether a SIP endpoint has a registered contact."""
        raw = await self._request("GET", f"/endpoints/{quote(technology)}/{quote(resource)}")
        return str(raw.get("state", "unknown")) if isinstance(raw, dict) else "unknown"

    async def subscribe_endpoint(self, technology: str, resource: str) -> None:
        await self._request(
            "POST",
            f"/applications/{quote(self.endpoint.app_name)}/subscription",
            params={"eventSource": f"endpoint:{technology}/{resource}"},
        )

    async def list_bridges(self) -> dict[str, list[str]]:
        """Every bridge's id with the ids of the channels in it."""
        raw = await self._request("GET", "/bridges")
        return {
            str(item["id"]): [str(channel) for channel in item.get("channels", []) or []]
            for item in raw or [] if isinstance(item, dict) and "id" in item
        }

    async def list_bridge_ids(self) -> list[str]:
        return list(await self.list_bridges())

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self._request("DELETE", f"/channels/{quote(channel_id)}", params={"reason": reason})

    async def _request(self, method: str, path: str, params: dict[str, str] | None = None) -> Any:
        url = self.endpoint.base_url + path
        try:
            async with asyncio.timeout(self.endpoint.request_timeout_s):
                async with self._session.request(method, url, params=params, headers=self._headers) as response:
                    body = await response.text()
        except aiohttp.ClientConnectorError as exc:
            raise AriRefused(f"ARI {method} {path}: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AriUnavailable(f"ARI {method} {path}: {str(exc) or type(exc).__name__} (no answer within {self.endpoint.request_timeout_s:g} s)") from exc
        if response.status >= 300:
            raise _request_error(method, path, response.status, body)
        try:
            return json.loads(body) if body else None
        except ValueError:  # it ran (2xx): an error, but not one to send the request again for
            raise AriRequestFailed(method, path, response.status, f"answer is not JSON: {body[:200]!r}") from None


class CallAriClient(AriClient):
    """One caller's view of the client: patient with a busy Asterisk, so a caller is not cut off
    because Asterisk was slow for a moment.

    A request that gets no answer in time (Asterisk saturated or frozen for a moment) is sent again
    with back-off while `patience_s` have not passed (so the whole takes at most that plus one request
    timeout for the last attempt, one for the hold and one for stopping it); meanwhile the caller
    hears music on hold (asked for once, best effort, never for a prompt, which is audio itself, and
    stopped again whatever the outcome). Asterisk refusing connections means it is gone: that fails
    at once, like any answer Asterisk did give. A request that timed out may still run in Asterisk
    later, so a retry must not double its effect: a prompt is sent again only once Asterisk says its
    playback does not exist (one that ran late and already ended plays twice: better than never), and a POST whose retry is answered 409, 412 or 422 (the state the first
    attempt already made: in a bridge, answered, left Stasis) counts as done. Once the session is
    leaving (hand-over), nothing is retried and the music is left to the hand-over.
    """

    ALREADY_DONE = frozenset({409, 412, 422})
    """What a retried POST may answer when its first attempt ran late in Asterisk."""

    def __init__(self, engine_client: AriClient, channel_id: str, patience_s: float) -> None:
        super().__init__(engine_client.endpoint, engine_client._session, engine_client.media_session)
        self.channel_id = channel_id
        self.patience_s = patience_s
        self.may_hold: Callable[[], bool] = lambda: True
        """Whether music on hold may be started on the caller now: not while the ACD has them in a
        bridge (its music plays there, and stopping ours afterwards would stop theirs)."""
        self.may_retry: Callable[[], bool] = lambda: True
        """False once the session hands the call over: its bound is one request, and the music is the hand-over's."""

    async def _request(self, method: str, path: str, params: dict[str, str] | None = None) -> Any:
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.patience_s
        backoff = Backoff(first_s=0.25, max_s=2.0)
        hold_tried = False
        attempt = 0
        try:
            while True:
                attempt += 1
                try:
                    return await self._attempt(method, path, params, attempt)
                except AriUnavailable as exc:
                    if isinstance(exc, AriRefused) or not self.may_retry():
                        raise
                    delay = backoff.next_delay()
                    if loop.time() + delay >= give_up_at:  # no attempt starts after patience_s
                        raise
                    log.warning("call %s: Asterisk busy, %s %s not answered (%s); retry %d in %.2f s", self.channel_id, method, path, exc, attempt, delay)
                    if not hold_tried and not _is_prompt(path):
                        hold_tried = True  # once: a hold request Asterisk does not answer costs a request timeout too
                        await self._hold(path)
                    await asyncio.sleep(delay)
        finally:
            if hold_tried and self.may_retry():
                await self._unhold()  # even if the hold seemed to fail: it may have run late

    async def _attempt(self, method: str, path: str, params: dict[str, str] | None, attempt: int) -> Any:
        if attempt > 1 and method == "POST" and _is_prompt(path) and await self._prompt_exists(path):
            log.info("call %s: %s ran after all (its playback exists); not sent again", self.channel_id, path)
            return None
        try:
            return await super()._request(method, path, params)
        except AriRequestFailed as exc:
            if attempt > 1 and method == "POST" and exc.status in self.ALREADY_DONE:
                log.info("call %s: %s %s answered %d after a retry: the first attempt went through", self.channel_id, method, path, exc.status)
                return None
            raise

    async def _prompt_exists(self, path: str) -> bool:
        """Whether the playback a timed-out play asked for exists: then Asterisk ran it late. Asked
        briefly (PROMPT_CHECK_S), so the check does not eat the patience; if Asterisk is too slow to
        say, that is one more unanswered attempt (AriUnavailable), and the next one asks again: the
        play is sent again only when Asterisk says the playback does not exist."""
        playback_id = path.rsplit("/play/", 1)[1]
        url = self.endpoint.base_url + f"/playbacks/{playback_id}"
        try:
            async with asyncio.timeout(PROMPT_CHECK_S):
                async with self._session.get(url, headers=self._headers) as response:
                    await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AriUnavailable(f"ARI GET /playbacks/{playback_id}: {str(exc) or type(exc).__name__} (no answer within {PROMPT_CHECK_S:g} s)") from exc
        if response.status >= 300 and response.status != 404:
            raise AriUnavailable(f"ARI GET /playbacks/{playback_id}: answered {response.status}")
        return response.status == 200

    async def _hold(self, path: str) -> None:
        """Music on hold for the caller while a command waits (one attempt, no retry)."""
        if not path.startswith(f"/channels/{quote(self.channel_id)}") or not self.may_hold():
            return
        try:
            await AriClient._request(self, "POST", f"/channels/{quote(self.channel_id)}/moh", {"mohClass": "default"})
        except (AriUnavailable, AriRequestFailed) as exc:  # slow too, gone, or not in Stasis
            log.info("call %s: no hold music while retrying: %s", self.channel_id, exc)

    async def _unhold(self) -> None:
        try:
            await AriClient._request(self, "DELETE", f"/channels/{quote(self.channel_id)}/moh")
        except (AriUnavailable, AriRequestFailed) as exc:
            log.info("call %s: hold music after a retry not stopped: %s", self.channel_id, exc)


PROMPT_CHECK_S = 1.0
"""How long to ask whether a timed-out play ran after all, before sending it again."""


def _is_prompt(path: str) -> bool:
    return "/play/" in path


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
