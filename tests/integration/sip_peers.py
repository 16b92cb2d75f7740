"""Real SIP callers for the tests: baresip driven over ctrl_tcp, and SIPp scenarios.

baresip plays a WAV file as its microphone (aufile) and records what it heard and sent (sndfile),
so a test can check that audio really arrived, not just that the signalling succeeded.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.speech.prompt_audio import EspeakNg

SIPP_DIR = Path(__file__).with_name("sipp")


def write_speech(path: Path, text: str, lead_s: float, tail_s: float = 20.0, language: str = "ko") -> Path:
    """A caller who says `text` after `lead_s` of silence: espeak-ng, 8 kHz 16-bit, for baresip's microphone.

    The voice and reading are the prompts' (Mandarin as tone-numbered pinyin, never espeak-ng's `cmn`)."""
    voice, words = EspeakNg().spoken(text, language)
    spoken = subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "--stdout", words], capture_output=True, check=True, timeout=30).stdout
    command = ["sox", "-q", "-t", "wav", "-", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(path), "pad", str(lead_s), str(tail_s)]
    subprocess.run(command, input=spoken, capture_output=True, check=True, timeout=30)
    return path


def dominant_hz(path: Path, from_s: float, to_s: float) -> tuple[float, float]:
    """(strongest frequency, RMS 0..1) of a stretch of a 16-bit mono WAV: which party's tone was heard."""
    import numpy as np

    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64)
    part = samples[int(from_s * rate) : int(to_s * rate)] if to_s > 0 else samples[int(from_s * rate) :]
    if part.size == 0:
        return 0.0, 0.0
    spectrum = np.abs(np.fft.rfft(part * np.hanning(part.size)))
    peak = float(np.fft.rfftfreq(part.size, 1 / rate)[int(np.argmax(spectrum[1:])) + 1])
    return peak, float(np.sqrt(np.mean(part * part)) / 32768.0)


