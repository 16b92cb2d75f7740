"""What a waiting caller hears every `announce.every_s`: its position, the estimated wait as a
rounded phrase (never a wrong exact number), and the callback offer. Pure: words in, words out."""

from __future__ import annotations

from engine.acd.wait_estimate import WaitPhrase


def announcement_playback_id(channel_id: str) -> str:
    """One fixed playback id per caller for what the ACD says: an engine that adopts the call after
    a crash can stop it (a running playback holds up every other command on the channel)."""
    return f"tl-announce-{channel_id}"


def wait_announcement(language: str, position: int | None, phrase: WaitPhrase | None, callback_key: str | None) -> str:
    """The sentence in the flow's language (Korean, or English for any other language)."""
    korean = language.startswith("ko")
    parts: list[str] = []
    if position is not None:
        parts.append(f"고객님의 대기 순서는 {position}번째입니다." if korean else f"You are number {position} in line.")
    if phrase is not None:
        parts.append(f"예상 대기 시간은 {phrase.korean()}입니다." if korean else f"The expected wait is {phrase.english()}.")
    elif position is not None:
        parts.append("모든 상담원이 통화 중입니다. 잠시만 기다려 주세요." if korean else "All our agents are busy. Please stay on the line.")
    if callback_key is not None:
        parts.append(f"기다리지 않고 전화를 다시 받으시려면 {callback_key}번을 눌러 주세요." if korean else f"To be called back instead of waiting, press {callback_key}.")
    return " ".join(parts)


def _spoken_digits(number: str) -> str:
    return " ".join(number)


def callback_question(language: str, number: str, caller_id_refused: bool = False) -> str:
    """After the callback key: confirm the calling number, or key another one. With
    `caller_id_refused`, the calling number cannot be called back (withheld, or not a number the
    queue calls): the caller is told so and asked for another number, or to keep waiting."""
    if language.startswith("ko"):
        known = f"{_spoken_digits(number)} 번호로 전화 드릴까요? 맞으면 1번을, " if number else ""
        refused = "지금 거신 번호로는 전화를 다시 드릴 수 없습니다. " if caller_id_refused and not number else ""
        return f"{refused}{known}다른 번호로 받으시려면 번호를 누르고 우물정자를 눌러 주세요. 계속 기다리시려면 별표를 눌러 주세요."
    known = f"Shall we call you back at {_spoken_digits(number)}? Press 1 for yes, or " if number else "Please "
    refused = "We cannot call you back at the number you are calling from. " if caller_id_refused and not number else ""
    return f"{refused}{known}key the number to call followed by the hash key. To keep waiting, press star."


def callback_refused(language: str, callback_key: str) -> str:
    """The number cannot be called back (its format, prefix, or too many callbacks to it): the
    caller keeps its place in line and may give another number with the callback key. The reason
    is never said (it would teach an attacker what passes)."""
    if language.startswith("ko"):
        return (f"죄송합니다. 이 번호로는 전화를 다시 드릴 수 없습니다. 순서는 그대로 유지됩니다. 계속 기다려 주세요. "
                f"다른 번호로 받으시려면 {callback_key}번을 눌러 주세요.")
    return f"Sorry, we cannot call you back at this number. You keep your place in line; please stay on the line. To give another number, press {callback_key}."


def callback_confirmed(language: str, number: str) -> str:
    """The callback is arranged: the caller keeps its place and may hang up."""
    if language.startswith("ko"):
        return f"{_spoken_digits(number)} 번호로 순서가 되면 전화 드리겠습니다. 감사합니다."
    return f"We will call you back at {_spoken_digits(number)} when it is your turn. Thank you."
