"""parse_event replays ARI websocket messages recorded from Asterisk 22 (fixtures/ari_events.json)."""

from __future__ import annotations

from datetime import UTC, datetime

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from engine.asterisk.ari_events import (
    AriEventMalformed,
    Channel,
    ChannelDestroyed,
    ChannelHangupRequested,
    DtmfReceived,
    OtherEvent,
    PlaybackFinished,
    PlaybackStarted,
    StasisEnded,
    StasisStarted,
    event_channel_id,
    parse_channel,
    parse_event,
)

RECORDED: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "fixtures" / "ari_events.json").read_text()
)
CALL = "1715681551.4"


def recorded(name: str) -> dict[str, Any]:
    """A fresh copy of one recorded message, so a test may alter it."""
    return copy.deepcopy(RECORDED[name])


def without(raw: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k != key}


# -- every recorded message -----------------------------------------------------------------


EXPECTED_TYPE: dict[str, type] = {
    "stasis_start_inbound": StasisStarted,
    "stasis_start_originated": StasisStarted,
    "stasis_end": StasisEnded,
    "channel_hangup_request_caller": ChannelHangupRequested,
    "channel_hangup_request_soft": ChannelHangupRequested,
    "channel_destroyed": ChannelDestroyed,
    "playback_started": PlaybackStarted,
    "playback_finished": PlaybackFinished,
    "playback_finished_failed": PlaybackFinished,
    "playback_finished_on_bridge": PlaybackFinished,
    "channel_dtmf_received": DtmfReceived,
    "channel_varset": OtherEvent,
    "channel_state_change": OtherEvent,
    "application_replaced": OtherEvent,
}


@pytest.mark.parametrize(("name", "kind"), sorted(EXPECTED_TYPE.items()))
def test_every_recorded_message_parses_to_its_type(name: str, kind: type) -> None:
    assert type(parse_event(recorded(name))) is kind


EXPECTED_CHANNEL = {
    "stasis_start_inbound": CALL,
    "stasis_start_originated": "1715681582.7",
    "stasis_end": CALL,
    "channel_hangup_request_caller": CALL,
    "channel_hangup_request_soft": CALL,
    "channel_destroyed": CALL,
    "playback_started": CALL,
    "playback_finished": CALL,
    "playback_finished_failed": CALL,
    "playback_finished_on_bridge": None,
    "channel_dtmf_received": CALL,
    "channel_varset": None,
    "channel_state_change": None,
    "application_replaced": None,
}


def test_expectations_cover_every_recording() -> None:
    assert set(EXPECTED_TYPE) == set(RECORDED)
    assert set(EXPECTED_CHANNEL) == set(RECORDED)


@pytest.mark.parametrize(("name", "channel_id"), sorted(EXPECTED_CHANNEL.items()))
def test_event_channel_id_routes_to_the_call(name: str, channel_id: str | None) -> None:
    assert event_channel_id(parse_event(recorded(name))) == channel_id


# -- one event type at a time ---------------------------------------------------------------


def test_stasis_start_carries_caller_and_dialled_number() -> None:
    event = parse_event(recorded("stasis_start_inbound"))

    assert event == StasisStarted(
        Channel(
            id=CALL,
            name="PJSIP/loopback-callers-00000002",
            state="Ring",
            caller_number="5551234",
            caller_name="Alice Example",
            dialed="2000",
            dialplan_app="Stasis",
            dialplan_app_data="threadline,2000",
            created_at=datetime(2024, 5, 14, 10, 12, 31, 398000, tzinfo=UTC),
        ),
        ("2000",),
    )


@pytest.mark.parametrize("value", [None, "", "yesterday", 1715681551, "2024-05-14 10:12:31"])
def test_unreadable_creation_time_is_unknown_not_an_error(value: object) -> None:
    raw = recorded("stasis_start_inbound")
    raw["channel"]["creationtime"] = value
    event = parse_event(raw)
    assert isinstance(event, StasisStarted) and event.channel.created_at is None


