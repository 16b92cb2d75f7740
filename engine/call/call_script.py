"""What the engine does with a call until IVR flows take over: answer, play the greeting, hang up.

Pure: facts about the call go in, commands come out. No sockets, no clock, no logging.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from engine.acd.wait_announcements import announcement_playback_id

# -- facts the adapter reports (past tense) ------------------------------------------------


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


@dataclass(frozen=True)
class CommandFailed:
    """Asterisk refused a command for a reason other than the caller having gone."""

    command: str
    reason: str


CallFact = CallArrived | PromptFinished | PromptTimedOut | CommandFailed


# -- commands the adapter carries out (imperative) -----------------------------------------


@dataclass(frozen=True)
class CancelEngineWait:
    """This engine has the call: lift the dialplan's bound on how long a caller waits for an engine."""


@dataclass(frozen=True)
class StopHold:
    """Stop the hold music a stopping engine left a caller with, for the next engine (this one)."""


@dataclass(frozen=True)
class Answer:
    pass


@dataclass(frozen=True)
class PlayPrompt:
    media: str
    playback_id: str


@dataclass(frozen=True)
class StopPrompt:
    """Stop a playback that may still run (started by an engine that died); unknown ids are fine."""

    playback_id: str


@dataclass(frozen=True)
class HangUp:
    reason: str


@dataclass(frozen=True)
class StartFlow:
    """The call is answered: hand it to the IVR flow (flows.inbound) instead of the greeting."""


Command = CancelEngineWait | StopHold | Answer | PlayPrompt | StopPrompt | HangUp | StartFlow


class Phase(Enum):
    NEW = "new"
    GREETING = "greeting"
    HANGING_UP = "hanging_up"


class GreetingScript:
    """One call's script. `playback_id` is chosen here so the adapter can match PlaybackFinished.

    With `to_flow`, the call is taken and answered the same way, then handed to the IVR flow.
    """

    def __init__(self, greeting_media: str, to_flow: bool = False) -> None:
        self.greeting_media = greeting_media
        self.to_flow = to_flow
        self.phase = Phase.NEW
        self.playback_id = ""

    def decide(self, fact: CallFact) -> list[Command]:
        if isinstance(fact, CallArrived) and self.phase is Phase.NEW:
            return self._greet(fact)
        if isinstance(fact, (PromptFinished, PromptTimedOut)) and self._is_greeting(fact.playback_id):
            return self._hang_up("greeting finished" if isinstance(fact, PromptFinished) else "greeting timed out")
        if isinstance(fact, CommandFailed):
            return self._hang_up(f"{fact.command} failed: {fact.reason}")
        return []

    def _greet(self, fact: CallArrived) -> list[Command]:
        """Take the call, answer and greet; a resumed call first silences what the previous engine left playing."""
        self.phase = Phase.GREETING
        first_id = f"greeting-{fact.channel_id}"
        self.playback_id = f"{first_id}-resumed" if fact.resumed else first_id
        commands: list[Command] = []
        if fact.resumed:
            # Playbacks first: Asterisk runs channel commands (variables, hold) only between playbacks.
            commands += [StopPrompt(first_id), StopPrompt(f"{first_id}-resumed"), StopPrompt(announcement_playback_id(fact.channel_id))]
        commands.append(CancelEngineWait())
        if fact.resumed:
            commands.append(StopHold())
        if not fact.already_answered:
            commands.append(Answer())
        if self.to_flow:
            return [*commands, StartFlow()]
        return [*commands, PlayPrompt(self.greeting_media, self.playback_id)]

    def _is_greeting(self, playback_id: str) -> bool:
        return self.phase is Phase.GREETING and playback_id == self.playback_id

    def _hang_up(self, reason: str) -> list[Command]:
        if self.phase is Phase.HANGING_UP:
            return []
        self.phase = Phase.HANGING_UP
        return [HangUp(reason)]
