"""Journey events of recordings: one frozen, documented model per kind (see engine/journey/events.py)."""

from __future__ import annotations

from engine.journey.event_model import JourneyEventModel


class RecordingStarted(JourneyEventModel):
    KIND = "recording_started"
    agent: str | None = None
    file: str = ""


class RecordingFailed(JourneyEventModel):
    KIND = "recording_failed"
    agent: str | None = None
    reason: str = ""


class RecordingPaused(JourneyEventModel):
    """Paused while the caller keys a sensitive value."""

    KIND = "recording_paused"
    at_s: int | float = 0
    """Offset in the recording."""


class RecordingResumed(JourneyEventModel):
    KIND = "recording_resumed"
    at_s: int | float = 0
