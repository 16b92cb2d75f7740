"""Typed ARI events, parsed from the JSON Asterisk sends on the events websocket.

Only the fields the engine uses are kept; everything else stays in the adapter. Parsing is pure:
a dict goes in, a frozen dataclass comes out, no transport involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    state: str
    caller_number: str
    caller_name: str
    dialed: str
    """The extension the caller dialled, from the Stasis argument or the dialplan."""
    dialplan_app: str
    dialplan_app_data: str
    created_at: datetime | None = None
    """When Asterisk created the channel: the caller's real arrival, even if no engine was up then."""

    def in_stasis_app(self, app_name: str) -> bool:
        return self.dialplan_app == "Stasis" and self.dialplan_app_data.split(",")[0] == app_name


@dataclass(frozen=True)
class StasisStarted:
    """A channel entered our Stasis app: a new call for the engine."""

    channel: Channel
    args: tuple[str, ...]


@dataclass(frozen=True)
class StasisEnded:
    """The channel left the app; Asterisk stops sending us its events after this."""

    channel_id: str


@dataclass(frozen=True)
class ChannelHangupRequested:
    channel_id: str
    cause: int
    soft: bool


@dataclass(frozen=True)
class ChannelDestroyed:
    channel_id: str
    cause: int
    cause_txt: str


@dataclass(frozen=True)
class PlaybackStarted:
    playback_id: str
    channel_id: str
    media_uri: str


@dataclass(frozen=True)
class PlaybackFinished:
    playback_id: str
    channel_id: str
    media_uri: str
    state: str
    """done, failed or cancelled."""


@dataclass(frozen=True)
class DtmfReceived:
    channel_id: str
    digit: str
    duration_ms: int


@dataclass(frozen=True)
class EndpointStateChanged:
    """A SIP endpoint's registration came or went (an agent's softphone)."""

    technology: str
    resource: str
    state: str


@dataclass(frozen=True)
class OtherEvent:
    """An event the engine does not act on yet; kept so logs can name it."""

    type: str


AriEvent = (
    StasisStarted
    | StasisEnded
    | ChannelHangupRequested
    | ChannelDestroyed
    | PlaybackStarted
    | PlaybackFinished
    | DtmfReceived
    | EndpointStateChanged
    | OtherEvent
)


class AriEventMalformed(ValueError):
    """Asterisk sent JSON without a field its own API documents as present."""


def parse_channel(raw: dict[str, Any]) -> Channel:
    caller = raw.get("caller") or {}
    dialplan = raw.get("dialplan") or {}
    return Channel(
        id=str(raw["id"]),
        name=str(raw.get("name", "")),
        state=str(raw.get("state", "")),
        caller_number=str(caller.get("number", "")),
        caller_name=str(caller.get("name", "")),
        dialed=str(dialplan.get("exten", "")),
        dialplan_app=str(dialplan.get("app_name", "")),
        dialplan_app_data=str(dialplan.get("app_data", "")),
        created_at=parse_ari_time(raw.get("creationtime")),
    )


def parse_ari_time(value: object) -> datetime | None:
    """ARI writes times as 2026-11-24T08:00:00.123+0000; anything else is treated as unknown."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return None


def parse_event(raw: dict[str, Any]) -> AriEvent:
    """Turn one websocket message into a typed event."""
    if not isinstance(raw, dict):
        raise AriEventMalformed(f"ARI event is not a JSON object: {str(raw)[:200]}")
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise AriEventMalformed(f"ARI event without a type: {str(raw)[:200]}")
    try:
        return _parse_known(kind, raw)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AriEventMalformed(f"ARI {kind} event missing or bad field {exc}: {str(raw)[:200]}") from None


def _parse_known(kind: str, raw: dict[str, Any]) -> AriEvent:
    if kind == "StasisStart":
        args = tuple(str(arg) for arg in raw.get("args", []))
        channel = parse_channel(raw["channel"])
        if args and args[0]:
            channel = Channel(**{**vars(channel), "dialed": args[0]})
        return StasisStarted(channel, args)
    if kind == "StasisEnd":
        return StasisEnded(str(raw["channel"]["id"]))
    if kind == "ChannelHangupRequest":
        return ChannelHangupRequested(str(raw["channel"]["id"]), int(raw.get("cause", 0)), bool(raw.get("soft", False)))
    if kind == "ChannelDestroyed":
        return ChannelDestroyed(str(raw["channel"]["id"]), int(raw.get("cause", 0)), str(raw.get("cause_txt", "")))
    if kind in ("PlaybackStarted", "PlaybackFinished"):
        playback = raw["playback"]
        target = str(playback.get("target_uri", ""))
        channel_id = target.removeprefix("channel:") if target.startswith("channel:") else ""
        if kind == "PlaybackStarted":
            return PlaybackStarted(str(playback["id"]), channel_id, str(playback.get("media_uri", "")))
        return PlaybackFinished(
            str(playback["id"]), channel_id, str(playback.get("media_uri", "")), str(playback.get("state", "done"))
        )
    if kind == "ChannelDtmfReceived":
        return DtmfReceived(str(raw["channel"]["id"]), str(raw["digit"]), int(raw.get("duration_ms", 0)))
    if kind == "EndpointStateChange":
        endpoint = raw["endpoint"]
        return EndpointStateChanged(str(endpoint.get("technology", "")), str(endpoint.get("resource", "")), str(endpoint.get("state", "unknown")))
    return OtherEvent(kind)


def event_channel_id(event: AriEvent) -> str | None:
    """Which call an event belongs to, for routing it to that call's queue."""
    if isinstance(event, StasisStarted):
        return event.channel.id
    if isinstance(event, (OtherEvent, EndpointStateChanged)):
        return None
    return event.channel_id or None
