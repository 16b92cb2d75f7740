"""GreetingScript: facts about one call go in, commands come out. No loop, no mocks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.call.call_script import (
    Answer,
    CancelEngineWait,
    CallArrived,
    CallFact,
    CommandFailed,
    GreetingScript,
    HangUp,
    PlayPrompt,
    PromptFinished,
    PromptTimedOut,
    StopHold,
    StopPrompt,
)

GREETING = "sound:hello-world"
CHANNEL = "1715681551.4"


def arrived_script() -> tuple[GreetingScript, PlayPrompt]:
    """A script that has answered and started the greeting; returns it with its PlayPrompt."""
    script = GreetingScript(GREETING)
    commands = script.decide(CallArrived(CHANNEL))
    prompt = commands[-1]
    assert isinstance(prompt, PlayPrompt)
    return script, prompt


def test_arrival_takes_the_call_answers_then_plays_the_greeting() -> None:
    """The engine first lifts the dialplan's bound on waiting for an engine, so the caller is not cut off."""
    script = GreetingScript(GREETING)

    commands = script.decide(CallArrived(CHANNEL))

    assert len(commands) == 3
    assert commands[:2] == [CancelEngineWait(), Answer()]
    prompt = commands[2]
    assert isinstance(prompt, PlayPrompt)
    assert prompt.media == GREETING
    assert prompt.playback_id
    assert prompt.playback_id == script.playback_id


def test_playback_ids_differ_between_calls() -> None:
    first = GreetingScript(GREETING).decide(CallArrived("1715681551.4"))[-1]
    second = GreetingScript(GREETING).decide(CallArrived("1715681551.5"))[-1]

    assert isinstance(first, PlayPrompt) and isinstance(second, PlayPrompt)
    assert first.playback_id != second.playback_id


def test_greeting_finished_hangs_up() -> None:
    script, prompt = arrived_script()

    commands = script.decide(PromptFinished(prompt.playback_id, "done"))

    assert commands == [HangUp("greeting finished")]


def test_greeting_that_failed_to_play_still_hangs_up() -> None:
    script, prompt = arrived_script()

    commands = script.decide(PromptFinished(prompt.playback_id, "failed"))

    assert len(commands) == 1 and isinstance(commands[0], HangUp)


def test_another_playback_finishing_is_ignored() -> None:
    script, prompt = arrived_script()

    assert script.decide(PromptFinished("some-other-playback", "done")) == []
    assert script.decide(PromptFinished(prompt.playback_id, "done")) == [HangUp("greeting finished")]


def test_greeting_timeout_hangs_up() -> None:
    script, prompt = arrived_script()

    commands = script.decide(PromptTimedOut(prompt.playback_id))

    assert commands == [HangUp("greeting timed out")]


def test_timeout_of_another_playback_is_ignored() -> None:
    script, _ = arrived_script()

    assert script.decide(PromptTimedOut("some-other-playback")) == []


@pytest.mark.parametrize("command", ["Answer", "PlayPrompt"])
def test_failed_command_hangs_up_naming_command_and_reason(command: str) -> None:
    script, _ = arrived_script()

    commands = script.decide(CommandFailed(command, "Channel not in Stasis application"))

    assert len(commands) == 1
    hang_up = commands[0]
    assert isinstance(hang_up, HangUp)
    assert command in hang_up.reason
    assert "Channel not in Stasis application" in hang_up.reason


LATER_FACTS: dict[str, Callable[[str], CallFact]] = {
    "finished_again": lambda playback_id: PromptFinished(playback_id, "done"),
    "timed_out": PromptTimedOut,
    "hang_up_failed": lambda _: CommandFailed("HangUp", "Internal Server Error"),
}


@pytest.mark.parametrize("later", LATER_FACTS.values(), ids=LATER_FACTS.keys())
def test_no_second_hang_up(later: Callable[[str], CallFact]) -> None:
    script, prompt = arrived_script()
    assert script.decide(PromptFinished(prompt.playback_id, "done")) == [HangUp("greeting finished")]

    assert script.decide(later(prompt.playback_id)) == []


def test_timeout_after_command_failure_does_not_hang_up_twice() -> None:
    script, prompt = arrived_script()
    assert len(script.decide(CommandFailed("PlayPrompt", "Not Found"))) == 1

    assert script.decide(PromptTimedOut(prompt.playback_id)) == []


def test_second_arrival_is_ignored() -> None:
    script, _ = arrived_script()

    assert script.decide(CallArrived(CHANNEL)) == []


def test_arrival_after_hang_up_is_ignored() -> None:
    script, prompt = arrived_script()
    script.decide(PromptTimedOut(prompt.playback_id))

    assert script.decide(CallArrived(CHANNEL)) == []


@pytest.mark.parametrize(
    "early",
    [PromptFinished("", "done"), PromptFinished(f"greeting-{CHANNEL}", "done"), PromptTimedOut("")],
    ids=["finished_empty_id", "finished_future_id", "timed_out"],
)
def test_prompt_facts_before_arrival_are_ignored(early: CallFact) -> None:
    script = GreetingScript(GREETING)

    assert script.decide(early) == []

    commands = script.decide(CallArrived(CHANNEL))
    assert [type(command) for command in commands] == [CancelEngineWait, Answer, PlayPrompt]


def test_resumed_call_silences_the_old_greeting_and_skips_answer_when_up() -> None:
    script = GreetingScript("sound:hello-world")

    commands = script.decide(CallArrived("7.1", already_answered=True, resumed=True))

    assert commands == [
        StopPrompt("greeting-7.1"),
        StopPrompt("greeting-7.1-resumed"),
        StopPrompt("tl-announce-7.1"),
        CancelEngineWait(),
        StopHold(),
        PlayPrompt("sound:hello-world", "greeting-7.1-resumed"),
    ]
    assert script.decide(PromptFinished("greeting-7.1", "cancelled")) == [], "the old playback's end is not ours"
    assert script.decide(PromptFinished("greeting-7.1-resumed", "done")) == [HangUp("greeting finished")]


def test_resumed_call_not_yet_answered_is_answered() -> None:
    commands = GreetingScript("sound:x").decide(CallArrived("7.2", already_answered=False, resumed=True))

    assert Answer() in commands and commands.index(Answer()) < len(commands) - 1


def test_with_a_flow_the_call_is_answered_then_handed_to_it() -> None:
    from engine.call.call_script import StartFlow

    commands = GreetingScript(GREETING, to_flow=True).decide(CallArrived(CHANNEL))
    assert commands == [CancelEngineWait(), Answer(), StartFlow()]
