"""CallControl: the ARI operations a CallSession and its flow driver use on one caller's channel.

The session and the driver are typed against this interface, not the ARI client, so they can be
driven in unit tests by an in-memory double (tests/unit/call/memory_call_control.py). The engine's
implementation is `AriClient.for_call(...)` (asterisk/ari_client.py, CallAriClient): patient with a
busy Asterisk. Every operation raises the typed errors of asterisk/errors.py: ChannelGone (the
caller hung up), AriRequestFailed (refused, with its status) or AriUnavailable (no answer in time).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from engine.asterisk.ari_events import Channel


class CallControl(Protocol):
    may_hold: Callable[[], bool]
    """Whether music on hold may be started on the caller while a slow request is retried."""
    may_retry: Callable[[], bool]
    """False once the session hands the call over: nothing more is retried."""

    async def get_channel(self, channel_id: str) -> Channel:
        """The channel as Asterisk sees it now; ChannelGone if it no longer exists."""

    async def answer(self, channel_id: str) -> None: ...

    async def play(self, channel_id: str, media: str, playback_id: str) -> None: ...

    async def stop_playback(self, playback_id: str) -> None:
        """A playback that already ended is no error."""

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None: ...

    async def start_hold_music(self, channel_id: str, moh_class: str = "default") -> None: ...

    async def stop_hold_music(self, channel_id: str) -> None: ...

    async def start_silence(self, channel_id: str) -> None: ...

    async def stop_silence(self, channel_id: str) -> None: ...

    async def hangup(self, channel_id: str, reason: str = "normal") -> None: ...
