"""Logging: one line a call event, as text or as a JSON object with call_id and event fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from engine.log_format import CALL_EVENT_LOGGER, JsonLineFormatter, configure_logging, log_call_event


@pytest.fixture
def call_events(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger=CALL_EVENT_LOGGER):
        yield caplog


def only_record(caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    records = [r for r in caplog.records if r.name == CALL_EVENT_LOGGER]
    assert len(records) == 1
    return records[0]


def test_text_line_names_call_and_event(call_events: pytest.LogCaptureFixture) -> None:
    log_call_event("17151.4", "dtmf", digit="3", flow="sales")

    assert only_record(call_events).getMessage() == "call_event call_id=17151.4 event=dtmf digit=3 flow=sales"


def test_text_line_without_fields(call_events: pytest.LogCaptureFixture) -> None:
    log_call_event("17151.4", "answered")

    assert only_record(call_events).getMessage() == "call_event call_id=17151.4 event=answered"


def test_text_values_with_spaces_or_empty_are_quoted(call_events: pytest.LogCaptureFixture) -> None:
    log_call_event("17151.4", "hung_up", reason="Normal Clearing", caller="")

    assert only_record(call_events).getMessage() == (
        'call_event call_id=17151.4 event=hung_up reason="Normal Clearing" caller=""'
    )


def test_text_line_stays_one_line_whatever_the_value(call_events: pytest.LogCaptureFixture) -> None:
    log_call_event("17151.4", "arrived", caller="5551234\ncall_event\tcall_id=forged")

    assert "\n" not in only_record(call_events).getMessage()


def test_json_line_has_call_id_event_and_fields(call_events: pytest.LogCaptureFixture) -> None:
    log_call_event("17151.4", "dtmf", digit="3", duration_ms=120)

    line = JsonLineFormatter().format(only_record(call_events))

    assert "\n" not in line
    entry = json.loads(line)
    assert entry["call_id"] == "17151.4"
    assert entry["event"] == "dtmf"
    assert entry["digit"] == "3"
    assert entry["duration_ms"] == 120
    assert entry["level"] == "INFO"
    assert entry["logger"] == CALL_EVENT_LOGGER
    assert entry["msg"] == "call_event call_id=17151.4 event=dtmf digit=3 duration_ms=120"
    assert entry["ts"].endswith("+00:00")


def test_json_line_keeps_no_logrecord_internals(call_events: pytest.LogCaptureFixture) -> None:
    log_call_event("17151.4", "answered")

    entry = json.loads(JsonLineFormatter().format(only_record(call_events)))

    assert set(entry) == {"ts", "level", "logger", "msg", "call_id", "event"}


def test_json_line_escapes_newlines_and_keeps_unicode() -> None:
    record = logging.makeLogRecord(
        {"name": "engine.test", "levelname": "WARNING", "msg": "caller %s", "args": ("Zoë\nBob",)}
    )

    line = JsonLineFormatter().format(record)

    assert "\n" not in line
    assert "Zoë" in line
    assert json.loads(line)["msg"] == "caller Zoë\nBob"


def test_json_line_renders_values_json_cannot() -> None:
    record = logging.makeLogRecord({"name": "engine.test", "msg": "x", "where": object.__new__(object)})

    entry = json.loads(JsonLineFormatter().format(record))

    assert entry["where"].startswith("<object object")


def test_json_line_includes_the_traceback() -> None:
    logger = logging.getLogger("engine.test_log_format")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("call failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True

    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "ERROR"
    assert "RuntimeError: boom" in entry["exc"]


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_root_logger")
def test_configure_json_installs_one_json_handler() -> None:
    configure_logging("json", "DEBUG")

    root = logging.getLogger()
    assert len(root.handlers) == 1
    assert isinstance(root.handlers[0].formatter, JsonLineFormatter)
    assert root.level == logging.DEBUG
    assert logging.getLogger("aiohttp.access").level == logging.WARNING


@pytest.mark.usefixtures("restore_root_logger")
def test_configure_text_uses_a_plain_formatter() -> None:
    configure_logging("text", "WARNING")

    root = logging.getLogger()
    assert len(root.handlers) == 1
    assert not isinstance(root.handlers[0].formatter, JsonLineFormatter)
    assert root.level == logging.WARNING


@pytest.mark.parametrize("field", ["name", "msg", "args", "levelname", "message", "exc_info", "call_fields"])
def test_any_field_name_is_logged_not_raised(call_events: pytest.LogCaptureFixture, field: str) -> None:
    """Flows log `name=`; LogRecord has its own `name`: the call must not fail on a KeyError."""
    log_call_event("17151.4", "flow_step", **{field: "billing menu"})

    record = only_record(call_events)
    assert record.getMessage() == f'call_event call_id=17151.4 event=flow_step {field}="billing menu"'
    entry = json.loads(JsonLineFormatter().format(record))
    assert entry["field_msg" if field == "msg" else field] == "billing menu"
    assert entry["logger"] == CALL_EVENT_LOGGER


def test_fields_named_like_the_json_entry_keys_do_not_overwrite_it(call_events: pytest.LogCaptureFixture) -> None:
    log_call_event("17151.4", "x", logger="mine", event="other", ts="never", call_id="forged")

    entry = json.loads(JsonLineFormatter().format(only_record(call_events)))
    assert entry["logger"] == CALL_EVENT_LOGGER and entry["event"] == "x"
    assert entry["field_logger"] == "mine" and entry["field_event"] == "other" and entry["field_ts"] == "never"
    assert entry["call_id"] == "17151.4" and entry["field_call_id"] == "forged"


def test_huge_values_are_cut_in_the_line(call_events: pytest.LogCaptureFixture) -> None:
    log_call_event("17151.4", "lookup", body="x" * 100_000)

    message = only_record(call_events).getMessage()
    assert len(message) < 700 and message.endswith("…(cut)")
