"""What a waiting caller hears: position, a rounded wait (never an exact number), the callback offer."""

from __future__ import annotations

from engine.acd.wait_announcements import callback_confirmed, callback_question, callback_refused, wait_announcement
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


def test_a_number_that_cannot_be_called_back_is_said_so_and_the_caller_is_asked_to_keep_waiting() -> None:
    assert callback_refused("ko", "1") == (
        "죄송합니다. 이 번호로는 전화를 다시 드릴 수 없습니다. 순서는 그대로 유지됩니다. 계속 기다려 주세요. 다른 번호로 받으시려면 1번을 눌러 주세요."
    )
    assert "keep your place in line" in callback_refused("en", "1") and "press 1" in callback_refused("en", "1")
    refused = callback_question("ko", "", caller_id_refused=True)
    assert refused.startswith("지금 거신 번호로는 전화를 다시 드릴 수 없습니다.") and "계속 기다리시려면 별표" in refused
    assert "1 0 1" not in refused, "a refused caller ID is never read out"
    assert callback_question("ko", "01012345678").startswith("0 1 0 1 2 3 4 5 6 7 8 번호로 전화 드릴까요?")
    assert callback_question("en", "", caller_id_refused=True).startswith("We cannot call you back at the number you are calling from.")
