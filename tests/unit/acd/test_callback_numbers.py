"""Callback numbers: every hostile caller ID or keyed string is refused, allowed numbers come out as digits only."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config.acd_config import CallbackNumbers, DiallingRules
from engine.acd.callback_numbers import (
    CallbackAllowed,
    CallbackRefused,
    CallbackRequest,
    NumberSource,
    RefusalReason,
    check_callback,
    dial_string,
    display_number,
    is_plain_number,
    normalize,
    recent_for,
    shown_number,
)

KOREA = CallbackNumbers().rules()
"""The defaults: a Korean national number, 0 and 8-10 digits; 00x and 060 denied; +82 dialled as 0."""
E164 = DiallingRules(re.compile(r"\+[1-9][0-9]{7,14}", re.ASCII), country_code="", deny=("+882", "+883"))


def verdict(raw: str, source: NumberSource = NumberSource.KEYED, rules: DiallingRules = KOREA) -> CallbackAllowed | CallbackRefused:
    return check_callback(CallbackRequest(raw, source, rules, (), 10_000.0))


HOSTILE = {
    "2001": RefusalReason.PATTERN,  # an agent's extension
    "PJSIP/2001": RefusalReason.NOT_DIGITS,
    "1&Local/1@default": RefusalReason.NOT_DIGITS,
    "1&Local": RefusalReason.NOT_DIGITS,
    "01012345678@trunk": RefusalReason.NOT_DIGITS,
    "01012345678,30": RefusalReason.NOT_DIGITS,
    "0101234/5678": RefusalReason.NOT_DIGITS,
    "Local/0101@default": RefusalReason.NOT_DIGITS,
    "+882130001234": RefusalReason.INTERNATIONAL,  # satellite: another country than +82
    "+12125550100": RefusalReason.INTERNATIONAL,
    "0079712345678": RefusalReason.DENIED_PREFIX,  # 00x international access
    "00112125550100": RefusalReason.DENIED_PREFIX,
    "0601234567": RefusalReason.DENIED_PREFIX,  # premium
    "+82601234567": RefusalReason.DENIED_PREFIX,  # premium, written internationally
    "12345678901234567890": RefusalReason.PATTERN,  # 20 keyed digits
    "123456789012345678901": RefusalReason.TOO_LONG,
    "0" * 300: RefusalReason.TOO_LONG,
    "abc": RefusalReason.NOT_DIGITS,
    "0101234567a": RefusalReason.NOT_DIGITS,
    "010 1234 5678": RefusalReason.NOT_DIGITS,  # spaces are refused, never stripped
    "010-1234-5678": RefusalReason.NOT_DIGITS,
    "０１０１２３４５６７８": RefusalReason.NOT_DIGITS,  # full-width digits
    "01012345６78": RefusalReason.NOT_DIGITS,
    "٠١٠١٢٣٤٥٦٧٨": RefusalReason.NOT_DIGITS,  # Arabic-Indic digits
    "010123456٣": RefusalReason.NOT_DIGITS,
    "+": RefusalReason.NOT_DIGITS,
    "++821012345678": RefusalReason.NOT_DIGITS,
    "0101234+5678": RefusalReason.NOT_DIGITS,
    "01012345678\n": RefusalReason.NOT_DIGITS,
    "01012345678\x00": RefusalReason.NOT_DIGITS,
    "": RefusalReason.NOT_DIGITS,
    "*67": RefusalReason.NOT_DIGITS,
    "#": RefusalReason.NOT_DIGITS,
}


@pytest.mark.parametrize("raw", sorted(HOSTILE))
def test_every_hostile_keyed_string_is_refused_with_its_reason(raw: str) -> None:
    refused = verdict(raw)
    assert isinstance(refused, CallbackRefused) and refused.reason is HOSTILE[raw], refused


@pytest.mark.parametrize("raw", sorted(set(HOSTILE) - {""}))
def test_every_hostile_caller_id_is_refused_too(raw: str) -> None:
    refused = verdict(raw, NumberSource.CALLER_ID)
    assert isinstance(refused, CallbackRefused) and refused.reason is HOSTILE[raw]


@pytest.mark.parametrize("raw", ["", "anonymous", "Anonymous", "unknown", "Restricted", "PRIVATE", "withheld", " anonymous "])
@pytest.mark.parametrize("source", [NumberSource.CALLER_ID, NumberSource.OVERFLOW])
def test_an_anonymous_or_withheld_caller_id_never_gets_a_callback(raw: str, source: NumberSource) -> None:
    refused = verdict(raw, source)
    assert isinstance(refused, CallbackRefused) and refused.reason is RefusalReason.WITHHELD


@pytest.mark.parametrize(
    ("raw", "dialled"),
    [("01012345678", "01012345678"), ("0212345678", "0212345678"), ("031123456", "031123456"), ("+821012345678", "01012345678"), ("07012345678", "07012345678")],
)
def test_national_numbers_pass_as_digits_and_plus82_is_dialled_nationally(raw: str, dialled: str) -> None:
    assert verdict(raw) == CallbackAllowed(dialled)
    assert verdict(raw, NumberSource.CALLER_ID) == CallbackAllowed(dialled)


def test_an_allow_list_admits_only_its_prefixes() -> None:
    mobiles = DiallingRules(KOREA.pattern, "82", "0", allow=("010",), deny=KOREA.deny)
    assert verdict("01012345678", rules=mobiles) == CallbackAllowed("01012345678")
    refused = verdict("0212345678", rules=mobiles)
    assert isinstance(refused, CallbackRefused) and refused.reason is RefusalReason.NOT_ALLOWED_PREFIX


def test_e164_rules_keep_the_plus_and_deny_their_own_prefixes() -> None:
    assert verdict("+821012345678", rules=E164) == CallbackAllowed("+821012345678")
    for raw, reason in (("+882130001234", RefusalReason.DENIED_PREFIX), ("821012345678", RefusalReason.PATTERN), ("+0123", RefusalReason.PATTERN)):
        refused = verdict(raw, rules=E164)
        assert isinstance(refused, CallbackRefused) and refused.reason is reason, raw


def test_at_most_per_hour_callbacks_to_one_number_counted_over_the_last_hour() -> None:
    now = 100_000.0
    number = "01012345678"
    requests = [("c1", number, now - 3500), ("c2", number, now - 100), ("c2", number, now - 99), ("c3", "0212345678", now - 10), ("c4", number, now - 4000)]
    recent = recent_for(number, requests)
    assert sorted(recent) == [now - 4000, now - 3500, now - 100], "one time per call, other numbers left out"
    two = check_callback(CallbackRequest(number, NumberSource.KEYED, KOREA, recent, now))
    assert two == CallbackAllowed(number), "two within the hour (the third was over an hour ago): a third is allowed"
    three = check_callback(CallbackRequest(number, NumberSource.KEYED, KOREA, (*recent, now - 5), now))
    assert isinstance(three, CallbackRefused) and three.reason is RefusalReason.RATE_LIMITED and "limit 3" in three.detail
    written_internationally = check_callback(CallbackRequest("+821012345678", NumberSource.CALLER_ID, KOREA, (*recent, now - 5), now))
    assert isinstance(written_internationally, CallbackRefused) and written_internationally.reason is RefusalReason.RATE_LIMITED
    restored = check_callback(CallbackRequest(number, NumberSource.RESTORED, KOREA, (*recent, now - 5), now))
    assert restored == CallbackAllowed(number), "a restored callback was counted when it was requested"


def test_a_refused_number_is_kept_bounded_and_ascii_escaped() -> None:
    hostile = "1&Local/1@default\n" + "٣" * 500
    refused = verdict(hostile)
    assert isinstance(refused, CallbackRefused)
    assert len(refused.shown) < 200 and refused.shown.isascii() and "\n" not in refused.shown and refused.shown.endswith("...")
    assert shown_number("1&Local") == "1&Local" and shown_number("٣") == "\\u0663"


def test_the_dial_string_is_built_only_from_checked_digits() -> None:
    assert dial_string("PJSIP/{number}@trunk", "01012345678") == "PJSIP/01012345678@trunk"
    assert dial_string("PJSIP/{number}@trunk", "+821012345678") == "PJSIP/+821012345678@trunk"
    for hostile in ("2001&Local/1@default", "0101/2", "", "+", "０１０", "1" * 21):
        with pytest.raises(ValueError, match="only checked numbers"):
            dial_string("PJSIP/{number}@trunk", hostile)


def test_only_plain_numbers_are_used_for_history_and_shown_on_agent_phones() -> None:
    assert is_plain_number("01012345678") and is_plain_number("+821012345678")
    for raw in ("anonymous", "", "1&Local", "PJSIP/2001", "٣٣٣", "1" * 21):
        assert not is_plain_number(raw) and display_number(raw) == "unknown", raw
    assert display_number("01012345678") == "01012345678"


@given(st.text(max_size=40))
def test_whatever_the_caller_sends_an_allowed_number_is_ascii_digits_only(raw: str) -> None:
    for source in NumberSource:
        result = normalize(raw, source, KOREA)
        if isinstance(result, CallbackAllowed):
            assert re.fullmatch(r"0[0-9]{8,10}", result.number, re.ASCII), result
            assert dial_string("PJSIP/{number}@trunk", result.number).startswith("PJSIP/0")
        else:
            assert result.shown.isascii() and len(result.shown) <= 32 * 10 + 3
