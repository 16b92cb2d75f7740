"""An in-memory CallControl (engine/call/call_control.py): records every request in order and can be
told to fail one, the way Asterisk would (ChannelGone, AriRequestFailed with a status, AriUnavailable).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.asterisk.ari_events import Channel
from engine.asterisk.errors import AriRequestFailed, AriUnavailable, AsteriskError, ChannelGone

Request = tuple[str, ...]
"""(operation, its arguments): ("play", "7.1", "sound:hello-world", "greeting-7.1")."""


def channel_in_stasis(channel_id: str, state: str = "Ring") -> Channel:
    return Channel(channel_id, f"PJSIP/trunk-{channel_id}", state, "01012345678", "Kim", "1000", "Stasis", "threadline")


class MemoryCallControl:
    """Requests land in `requests`; `fail(operation, error)` makes the next such request raise."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        """What get_channel answers (unless told to fail)."""
        self.requests: list[Request] = []
        self.failures: dict[str, list[AsteriskError]] = {}
        self.may_hold: Callable[[], bool] = lambda: True
        self.may_retry: Callable[[], bool] = lambda: True

    def fail(self, operation: str, error: AsteriskError, times: int = 1) -> None:
        self.failures.setdefault(operation, []).extend([error] * times)

    def refuse(self, operation: str, status: int, message: str = "refused") -> None:
        self.fail(operation, AriRequestFailed("POST", f"/{operation}", status, message))

    def gone(self, operation: str) -> None:
        self.fail(operation, ChannelGone("POST", f"/channels/{self.channel.id}/{operation}", 404, "Channel not found"))

    def silent(self, operation: str) -> None:
        self.fail(operation, AriUnavailable(f"{operation}: no answer within 5 s"))

    def of(self, operation: str) -> list[Request]:
        return [request for request in self.requests if request[0] == operation]

    @property
    def operations(self) -> list[str]:
        return [request[0] for request in self.requests]

    def _request(self, operation: str, *args: str) -> None:
        self.requests.append((operation, *args))
        queued = self.failures.get(operation)
        if queued:
            raise queued.pop(0)

    async def get_channel(self, channel_id: str) -> Channel:
        self._request("get_channel", channel_id)
        return self.channel

    async def answer(self, channel_id: str) -> None:
        self._request("answer", channel_id)

    async def play(self, channel_id: str, media: str, playback_id: str) -> None:
        self._request("play", channel_id, media, playback_id)

    async def stop_playback(self, playback_id: str) -> None:
        self._request("stop_playback", playback_id)

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        self._request("set_variable", channel_id, variable, value)

    async def start_hold_music(self, channel_id: str, moh_class: str = "default") -> None:
        self._request("start_hold_music", channel_id, moh_class)

    async def stop_hold_music(self, channel_id: str) -> None:
        self._request("stop_hold_music", channel_id)

    async def start_silence(self, channel_id: str) -> None:
        self._request("start_silence", channel_id)

    async def stop_silence(self, channel_id: str) -> None:
        self._request("stop_silence", channel_id)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self._request("hangup", channel_id, reason)


class SilentVoice:
    """A text-to-speech that writes a short silent WAV-sized file."""

    name = "silent"

    def voice_for(self, language: str) -> str:
        return "silence"

    def render(self, text: str, language: str, destination: Path) -> None:
        destination.write_bytes(b"RIFF" + bytes(100))
