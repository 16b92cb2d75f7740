"""Journey events of the call itself: arrival, prompts, keys, the end: one frozen, documented model per kind (see engine/journey/events.py)."""

from __future__ import annotations

from engine.journey.event_model import JourneyEventModel


class Arrived(JourneyEventModel):
    """The call reached the engine (first event of every call; written with the call row)."""

    KIND = "arrived"
    channel: str = ""
    """Asterisk's channel name (PJSIP/trunk-000001)."""
    caller_number: str = ""
    dialed: str = ""
    waited_for_engine_ms: int = 0
    """How long the caller waited in the dialplan for an engine; absent when no wait."""


class Answered(JourneyEventModel):
    """The engine answered the caller's channel."""

    KIND = "answered"


class Resumed(JourneyEventModel):
    """An engine took over a call an earlier engine had started."""

    KIND = "resumed"
    reason: str = ""


class CallClosed(JourneyEventModel):
    """The last event of a call: how it ended (also in the call row)."""

    by: str = ""
    """caller, engine, system (Asterisk hung up) or lost."""
    cause: int | None = None
    """The Q.850 hang-up cause, when known."""
    cause_txt: str | None = None
    """Asterisk's cause text, or the engine's reason."""


class HungUp(CallClosed):
    """The call ended normally (by either side)."""

    KIND = "hung_up"


class CallFailed(CallClosed):
    """The engine gave up on the call after an error and hung it up."""

    KIND = "failed"


class CallLost(CallClosed):
    """The call ended while no engine could see it (found gone after a restart)."""

    KIND = "lost"


class HandedOver(JourneyEventModel):
    """The engine stopped and left the caller to the next one."""

    KIND = "handed_over"
    wait_s: int | float = 0
    """How long the dialplan keeps the caller on hold for the next engine (absent if talking)."""
    reason: str = ""
    talking_to_agent: bool = False
    """The caller stays in its bridge with the agent; no hold music, no bound."""


class PromptStarted(JourneyEventModel):
    KIND = "prompt_started"
    media: str = ""
    """The media URI Asterisk plays (sound:..., recording:...)."""
    playback_id: str = ""


class PromptFinished(JourneyEventModel):
    KIND = "prompt_finished"
    media: str = ""
    state: str = ""
    """Asterisk's playback state at the end (done, cancelled, failed)."""


class DtmfReceived(JourneyEventModel):
    """A key the caller pressed."""

    KIND = "dtmf"
    digit: str = ""
    """The key, or "masked" while a sensitive value is keyed."""
    duration_ms: int = 0


class LeftWithAgent(JourneyEventModel):
    """An adopted call was already talking to an agent: it stays in its bridge, the flow is not run."""

    KIND = "left_with_agent"
    reason: str = ""
