"""Filed recordings are private whatever the umask: files 0640, the folders made for them 0750."""

from __future__ import annotations

import os
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.recording.recording_files import file_raw_recording


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0o000)  # the worst case: nothing is cut from what the code asks for
    try:
        yield
    finally:
        os.umask(previous)


def test_a_filed_recording_and_its_folders_are_private(tmp_path: Path, open_umask: None) -> None:
    raw = tmp_path / "spool" / "1700.1--20261206T101010000000--minsu.raw"
    raw.parent.mkdir()
    raw.write_bytes(b"\x01\x00\x02\x00" * 8000)
    kept = tmp_path / "recordings"
    filed = file_raw_recording(raw, kept / "2026" / "12" / "06" / "1700.1--20261206T101010000000--minsu.wav")
    assert filed.duration_s == 1.0 and not raw.exists()
    with wave.open(str(filed.path)) as audio:
        assert (audio.getnchannels(), audio.getframerate()) == (2, 8000)
    assert filed.path.stat().st_mode & 0o777 == 0o640
    for folder in (kept, kept / "2026", kept / "2026" / "12", kept / "2026" / "12" / "06"):
        assert folder.stat().st_mode & 0o777 == 0o750, folder
