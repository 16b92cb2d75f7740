"""What a chat asks of the hand-off to the phone, and what it gets back: the boundary between the chat
(engine/chat) and the hand-off service (engine/handoff) that arranges callbacks and issues codes.

The chat hands over exactly what the phone's flow would hand to a queue (the interpreter's Transfer),
plus its leg and journal, so the agent's pop shows the chat as it shows an IVR call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from engine.settings import HandoffSettings
from engine.store.contact_store import ClaimedCode


@dataclass(frozen=True)
class ChatLeg:
    """The chat as it stands when the customer asks for a person."""

    channel_id: str
    """The chat leg (calls.channel_id, chat-...)."""
    contact_id: int
    language: str
    """The flow's language: the callback's prompts and the call's flow speak it."""
    variables: Mapping[str, Any]
    """What the flow collected (sensitive values already masked)."""
    journal: Sequence[tuple[str, Mapping[str, Any]]]
    """The chat leg's journey so far, as (kind, detail): what the agent's pop is built from."""
    customer_number: str = ""
    """A number the company's site signed for this customer (verified), if any."""


@dataclass(frozen=True)
class HandoffTarget:
    """Where the phone leg queues: the flow's Transfer."""

    queue: str
    skills: tuple[str, ...] = ()
    priority: int = 5
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallbackArranged:
    number: str
    """As shown to the customer (middle digits masked)."""
    queue: str
    call_id: str
    """The callback's phone leg."""


@dataclass(frozen=True)
class CodeIssued:
    code: str
    dial: str
    """The number to call."""
    expires_at: datetime


@dataclass(frozen=True)
class HandoffRefused:
    reason: str
    """A stable code the page words in the reader's language (the callback rules' reasons, or
    no_callbacks, not_now, ...)."""
    detail: str = ""


class Handoff(Protocol):
    async def call_me_back(self, leg: ChatLeg, number: str, target: HandoffTarget) -> CallbackArranged | HandoffRefused: ...

    async def i_will_call(self, leg: ChatLeg, target: HandoffTarget) -> CodeIssued | HandoffRefused: ...


# -- the phone side: a call that goes on from a chat ------------------------------------------------

@dataclass(frozen=True)
class ChatHandedOver:
    """A call took a chat over (by its code, or the customer's verified number): where it queues and
    what the chat learned, for the call's flow variables and the agent's pop."""

    chat_leg: str
    queue: str
    skills: tuple[str, ...]
    priority: int
    journal: Sequence[tuple[str, Mapping[str, Any]]]
    """The chat leg's journey: the pop shows it before the call's own."""
    variables: Mapping[str, Any]
    """The chat's last checkpoint: the call's flow goes on with them."""
    how: str
    """code, spoken_code or number."""


class CodeClaims(Protocol):
    """What a call asks of the hand-off service (engine/call runs it as a step of the call's session).

    A claim is one short transaction (the code taken, the call put in the chat's contact); what
    follows it (the chat's journal read back) is continue_chat, outside the claim's short timeout.
    A call that took a chat and ends before it reached the chat's queue releases it."""

    @property
    def settings(self) -> HandoffSettings:
        """How codes are taken on a call: tries, key timeout, spoken codes."""

    async def claim(self, code: str, call_id: str, how: str) -> ClaimedCode | str:
        """The chat the code opens, taken for this call; or why not (unknown, expired, used, limited, no_call)."""

    async def claim_by_number(self, number: str, call_id: str) -> ClaimedCode | None:
        """The chat waiting for a call from this customer number, if [handoff] continue_by_number is on."""

    async def continue_chat(self, claimed: ClaimedCode, call_id: str, how: str) -> ChatHandedOver:
        """After a claim: the chat leg records the call; its journal and checkpoint come back."""

    async def release(self, call_id: str) -> None:
        """The call ended before it reached the chat's queue: its code works again (until it expires)."""

    async def codes_waiting(self) -> bool:
        """Whether any chat's code waits for a call now (cached: most calls do not ask the database)."""
