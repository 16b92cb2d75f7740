"""What a waiting caller hears: position, a rounded wait (never an exact number), the callback offer."""

from __future__ import annotations

from engine.acd.wait_announcements import callback_confirmed, callback_question, wait_announcement
from engine.acd.wait_estimate import spoken_wait


def test_position_and_a_rounded_wait_in_korean_and_english() -> None:
    phrase = spoken_wait(170.0)
    assert wait_announcement("ko", 2, phrase, None) == "고객님의 대기 순서는 2번째입니다. 예상 대기 시간은 약 3분입니다."
    assert wait_announcement("en", 2, phrase, None) == "You are number 2 in line. The expected wait is about 3 minutes."


def test_no_time_is_promised_when_nobody_is_staffed() -> None:
    said = wait_announcement("ko", 1, None, None)
    assert "예상" not in said and "상담원이 통화 중" in said


def test_the_callback_offer_names_its_key() -> None:
    assert wait_announcement("ko", 3, spoken_wait(40.0), "1").endswith("1번을 눌러 주세요.")
    assert "press 9" in wait_announcement("en", None, None, "9")


def test_the_callback_number_is_read_digit_by_digit() -> None:
    assert "0 1 0 1 2 3 4" in callback_question("ko", "0101234")
    assert "key the number" in callback_question("en", "")
    assert callback_confirmed("en", "55").startswith("We will call you back at 5 5")
