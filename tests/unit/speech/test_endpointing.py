"""Threadline's own end-of-speech detection, fed frame levels: no audio, no clock."""

from __future__ import annotations

from engine.speech.endpointing import Endpoint, Endpointer, EndpointSettings

SPEECH_DB, QUIET_DB = -20.0, -90.0


def feed(endpointer: Endpointer, level: float, frames: int) -> list[tuple[int, Endpoint]]:
    changes: list[tuple[int, Endpoint]] = []
    for _ in range(frames):
        result = endpointer.push(level)
        if result is not Endpoint.NONE:
            changes.append((endpointer.frames, result))
    return changes


def test_speech_starts_after_three_voiced_frames_and_a_click_does_not_count() -> None:
    endpointer = Endpointer(EndpointSettings())
    assert feed(endpointer, QUIET_DB, 10) == []
    assert feed(endpointer, SPEECH_DB, 2) == [] and feed(endpointer, QUIET_DB, 5) == []  # a 40 ms click
    assert feed(endpointer, SPEECH_DB, 3) == [(20, Endpoint.STARTED)]


def test_a_short_pause_asks_whether_a_phrase_is_complete_and_the_full_silence_ends_it() -> None:
    endpointer = Endpointer(EndpointSettings(end_of_speech_s=0.6, early_end_s=0.2))
    feed(endpointer, SPEECH_DB, 50)
    changes = feed(endpointer, QUIET_DB, 30)
    assert changes == [(60, Endpoint.CHECK), (80, Endpoint.ENDED)]
    assert endpointer.silence_frames == 30 and not endpointer.in_speech


def test_a_pause_between_words_shorter_than_the_early_check_changes_nothing() -> None:
    endpointer = Endpointer(EndpointSettings())
    feed(endpointer, SPEECH_DB, 20)
    assert feed(endpointer, QUIET_DB, 9) == [] and feed(endpointer, SPEECH_DB, 20) == []
    assert endpointer.in_speech


def test_the_listener_may_end_at_the_check() -> None:
    endpointer = Endpointer(EndpointSettings())
    feed(endpointer, SPEECH_DB, 20)
    assert feed(endpointer, QUIET_DB, 10)[-1][1] is Endpoint.CHECK
    endpointer.end_early()
    assert not endpointer.in_speech and feed(endpointer, QUIET_DB, 50) == []


def test_an_endless_talker_is_cut_at_max_speech() -> None:
    endpointer = Endpointer(EndpointSettings(max_speech_s=2.0))
    changes = feed(endpointer, SPEECH_DB, 200)
    assert changes[0][1] is Endpoint.STARTED and (100, Endpoint.TOO_LONG) in changes, "2 s from the first voiced frame"


def test_steady_line_noise_is_learnt_and_not_taken_for_speech() -> None:
    endpointer = Endpointer(EndpointSettings())
    assert feed(endpointer, -45.0, 200) == [], "noise below the absolute voice floor never starts speech"
    endpointer = Endpointer(EndpointSettings())
    feed(endpointer, -38.0, 3)  # louder noise is mistaken at first ...
    endpointer = Endpointer(EndpointSettings())
    for _ in range(200):
        endpointer.push(-50.0)
    assert endpointer.floor_db > -55.0, "the floor rose towards the noise"
    assert feed(endpointer, -44.0, 50) == [], "noise a little above the floor is not speech"
    assert feed(endpointer, SPEECH_DB, 3) == [(253, Endpoint.STARTED)]
