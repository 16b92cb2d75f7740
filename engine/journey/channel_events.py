"""Journey events of a contact that spans channels: what a chat customer typed and was told, a hand-off
from chat to phone (a callback or a one-time code), a leg that goes on from an earlier one, and events
other systems append through the Journey API.

A contact is one customer's matter; a phone call, a chat and an API thread are its legs, each with its
own journey (one `calls` row each, `calls.channel` says which). These events tie the legs together.
"""

from __future__ import annotations

from typing import Any

from engine.journey.event_model import JourneyEventModel


class Typed(JourneyEventModel):
    """What a chat customer typed (or the quick reply they picked): the chat's `speech_heard`."""

    KIND = "typed"
    text: str = ""
    """As typed; **** while a sensitive value is asked."""
    node: str = ""
    button: bool = False
    """A quick-reply button, not free text."""


class ChatSent(JourneyEventModel):
    """A message the chat showed the customer: a flow prompt (the same text the phone reads), in order."""

    KIND = "chat_sent"
    text: str = ""
    node: str = ""


class HandoffOffered(JourneyEventModel):
    """A chat handed the customer to the phone: a callback arranged, or a code given to call with."""

    KIND = "handoff_offered"
    how: str = ""
    """callback (the centre calls the number) or code (the customer calls and keys the code)."""
    queue: str = ""
    number: str = ""
    """The callback number as shown (masked middle digits), or the number the customer is to call."""
    expires_at: str = ""
    """ISO time a code stops working; empty for a callback."""


class HandoffClaimed(JourneyEventModel):
    """On the chat leg: a phone leg took this chat over (the code was keyed, or the callback connected)."""

    KIND = "handoff_claimed"
    leg: str = ""
    """The phone leg's call id."""
    how: str = ""
    """code, spoken_code, number or callback."""


class HandoffRefused(JourneyEventModel):
    """On a phone leg: a hand-off code that did not open a chat's journey, and why."""

    KIND = "handoff_refused"
    reason: str = ""
    """unknown, expired, used or too_many_tries: never the code itself."""


class ContinuedFrom(JourneyEventModel):
    """This leg goes on from an earlier leg of the same contact: what that leg learned is this leg's too."""

    KIND = "continued_from"
    leg: str = ""
    """The earlier leg's call id (calls.channel_id)."""
    channel: str = ""
    """The earlier leg's channel: chat, phone or api."""
    how: str = ""
    """callback, code, spoken_code or number."""


class ExternalEvent(JourneyEventModel):
    """An event another system appended to a contact through the Journey API (an email, a form, an order update)."""

    KIND = "external_event"
    type: str = ""
    text: str = ""
    source: str = ""
    """The API token's name that appended it."""
    data: dict[str, Any] = {}
