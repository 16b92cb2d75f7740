"""What the ACD needs from the rest of the engine, as small interfaces: the caller's session, the
recorder, the journey. The ACD imports none of their rooms; app.py plugs them in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from engine.acd.queued_call_facts import CallerCommand
from engine.config.flow_model import Step

Record = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class CallSnapshot:
    """What the IVR learned, live references into the call's flow: read when the agent's phone rings."""

    caller_number: str
    caller_name: str
    variables: Mapping[str, Any]
    journal: Sequence[tuple[str, Mapping[str, Any]]]
    procedures: Mapping[str, Sequence[Step]]
    language: str = ""
    """The flow's language when the caller was queued (recordings are transcribed in it)."""


class CallerInbox(Protocol):
    """The caller's CallSession: takes what the ACD wants done to the caller, to do in its own order."""

    def for_caller(self, commands: Sequence[CallerCommand], done: asyncio.Future[None] | None = None) -> None:
        """`done` is resolved once the session has carried them out (or the call has ended)."""


class ConversationRecorder(Protocol):
    """Who records conversations with agents (engine/recording/call_recorder.py)."""

    def conversation_started(self, call_id: str, channel_id: str, agent_id: str, queue: str, language: str, record: Record) -> None: ...

    def conversation_adopted(self, call_id: str, channel_id: str, agent_id: str, queue: str, language: str, record: Record) -> None: ...

    def conversation_ended(self, call_id: str) -> None: ...

    def sensitive_entry(self, call_id: str, sensitive: bool) -> None: ...


SaveToJourney = Callable[[str, str, dict[str, Any]], Awaitable[bool]]
"""(caller channel id, kind, detail) -> stored; for what is written after the caller's channel ended."""
History = Callable[[str, str], Awaitable[list[dict[str, Any]]]]
"""(caller number, current call id) -> that number's previous calls, newest first."""
