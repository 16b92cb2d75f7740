"""Logging set-up: plain text or JSON lines. Call events carry call_id and event as fields."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

CALL_EVENT_LOGGER = "engine.call_event"
CALL_FIELDS = "call_fields"
"""The one LogRecord attribute that carries a call event's fields: any field name is then safe
(`name=`, `msg=`, `args=` would collide with LogRecord's own attributes and raise KeyError)."""
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", CALL_FIELDS}
_ENTRY_KEYS = ("ts", "level", "logger", "msg", "exc")
MAX_LOGGED_VALUE = 500
"""Characters of one field value in a call-event line; longer values are cut and marked."""


class JsonLineFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, msg, plus any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        for key, value in getattr(record, CALL_FIELDS, {}).items():
            entry[f"field_{key}" if key in _ENTRY_KEYS or key in ("call_id", "event") else key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(format_name: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    if format_name == "json":
        handler.setFormatter(JsonLineFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def log_call_event(call_id: str, event: str, /, **fields: Any) -> None:
    """Exactly one line a call event: `call_event call_id=... event=... key=value ...`.

    Any field name is accepted, and long values are cut, so logging can never fail a call.
    """
    fields = {key: _bounded(value) for key, value in fields.items()}
    text = " ".join(f"{key}={_quote(value)}" for key, value in fields.items())
    logging.getLogger(CALL_EVENT_LOGGER).info(
        "call_event call_id=%s event=%s%s", call_id, event, f" {text}" if text else "",
        extra={"call_id": call_id, "event": event, CALL_FIELDS: fields},
    )


def _bounded(value: Any) -> Any:
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    text = str(value)
    return text if len(text) <= MAX_LOGGED_VALUE else text[:MAX_LOGGED_VALUE] + "…(cut)"


def _quote(value: Any) -> str:
    """Quote anything that could break the key=value line or forge another one."""
    text = str(value)
    if not text or any(ch in text for ch in ' "=') or any(not ch.isprintable() for ch in text):
        return json.dumps(text, ensure_ascii=False)
    return text
