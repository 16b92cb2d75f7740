"""One call's speech: the audio tap's frames through an UtteranceListener in the decode pool.

The flow driver says what to listen for (`listen`, `stop`); events come back through `deliver`
tagged with the generation of the Listen they answer, so a result for a node the flow has left is
recognised and dropped. Frames that arrive while a decode runs are batched into the next one, so a
slow moment never builds a backlog. If the tap cannot be set up, the call goes on with keys only.

The audio tap (a snoop, a media channel, a bridge and one websocket on Asterisk's HTTP port) is
open only while speech is expected: `listen` opens it, `stop` closes it TAP_LINGER_S later unless
the flow listens again by then (the next ask right after this one keeps the same tap).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.asterisk.caller_audio import CallerAudioTap, TapFailed
from engine.asterisk.errors import AsteriskError
from engine.speech.endpointing import EndpointSettings
from engine.speech.recognition import SpeechModel
from engine.speech.speech_service import SpeechService
from engine.speech.utterance import SpeechEvent, UtteranceListener

log = logging.getLogger(__name__)
CLOSE_TIMEOUT_S = 3.0
TAP_LINGER_S = 1.0
"""After an ask stops listening, how long the tap stays for a next ask before it is removed."""
MAX_TAP_FAILURES = 3
"""Taps that may fail to open on one call before its speech is given up (keys always work)."""


@dataclass(frozen=True)
class HeardSpeech:
    """A speech event for the call's inbox, with the Listen generation it belongs to."""

    generation: int
    event: SpeechEvent


@dataclass(frozen=True)
class _Wanted:
    generation: int
    model: SpeechModel
    phrases: tuple[str, ...]
    endpoints: EndpointSettings
    keep_audio: bool


class CallListening:
    def __init__(self, service: SpeechService, caller_id: str, deliver: Callable[[HeardSpeech], None]) -> None:
        self._service = service
        self._caller_id = caller_id
        self._deliver = deliver
        self._wanted: _Wanted | None = None
        self._task: asyncio.Task[None] | None = None
        self._ending: set[asyncio.Task[None]] = set()
        """Taps being removed after their ask ended; close() waits for them too."""
        self._linger: asyncio.TimerHandle | None = None
        self._frames: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()
        self.failed: str | None = None
        """Set when speech is given up for the rest of the call (the decoder failed, or taps kept failing)."""
        self._tap_failures = 0

    def listen(self, generation: int, model: SpeechModel, phrases: Sequence[str], endpoints: EndpointSettings, keep_audio: bool) -> None:
        self._wanted = _Wanted(generation, model, tuple(phrases), endpoints, keep_audio)
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if (self._task is None or self._task.done()) and self.failed is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"listen-{self._caller_id}")

    def stop(self) -> None:
        """No speech wanted now: the tap goes TAP_LINGER_S later unless `listen` comes first."""
        self._wanted = None
        if self._task is not None and self._linger is None:
            self._linger = asyncio.get_running_loop().call_later(TAP_LINGER_S, self._end_tap)

    def _end_tap(self) -> None:
        self._linger = None
        task, self._task = self._task, None
        if self._wanted is not None or task is None:
            self._task = task
            return
        task.cancel()  # its finally removes the tap from Asterisk
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def close(self) -> None:
        """Stop listening and remove the tap (bounded: a dying Asterisk must not hold the call's end)."""
        self._wanted = None
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()  # a tap already ending (self._ending) is removing itself: wait for it, do not cut it short
        tasks = set(self._ending) | ({task} if task is not None else set())
        if not tasks:
            return
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await asyncio.wait(tasks)
        except TimeoutError:
            log.warning("call %s: the audio tap did not close within %.0f s", self._caller_id, CLOSE_TIMEOUT_S)

    async def _run(self) -> None:
        assert self._service.taps is not None
        try:
            tap = await self._service.taps.open(self._caller_id)
        except (TapFailed, AsteriskError) as exc:
            # A busy Asterisk may refuse one tap and grant the next ask's; after a few, give up on speech.
            self._tap_failures += 1
            if self._tap_failures >= MAX_TAP_FAILURES:
                self.failed = str(exc)
            log.warning("call %s: no caller audio for speech in this ask (%s, %d of %d tries); keys still work", self._caller_id, exc, self._tap_failures, MAX_TAP_FAILURES)
            return
        decoding = asyncio.get_running_loop().create_task(self._decode(), name=f"decode-{self._caller_id}")
        try:
            async for frame in tap.frames():
                if decoding.done():
                    break
                if self._wanted is not None:
                    self._frames.put_nowait((frame, time.perf_counter()))
        finally:
            decoding.cancel()
            await asyncio.wait({decoding})
            await asyncio.shield(tap.close())
        if not decoding.cancelled() and decoding.exception() is not None:
            self.failed = str(decoding.exception())
            log.error("call %s: speech stopped (%s); keys still work", self._caller_id, self.failed)

    async def _decode(self) -> None:
        listener: UtteranceListener | None = None
        generation = -1
        while True:
            frame, received_at = await self._frames.get()
            batch = [frame]
            while not self._frames.empty():
                frame, received_at = self._frames.get_nowait()
                batch.append(frame)
            wanted = self._wanted
            if wanted is None:
                listener = None
                continue
            if listener is None or wanted.generation != generation:
                listener = await self._service.decode(UtteranceListener, wanted.model, wanted.phrases, wanted.endpoints, wanted.keep_audio)
                generation = wanted.generation
            for event in await self._service.decode(listener.feed, b"".join(batch), received_at):
                self._deliver(HeardSpeech(generation, event))
