"""The speech pipeline against its targets: accuracy, speed, end-of-speech latency, streams per core. Prints a table.

Why: a caller who stops talking should hear the IVR act within 300 ms, and speech must not be what
limits a 2-core box, so one core has to carry at least 20 live callers. The synthetic support_ko
menu corpus (espeak-ng through a mu-law line, cached in .cache/speech-corpus) goes through the same
UtteranceListener (VAD, early end, Vosk with the node's grammar) and FlowInterpreter as a live call:

  1. accuracy, wrong accepts and confirmations, from `run_speech_test` (what `threadline speech test` prints);
  2. the real-time factor, one thread, every frame of every file fed 20 ms at a time, decisions included;
  3. latency from the end of the caller's last voiced frame to the node's decision (endpointing wait,
     final decode, intent scoring), split by how the utterance ended (early: a phrase was complete after
     early_end_s; silence: the node's end_of_speech_s);
  4. streams per core, measured, not derived: N threads pinned to one core, each feeding ~10 s of corpus
     audio paced in real time (a frame every 20 ms), with one shared model and a listener per stream;
     N keeps up when every stream's p95 lag (processing end behind the frame's due time) is under
     200 ms. N grows until the first miss; 1/RTF is shown as the ceiling.

One run on a noisy 2-core machine: ratios and percentiles, no asserts. The last line is machine-readable:
    speech rtf=<x> p95_ms=<y> streams_per_core=<z> accuracy=<a>
Each language's sample flow (support_ko, support_en, support_zh) and each recogniser can be run:
--language picks the flow and its sentence bank, --recogniser overrides speech.recognisers, and
--bank heldout uses tests/speech/heldout/, sentences nothing was tuned on (the README's figures).

Run: .venv/bin/python bench/speech.py [--language ko|en|zh] [--recogniser vosk|whisper|pocketsphinx]
     [--bank tuning|heldout] [--quick] [--core N] [--stream-seconds S] [--budget-s S] [--no-streams]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.flows.flow_facts import SpeechRecognised
from engine.config.flow_model import FlowSet
from engine.flows.interpreter import FlowInterpreter
from engine.flows.simulator import load_simulation
from engine.settings import load_settings
from engine.speech.audio_files import read_as_slin16
from engine.speech.endpointing import EndpointSettings
from engine.speech.recognition import FRAME_BYTES, SAMPLE_RATE, SpeechModel
from engine.speech.speech_service import load_language_model, recogniser_for
from engine.speech.speech_test import read_expected, run_speech_test
from engine.speech.synthetic_callers import read_sentences, synthesize
from engine.speech.utterance import UtteranceHeard, UtteranceListener

REPO = Path(__file__).resolve().parents[1]
NODE = "menu"
FRAME_S = FRAME_BYTES / (2 * SAMPLE_RATE)

TARGET_P95_MS = 300.0
TARGET_STREAMS_PER_CORE = 20
KEEP_UP_LAG_MS = 200.0
"""A stream keeps up when its frames finish at most this long after they are due, at p95."""
ABORT_LAG_S = 2.0
"""A stream this far behind has clearly lost: the step stops at once instead of draining for minutes."""


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


@dataclass
class Pipeline:
    """What every measurement shares: the flow set, the node's grammar and endpointing, one loaded model."""

    flow_set: FlowSet
    phrases: tuple[str, ...]
    endpoints: EndpointSettings
    model: SpeechModel
    early_end_s: float

    def listener(self) -> UtteranceListener:
        return UtteranceListener(self.model, self.phrases, self.endpoints)

    flow: str = "support_ko"
    recogniser: str = "vosk"

    def interpreter(self) -> FlowInterpreter:
        interpreter = FlowInterpreter(self.flow_set, self.flow, {})
        interpreter.enter_node(NODE)
        return interpreter


