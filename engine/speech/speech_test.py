"""`threadline speech test`: recordings through the live pipeline and a node's intent scoring, with figures.

Each WAV goes frame by frame through the same UtteranceListener as a live call (VAD, early end,
Vosk with the node's grammar) and the result through the same FlowInterpreter, positioned at the
node, so the band it reports (accept, confirm, no-match) is what a caller would get. Operators tune
phrases and the confidence band against recordings of real callers with it.
"""

from __future__ import annotations

import csv
import statistics
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from engine.flows.flow_facts import Journal, SpeechRecognised
from engine.config.flow_model import AskNode
from engine.language.intent_matching import Hypothesis
from engine.config.flow_model import FlowSet
from engine.flows.interpreter import FlowInterpreter
from engine.speech.audio_files import read_as_slin16
from engine.speech.endpointing import EndpointSettings
from engine.speech.recognition import FRAME_BYTES, SpeechModel
from engine.speech.utterance import UtteranceHeard, UtteranceListener

NO_MATCH = "no-match"
NONE_EXPECTED = "none"
"""The expected intent of speech that should match nothing."""


class SpeechTestError(Exception):
    pass


@dataclass(frozen=True)
class FileResult:
    file: str
    text: str
    recogniser_confidence: float
    intent: str
    """The intent the node would take or confirm, or no-match."""
    score: float
    band: str
    """accept, confirm, no-match, or global (an agent/repeat/help handler)."""
    latency_ms: float
    expected: str | None


@dataclass
class SpeechTestReport:
    results: list[FileResult] = field(default_factory=list)
    audio_s: float = 0.0
    processing_s: float = 0.0

    @property
    def judged(self) -> list[FileResult]:
        return [r for r in self.results if r.expected is not None]

    def accuracy(self) -> float:
        judged = self.judged
        return sum(_correct(r) for r in judged) / len(judged) if judged else 0.0

    def wrong_accept(self) -> float:
        judged = self.judged
        return sum(r.band in ("accept", "global") and not _correct(r) for r in judged) / len(judged) if judged else 0.0

    def confirm_rate(self) -> float:
        return sum(r.band == "confirm" for r in self.results) / len(self.results) if self.results else 0.0


def _correct(result: FileResult) -> bool:
    expected = NO_MATCH if result.expected == NONE_EXPECTED else result.expected
    return result.intent == expected


def read_expected(path: Path) -> dict[str, str]:
    expected: dict[str, str] = {}
    with path.open(encoding="utf-8", newline="") as lines:
        for number, row in enumerate(csv.reader(lines, delimiter="\t"), start=1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) != 2 or not row[0] or not row[1]:
                raise SpeechTestError(f"{path}:{number}: expected `file<TAB>intent`")
            expected[row[0]] = row[1].strip()
    return expected


def run_speech_test(
    flow_set: FlowSet,
    flow_name: str,
    node_name: str,
    files: Sequence[Path],
    model: SpeechModel,
    expected: Mapping[str, str] | None = None,
    early_end_s: float = 0.2,
) -> SpeechTestReport:
    flow = flow_set.flows[flow_name]
    node = flow.nodes.get(node_name)
    if not isinstance(node, AskNode):
        raise SpeechTestError(f"node `{node_name}` of flow `{flow_name}` is not an `ask` node (it is {node.type if node else 'missing'})")
    if expected is not None:
        known = {*node.intents, "agent", "repeat", "help", NONE_EXPECTED}
        unknown = sorted({intent for intent in expected.values() if intent not in known})
        if unknown:
            raise SpeechTestError(f"--expected names intents node `{node_name}` does not have: {', '.join(unknown)} (it has: {', '.join(node.intents)}; `none` = should match nothing)")
    timing = flow.timing.model_copy(update={k: v for k, v in node.timing.model_dump().items() if v is not None})
    phrases = FlowInterpreter(flow_set, flow_name, {}).listen_phrases(node_name)
    endpoints = EndpointSettings(timing.end_of_speech_s, timing.max_speech_s, early_end_s)
    report = SpeechTestReport()
    for path in files:
        pcm = read_as_slin16(path)
        started = time.perf_counter()
        listener = UtteranceListener(model, phrases, endpoints)
        heard = _first_utterance(listener, pcm)
        report.processing_s += time.perf_counter() - started
        report.audio_s += len(pcm) / (2 * 16000)
        interpreter = FlowInterpreter(flow_set, flow_name, {})
        interpreter.enter_node(node_name)
        alternatives = heard.recognition.alternatives if heard else ()
        commands = interpreter.decide(SpeechRecognised(alternatives))
        intent, score, band = _decision(commands)
        report.results.append(
            FileResult(
                path.name,
                heard.recognition.text if heard else "",
                heard.recognition.confidence if heard else 0.0,
                intent,
                score,
                band,
                heard.latency_ms if heard else 0.0,
                expected.get(path.name) if expected is not None else None,
            )
        )
    return report


