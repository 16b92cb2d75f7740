"""The agent and supervisor pages' websocket protocol as pydantic models: typed, versioned JSON.

Every message is a JSON object with `v` (PROTOCOL_VERSION) and `type`. Pages' messages are parsed
with these models (a malformed one gets an `error` message naming the field, never an exception);
the server's messages are documented by them, and GET /protocol serves the JSON Schema of both.
A unit test checks the messages the engine really sends against these models.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PROTOCOL_VERSION: Final = 1
AgentStatus = Literal["logged_out", "available", "reserved", "on_call", "wrap_up", "paused"]
ChosenStatus = Literal["available", "paused", "logged_out"]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    v: Literal[1] = PROTOCOL_VERSION


class _Sent(BaseModel):
    """Server messages may grow fields in a version; pages ignore what they do not know."""

    model_config = ConfigDict(extra="allow")
    v: Literal[1] = PROTOCOL_VERSION


# -- page to server ----------------------------------------------------------------------------


class SetState(_Message):
    type: Literal["set_state"]
    status: ChosenStatus
    reason: str = Field(default="", max_length=40, description="Pause reason code (default `break`).")


class WrapUp(_Message):
    type: Literal["wrap_up"]
    call_id: str = Field(min_length=1, max_length=64, description="The pop's call_id.")
    disposition: str = Field(max_length=64, description="One of the pop's dispositions.")
    notes: str = Field(default="", max_length=2000)


class ExtendWrapUp(_Message):
    type: Literal["extend_wrap_up"]
    seconds: float = Field(default=30, gt=0, le=600)


class Transfer(_Message):
    type: Literal["transfer"]
    call_id: str = Field(min_length=1, max_length=64)
    to: str = Field(pattern=r"^(queue|agent):[a-z][a-z0-9_]{0,63}$", description="queue:NAME (blind, back in line) or agent:ID (rings that agent with the same pop).")


class SecureEntry(_Message):
    """Send the caller to the queue's secure-entry flow (card or account details the agent must not hear)."""

    type: Literal["secure_entry"]
    call_id: str = Field(min_length=1, max_length=64)


class SetAgentState(_Message):
    """Supervisor pages only (/ws/supervisor)."""

    type: Literal["set_agent_state"]
    agent: str = Field(min_length=1, max_length=64)
    status: ChosenStatus
    reason: str = Field(default="", max_length=40)


AgentPageMessage = Annotated[SetState | WrapUp | ExtendWrapUp | Transfer | SecureEntry, Field(discriminator="type")]
SupervisorPageMessage = SetAgentState
AGENT_PAGE = TypeAdapter[AgentPageMessage](AgentPageMessage)


# -- server to page ----------------------------------------------------------------------------


class StateMessage(_Sent):
    type: Literal["state"]
    agent: str
    status: AgentStatus
    reason: str = ""
    registered: bool
    call_id: str = ""
    since_s: float | None = None
    wrap_up_left_s: float | None = None


class Caller(BaseModel):
    number: str
    name: str
    verified: bool = Field(default=False, description="False: the number is the caller's unverified caller ID (spoofable); confirm who is calling before trusting the customer record or previous calls matched on it.")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="allow")


class NodeEntry(_Entry):
    kind: Literal["node"]
    node: str
    type: str


class SaidEntry(_Entry):
    kind: Literal["said"]
    text: str = Field(description="What the recogniser heard; **** while a sensitive value was spoken.")
    confidence: float


class ChoseEntry(_Entry):
    kind: Literal["chose"]
    intent: str
    key: str = Field(default="", description="The key pressed; empty when chosen by speech.")
    confirmed: bool = False


class CollectedEntry(_Entry):
    kind: Literal["collected"]
    field: str
    value: Any = Field(description="Masked by the server if sensitive.")
    keyed: bool = Field(description="Keyed on the phone's keypad (else spoken or answered yes/no).")


class StepEntry(_Entry):
    kind: Literal["step"]
    procedure: str
    step: str
    text: str = Field(description="The step as the IVR read it.")
    fixed: bool


