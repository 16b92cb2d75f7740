"""What the ACD's per-call core (queued_call.py) hears and asks for: the call's phase, facts
(past tense) and commands (imperative), as plain frozen dataclasses.

Caller commands are carried out by the caller's CallSession, the only task that commands the
caller's channel; agent-side commands by the ACD's adapter (call_distributor.py). Ids of new legs
and bridges are chosen by the adapter and come in with the facts that need them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from engine.acd.agent_state import EventKind
from engine.acd.callback_numbers import NumberSource, Verdict
from engine.acd.wait_estimate import WaitPhrase
from engine.journey.events import Journal as Journal


class Phase(Enum):
    WAITING = "waiting"
    """In line in the queue's holding bridge, hearing music and announcements."""
    ARRANGING_CALLBACK = "arranging_callback"
    """Still in line, in the callback dialogue (keying or confirming a number)."""
    CHECKING_NUMBER = "checking_number"
    """Still in line; the number given is being checked against the queue's rules and rate limit."""
    RINGING = "ringing"
    """An agent's phone rings for the caller."""
    TALKING = "talking"
    """Caller and agent are in the call's bridge (or the called-back caller answered)."""
    SECURE_ENTRY = "secure_entry"
    """The caller keys card details in the queue's secure-entry flow; the agent hears music."""
    SAYING_GOODBYE = "saying_goodbye"
    """Out of line after the queue's maximum wait: the caller hears the goodbye, then is hung up."""
    CALLBACK_OWED = "callback_owed"
    """The caller hung up for a callback: in line without a channel."""
    CALLBACK_RETRY = "callback_retry"
    """An attempt to call back failed: out of line until the retry delay is over."""
    CALLBACK_RINGING = "callback_ringing"
    """An agent's phone rings for an owed callback."""
    DIALLING_BACK = "dialling_back"
    """The agent took the callback and waits in the call's bridge while the caller's phone rings."""
    ENDED = "ended"


LINED_UP = (Phase.WAITING, Phase.ARRANGING_CALLBACK, Phase.CHECKING_NUMBER, Phase.CALLBACK_OWED)
"""Phases in which the call is in the router's line."""
LIVE_CALLER = (Phase.WAITING, Phase.ARRANGING_CALLBACK, Phase.CHECKING_NUMBER, Phase.RINGING, Phase.TALKING, Phase.SECURE_ENTRY)
"""Phases in which the caller's channel is ours and has a session to speak through."""

# -- facts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Queued:
    """The caller entered the queue (from a flow's queue node, or again after an engine restart)."""

    skills: tuple[str, ...] = ()
    priority: int | None = None
    waited_s: float = 0.0
    """An adopted caller keeps its place: how long it had waited under the engine that stopped."""


@dataclass(frozen=True)
class AgentOffered:
    agent_id: str
    extension: str
    leg: str
    """The agent leg's channel id, chosen by the adapter."""
    waited_s: float
    relaxed: bool


@dataclass(frozen=True)
class AgentAnswered:
    leg: str
    bridge: str
    """The id the call's bridge gets, chosen by the adapter."""
    callback_leg: str = ""
    """For an owed callback: the id the leg that dials the caller gets, chosen by the adapter."""


@dataclass(frozen=True)
class AgentLegEnded:
    leg: str
    reason: str
    """Why a leg that never answered ended (no-answer, busy, ...); unused once answered."""


@dataclass(frozen=True)
class RingRanOut:
    """The ring time is over and Asterisk never said the agent's leg ended (a lost event)."""


@dataclass(frozen=True)
class CallerLeft:
    """The caller's channel ended (the caller hung up, or the engine did)."""


@dataclass(frozen=True)
class KeyPressed:
    digit: str


@dataclass(frozen=True)
class SpeechHeard:
    alternatives: tuple[tuple[str, float], ...]
    """(text, confidence), best first."""


@dataclass(frozen=True)
class NumberChecked:
    verdict: Verdict


@dataclass(frozen=True)
class Tick:
    """A second passed. `position`/`estimate`: the caller's place in its queue's line and the
    estimated wait (from the router and the staffing), for the announcement if one is due."""

    position: int | None = None
    estimate_s: float | None = None
    phrase: WaitPhrase | None = None


@dataclass(frozen=True)
class TransferAsked:
    agent_id: str
    to_queue: str = ""
    to_agent: str = ""


@dataclass(frozen=True)
class SecureEntryAsked:
    agent_id: str


@dataclass(frozen=True)
class SecureEntryDone:
    """The secure-entry flow reached its queue node: the caller comes back to the agent."""


@dataclass(frozen=True)
class CallbackLegAnswered:
    leg: str


@dataclass(frozen=True)
class CallbackLegEnded:
    leg: str
    reason: str


@dataclass(frozen=True)
class RetryDue:
    """The delay after a failed callback attempt is over."""


@dataclass(frozen=True)
class StepFailed:
    """An agent-side command could not be carried out (Asterisk refused it)."""

    what: str
    reason: str


Fact = (Queued | AgentOffered | AgentAnswered | AgentLegEnded | RingRanOut | CallerLeft | KeyPressed | SpeechHeard | NumberChecked | Tick
        | TransferAsked | SecureEntryAsked | SecureEntryDone | CallbackLegAnswered | CallbackLegEnded | RetryDue | StepFailed)