def prepare(language: str, recogniser: str | None, bank: str) -> tuple[Pipeline, list[Path], dict[str, str]]:
    settings = load_settings()
    if recogniser is not None:
        settings.speech.recognisers[language] = recogniser  # type: ignore[assignment]
    flow_name = f"support_{language}"
    sentences = REPO / "tests" / "speech" / ("heldout/" if bank == "heldout" else "") / f"{flow_name}_{NODE}.tsv"
    corpus = REPO / ".cache" / "speech-corpus" / (f"{flow_name}_{NODE}" + ("_heldout" if bank == "heldout" else ""))
    flow_set = load_simulation(flow_name, REPO / "ivr_flows")
    flow = flow_set.flows[flow_name]
    node = flow.nodes[NODE]
    # The node's timing over the flow's, as run_speech_test and a live call compute it.
    timing = flow.timing.model_copy(update={k: v for k, v in node.timing.model_dump().items() if v is not None})  # type: ignore[union-attr]
    early_end_s = settings.speech.early_end_s
    endpoints = EndpointSettings(timing.end_of_speech_s, timing.max_speech_s, early_end_s)
    phrases = FlowInterpreter(flow_set, flow_name, {}).listen_phrases(NODE)
    expected_path = synthesize(read_sentences(sentences), language, corpus)
    expected = read_expected(expected_path)
    files = [corpus / name for name in expected]
    model = load_language_model(settings.speech, language)
    return Pipeline(flow_set, phrases, endpoints, model, early_end_s, flow_name, recogniser_for(settings.speech, language)), files, expected


@dataclass
class SingleThread:
    audio_s: float = 0.0
    processing_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    by_end: dict[str, list[float]] = field(default_factory=dict)
    unheard: int = 0

    @property
    def rtf(self) -> float:
        return self.processing_s / self.audio_s if self.audio_s else 0.0


def single_thread(pipeline: Pipeline, audio: Sequence[bytes]) -> SingleThread:
    """Every frame of every file, one at a time, one thread; the decision is timed into the latency."""
    out = SingleThread()
    for pcm in audio:
        started = time.perf_counter()
        listener, interpreter = pipeline.listener(), pipeline.interpreter()
        first: tuple[UtteranceHeard, float] | None = None
        for offset in range(0, len(pcm), FRAME_BYTES):
            for event in listener.feed(pcm[offset : offset + FRAME_BYTES]):
                if isinstance(event, UtteranceHeard) and first is None:
                    first = event, _decide_ms(interpreter, event)
        if first is None:
            heard = listener.finish()
            if heard is not None:
                first = heard, _decide_ms(interpreter, heard)
        out.processing_s += time.perf_counter() - started
        out.audio_s += len(pcm) / (2 * SAMPLE_RATE)
        if first is None:
            out.unheard += 1
            continue
        latency = first[0].latency_ms + first[1]
        out.latencies_ms.append(latency)
        out.by_end.setdefault(first[0].ended, []).append(latency)
    return out


def _decide_ms(interpreter: FlowInterpreter, heard: UtteranceHeard) -> float:
    started = time.perf_counter()
    interpreter.decide(SpeechRecognised(heard.recognition.alternatives))
    return (time.perf_counter() - started) * 1000


@dataclass
class StreamStep:
    streams: int
    lags_ms: list[float]
    worst_stream_p95_ms: float
    decisions_ms: list[float]
    aborted: bool
    wall_s: float

    @property
    def keeps_up(self) -> bool:
        return not self.aborted and self.worst_stream_p95_ms <= KEEP_UP_LAG_MS


def pin_to(cpus: set[int]) -> None:
    """Every thread of this process (and so every thread started later) onto these CPUs."""
    for task in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(task), cpus)
        except (ProcessLookupError, PermissionError):
            pass  # a thread that just ended, or one we may not move: neither runs our decoding


