"""Taking a call: the first commands on a caller's channel, then the IVR flow, or (when no flow is
configured, flows.inbound unset) the greeting and the hang-up when it ends. Also the rule that the
engine decides to hang a call up once: the session's failure policy (CallSession._guarded) asks
here before it hangs up a caller whose command Asterisk refused.

Pure: facts about the call go in, commands (caller_commands.py) come out. No sockets, no clock,
no logging.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from engine.acd.wait_announcements import announcement_playback_id
from engine.call.caller_commands import Answer, CancelEngineWait, ChannelCommand, HangUp, PlayPrompt, StartFlow, StopHold, StopPrompt

# -- facts the session reports (past tense) ------------------------------------------------


@dataclass(frozen=True)
class CallArrived:
    channel_id: str
    already_answered: bool = False
    resumed: bool = False
    """True when an engine restart left the call in Stasis and this engine picks it up."""


@dataclass(frozen=True)
class PromptFinished:
    playback_id: str
    state: str


@dataclass(frozen=True)
class PromptTimedOut:
    playback_id: str


class Phase(Enum):
    NEW = "new"
    TAKEN = "taken"
    """Answered: the greeting plays, or the flow has the call."""
    HANGING_UP = "hanging_up"


class CallStart:
    """One call's start. `playback_id` (the greeting's) is chosen here so the session can match
    PlaybackFinished; it is chosen for a flow call too (a hand-over stops it either way).

    `greeting_media` None: a flow answers the call (StartFlow) instead of the greeting.
    """

    def __init__(self, greeting_media: str | None) -> None:
        self.greeting_media = greeting_media
        self.phase = Phase.NEW
        self.playback_id = ""

    def take(self, arrival: CallArrived) -> list[ChannelCommand]:
        """Take the call, answer, then greet or start the flow; a resumed call first silences what the
        previous engine left playing. Only once: a second arrival is ignored."""
        if self.phase is not Phase.NEW:
            return []
        self.phase = Phase.TAKEN
        first_id = f"greeting-{arrival.channel_id}"
        self.playback_id = f"{first_id}-resumed" if arrival.resumed else first_id
        commands: list[ChannelCommand] = []
        if arrival.resumed:
            # Playbacks first: Asterisk runs channel commands (variables, hold) only between playbacks.
            commands += [StopPrompt(first_id), StopPrompt(f"{first_id}-resumed"), StopPrompt(announcement_playback_id(arrival.channel_id))]
        commands.append(CancelEngineWait())
        if arrival.resumed:
            commands.append(StopHold())
        if not arrival.already_answered:
            commands.append(Answer())
        if self.greeting_media is None:
            return [*commands, StartFlow()]
        return [*commands, PlayPrompt(self.greeting_media, self.playback_id)]

    def prompt_ended(self, fact: PromptFinished | PromptTimedOut) -> list[ChannelCommand]:
        """The greeting's end (or its time running out) ends the call; any other playback is not ours."""
        if self.phase is not Phase.TAKEN or fact.playback_id != self.playback_id:
            return []
        return self.hang_up("greeting finished" if isinstance(fact, PromptFinished) else "greeting timed out")

    def hang_up(self, reason: str) -> list[ChannelCommand]:
        """The hang-up this core decides (the greeting is over, or Asterisk refused a command): never twice."""
        if self.phase is Phase.HANGING_UP:
            return []
        self.phase = Phase.HANGING_UP
        return [HangUp(reason)]


def refused_reason(command: str, reason: str) -> str:
    """The hang-up reason for a command Asterisk refused (journaled as the call's cause text)."""
    return f"{command} failed: {reason}"