def test_stasis_argument_wins_over_dialplan_exten() -> None:
    raw = recorded("stasis_start_inbound")
    raw["args"] = ["3000", "extra"]

    event = parse_event(raw)

    assert isinstance(event, StasisStarted)
    assert event.channel.dialed == "3000"
    assert event.args == ("3000", "extra")


def test_stasis_start_without_args_uses_dialplan_exten() -> None:
    event = parse_event(recorded("stasis_start_originated"))

    assert isinstance(event, StasisStarted)
    assert event.args == ()
    assert event.channel.dialed == "s"
    assert event.channel.caller_number == ""


def test_stasis_start_with_empty_first_arg_keeps_dialplan_exten() -> None:
    raw = recorded("stasis_start_inbound")
    raw["args"] = [""]

    event = parse_event(raw)

    assert isinstance(event, StasisStarted)
    assert event.channel.dialed == "2000"


def test_stasis_start_without_caller_or_dialplan() -> None:
    raw = recorded("stasis_start_inbound")
    raw["channel"] = without(without(raw["channel"], "caller"), "dialplan")
    raw["args"] = []

    event = parse_event(raw)

    assert isinstance(event, StasisStarted)
    assert (event.channel.caller_number, event.channel.caller_name, event.channel.dialed) == ("", "", "")
    assert not event.channel.in_stasis_app("threadline")


def test_stasis_end() -> None:
    assert parse_event(recorded("stasis_end")) == StasisEnded(CALL)


def test_hangup_request_from_caller() -> None:
    assert parse_event(recorded("channel_hangup_request_caller")) == ChannelHangupRequested(CALL, 16, False)


def test_soft_hangup_request() -> None:
    assert parse_event(recorded("channel_hangup_request_soft")) == ChannelHangupRequested(CALL, 0, True)


def test_channel_destroyed() -> None:
    assert parse_event(recorded("channel_destroyed")) == ChannelDestroyed(CALL, 16, "Normal Clearing")


def test_playback_started_targets_the_channel() -> None:
    assert parse_event(recorded("playback_started")) == PlaybackStarted(
        "greeting-1715681551.4", CALL, "sound:hello-world"
    )


def test_playback_finished_done() -> None:
    assert parse_event(recorded("playback_finished")) == PlaybackFinished(
        "greeting-1715681551.4", CALL, "sound:hello-world", "done"
    )


def test_playback_finished_failed_keeps_state() -> None:
    event = parse_event(recorded("playback_finished_failed"))

    assert isinstance(event, PlaybackFinished)
    assert event.state == "failed"
    assert event.media_uri == "sound:no-such-sound"


def test_playback_on_a_bridge_has_no_channel() -> None:
    event = parse_event(recorded("playback_finished_on_bridge"))

    assert isinstance(event, PlaybackFinished)
    assert event.channel_id == ""
    assert event_channel_id(event) is None


def test_playback_finished_without_state_counts_as_done() -> None:
    raw = recorded("playback_finished")
    raw["playback"] = without(raw["playback"], "state")

    event = parse_event(raw)

    assert isinstance(event, PlaybackFinished)
    assert event.state == "done"


def test_dtmf() -> None:
    assert parse_event(recorded("channel_dtmf_received")) == DtmfReceived(CALL, "3", 120)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("channel_varset", "ChannelVarset"),
        ("channel_state_change", "ChannelStateChange"),
        ("application_replaced", "ApplicationReplaced"),
    ],
)
def test_unknown_types_become_other_event(name: str, kind: str) -> None:
    assert parse_event(recorded(name)) == OtherEvent(kind)


# -- malformed messages ---------------------------------------------------------------------


def test_missing_type_is_malformed() -> None:
    raw = without(recorded("stasis_end"), "type")

    with pytest.raises(AriEventMalformed, match="without a type"):
        parse_event(raw)


def test_non_string_type_is_malformed() -> None:
    raw = recorded("stasis_end")
    raw["type"] = 42

    with pytest.raises(AriEventMalformed, match="without a type"):
        parse_event(raw)