# -- commands to the caller (carried out by the caller's CallSession) --------------------------


@dataclass(frozen=True)
class Say:
    text: str
    hang_up_after: str | None = None
    """Once heard to its end, hang the caller up with this reason."""


@dataclass(frozen=True)
class Hush:
    """Stop what the ACD is saying (an agent answered, or a new sentence replaces it)."""


@dataclass(frozen=True)
class ListenFor:
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class StopListening:
    pass


@dataclass(frozen=True)
class ContinueFlow:
    target: str
    reason: str


@dataclass(frozen=True)
class StartSurvey:
    target: str
    queue: str
    agent: str


@dataclass(frozen=True)
class HangUpCaller:
    reason: str


CallerCommand = Say | Hush | ListenFor | StopListening | ContinueFlow | StartSurvey | HangUpCaller

# -- commands on the agents' side (carried out by the ACD adapter) -----------------------------


@dataclass(frozen=True)
class JoinLine:
    """Into the router's line (again) at the call's place."""


@dataclass(frozen=True)
class LeaveLine:
    pass


@dataclass(frozen=True)
class MoveToHold:
    """The caller into `queue`'s holding bridge, out of `from_queue`'s holding bridge or out of
    `from_bridge` first (straight from one bridge to another stalls)."""

    queue: str
    from_queue: str = ""
    from_bridge: str = ""
    adopted: bool = False
    """An adopted caller may already be in that holding bridge."""


@dataclass(frozen=True)
class LeaveHold:
    """The caller out of `queue`'s holding bridge (its music stops): back to its flow."""

    queue: str


@dataclass(frozen=True)
class FileRecording:
    """The conversation with this agent is over: its recording is filed (each agent's part is its own)."""


@dataclass(frozen=True)
class OfferTo:
    """Ring this agent for the call now, outside the line (a transfer to a named agent)."""

    agent_id: str


@dataclass(frozen=True)
class ReleaseHold:
    """The caller left the queue's holding bridge: remove it if it is empty."""

    queue: str


@dataclass(frozen=True)
class NoteAgent:
    """An event for the agent's ledger, about this call unless `for_call` is False."""

    agent_id: str
    kind: EventKind
    reason: str = ""
    seconds: float = 0.0
    for_call: bool = True


@dataclass(frozen=True)
class RingAgent:
    agent_id: str
    extension: str
    leg: str
    ring_s: int


@dataclass(frozen=True)
class SendPop:
    agent_id: str
    waited_s: float
    with_history: bool = True
    """False: sent again (after secure entry) with what the call's pop already had."""


@dataclass(frozen=True)
class ClearPop:
    agent_id: str


@dataclass(frozen=True)
class ConnectAgent:
    """Caller and agent leg into a new bridge (the caller out of its holding bridge)."""

    bridge: str
    leg: str
    queue: str


@dataclass(frozen=True)
class HangUpLeg:
    leg: str


@dataclass(frozen=True)
class DropBridge:
    """The conversation is over or never began: its recording is filed, its bridge removed."""

    bridge: str


@dataclass(frozen=True)
class StartRecording:
    channel: str
    agent_id: str


@dataclass(frozen=True)
class HoldAgentForSecureEntry:
    """The caller out of the bridge; the agent hears music there; the caller hears silence."""

    bridge: str


@dataclass(frozen=True)
class BackFromSecureEntry:
    bridge: str


@dataclass(frozen=True)
class CountHandleTime:
    seconds: float


@dataclass(frozen=True)
class LatestCallOf:
    """What the agent's disposition is for."""

    agent_id: str


@dataclass(frozen=True)
class CheckNumber:
    """Check a number against the queue's rules and the callbacks to it in the last hour."""

    raw: str
    source: NumberSource


@dataclass(frozen=True)
class RememberCallback:
    """This engine arranged a callback to `number`: the rate limit's own memory."""

    number: str
    waited_s: float


@dataclass(frozen=True)
class WaitForAgentThenDial:
    """The agent took a callback: the agent leg into a new bridge, then the caller is dialled."""

    bridge: str
    agent_leg: str
    callback_leg: str
    number: str
    ring_s: int


@dataclass(frozen=True)
class AddCallbackLeg:
    bridge: str
    leg: str


@dataclass(frozen=True)
class ArmRetry:
    seconds: float


@dataclass(frozen=True)
class CallbackFailed:
    """Every attempt failed (or the number was refused): shown on the supervisor's floor."""

    number: str
    attempts: int
    refused: str = ""


@dataclass(frozen=True)
class Forget:
    """The call is over for the ACD."""


AgentSideCommand = (Journal | JoinLine | LeaveLine | MoveToHold | LeaveHold | FileRecording | OfferTo | ReleaseHold | NoteAgent | RingAgent | SendPop | ClearPop | ConnectAgent | HangUpLeg
                    | DropBridge | StartRecording | HoldAgentForSecureEntry | BackFromSecureEntry | CountHandleTime | LatestCallOf | CheckNumber
                    | RememberCallback | WaitForAgentThenDial | AddCallbackLeg | ArmRetry | CallbackFailed | Forget)
Command = CallerCommand | AgentSideCommand


CALLER_COMMANDS = (Say, Hush, ListenFor, StopListening, ContinueFlow, StartSurvey, HangUpCaller)
"""The commands a CallSession carries out (isinstance checks)."""
