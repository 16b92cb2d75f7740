"""CallStart: facts about one call go in, commands come out. No loop, no mocks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.call.call_start import CallArrived, CallStart, PromptFinished, PromptTimedOut, refused_reason
from engine.call.caller_commands import Answer, CancelEngineWait, ChannelCommand, HangUp, PlayPrompt, StartFlow, StopHold, StopPrompt

GREETING = "sound:hello-world"
CHANNEL = "1715681551.4"


def greeting_call() -> tuple[CallStart, PlayPrompt]:
    """A call taken and greeted; returns its CallStart with the greeting's PlayPrompt."""
    start = CallStart(GREETING)
    commands = start.take(CallArrived(CHANNEL))
    prompt = commands[-1]
    assert isinstance(prompt, PlayPrompt)
    return start, prompt


def test_arrival_takes_the_call_answers_then_plays_the_greeting() -> None:
    """The engine first lifts the dialplan's bound on waiting for an engine, so the caller is not cut off."""
    start = CallStart(GREETING)

    commands = start.take(CallArrived(CHANNEL))

    assert len(commands) == 3
    assert commands[:2] == [CancelEngineWait(), Answer()]
    prompt = commands[2]
    assert isinstance(prompt, PlayPrompt)
    assert prompt.media == GREETING
    assert prompt.playback_id
    assert prompt.playback_id == start.playback_id


def test_playback_ids_differ_between_calls() -> None:
    first = CallStart(GREETING).take(CallArrived("1715681551.4"))[-1]
    second = CallStart(GREETING).take(CallArrived("1715681551.5"))[-1]

    assert isinstance(first, PlayPrompt) and isinstance(second, PlayPrompt)
    assert first.playback_id != second.playback_id


def test_greeting_finished_hangs_up() -> None:
    start, prompt = greeting_call()

    assert start.prompt_ended(PromptFinished(prompt.playback_id, "done")) == [HangUp("greeting finished")]


def test_greeting_that_failed_to_play_still_hangs_up() -> None:
    start, prompt = greeting_call()

    commands = start.prompt_ended(PromptFinished(prompt.playback_id, "failed"))

    assert len(commands) == 1 and isinstance(commands[0], HangUp)


def test_another_playback_finishing_is_ignored() -> None:
    start, prompt = greeting_call()

    assert start.prompt_ended(PromptFinished("some-other-playback", "done")) == []
    assert start.prompt_ended(PromptFinished(prompt.playback_id, "done")) == [HangUp("greeting finished")]


def test_greeting_timeout_hangs_up() -> None:
    start, prompt = greeting_call()

    assert start.prompt_ended(PromptTimedOut(prompt.playback_id)) == [HangUp("greeting timed out")]


def test_timeout_of_another_playback_is_ignored() -> None:
    start, _ = greeting_call()

    assert start.prompt_ended(PromptTimedOut("some-other-playback")) == []


@pytest.mark.parametrize("command", ["Answer", "PlayPrompt"])
def test_failed_command_hangs_up_naming_command_and_reason(command: str) -> None:
    """The session's failure policy (_guarded) asks for this hang-up; its reason names both."""
    start, _ = greeting_call()

    commands = start.hang_up(refused_reason(command, "Channel not in Stasis application"))

    assert len(commands) == 1
    hang_up = commands[0]
    assert isinstance(hang_up, HangUp)
    assert command in hang_up.reason
    assert "Channel not in Stasis application" in hang_up.reason


LATER: dict[str, Callable[[CallStart, str], list[ChannelCommand]]] = {
    "finished_again": lambda start, playback_id: start.prompt_ended(PromptFinished(playback_id, "done")),
    "timed_out": lambda start, playback_id: start.prompt_ended(PromptTimedOut(playback_id)),
    "hang_up_failed": lambda start, _: start.hang_up(refused_reason("HangUp", "Internal Server Error")),
}


@pytest.mark.parametrize("later", LATER.values(), ids=LATER.keys())
def test_no_second_hang_up(later: Callable[[CallStart, str], list[ChannelCommand]]) -> None:
    start, prompt = greeting_call()
    assert start.prompt_ended(PromptFinished(prompt.playback_id, "done")) == [HangUp("greeting finished")]

    assert later(start, prompt.playback_id) == []


def test_timeout_after_command_failure_does_not_hang_up_twice() -> None:
    start, prompt = greeting_call()
    assert len(start.hang_up(refused_reason("PlayPrompt", "Not Found"))) == 1

    assert start.prompt_ended(PromptTimedOut(prompt.playback_id)) == []


def test_second_arrival_is_ignored() -> None:
    start, _ = greeting_call()

    assert start.take(CallArrived(CHANNEL)) == []


def test_arrival_after_hang_up_is_ignored() -> None:
    start, prompt = greeting_call()
    start.prompt_ended(PromptTimedOut(prompt.playback_id))

    assert start.take(CallArrived(CHANNEL)) == []


@pytest.mark.parametrize(
    "early",
    [PromptFinished("", "done"), PromptFinished(f"greeting-{CHANNEL}", "done"), PromptTimedOut("")],
    ids=["finished_empty_id", "finished_future_id", "timed_out"],
)
def test_prompt_facts_before_arrival_are_ignored(early: PromptFinished | PromptTimedOut) -> None:
    start = CallStart(GREETING)

    assert start.prompt_ended(early) == []

    commands = start.take(CallArrived(CHANNEL))
    assert [type(command) for command in commands] == [CancelEngineWait, Answer, PlayPrompt]


def test_resumed_call_silences_the_old_greeting_and_skips_answer_when_up() -> None:
    start = CallStart("sound:hello-world")

    commands = start.take(CallArrived("7.1", already_answered=True, resumed=True))

    assert commands == [
        StopPrompt("greeting-7.1"),
        StopPrompt("greeting-7.1-resumed"),
        StopPrompt("tl-announce-7.1"),
        CancelEngineWait(),
        StopHold(),
        PlayPrompt("sound:hello-world", "greeting-7.1-resumed"),
    ]
    assert start.prompt_ended(PromptFinished("greeting-7.1", "cancelled")) == [], "the old playback's end is not ours"
    assert start.prompt_ended(PromptFinished("greeting-7.1-resumed", "done")) == [HangUp("greeting finished")]


def test_resumed_call_not_yet_answered_is_answered() -> None:
    commands = CallStart("sound:x").take(CallArrived("7.2", already_answered=False, resumed=True))

    assert Answer() in commands and commands.index(Answer()) < len(commands) - 1


def test_with_a_flow_the_call_is_answered_then_handed_to_it() -> None:
    commands = CallStart(None).take(CallArrived(CHANNEL))
    assert commands == [CancelEngineWait(), Answer(), StartFlow()]


def test_a_refusal_before_the_call_is_taken_hangs_up_once_and_the_arrival_is_then_ignored() -> None:
    start = CallStart(GREETING)

    assert start.hang_up(refused_reason("request", "Asterisk did not confirm it in time")) == [
        HangUp("request failed: Asterisk did not confirm it in time")
    ]
    assert start.hang_up(refused_reason("request", "again")) == []
    assert start.take(CallArrived(CHANNEL)) == []
