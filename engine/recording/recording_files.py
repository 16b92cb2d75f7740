"""Turning what Asterisk recorded into a kept file. Blocking file work: call it from a thread.

Asterisk's MixMonitor with its `D` option writes the caller's audio (read from the channel) and
what the caller heard (written to it: the agent, or a prompt) interleaved as two channels of
signed 16-bit, 8 kHz samples, with no header (its documentation requires the .raw extension).
Filing adds a WAV header, so any player opens it, and takes the sha256 that later serving checks.
"""

from __future__ import annotations

import hashlib
import os
import wave
from dataclasses import dataclass
from pathlib import Path

RAW_RATE = 8000
RAW_CHANNELS = 2
SAMPLE_BYTES = 2
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class FiledAudio:
    path: Path
    duration_s: float
    size_bytes: int
    sha256: str
    channels: int = RAW_CHANNELS
    sample_rate: int = RAW_RATE


def file_raw_recording(raw: Path, wav_path: Path) -> FiledAudio:
    """Write `raw` as a stereo WAV at `wav_path` (atomically: a reader never sees half a file),
    then remove the raw file. A trailing half frame (a crash mid-write) is dropped."""
    wav_path.parent.mkdir(parents=True, exist_ok=True)
    partial = wav_path.with_name(wav_path.name + ".part")
    frame = RAW_CHANNELS * SAMPLE_BYTES
    whole = raw.stat().st_size // frame * frame
    with raw.open("rb") as source, wave.open(str(partial), "wb") as target:
        target.setnchannels(RAW_CHANNELS)
        target.setsampwidth(SAMPLE_BYTES)
        target.setframerate(RAW_RATE)
        left = whole
        while left > 0:
            chunk = source.read(min(CHUNK_BYTES, left))
            if not chunk:
                break
            target.writeframesraw(chunk)
            left -= len(chunk)
    with partial.open("rb") as written:
        os.fsync(written.fileno())
    os.replace(partial, wav_path)
    raw.unlink()
    return describe_wav(wav_path)


def describe_wav(path: Path) -> FiledAudio:
    with wave.open(str(path), "rb") as audio:
        frames, rate, channels = audio.getnframes(), audio.getframerate(), audio.getnchannels()
    return FiledAudio(path, round(frames / rate, 3) if rate else 0.0, path.stat().st_size, sha256_of(path), channels, rate)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def file_size(path: Path) -> int:
    """-1 if the file is not there."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1
