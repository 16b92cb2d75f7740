"""Audio files into the 16 kHz slin the recognisers take, whatever their rate (8 kHz phone recordings too).

sox (already needed for prompts) converts, so WAV of any rate, width or encoding (mu-law included)
is accepted; a file sox cannot read is an error naming the file.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from engine.speech.recognition import SAMPLE_RATE

CONVERT_TIMEOUT_S = 60.0
MAX_FILE_BYTES = 50 * 1024 * 1024


class AudioUnreadable(Exception):
    pass


def read_as_slin16(path: Path) -> bytes:
    if shutil.which("sox") is None:
        raise AudioUnreadable("sox is not installed; run `apt-get install sox`")
    if not path.is_file():
        raise AudioUnreadable(f"{path}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise AudioUnreadable(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MB; cut it into utterances")
    command = ["sox", "-q", str(path), "-t", "raw", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer", "-L", "-"]
    try:
        return subprocess.run(command, capture_output=True, timeout=CONVERT_TIMEOUT_S, check=True).stdout
    except subprocess.CalledProcessError as exc:
        raise AudioUnreadable(f"{path}: sox cannot read it ({exc.stderr.decode(errors='replace').strip()[:200]})") from None
    except subprocess.TimeoutExpired:
        raise AudioUnreadable(f"{path}: conversion took longer than {CONVERT_TIMEOUT_S:g} s") from None
