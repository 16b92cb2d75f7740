"""The commands a CallSession carries out on its caller's channel for its own steps: taking the call,
the greeting, the hang-up. One vocabulary, in one place; pure data, no I/O.

The ACD's commands for a queued caller (Say, Hush, ListenFor, ...) stay in acd/queued_call_facts.py (the
ACD must not import this room) and reach the session as one ForCaller message; the flow's own
commands are the interpreter's (flows/flow_facts.py). A command's class name is what a refused
command's hang-up reason names ("PlayPrompt failed: ..."), so it is part of the journey.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CancelEngineWait:
    """This engine has the call: lift the dialplan's bound on how long a caller waits for an engine."""


@dataclass(frozen=True)
class StopHold:
    """Stop the hold music a stopping engine left a caller with, for the next engine (this one)."""


@dataclass(frozen=True)
class Answer:
    """Answer the channel, in the callers' arrival order (call/arrival_order.py)."""


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
    """Why the engine ends the call: journaled as the close's cause text."""


@dataclass(frozen=True)
class StartFlow:
    """The call is taken: hand it to the IVR flow (flows.inbound) instead of the greeting."""


ChannelCommand = CancelEngineWait | StopHold | Answer | PlayPrompt | StopPrompt | HangUp | StartFlow