TimelineEntry = Annotated[NodeEntry | SaidEntry | ChoseEntry | CollectedEntry | StepEntry, Field(discriminator="kind")]


class PopMessage(_Sent):
    """Pushed as the agent's phone starts ringing, before the answer."""

    type: Literal["pop"]
    call_id: str
    queue: str
    caller: Caller
    customer: dict[str, Any] | None = Field(description="The flow's lookup record, or null.")
    intent: str | None = None
    path: list[dict[str, Any]] = Field(description="[{node, type} | {chose, how}]: the IVR path.")
    utterances: list[dict[str, Any]] = Field(description="[{text, confidence}]")
    collected: dict[str, Any] = Field(description="Collected fields; sensitive ones masked.")
    steps: list[dict[str, Any]] = Field(description="[{procedure, done: [{step, text, fixed}], next: {step, text} | null}]")
    timeline: list[TimelineEntry] = Field(default_factory=list, description="The IVR journey in the order it happened (the journal keeps no times).")
    previous_calls: list[dict[str, Any]] = Field(description="[{at, ended_by, intent, queue, disposition, notes, agent}]")
    waited_s: float
    callback: bool
    dispositions: list[str] = Field(default_factory=list)
    transferred_from: str = ""


class PopCleared(_Sent):
    """The pop of `call_id` is over. Also sent to a page that attaches while the agent has no pop,
    with call_id null: any pop the page still shows (from before a reconnect) is gone."""

    type: Literal["pop_cleared"]
    call_id: str | None


class WrapUpSaved(_Sent):
    type: Literal["wrap_up_saved"]
    call_id: str


class TransferStarted(_Sent):
    type: Literal["transfer_started"]
    call_id: str
    to: str


class SecureEntryStarted(_Sent):
    type: Literal["secure_entry_started"]
    call_id: str


class QueueLine(BaseModel):
    waiting: int
    longest_wait_s: float


class QueuesMessage(_Sent):
    type: Literal["queues"]
    queues: dict[str, QueueLine]


class DirectoryAgent(BaseModel):
    id: str
    name: str
    status: AgentStatus


class DirectoryMessage(_Sent):
    """Whom an agent can transfer to: every agent with their name and state. On attach the whole
    team (`replace`: true, with `me`); then, at most once a second, the entries that changed since
    (`replace`: false), when an agent's state changes or the team is reloaded. Every page gets the
    same text (encoded once): a page leaves its own agent out by the `agent` of its `state`
    message (or `me`). The queues' lines come in `queues` (each second)."""

    type: Literal["directory"]
    replace: bool = Field(description="true: `agents` is the whole team; false: only the agents whose entry changed.")
    agents: list[DirectoryAgent] = Field(description="Sorted by name (pages sort again after a change); includes the page's own agent.")
    removed: list[str] = Field(default_factory=list, description="With replace false: ids of agents no longer in the team.")
    me: DirectoryAgent | None = Field(default=None, description="With replace true: the page's own agent (null if not in the team).")


class FloorMessage(_Sent):
    """To supervisor pages once a second."""

    type: Literal["floor"]
    queues: dict[str, dict[str, Any]] = Field(description="{queue: {waiting: [{call_id, number, waited_s, position, ringing, callback}], longest_wait_s, agents: {status: count}, service_level_s, target_percent}}")
    agents: dict[str, dict[str, Any]] = Field(description="{agent: {name, status, reason, registered, call_id, since_s}}")
    failed_callbacks: list[dict[str, Any]] = Field(default_factory=list)
    kpis: dict[str, Any] = Field(description="{queues: {queue: {offered, answered, abandoned, short_abandoned, callbacks, overflowed, asa_s, aht_s, abandon_rate, service_level, service_level_2, ...}}, occupancy, agents: {agent: occupancy}, as_of}")
    formulas: dict[str, str]
    at: str
    calls: list[dict[str, Any]] = Field(default_factory=list, description="agents on a call, which a supervisor may monitor: [{agent, name, call_id, number, queue, talk_s}]")
    monitoring: list[dict[str, Any]] = Field(
        default_factory=list, description="monitoring sessions running (POST /monitor): [{session_id, supervisor, agent, call_id, mode: listen|whisper|barge, phase, for_s}]")


