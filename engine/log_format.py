"""Logging set-up: plain text or JSON lines. Call events carry call_id and event as fields."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

CALL_EVENT_LOGGER = "engine.call_event"
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


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


def log_call_event(call_id: str, event: str, **fields: Any) -> None:
    """Exactly one line a call event: `call_event call_id=... event=... key=value ...`."""
    text = " ".join(f"{key}={_quote(value)}" for key, value in fields.items())
    logging.getLogger(CALL_EVENT_LOGGER).info(
        "call_event call_id=%s event=%s%s", call_id, event, f" {text}" if text else "",
        extra={"call_id": call_id, "event": event, **fields},
    )


def _quote(value: Any) -> str:
    """Quote anything that could break the key=value line or forge another one."""
    text = str(value)
    if not text or any(ch in text for ch in ' "=') or any(not ch.isprintable() for ch in text):
        return json.dumps(text, ensure_ascii=False)
    return text