@pytest.mark.parametrize(
    "name",
    [
        "stasis_start_inbound",
        "stasis_end",
        "channel_hangup_request_caller",
        "channel_destroyed",
        "channel_dtmf_received",
    ],
)
def test_missing_channel_is_malformed_and_named(name: str) -> None:
    raw = without(recorded(name), "channel")

    with pytest.raises(AriEventMalformed) as caught:
        parse_event(raw)

    message = str(caught.value)
    assert raw["type"] in message
    assert "'channel'" in message


def test_channel_without_id_is_malformed() -> None:
    raw = recorded("stasis_end")
    raw["channel"] = without(raw["channel"], "id")

    with pytest.raises(AriEventMalformed, match=r"StasisEnd event missing or bad field 'id'"):
        parse_event(raw)


def test_null_channel_is_malformed() -> None:
    raw = recorded("channel_destroyed")
    raw["channel"] = None

    with pytest.raises(AriEventMalformed, match="ChannelDestroyed"):
        parse_event(raw)


def test_dtmf_without_digit_is_malformed() -> None:
    raw = without(recorded("channel_dtmf_received"), "digit")

    with pytest.raises(AriEventMalformed, match="'digit'"):
        parse_event(raw)


@pytest.mark.parametrize("name", ["playback_started", "playback_finished"])
def test_playback_without_id_is_malformed(name: str) -> None:
    raw = recorded(name)
    raw["playback"] = without(raw["playback"], "id")

    with pytest.raises(AriEventMalformed, match="'id'"):
        parse_event(raw)


def test_bad_cause_is_malformed() -> None:
    raw = recorded("channel_destroyed")
    raw["cause"] = "sixteen"

    with pytest.raises(AriEventMalformed, match="ChannelDestroyed"):
        parse_event(raw)


def test_malformed_message_quotes_at_most_200_characters_of_the_input() -> None:
    raw = without(recorded("stasis_end"), "channel")
    raw["padding"] = "x" * 5000

    with pytest.raises(AriEventMalformed) as caught:
        parse_event(raw)

    assert len(str(caught.value)) < 400


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("stasis_start_inbound", "channel", "1715681551.4"),
        ("playback_finished", "playback", "greeting-1715681551.4"),
    ],
)
def test_wrongly_typed_object_field_is_malformed(name: str, field: str, value: str) -> None:
    raw = recorded(name)
    raw[field] = value

    with pytest.raises(AriEventMalformed):
        parse_event(raw)


def test_json_array_is_malformed() -> None:
    with pytest.raises(AriEventMalformed):
        parse_event([recorded("stasis_end")])  # type: ignore[arg-type]


# -- Channel --------------------------------------------------------------------------------


def test_in_stasis_app_matches_the_app_name_before_the_first_comma() -> None:
    channel = parse_channel(recorded("stasis_start_inbound")["channel"])

    assert channel.in_stasis_app("threadline")
    assert not channel.in_stasis_app("threadline2")
    assert not channel.in_stasis_app("thread")


def test_in_stasis_app_without_arguments() -> None:
    channel = parse_channel(recorded("stasis_start_originated")["channel"])

    assert channel.in_stasis_app("threadline")


def test_channel_in_another_application_is_not_ours() -> None:
    raw = recorded("stasis_start_inbound")["channel"]
    raw["dialplan"]["app_name"] = "Playback"
    raw["dialplan"]["app_data"] = "threadline"

    assert not parse_channel(raw).in_stasis_app("threadline")


def test_channel_in_another_stasis_app_is_not_ours() -> None:
    raw = recorded("stasis_start_inbound")["channel"]
    raw["dialplan"]["app_data"] = "other-app,2000"

    assert not parse_channel(raw).in_stasis_app("threadline")


def test_parse_channel_from_a_channel_listing() -> None:
    channel = parse_channel(recorded("stasis_end")["channel"])

    assert channel.id == CALL
    assert channel.state == "Up"
    assert channel.dialed == "2000"