def hear_recording(model: SpeechModel, phrases: Sequence[str], path: Path, early_end_s: float = 0.2) -> tuple[Hypothesis, ...]:
    """What the live pipeline would hear in a recording (for the simulator's @file.wav)."""
    heard = _first_utterance(UtteranceListener(model, phrases, EndpointSettings(early_end_s=early_end_s)), read_as_slin16(path))
    return heard.recognition.alternatives if heard else ()


def _first_utterance(listener: UtteranceListener, pcm: bytes) -> UtteranceHeard | None:
    for offset in range(0, len(pcm), FRAME_BYTES):
        for event in listener.feed(pcm[offset : offset + FRAME_BYTES]):
            if isinstance(event, UtteranceHeard):
                return event
    return listener.finish()


def _decision(commands: Sequence[object]) -> tuple[str, float, str]:
    for command in commands:
        if not isinstance(command, Journal):
            continue
        detail = command.detail
        if command.kind == "recognised":
            return str(detail.get("intent")), float(detail.get("confidence", 1.0) or 1.0), str(detail["band"])
        if command.kind == "intent_chosen":
            return str(detail["intent"]), float(detail.get("confidence", 0.0)), "accept"
        if command.kind == "no_match":
            best = detail.get("best") or {}
            return NO_MATCH, float(best.get("confidence", 0.0)), NO_MATCH
    return NO_MATCH, 0.0, NO_MATCH


def suggest_band(report: SpeechTestReport, node: AskNode) -> tuple[float, float] | None:
    """The (accept, confirm) pair that would have served these callers best: a wrong accept costs
    most, a confirmation a little, a no-match for a real request more (the caller must use keys)."""
    judged = [r for r in report.judged if r.band != "global"]
    if not judged:
        return None
    best: tuple[float, tuple[float, float]] | None = None
    grid = [round(0.05 * step, 2) for step in range(4, 21)]
    for accept in grid:
        for confirm in (c for c in grid if c < accept):
            value = 0.0
            for r in judged:
                right = _correct(r) if r.intent != NO_MATCH else r.expected == NONE_EXPECTED
                if r.intent == NO_MATCH or r.score < confirm:
                    value += 1.0 if r.expected == NONE_EXPECTED else -0.5
                elif r.score >= accept:
                    value += 1.0 if right else -3.0
                else:
                    value += 0.6 if right else -0.3
            if best is None or value > best[0]:
                best = (value, (accept, confirm))
    return best[1] if best else None


def print_report(report: SpeechTestReport, node: AskNode, out: TextIO) -> None:
    out.write(f"{'file':44} {'band':9} {'intent':10} {'score':>5} {'expect':10} {'ms':>5}  heard\n")
    for r in report.results:
        mark = "" if r.expected is None else (" " if _correct(r) else "✗")
        out.write(f"{r.file[:44]:44} {r.band:9} {r.intent:10} {r.score:5.2f} {(r.expected or '-'):10} {r.latency_ms:5.0f}{mark} {r.text}\n")
    judged = report.judged
    if judged:
        shown = {NONE_EXPECTED: NO_MATCH}
        labels = sorted({shown.get(r.expected or "", r.expected or "") for r in judged} | {r.intent for r in judged})
        counts = Counter((shown.get(r.expected or "", r.expected or ""), r.intent) for r in judged)
        out.write("\nconfusion matrix (rows: expected, columns: decided)\n")
        out.write(f"{'':12}" + "".join(f"{label[:9]:>10}" for label in labels) + "\n")
        for row in sorted({shown.get(r.expected or "", r.expected or "") for r in judged}):
            out.write(f"{row[:12]:12}" + "".join(f"{counts[(row, column)]:>10}" for column in labels) + "\n")
    latencies = sorted(r.latency_ms for r in report.results if r.latency_ms > 0)
    if latencies:
        p95 = latencies[min(len(latencies) - 1, int(round(0.95 * (len(latencies) - 1))))]
        out.write(f"\nend of speech to result: p50 {statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms; real-time factor {report.processing_s / report.audio_s if report.audio_s else 0:.3f}\n")
    band = suggest_band(report, node)
    if band is not None:
        out.write(f"configured band: accept {node.confidence.accept:g}, confirm {node.confidence.confirm:g}; suggested: accept {band[0]:g}, confirm {band[1]:g}\n")
    accuracy = f"{report.accuracy():.3f}" if judged else "n/a"
    wrong = f"{report.wrong_accept():.3f}" if judged else "n/a"
    out.write(f"speech-test accuracy={accuracy} wrong_accept={wrong} confirm={report.confirm_rate():.3f} n={len(report.results)}\n")
