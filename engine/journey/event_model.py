"""The base of every journey event model (engine/journey/events.py has the codec and the list of kinds)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field


class JourneyEventModel(BaseModel):
    """One step of a call's journey. `KIND` is the kind string stored with it."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True, use_attribute_docstrings=True)
    KIND: ClassVar[str] = ""


class UnknownEvent(JourneyEventModel):
    """A row of a kind this version does not know (an older or newer engine wrote it): kept as is."""

    kind: str
    detail: dict[str, Any] = {}
