"""A caller's link to the ACD, from inside its CallSession: whether the ACD has the caller, what
goes to it (keys and words while the caller waits, the caller's leaving), and what the ACD lends
back to the flow (a secure entry). The flow driver asks this one object, never the distributor.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.acd import queued_call_facts as acd
from engine.acd.acd_ports import CallerInbox, CallSnapshot, ConversationRecorder, Record
from engine.acd.call_distributor import CallDistributor


class AcdLink:
    def __init__(self, distributor: CallDistributor | None, channel_id: str, caller: CallerInbox) -> None:
        self._distributor = distributor
        self._channel_id = channel_id
        self._caller = caller
        self.queued = False
        """The ACD has the caller: waiting, talking to an agent, or lent to a secure-entry flow."""
        self.lent_for_secure_entry = False
        """The ACD lent the caller to its queue's secure-entry flow: the flow's queue node gives it back."""
        self.reached = False
        """The caller was put in a queue (or adopted with an agent) at some point of the call."""

    @property
    def recorder(self) -> ConversationRecorder | None:
        return self._distributor.recorder if self._distributor is not None else None

    @property
    def in_secure_entry(self) -> bool:
        return self._distributor is not None and self._distributor.in_secure_entry(self._channel_id)

    @property
    def has_caller(self) -> bool:
        """Keys and words are the ACD's (the callback dialogue's, if anyone's): the flow's part is done."""
        return self.queued and self._distributor is not None and not self._distributor.in_secure_entry(self._channel_id)

    @property
    def phase(self) -> str | None:
        """waiting or talking while the ACD has the caller; None otherwise."""
        return self._distributor.call_phase(self._channel_id) if self.queued and self._distributor is not None else None

    def serves(self, queue: str) -> bool:
        return self._distributor is not None and self._distributor.serves(queue)

    def enqueue(self, queue: str, skills: Sequence[str], priority: int, snapshot: CallSnapshot, record: Record, waited_s: float = 0.0) -> None:
        assert self._distributor is not None
        self.queued = self.reached = True
        self._distributor.enqueue(self._channel_id, queue, tuple(skills), priority, snapshot, record, self._caller, waited_s)

    async def adopt(self, queue: str, agent: str, talked_s: float, snapshot: CallSnapshot, record: Record) -> None:
        """A caller who was talking to an agent when the last engine stopped."""
        if self._distributor is not None:
            self.reached = True
            self.queued = await self._distributor.adopt_conversation(self._channel_id, queue, agent, talked_s, snapshot, record, self._caller)

    def key(self, digit: str) -> None:
        if self._distributor is not None:
            self._distributor.caller_fact(self._channel_id, acd.KeyPressed(digit))

    def heard(self, alternatives: tuple[tuple[str, float], ...]) -> None:
        if self._distributor is not None:
            self._distributor.caller_fact(self._channel_id, acd.SpeechHeard(alternatives))

    def flow_has_caller(self) -> None:
        """The ACD let the caller go to its flow (overflow, survey), or lent it for a secure entry."""
        self.queued = self.in_secure_entry

    def give_back(self) -> bool:
        """The secure-entry flow reached its queue node: back to the agent. False if the agent has
        left meanwhile (the ACD is ending the call)."""
        self.lent_for_secure_entry = False
        if self._distributor is None or not self._distributor.in_secure_entry(self._channel_id):
            return False
        self._distributor.caller_fact(self._channel_id, acd.SecureEntryDone())
        self.queued = True
        return True

    async def leave(self) -> None:
        """The caller is gone: out of the queue, or the end of their call with an agent (once)."""
        if self.queued and self._distributor is not None:
            self.queued = False
            await self._distributor.caller_left(self._channel_id)
