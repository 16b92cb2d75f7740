"""Bounds on what callers, flows, lookups and agents put into the journey.

Asterisk cuts SIP fields before ARI sees them, but values from flows, CRM lookups and agents are
not cut for anyone: every value is bounded here, where it enters the store, so a 1 MB webhook
answer or a NUL byte (PostgreSQL refuses it in text) can never fail or bloat a call's record.
"""

from __future__ import annotations

import json
import math
from typing import Any

CALLER_FIELD_CHARS = 80
"""The width of the calls table's text columns."""
DETAIL_TEXT_CHARS = 1000
DETAIL_ITEMS = 50
DETAIL_DEPTH = 4
DETAIL_JSON_BYTES = 16_000
KIND_CHARS = 40
CUT_MARK = "…"


class JourneyFieldInvalid(ValueError):
    """An event kind the engine itself got wrong (a programming error, not caller data)."""


def bounded_text(value: object, limit: int) -> str:
    """Text safe for any column: no NUL or other control characters, at most `limit` characters."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(value))
    return text if len(text) <= limit else text[: limit - 1] + CUT_MARK


def event_kind(kind: str) -> str:
    if not kind or len(kind) > KIND_CHARS or not kind.replace("_", "").isalnum():
        raise JourneyFieldInvalid(f"journey event kind {kind[:60]!r}: use 1-{KIND_CHARS} letters, digits or _")
    return kind


def bounded_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """A JSON-safe copy of an event's detail, cut to fixed limits; an oversize result is replaced by a note."""
    bounded = _bounded_mapping(detail, DETAIL_DEPTH)
    size = len(json.dumps(bounded, ensure_ascii=False).encode())
    if size > DETAIL_JSON_BYTES:
        return {"truncated": True, "original_bytes": size, "keys": sorted(bounded)[:DETAIL_ITEMS]}
    return bounded


def _bounded_mapping(mapping: dict[Any, Any], depth: int) -> dict[str, Any]:
    items = list(mapping.items())
    bounded = {bounded_text(key, 100): _bounded_value(value, depth - 1) for key, value in items[:DETAIL_ITEMS]}
    if len(items) > DETAIL_ITEMS:
        bounded["…"] = f"{len(items) - DETAIL_ITEMS} more items cut"
    return bounded


def _bounded_value(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth <= 0:
        return bounded_text(json.dumps(value, default=str, ensure_ascii=False), DETAIL_TEXT_CHARS)
    if isinstance(value, dict):
        return _bounded_mapping(value, depth)
    if isinstance(value, (list, tuple)):
        items = [_bounded_value(item, depth - 1) for item in value[:DETAIL_ITEMS]]
        return items + ([f"{len(value) - DETAIL_ITEMS} more items cut"] if len(value) > DETAIL_ITEMS else [])
    return _clean_text(str(value))


def _clean_text(text: str) -> str:
    """Detail text keeps newlines and tabs (a transcript may have them) but never NUL or other controls."""
    kept = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)
    return kept if len(kept) <= DETAIL_TEXT_CHARS else kept[: DETAIL_TEXT_CHARS - 1] + CUT_MARK
