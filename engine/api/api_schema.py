"""What crosses the Journey API: requests, answers, the events sent to webhooks and the websocket.
Pydantic models, one per shape, from which the OpenAPI document is generated (openapi_document.py).

Inputs are bounded here: every text has a length, every list a count, and unknown fields are
refused (a misspelt field must not be dropped without a word). Texts are at most 1000 characters,
the journey's own limit on a value (engine/store/field_limits.py), so nothing stored is cut.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

SCOPES = ("journey:read", "journey:write")
"""Every scope a token may hold: reading contacts and journeys (and their events), and writing them."""
MAX_EVENTS_PER_REQUEST = 20
CHANNELS = ("phone", "chat", "api")


TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
"""No NUL or other control characters; newlines and tabs are kept."""
Text40 = Annotated[str, StringConstraints(max_length=40, pattern=TEXT)]
Text64 = Annotated[str, StringConstraints(max_length=64, pattern=TEXT)]
Text80 = Annotated[str, StringConstraints(max_length=80, pattern=TEXT)]
Text200 = Annotated[str, StringConstraints(max_length=200, pattern=TEXT)]
Text254 = Annotated[str, StringConstraints(max_length=254, pattern=TEXT)]
Text500 = Annotated[str, StringConstraints(max_length=500, pattern=TEXT)]
Name80 = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=TEXT)]
Said = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=TEXT)]
"""What was written or said: 1-1000 characters."""
FieldName = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")]


Line80 = Annotated[str, StringConstraints(max_length=80, pattern=r"^[^\x00-\x1f\x7f]*$")]
PhoneNumber = Annotated[str, StringConstraints(max_length=33, pattern=r"^(\+?[0-9]{2,32})?$")]
"""Digits as the phone network gives them (a leading + allowed), or empty: the next call from it finds the contact."""
ContactRef = Annotated[str, StringConstraints(pattern=r"^ct_[A-Za-z0-9_-]{8,36}$")]


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ApiError(ApiModel):
    """Every refusal: what is wrong and, when one field is to blame, which (dotted path, e.g. events.0.text)."""

    error: str
    field: str | None = None


# -- creating a contact ---------------------------------------------------------------------------


class ContactCreate(ApiModel):
    """A customer contact started by another system (an email, a web form, a CRM). At least a
    number or an account: the journey is found again by them."""

    customer_number: PhoneNumber = ""
    customer_account: Line80 = ""
    customer_name: Line80 = ""

    @model_validator(mode="after")
    def _someone(self) -> ContactCreate:
        if not self.customer_number and not self.customer_account:
            raise ValueError("customer_number or customer_account: give at least one")
        return self


# -- events another system appends ----------------------------------------------------------------


class _EventIn(ApiModel):
    at: AwareDatetime | None = None
    """When it happened (with a time zone); default: when the engine received it."""


class EmailEvent(_EventIn):
    """An email from or to the customer."""

    type: Literal["email"]
    direction: Literal["inbound", "outbound"] = "inbound"
    address: Text254 = ""
    subject: Text200 = ""
    text: Said


class WebFormEvent(_EventIn):
    """A form the customer sent on a website."""

    type: Literal["web_form"]
    form: Name80
    fields: dict[FieldName, Text200] = Field(default_factory=dict, max_length=20)
    text: Text500 = ""


class SocialMessageEvent(_EventIn):
    """A message on a social network or messenger."""

    type: Literal["social_message"]
    network: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,32}$")]
    handle: Text80 = ""
    direction: Literal["inbound", "outbound"] = "inbound"
    text: Said


class CrmUpdateEvent(_EventIn):
    """A change in a CRM or order system: an order delayed, a ticket closed, a plan changed."""

    type: Literal["crm_update"]
    system: Text40 = ""
    record_type: Text40 = ""
    record_id: Text64 = ""
    status: Text40 = ""
    text: Said
    """What an agent should read, e.g. "order 123 delayed"."""


class NoteEvent(_EventIn):
    """A note about the customer by someone in another system."""

    type: Literal["note"]
    author: Text80 = ""
    text: Said


EventIn = Annotated[EmailEvent | WebFormEvent | SocialMessageEvent | CrmUpdateEvent | NoteEvent, Field(discriminator="type")]


class AppendEvents(ApiModel):
    """Events to add to a contact's journey, in order (at most 20 a request)."""

    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS_PER_REQUEST)


# -- answers --------------------------------------------------------------------------------------


class Contact(ApiModel):
    id: str
    """The contact's public id (ct_...)."""
    created_at: datetime
    customer_number: str
    customer_account: str
    customer_name: str
    verified: bool
    """The customer's identity was proven (a signed identity from the company's site); API contacts are not."""
    origin: str
    """The channel the contact started in: phone, chat or api."""


class JourneyEvent(ApiModel):
    """One step of a leg's journey, as the engine stored it (sensitive values are masked there)."""

    seq: int
    kind: str
    at: datetime
    detail: dict[str, Any]


class Leg(ApiModel):
    """One channel's part of a contact: a call, a chat, or what other systems appended."""

    id: str
    channel: str
    """phone, chat or api."""
    started_at: datetime
    ended_at: datetime | None
    events: list[JourneyEvent]


class ContactJourney(Contact):
    legs: list[Leg]


class ContactList(ApiModel):
    contacts: list[ContactJourney]
    """Newest first."""
    other_legs: list[Leg]
    """This number's or account's legs that belong to no contact (calls from before contacts), newest first."""


class AppendedEvent(ApiModel):
    event_id: str
    """The id webhooks and the websocket carry for this event (evt_...)."""
    seq: int
    kind: str
    type: str
    at: datetime


class AppendResult(ApiModel):
    contact: str
    leg: str
    appended: list[AppendedEvent]


# -- events sent out (webhooks and the websocket) -------------------------------------------------


class LegRef(ApiModel):
    id: str
    channel: str


class ApiEvent(ApiModel):
    """One thing that happened to a contact. `id` is stable: a redelivered event has the same id,
    so a receiver drops what it has seen (deliveries are at least once)."""

    id: str
    type: Literal["contact.created", "journey.event_appended"]
    at: datetime
    contact: Contact
    leg: LegRef | None = None
    event: JourneyEvent | None = None
    """For journey.event_appended: the event as stored."""
