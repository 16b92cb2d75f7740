"""Hand-off codes on the phone: made from given randomness, read from keys in the greeting (never a
menu's key) or from digit words in ko, zh and en, with the tries per call bounded."""

from __future__ import annotations

import pytest

from engine.handoff.handoff_codes import (
    ArmTimer, CancelTimer, Claim, CodeEntry, EntryState, HoldFlow, PassKey, Refuse, ReleaseFlow, code_from, code_spoken, digits_spoken, refused_prompt,
)


def keyed(entry: CodeEntry, keys: str) -> list[object]:
    return [command for key in keys for command in entry.key(key)]


def test_a_code_is_six_digits_from_the_randomness_given() -> None:
    assert code_from(482913) == "482913"
    assert code_from(7) == "000007"
    with pytest.raises(ValueError, match="randomness"):
        code_from(10**6)


@pytest.mark.parametrize(("said", "language", "digits"), [
    ("사 팔 이 구 일 삼", "ko", "482913"),
    ("사팔이구일삼", "ko", "482913"),
    ("공 일 영 칠 육 오", "ko", "010765"),
    ("넷 여덟 둘 아홉 하나 셋", "ko", "482913"),
    ("四八二九一三", "zh", "482913"),
    ("四 八 两 九 幺 三", "zh", "482913"),
    ("four eight two nine one three", "en", "482913"),
    ("Four, eight, two - nine one three.", "en", "482913"),
    ("oh one two", "en", "012"),
    ("482913", "ko", "482913"),
    ("48 이구 one 3", "ko", "482913"),
    ("음 코드는 사 팔 이 구 일 삼 이에요", "ko", "482913"),
    ("[unk] 사 팔 [unk] 이 구 일 삼", "ko", "482913"),
    ("um the code is four eight two nine one three", "en", "482913"),
    ("我的代码是四八二九一三", "zh", "482913"),
    ("嗯 四八二 <unk> 九一三", "zh", "482913"),
])
def test_digit_words_become_digits(said: str, language: str, digits: str) -> None:
    assert digits_spoken(said, language) == digits


@pytest.mark.parametrize(("said", "language"), [("인터넷이 안 돼요", "ko"), ("often", "en"), ("我要人工", "zh"), ("", "en"), ("four hundred", "en"), ("음 코드는", "ko"), ("[unk] [unk]", "en"),
                                                 ("the code is there", "en")])
def test_anything_but_digit_words_is_not_a_code(said: str, language: str) -> None:
    assert digits_spoken(said, language) is None


def test_the_first_alternative_that_is_a_whole_code_counts() -> None:
    assert code_spoken(["사 팔 이", "사 팔 이 구 일 삼"], "ko") == "482913"
    assert code_spoken(["사 팔 이 구 일 삼 사"], "ko") is None


def test_a_code_keyed_in_the_greeting_holds_the_flow_and_is_claimed() -> None:
    entry = CodeEntry(4.0, 3)
    assert entry.key("4") == [HoldFlow(), ArmTimer(4.0)]
    assert keyed(entry, "8291") == [ArmTimer(4.0)] * 4
    assert entry.key("3") == [CancelTimer(), Claim("482913", "code")]
    assert entry.holding and entry.key("5") == [], "keys while the claim runs are dropped"
    assert entry.claimed() == [CancelTimer()]
    assert entry.state is EntryState.CLOSED and entry.key("1") == [PassKey("1")]


def test_a_leading_star_starts_a_code_and_a_hash_ends_it() -> None:
    entry = CodeEntry(4.0, 3)
    assert entry.key("*") == [HoldFlow(), ArmTimer(4.0)]
    keyed(entry, "12*")  # a star starts over
    assert keyed(entry, "48291")[-1] == ArmTimer(4.0)
    assert entry.key("3") == [CancelTimer(), Claim("482913", "code")]
    short = CodeEntry(4.0, 3)
    keyed(short, "*4829")
    assert short.key("#") == [Refuse("incomplete"), ArmTimer(4.0)], "# ends the entry"


def test_a_short_entry_is_refused_as_incomplete_and_a_few_keys_are_dropped() -> None:
    entry = CodeEntry(4.0, 3)
    keyed(entry, "4829")
    assert entry.timed_out() == [Refuse("incomplete"), ArmTimer(4.0)]
    assert entry.state is EntryState.AGAIN
    other = CodeEntry(4.0, 3)
    other.key("2")  # a caller pressing the menu's 2 during the greeting
    assert other.timed_out() == [ReleaseFlow()]
    assert other.state is EntryState.OPEN and other.tries == 0


def test_a_refused_code_may_be_keyed_again_then_the_flow_goes_on() -> None:
    entry = CodeEntry(4.0, 3)
    keyed(entry, "111111")
    assert entry.refused("unknown") == [Refuse("unknown"), ArmTimer(4.0)]
    assert entry.holding, "the flow waits while the caller may key it again"
    assert entry.key("4") == [ArmTimer(4.0)], "no second hold"
    keyed(entry, "82913")
    assert entry.state is EntryState.CHECKING
    assert entry.refused("expired") == [Refuse("expired"), ArmTimer(4.0)]
    assert entry.timed_out() == [ReleaseFlow()]
    assert entry.state is EntryState.OPEN and not entry.holding


def test_after_the_maximum_tries_codes_are_no_longer_taken() -> None:
    entry = CodeEntry(4.0, 2)
    keyed(entry, "111111")
    entry.refused("unknown")
    keyed(entry, "222222")
    assert entry.refused("used") == [Refuse("used"), Refuse("too_many_tries", say=False), ReleaseFlow()]
    assert entry.key("3") == [PassKey("3")] and entry.heard(["사 팔 이 구 일 삼"], "ko") == []


def test_the_window_closes_when_the_flow_first_asks() -> None:
    entry = CodeEntry(4.0, 3)
    entry.flow_asks()
    assert entry.key("1") == [PassKey("1")], "a menu's key is the menu's"
    keying = CodeEntry(4.0, 3)
    keying.key("4")
    keying.flow_asks()
    assert keying.state is EntryState.KEYING, "a code under way is finished first"


def test_a_spoken_code_is_claimed() -> None:
    entry = CodeEntry(4.0, 3)
    assert entry.heard(["인터넷이 안 돼요"], "ko") == []
    assert entry.heard(["사 팔 이 구 일 삼"], "ko") == [HoldFlow(), Claim("482913", "spoken_code")]


def test_codes_off_takes_no_key() -> None:
    assert CodeEntry(4.0, 0).key("4") == [PassKey("4")]
    assert CodeEntry(4.0, 3, open_=False).key("4") == [PassKey("4")]


def test_the_refusal_is_said_in_the_flows_language() -> None:
    assert refused_prompt("ko") == "입력하신 코드가 올바르지 않거나 만료되었습니다."
    assert refused_prompt("zh-CN") == "您输入的代码无效或已过期。"
    assert refused_prompt("fr") == "That code is not valid or has expired."