def paced_streams(pipeline: Pipeline, audio: Sequence[bytes], streams: int, seconds: float) -> StreamStep:
    """`streams` callers at once, each fed frames at their real-time due times; returns each frame's lag."""
    plans = [_stream_audio(audio, start=k * 7, seconds=seconds) for k in range(streams)]
    lags: list[list[float]] = [[] for _ in range(streams)]
    decisions: list[list[float]] = [[] for _ in range(streams)]
    give_up = threading.Event()
    base = time.perf_counter() + 0.5 + 0.01 * streams  # time for every thread to start before the first frame is due

    def run(k: int) -> None:
        phase = base + k * FRAME_S / streams  # callers are not in step: spread their frames over one frame time
        listener: UtteranceListener | None = None
        interpreter: FlowInterpreter | None = None
        for index, (new_segment, frame) in enumerate(plans[k]):
            due = phase + (index + 1) * FRAME_S  # the frame has fully arrived at the end of its 20 ms
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            if give_up.is_set():
                return
            if new_segment or listener is None or interpreter is None:
                listener, interpreter = pipeline.listener(), pipeline.interpreter()
            for event in listener.feed(frame, received_at=due):
                if isinstance(event, UtteranceHeard):
                    decisions[k].append(event.latency_ms + _decide_ms(interpreter, event))
            lag = time.perf_counter() - due
            lags[k].append(lag * 1000)
            if lag > ABORT_LAG_S:
                give_up.set()
                return

    threads = [threading.Thread(target=run, args=(k,), name=f"stream-{k}", daemon=True) for k in range(streams)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return StreamStep(
        streams,
        [lag for stream in lags for lag in stream],
        max(percentile(stream, 95) if stream else float("inf") for stream in lags),
        [d for stream in decisions for d in stream],
        give_up.is_set(),
        time.perf_counter() - started,
    )


def _stream_audio(audio: Sequence[bytes], start: int, seconds: float) -> list[tuple[bool, bytes]]:
    """Corpus files one after another (each a new turn, so a new listener) up to `seconds` of audio."""
    frames: list[tuple[bool, bytes]] = []
    index = start
    while len(frames) * FRAME_S < seconds:
        pcm = audio[index % len(audio)]
        whole = len(pcm) - len(pcm) % FRAME_BYTES
        frames.extend((offset == 0, pcm[offset : offset + FRAME_BYTES]) for offset in range(0, whole, FRAME_BYTES))
        index += 1
    return frames[: round(seconds / FRAME_S)]


def streams_per_core(pipeline: Pipeline, audio: Sequence[bytes], core: int, steps: Sequence[int], refine: bool, seconds: float, budget_s: float) -> tuple[int, list[StreamStep]]:
    """The largest N of `steps` that keeps up on one core (then, if asked and time allows, halfway to the first miss)."""
    original = os.sched_getaffinity(0)
    pin_to({core})
    done: list[StreamStep] = []
    best = 0
    deadline = time.monotonic() + budget_s
    try:
        for streams in steps:
            if time.monotonic() > deadline:
                break
            step = paced_streams(pipeline, audio, streams, seconds)
            done.append(step)
            if not step.keeps_up:
                if refine and streams - best > 1 and time.monotonic() < deadline:
                    middle = paced_streams(pipeline, audio, (best + streams) // 2, seconds)
                    done.append(middle)
                    if middle.keeps_up:
                        best = middle.streams
                break
            best = streams
    finally:
        pin_to(original)
    return best, done


def mark(ok: bool) -> str:
    return "pass" if ok else "miss"


def main(language: str, recogniser: str | None, bank: str, quick: bool, core: int | None, seconds: float, budget_s: float, streams: bool) -> int:
    began = time.perf_counter()
    pipeline, files, expected = prepare(language, recogniser, bank)
    audio = [read_as_slin16(path) for path in files]
    counts = Counter(expected.values())

    report = run_speech_test(pipeline.flow_set, pipeline.flow, NODE, files, pipeline.model, expected, pipeline.early_end_s)
    single = single_thread(pipeline, audio)
    ceiling = 1 / single.rtf if single.rtf else 0.0

    core = max(os.sched_getaffinity(0)) if core is None else core
    steps = [10, 20, 40, 80, 160] if quick else list(range(10, 1000, 10))
    if ceiling < 10:  # a recogniser that decodes whole utterances (Whisper) carries a few streams, not tens
        steps = list(range(1, int(ceiling) + 3))
    best, stream_steps = streams_per_core(pipeline, audio, core, steps, refine=not quick, seconds=seconds, budget_s=budget_s) if streams else (0, [])

    p50, p95 = percentile(single.latencies_ms, 50), percentile(single.latencies_ms, 95)
    ended = " / ".join(f"{how} {len(single.by_end.get(how, []))}" for how in ("early", "silence", "too_long"))
    rows: list[tuple[str, str, str, str]] = [
        (f"accuracy ({len(files)} files: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")", f"{report.accuracy():.3f}", "", ""),
        ("wrong accept", f"{report.wrong_accept():.3f}", "", ""),
        ("confirm rate", f"{report.confirm_rate():.3f}", "", ""),
        (f"real-time factor, 1 thread ({single.audio_s:.0f} s of audio)", f"{single.rtf:.4f}", "", ""),
        ("1/RTF: streams per core, ceiling", f"{ceiling:.0f}", "", ""),
        ("last voiced frame -> decision p50", f"{p50:.0f} ms", "", ""),
        ("last voiced frame -> decision p95", f"{p95:.0f} ms", f"<= {TARGET_P95_MS:.0f} ms", mark(p95 <= TARGET_P95_MS)),
        ("utterances ended: " + ended + (f" / unheard {single.unheard}" if single.unheard else ""), "", "", ""),
    ]
    for how in ("early", "silence", "too_long"):
        if single.by_end.get(how):
            rows.append((f"  {how}: p50 / p95", f"{percentile(single.by_end[how], 50):.0f} / {percentile(single.by_end[how], 95):.0f} ms", "", ""))
    if streams:
        rows.append((f"streams per core, paced (core {core}, lag p95 <= {KEEP_UP_LAG_MS:.0f} ms)", str(best), f">= {TARGET_STREAMS_PER_CORE}", mark(best >= TARGET_STREAMS_PER_CORE)))

    print(f"speech pipeline, {pipeline.flow}/{NODE}, {pipeline.recogniser} ({language}), {bank} bank, early_end {pipeline.early_end_s:g} s, end_of_speech {pipeline.endpoints.end_of_speech_s:g} s (one run, noisy 2-core machine)")
    print()
    print("| measure | value | target | result |")
    print("|---|---:|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(f"paced streams on one core, {seconds:g} s of audio each (lag: frame processed vs. due; decision: last voiced frame -> decision, under load)")
    print()
    print("| streams | lag p50 ms | lag p95 ms | lag max ms | worst stream p95 ms | decision p95 ms | wall s | keeps up |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for step in stream_steps:
        verdict = "yes" if step.keeps_up else ("no (aborted, > 2 s behind)" if step.aborted else "no")
        print(
            f"| {step.streams} | {percentile(step.lags_ms, 50):.1f} | {percentile(step.lags_ms, 95):.1f} | {max(step.lags_ms, default=0):.1f}"
            f" | {step.worst_stream_p95_ms:.1f} | {percentile(step.decisions_ms, 95):.0f} | {step.wall_s:.1f} | {verdict} |"
        )
    print()
    print(f"took {time.perf_counter() - began:.0f} s")
    print(f"speech language={language} recogniser={pipeline.recogniser} bank={bank} rtf={single.rtf:.4f} p95_ms={p95:.0f} streams_per_core={best} accuracy={report.accuracy():.3f} wrong_accept={report.wrong_accept():.3f}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--language", default="ko", choices=["ko", "en", "zh"], help="the sample flow support_<language> and its sentence bank (default ko)")
    parser.add_argument("--recogniser", choices=["vosk", "whisper", "pocketsphinx", "vosk+whisper", "pocketsphinx+whisper"], help="override speech.recognisers for the language")
    parser.add_argument("--bank", default="tuning", choices=["tuning", "heldout"], help="tests/speech/ (tuning) or tests/speech/heldout/ (never tuned on)")
    parser.add_argument("--no-streams", action="store_true", help="skip the paced streams-per-core step")
    parser.add_argument("--quick", action="store_true", help="double N (10, 20, 40, ...) instead of steps of 10, and do not refine")
    parser.add_argument("--core", type=int, help="the CPU the paced streams are pinned to (default: the last one allowed)")
    parser.add_argument("--stream-seconds", type=float, default=10.0, help="audio per paced stream (default 10)")
    parser.add_argument("--budget-s", type=float, default=120.0, help="no new streams step starts after this many seconds (default 120)")
    options = parser.parse_args()
    sys.exit(main(options.language, options.recogniser, options.bank, options.quick, options.core, options.stream_seconds, options.budget_s, not options.no_streams))
