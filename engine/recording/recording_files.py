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
from typing import BinaryIO

FILE_MODE = 0o640
FOLDER_MODE = 0o750
"""Recordings are callers' voices: the engine's user and group only, whatever the umask."""
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
    make_private_folders(wav_path.parent)
    partial = wav_path.with_name(wav_path.name + ".part")
    frame = RAW_CHANNELS * SAMPLE_BYTES
    whole = raw.stat().st_size // frame * frame
    with raw.open("rb") as source, open_private(partial) as handle, wave.open(handle, "wb") as target:
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


def make_private_folders(folder: Path) -> None:
    """Create `folder` and its missing parents, each 0750 (mkdir's own mode is cut by the umask)."""
    missing = [parent for parent in (folder, *folder.parents) if not parent.is_dir()]
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        path.chmod(FOLDER_MODE)


def open_private(path: Path) -> BinaryIO:
    """`path` opened for writing (truncated), created 0640 and kept so."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)
    return os.fdopen(descriptor, "wb")


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
