"""Closing the recorder: a step in flight may finish within the timeout; one that does not is
cancelled and awaited (its cleanup ran); a failed step is logged, never raised."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest

from engine.asterisk.ari_client import AriClient
from engine.recording.call_recorder import CallRecorder
from engine.store.recording_store import RecordingStore


@dataclass
class FakeChannel:
    name: str


class FakeAri:
    async def get_channel(self, channel_id: str) -> FakeChannel:
        return FakeChannel(f"PJSIP/{channel_id}")


class SlowAmi:
    """Answers after `delay_s`; records whether an answer was cut short by cancellation."""

    def __init__(self, delay_s: float, fails: bool = False) -> None:
        self.delay_s = delay_s
        self.fails = fails
        self.cancelled = False

    async def action(self, fields: dict[str, str], timeout_s: float = 5.0) -> dict[str, str]:
        try:
            await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.fails:
            raise ValueError("a bug in the AMI adapter")
        return {"Response": "Success"}


def recorder(tmp_path: Path, ami: SlowAmi) -> CallRecorder:
    store = cast(RecordingStore, object())  # never reached: no recording is filed here
    return CallRecorder(ami, cast(AriClient, FakeAri()), store, tmp_path / "kept", tmp_path / "spool", "/spool")


async def test_close_lets_a_quick_step_finish(tmp_path: Path) -> None:
    events: list[str] = []
    calls = recorder(tmp_path, SlowAmi(0.05))
    calls.conversation_started("c1", "chan-1", "minsu", "sales", "en", lambda kind, _detail: events.append(kind))
    await asyncio.sleep(0)
    await calls.close(timeout_s=2.0)
    assert events == ["recording_started"] and calls.is_recording("c1")


async def test_close_cancels_and_awaits_a_step_that_takes_too_long(tmp_path: Path) -> None:
    events: list[str] = []
    ami = SlowAmi(60.0)
    calls = recorder(tmp_path, ami)
    calls.conversation_started("c1", "chan-1", "minsu", "sales", "en", lambda kind, _detail: events.append(kind))
    await asyncio.sleep(0.05)
    await asyncio.wait_for(calls.close(timeout_s=0.05), 2.0)
    assert ami.cancelled and events == [] and not calls.is_recording("c1")
    calls.conversation_started("c2", "chan-2", "minsu", "sales", "en", lambda kind, _detail: events.append(kind))  # after close: dropped
    await asyncio.sleep(0.01)
    assert events == []


async def test_a_failed_step_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    calls = recorder(tmp_path, SlowAmi(0.0, fails=True))
    calls.conversation_started("c1", "chan-1", "minsu", "sales", "en", lambda _kind, _detail: None)
    await calls.close(timeout_s=2.0)
    assert any("recording-c1" in record.getMessage() and record.exc_info for record in caplog.records)


