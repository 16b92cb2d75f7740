"""Threadline's own end-of-speech detection: an energy VAD with an adaptive noise floor. Pure.

Vosk's endpointing fired about a second after the caller stopped, and 0.3.45 cannot tune it, so the
decision is made here, frame by frame, from levels in dBFS: speech starts after a few voiced
frames in a row well above the noise floor, and ends after `end_of_speech_s` of silence, or early,
after `early_end_s`, when the words heard so far already complete a phrase of the grammar (the
listener asks). The noise floor follows quiet frames down at once and up slowly, so line noise
raises the threshold while the caller's voice does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

FRAME_S = 0.02
ONSET_FRAMES = 3
"""60 ms of voice before speech counts as started: a click or a DTMF tone's edge does not."""
MARGIN_DB = 10.0
"""How far above the noise floor a frame must be to count as voiced."""
MIN_VOICE_DB = -42.0
"""Nothing quieter than this is voice, however quiet the line (phone speech runs -15 to -30 dBFS)."""
FLOOR_START_DB = -60.0
FLOOR_RISE_WAITING_DB = 0.25
"""Per quiet frame while waiting for speech: 12.5 dB a second, so line noise is learnt quickly."""
FLOOR_RISE_SPEAKING_DB = 0.05
"""Per quiet frame within an utterance: slow enough that pauses between words do not lift the floor to the voice."""
SILENCE_DB = -100.0


class Endpoint(Enum):
    NONE = "none"
    STARTED = "started"
    CHECK = "check"
    """Short silence after speech: end now if what was heard already completes a phrase."""
    ENDED = "ended"
    TOO_LONG = "too_long"


@dataclass(frozen=True)
class EndpointSettings:
    end_of_speech_s: float = 0.6
    max_speech_s: float = 15.0
    early_end_s: float = 0.2


class Endpointer:
    def __init__(self, settings: EndpointSettings) -> None:
        self.settings = settings
        self.floor_db = FLOOR_START_DB
        self.in_speech = False
        self.frames = 0
        self._voiced_run = 0
        self._speech_start = 0
        self.last_voiced = 0
        """Frame number of the last voiced frame: latency is measured from its end."""
        self._checked = False

    @property
    def silence_frames(self) -> int:
        return self.frames - self.last_voiced

    def push(self, level_db: float) -> Endpoint:
        """One 20 ms frame's level; returns what changed."""
        self.frames += 1
        voiced = level_db > max(self.floor_db + MARGIN_DB, MIN_VOICE_DB)
        if not voiced:
            rise = FLOOR_RISE_SPEAKING_DB if self.in_speech else FLOOR_RISE_WAITING_DB
            self.floor_db = max(level_db, SILENCE_DB) if level_db < self.floor_db else min(self.floor_db + rise, level_db)
        if not self.in_speech:
            self._voiced_run = self._voiced_run + 1 if voiced else 0
            if self._voiced_run >= ONSET_FRAMES:
                self.in_speech, self._speech_start, self.last_voiced, self._checked = True, self.frames - ONSET_FRAMES, self.frames, False
                return Endpoint.STARTED
            return Endpoint.NONE
        if voiced:
            self.last_voiced, self._checked = self.frames, False
        if (self.frames - self._speech_start) * FRAME_S >= self.settings.max_speech_s:
            return self._end(Endpoint.TOO_LONG)
        silence_s = self.silence_frames * FRAME_S
        if silence_s >= self.settings.end_of_speech_s - 1e-9:
            return self._end(Endpoint.ENDED)
        if not self._checked and silence_s >= self.settings.early_end_s - 1e-9:
            self._checked = True
            return Endpoint.CHECK
        return Endpoint.NONE

    def end_early(self) -> None:
        """The listener decided at a CHECK: the utterance is over."""
        self._end(Endpoint.ENDED)

    def _end(self, how: Endpoint) -> Endpoint:
        self.in_speech, self._voiced_run = False, 0
        return how