def longest_silence(path: Path, from_s: float, threshold: float = 0.002) -> float:
    """The longest run of 100 ms frames quieter than `threshold` RMS (0..1) after `from_s`: dead air."""
    import numpy as np

    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64) / 32768.0
    frame = rate // 10
    part = samples[int(from_s * rate) :]
    frames = part[: part.size // frame * frame].reshape(-1, frame)
    quiet = np.sqrt(np.mean(frames * frames, axis=1)) < threshold
    longest = run = 0
    for is_quiet in quiet:
        run = run + 1 if is_quiet else 0
        longest = max(longest, run)
    return longest / 10.0


def write_speech_then_tone(path: Path, text: str, lead_s: float, pause_s: float, tone_hz: float, tone_s: float) -> Path:
    """A caller who says `text` after `lead_s`, waits `pause_s`, then sends a steady tone (to tell who hears whom)."""
    spoken = subprocess.run(["espeak-ng", "-v", "ko", "-s", "150", "--stdout", text], capture_output=True, check=True, timeout=30).stdout
    speech = path.with_suffix(".speech.wav")
    subprocess.run(["sox", "-q", "-t", "wav", "-", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(speech), "pad", str(lead_s), str(pause_s)], input=spoken, capture_output=True, check=True, timeout=30)
    tone = write_tone(path.with_suffix(".tone.wav"), tone_s, tone_hz)
    subprocess.run(["sox", "-q", str(speech), str(tone), str(path)], capture_output=True, check=True, timeout=30)
    return path


def write_sentences_then_tone(path: Path, sentences: list[tuple[float, str]], tone_hz: float, tone_s: float, rate_wpm: int = 150) -> Path:
    """Someone who says each (pause before it, text) in turn, then sends a steady tone."""
    parts = []
    for index, (pause_s, text) in enumerate(sentences):
        spoken = subprocess.run(["espeak-ng", "-v", "ko", "-s", str(rate_wpm), "--stdout", text], capture_output=True, check=True, timeout=30).stdout
        part = path.with_suffix(f".part{index}.wav")
        subprocess.run(["sox", "-q", "-t", "wav", "-", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(part), "pad", str(pause_s), "0.5"],
                       input=spoken, capture_output=True, check=True, timeout=30)
        parts.append(str(part))
    parts.append(str(write_tone(path.with_suffix(".tone.wav"), tone_s, tone_hz)))
    subprocess.run(["sox", "-q", *parts, str(path)], capture_output=True, check=True, timeout=30)
    return path


def write_tone(path: Path, seconds: float = 4.0, hz: float = 440.0, rate: int = 8000, amplitude: int = 8000) -> Path:
    """A mono 16-bit WAV for baresip's microphone (amplitude 0: a silent caller)."""
    frames = bytearray()
    for n in range(int(seconds * rate)):
        sample = int(amplitude * math.sin(2 * math.pi * hz * n / rate))
        frames += sample.to_bytes(2, "little", signed=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return path


@dataclass(frozen=True)
class WavLevel:
    seconds: float
    rms: float
    """Root mean square of the samples, 0..1 of full scale."""


def measure_wav(path: Path) -> WavLevel:
    with wave.open(str(path), "rb") as wav:
        width, rate, count = wav.getsampwidth(), wav.getframerate(), wav.getnframes()
        data = wav.readframes(count) if count else b""
    if width != 2 or not data:
        return WavLevel(count / rate if rate else 0.0, 0.0)
    samples = memoryview(data).cast("h")
    mean_square = sum(s * s for s in samples) / len(samples)
    return WavLevel(count / rate, math.sqrt(mean_square) / 32768.0)


@dataclass
class Baresip:
    """One baresip process with its own config folder, SIP port and control port."""

    workdir: Path
    sip_port: int
    ctrl_port: int
    rtp_ports: tuple[int, int]
    account: str = "<sip:caller@127.0.0.1>;regint=0"
    """One line of baresip's accounts file; the default calls in without registering."""
    process: subprocess.Popen[bytes] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None

    @property
    def recordings(self) -> Path:
        return self.workdir / "snd"

    def write_config(self, microphone: Path) -> None:
        self.recordings.mkdir(parents=True, exist_ok=True)
        lines = [
            "poll_method epoll",
            f"sip_listen 127.0.0.1:{self.sip_port}",
            f"audio_source aufile,{microphone}",
            "audio_player aubridge,nowhere",  # sndfile records the decoded audio before the player
            "audio_srate 8000",
            "audio_channels 1",
            f"rtp_ports {self.rtp_ports[0]}-{self.rtp_ports[1]}",
            "module_path /usr/lib/baresip/modules",
            "module g711.so",
            "module aufile.so",
            "module aubridge.so",
            "module sndfile.so",
            "module_app account.so",
            "module_app menu.so",
            "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
            f"snd_path {self.recordings}",
        ]
        (self.workdir / "config").write_text("\n".join(lines) + "\n")
        (self.workdir / "accounts").write_text(self.account + "\n")
        (self.workdir / "contacts").write_text("")

    async def start(self, microphone: Path) -> None:
        self.process = await asyncio.to_thread(self._spawn, microphone)
        for _ in range(50):
            try:
                self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.ctrl_port)
                return
            except OSError:
                await asyncio.sleep(0.1)
        raise AssertionError(f"baresip ctrl_tcp never listened:\n{self.log_text()}")

    def _spawn(self, microphone: Path) -> subprocess.Popen[bytes]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.write_config(microphone)
        with (self.workdir / "baresip.log").open("wb") as log:
            return subprocess.Popen(
                ["baresip", "-f", str(self.workdir)], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    def log_text(self) -> str:
        path = self.workdir / "baresip.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def command(self, name: str, params: str = "") -> None:
        assert self._writer is not None
        payload = json.dumps({"command": name, "params": params, "token": name}).encode()
        self._writer.write(str(len(payload)).encode() + b":" + payload + b",")
        await self._writer.drain()

    async def wait_event(self, event_type: str, timeout_s: float = 15.0) -> dict[str, Any]:
        """Read netstring messages until an event of that type arrives."""
        async with asyncio.timeout(timeout_s):
            while True:
                for event in self.events:
                    if event.get("type") == event_type:
                        return event
                self.events.append(await self._read_message())

    async def _read_message(self) -> dict[str, Any]:
        assert self._reader is not None
        length = int((await self._reader.readuntil(b":"))[:-1])
        body = await self._reader.readexactly(length + 1)
        message: dict[str, Any] = json.loads(body[:-1])
        return message

    def recording(self, direction: str) -> Path:
        """The WAV sndfile wrote: 'dec' is what the caller heard, 'enc' what it sent."""
        found = sorted(self.recordings.glob(f"*-{direction}.wav"))
        assert found, f"baresip recorded no {direction} audio:\n{self.log_text()[-2000:]}"
        return found[-1]

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                await asyncio.to_thread(self.process.wait, 5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait, 5)

    async def heard(self) -> WavLevel:
        """What the caller heard (sndfile's decoded recording), measured off the loop."""
        return await asyncio.to_thread(lambda: measure_wav(self.recording("dec")))


@dataclass(frozen=True)
class SippResult:
    returncode: int
    successful: int
    failed: int
    output: str


class SippCall:
    """One SIPp call running in the background; every wait on it is off the event loop."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    async def finish(self, timeout_s: float = 60) -> str:
        """Wait for the call to end; fail with SIPp's screen unless it succeeded."""
        try:
            output, _ = await asyncio.to_thread(self.process.communicate, timeout=timeout_s)
        finally:
            await self.stop()
        assert self.process.returncode == 0 and sipp_counter(output, "Successful call") == 1, output[-2500:]
        return output

    async def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        await asyncio.to_thread(self.process.wait, 10)


async def start_sipp_call(scenario: str, target_port: int, dialed: str, local_port: int, media_port: int, timeout_s: int = 40) -> SippCall:
    """One call in the background, for tests that act on Asterisk or the engine while it is up."""
    command = [
        "sipp", f"127.0.0.1:{target_port}", "-sf", str(SIPP_DIR / scenario), "-s", dialed, "-m", "1",
        "-i", "127.0.0.1", "-p", str(local_port), "-mp", str(media_port), "-timeout", f"{timeout_s}s", "-nostdin",
    ]
    process = await asyncio.to_thread(
        subprocess.Popen, command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return SippCall(process)


async def run_sipp(scenario: str, target_port: int, dialed: str, calls: int, rate: int, local_port: int, media_port: int, timeout_s: int = 60) -> SippResult:
    """Place `calls` calls at `rate` per second with a scenario from tests/integration/sipp.

    Runs SIPp as a child process without blocking the event loop, so the test's own tasks go on.
    """
    command = [
        "sipp", f"127.0.0.1:{target_port}",
        "-sf", str(SIPP_DIR / scenario),
        "-s", dialed,
        "-m", str(calls), "-r", str(rate), "-l", str(calls),
        "-i", "127.0.0.1", "-p", str(local_port), "-mp", str(media_port),
        "-timeout", f"{timeout_s}s", "-nostdin",
    ]
    process = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        async with asyncio.timeout(timeout_s + 30):
            raw, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = raw.decode(errors="replace")
    assert process.returncode is not None
    return SippResult(process.returncode, sipp_counter(output, "Successful call"), sipp_counter(output, "Failed call"), output)


def sipp_counter(output: str, name: str) -> int:
    """A cumulative counter from SIPp's final statistics screen (-1 if absent)."""
    lines = [line for line in output.splitlines() if line.strip().startswith(name)]
    if not lines:
        return -1
    return int(lines[-1].split("|")[-1].strip())
