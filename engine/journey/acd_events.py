"""Journey events of the ACD: queues, agents, callbacks: one frozen, documented model per kind (see engine/journey/events.py)."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from engine.journey.event_model import JourneyEventModel


class Queued(JourneyEventModel):
    """The caller was queued for an agent (or queued again after an overflow, a transfer or a restart)."""

    KIND = "queued"
    queue: str = ""
    skills: tuple[str, ...] = ()
    priority: int | None = 0
    """None: the queue's own priority."""
    after_restart: bool = False
    """Re-queued by a new engine at the caller's old place: the same visit, not a new offer."""
    waited_s: int | float = 0
    """With after_restart: how long the caller had already waited."""
    transferred_from: str = ""
    """The agent who transferred the caller to this queue."""
    overflow_from: str = ""
    """The queue the caller overflowed from."""


class Abandoned(JourneyEventModel):
    """The caller hung up before an agent answered."""

    KIND = "abandoned"
    queue: str = ""
    waited_s: int | float = 0
    while_: str = Field("", validation_alias=AliasChoices("while", "while_"), serialization_alias="while")
    """waiting, or agent ringing. Stored as "while"."""
    short: bool | None = None
    """Hung up before the queue's short-abandon time; None: the reader decides from the times."""


class CallEnded(JourneyEventModel):
    """The conversation with an agent ended."""

    KIND = "call_ended"
    by: str = ""
    """caller or agent."""
    agent: str | None = None
    talk_s: int | float = 0
    while_engine_restarted: bool = False
    """The agent hung up while no engine was there (no talk time known)."""


class AgentRinging(JourneyEventModel):
    KIND = "agent_ringing"
    agent: str | None = None
    extension: str = ""
    waited_s: int | float = 0
    relaxed: bool = False
    """Offered outside the caller's required skills after the wait limit."""
    callback: bool = False
    """A callback being returned (the agent is asked before the customer is dialled)."""


class AgentAnswered(JourneyEventModel):
    KIND = "agent_answered"
    agent: str | None = None
    waited_s: int | float = 0


class AgentNotAnswered(JourneyEventModel):
    """An offered agent did not take the call (no answer, busy, refused)."""

    KIND = "agent_not_answered"
    agent: str | None = None
    reason: str = ""


class SurveyOffered(JourneyEventModel):
    """After the agent hung up, the caller was sent to the queue's survey flow."""

    KIND = "survey_offered"
    queue: str = ""
    agent: str | None = None
    flow: str = ""


class ConversationAdopted(JourneyEventModel):
    """A new engine found the caller still talking to an agent and took the conversation over."""

    KIND = "conversation_adopted"
    agent: str | None = None
    bridge: str = ""


class CallbackRestored(JourneyEventModel):
    """An owed callback taken over by a new engine after a restart."""

    KIND = "callback_restored"
    queue: str = ""
    number: str = ""
    waited_s: int | float = 0
    attempts: int = 0


class Transferred(JourneyEventModel):
    """The agent transferred the caller to a queue or another agent."""

    KIND = "transferred"
    from_agent: str | None = None
    to: str = ""
    """queue:NAME or agent:ID."""
    talk_s: int | float = 0


class SecureEntryStarted(JourneyEventModel):
    """The agent sent the caller to key a sensitive value (card number) unheard and unrecorded."""

    KIND = "secure_entry_started"
    agent: str | None = None
    flow: str = ""


class SecureEntryEnded(JourneyEventModel):
    KIND = "secure_entry_ended"
    agent: str | None = None
    failed: str = ""
    """Why the secure entry could not start (Asterisk refused a step); absent when it ran."""


class CallbackOfferTaken(JourneyEventModel):
    """The waiting caller took the callback offer."""

    KIND = "callback_offer_taken"
    by: str = ""
    """How: the key, or speech."""


class Overflowed(JourneyEventModel):
    """The caller left the queue by rule (max wait)."""

    KIND = "overflowed"
    queue: str = ""
    to: str = ""
    """callback, message, queue:NAME or flow:NAME."""
    waited_s: int | float = 0


class CallbackRequested(JourneyEventModel):
    """The caller asked to be called back; the number passed the queue's rules."""

    KIND = "callback_requested"
    queue: str = ""
    number: str = ""
    waited_s: int | float = 0
    source: str = ""
    """Where the number came from (caller_id, keyed, overflow, restored)."""


class CallbackRefused(JourneyEventModel):
    """A callback request the rules refused (or one no longer owed after a restart)."""

    KIND = "callback_refused"
    queue: str = ""
    source: str = ""
    reason: str = ""
    """A RefusalReason value (withheld, rate_limited, ...)."""
    number: str = ""
    """The number bounded and escaped, never the raw string."""
    detail: str = ""
    said: str = ""
    """What the caller was told (absent when nobody was told)."""


class CallbackDialing(JourneyEventModel):
    KIND = "callback_dialing"
    agent: str | None = None
    number: str = ""
    attempt: int = 0


class CallbackAnswered(JourneyEventModel):
    """The called-back customer answered: the agent and customer talk."""

    KIND = "callback_answered"
    agent: str | None = None
    attempt: int = 0
    waited_s: int | float = 0


class CallbackAttemptFailed(JourneyEventModel):
    KIND = "callback_attempt_failed"
    attempt: int = 0
    reason: str = ""
    agent: str | None = None


class CallbackFailed(JourneyEventModel):
    """Every callback attempt failed: the callback is given up."""

    KIND = "callback_failed"
    queue: str = ""
    number: str = ""
    attempts: int = 0


class WaitAnnounced(JourneyEventModel):
    KIND = "wait_announced"
    position: int = 0
    estimate_s: int | float | None = None
    """The estimated wait told; None when none was told."""
    said: str = ""


class DispositionSet(JourneyEventModel):
    """The agent's disposition and notes for the call (written after it ended)."""

    KIND = "disposition"
    agent: str | None = None
    disposition: str = ""
    notes: str = ""


class WrapUpEnded(JourneyEventModel):
    """The agent's wrap-up for the call ended (written after it ended)."""

    KIND = "wrap_up_ended"
    agent: str | None = None
    wrap_up_s: int | float = 0