class FloorHistoryMessage(_Sent):
    """To supervisor pages: today's floor a point a minute, for the wallboard charts
    (engine/acd/floor_history.py). The whole day (`replace`: true) when a page attaches, a new day
    begins or the morning was backfilled from the database after a restart; then, as it changes,
    the current minute's column alone (`replace`: false), which replaces the page's column of the
    same `at` or is appended."""

    type: Literal["floor_history"]
    replace: bool
    day_start: float = Field(description="Local midnight of the day, epoch seconds.")
    minute_s: int
    since: float | None = Field(description="Known from here (epoch seconds): before it the engine has no data for today; null: nothing yet.")
    at: list[int] = Field(description="Each column's minute start, epoch seconds (whole), ascending.")
    waiting: dict[str, list[int | None]] = Field(description="{queue: [the most callers waiting in the minute]}")
    service_level: dict[str, list[float | None]] = Field(description="{queue: [today's service level as of the minute, 0-1; null before the first answer]}")
    agents: dict[str, list[int]] = Field(description="{status: [agents in that state]}; logged-out agents are not counted.")


class AgentStateSet(_Sent):
    type: Literal["agent_state_set"]
    agent: str
    status: ChosenStatus


class ErrorMessage(_Sent):
    """A refused or malformed request. Pages show `code` in the reader's language; `error` is the
    engine's English detail, shown (marked as English) only when the page does not know the code."""

    type: Literal["error"]
    error: str
    code: str = Field(default="error", description="Stable, e.g. `invalid_message`, `not_your_call`, `wrap_up_refused` (see ERROR_CODES).")


ServerMessage = Annotated[
    StateMessage | PopMessage | PopCleared | WrapUpSaved | TransferStarted | SecureEntryStarted | QueuesMessage | DirectoryMessage | FloorMessage | FloorHistoryMessage | AgentStateSet | ErrorMessage,
    Field(discriminator="type"),
]
SERVER_MESSAGE = TypeAdapter[ServerMessage](ServerMessage)


ERROR_CODES: Final = frozenset({
    "error", "invalid_message", "internal_error", "not_available", "phone_not_set_up", "no_phone_yet",
    "wrap_up_refused", "extend_wrap_up_refused", "transfer_refused", "secure_entry_refused", "set_state_refused",
    "not_your_call", "not_latest_call", "not_in_wrap_up", "bad_disposition", "notes_too_long", "call_record_missing",
    "no_such_queue", "no_such_agent", "agent_not_available", "bad_transfer_target", "already_in_secure_entry", "no_secure_entry_flow",
})
"""Codes the engine puts next to its English `error` text; the pages translate each (messages/common.json `common.error_code.*`)."""


def error(text: str, code: str | None = None) -> dict[str, Any]:
    """An error message: `code` for the page to translate (a refusal's own code when it has one:
    engine/acd/refusal.py), `text` the English detail."""
    return {"v": PROTOCOL_VERSION, "type": "error", "error": str(text), "code": getattr(text, "code", None) or code or "error"}


def problem(exc: Exception, tagged: bool = True) -> str:
    """A page's malformed message, said in one line naming the field (`tagged`: parsed by the
    union of message types, whose error locations start with the type)."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"][1 if tagged else 0 :]) or "message"
        return f"{where}: {first['msg']}"
    return str(exc)


def schema() -> dict[str, Any]:
    """What GET /protocol serves: the version, the transport, and JSON Schema of both directions."""
    return {
        "version": PROTOCOL_VERSION,
        "transport": "websocket /ws (agents) and /ws/supervisor (supervisors); JSON text messages, each with `v` and `type`",
        "page_to_server": AGENT_PAGE.json_schema(),
        "supervisor_to_server": SetAgentState.model_json_schema(),
        "server_to_page": SERVER_MESSAGE.json_schema(),
    }
