"""`threadline simulate`: a flow in the terminal, through the same interpreter as live calls.

Prompts are printed. The operator types what the caller says (append `~0.6` to set the
recogniser's confidence), `#digits` for keys, an empty line for silence (the no-input timer
fires), or `hangup`. Lookups are answered from a JSON file of canned answers per endpoint. At the
end the journey is printed. The same loop reads a script file, for tests and for regression runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from engine.flows.flow_facts import (
    Listen,
    CallStarted,
    CancelTimer,
    DigitPressed,
    FlowCommand,
    FlowFact,
    HangUp,
    Journal,
    Lookup,
    LookupAnswered,
    Play,
    PromptFinished,
    SpeechRecognised,
    StartTimer,
    TimerFired,
    Transfer,
)
from engine.language.intent_matching import Hypothesis
from engine.config.flow_model import FlowSet
from engine.flows.interpreter import FlowInterpreter
from engine.config.flow_validation import load_flow_set

DEFAULT_CONFIDENCE = 0.9
HearFile = Callable[[Path, tuple[str, ...]], tuple[Hypothesis, ...]]
"""A recording and the listening node's grammar in, what the recogniser heard out."""


@dataclass
class SimulationResult:
    ended_by: str
    """transfer, hangup, or caller (the operator hung up or the script ended)."""
    journey: list[Journal] = field(default_factory=list)
    transfer: Transfer | None = None


def load_simulation(flow_name: str, folder: Path) -> FlowSet:
    flows, procedures = load_flow_set([folder])
    if flow_name not in flows:
        raise KeyError(f"no flow `{flow_name}` in {folder}; there are: {', '.join(sorted(flows)) or 'none'}")
    return FlowSet(
        {name: loaded.flow for name, loaded in flows.items()},
        {name: tuple(loaded.procedure.steps) for name, loaded in procedures.items()},
        {name: loaded.version for name, loaded in flows.items()},
    )


def simulate(
    flow_set: FlowSet,
    flow_name: str,
    lines: Iterator[str],
    out: TextIO,
    lookups: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
    hear_file: HearFile | None = None,
) -> SimulationResult:
    """hear_file: sends `@file.wav` through the real speech pipeline with the listening node's grammar."""
    caller = {"caller_number": "01012345678", "caller_name": "", "dialed": "1588", "channel": "simulator", **(variables or {})}
    interpreter = FlowInterpreter(flow_set, flow_name, caller)
    result = SimulationResult("caller")
    timers: dict[str, str] = {}
    facts: list[FlowFact] = [CallStarted()]
    grammar: tuple[str, ...] = ()
    while True:
        while facts:
            commands = interpreter.decide(facts.pop(0))
            grammar = next((c.phrases for c in reversed(commands) if isinstance(c, Listen)), grammar)
            facts.extend(_carry_out(commands, out, result, timers, lookups or {}, interpreter))
        if interpreter.finished:
            break
        line = next(lines, None)
        if line is None or line.strip().lower() in ("hangup", "quit", "exit"):
            out.write("caller hung up\n")
            break
        if line.startswith("@"):
            facts.extend(_heard_file(Path(line[1:].strip()), grammar, hear_file, out))
            continue
        facts.extend(_caller_input(line.rstrip("\n"), timers, out))
    _print_journey(result.journey, out)
    return result


def _carry_out(
    commands: list[FlowCommand], out: TextIO, result: SimulationResult, timers: dict[str, str], lookups: Mapping[str, Any], interpreter: FlowInterpreter
) -> list[FlowFact]:
    follow: list[FlowFact] = []
    for command in commands:
        if isinstance(command, Play):
            out.write(f"  [{interpreter.node_name}] {command.text if command.text is not None else f'(file {command.file})'}\n")
            follow.append(PromptFinished(command.prompt_id))
        elif isinstance(command, StartTimer):
            timers[command.timer_id.rsplit("-", 1)[0]] = command.timer_id
        elif isinstance(command, CancelTimer):
            for kind, timer_id in list(timers.items()):
                if timer_id == command.timer_id:
                    del timers[kind]
        elif isinstance(command, Lookup):
            answer = lookups.get(command.endpoint)
            error = None if isinstance(answer, dict) else f"no canned answer for endpoint `{command.endpoint}` (use --lookups FILE)"
            out.write(f"  lookup {command.endpoint} {dict(command.params)} -> {json.dumps(answer, ensure_ascii=False) if error is None else error}\n")
            follow.append(LookupAnswered(command.request_id, answer if error is None else None, error))
        elif isinstance(command, Journal):
            result.journey.append(command)
        elif isinstance(command, Transfer):
            result.ended_by, result.transfer = "transfer", command
            out.write(f"TRANSFER to queue {command.queue} skills={list(command.skills)} priority={command.priority}\n")
            out.write(f"  context: {json.dumps(dict(command.context), ensure_ascii=False, default=str)}\n")
        elif isinstance(command, HangUp):
            result.ended_by = "hangup"
            out.write(f"HANGUP ({command.reason})\n")
    return follow


def _heard_file(path: Path, grammar: tuple[str, ...], hear_file: HearFile | None, out: TextIO) -> list[FlowFact]:
    if hear_file is None:
        out.write("  (no speech model for this flow's language: @file.wav cannot be heard)\n")
        return []
    try:
        alternatives = hear_file(path, grammar)
    except Exception as exc:  # an unreadable file is the operator's typo, not the end of the session
        out.write(f"  (cannot hear {path}: {exc})\n")
        return []
    best = alternatives[0] if alternatives else None
    out.write(f"  (heard: {best.text!r} ~{best.confidence:.2f})\n" if best else "  (heard nothing usable)\n")
    return [SpeechRecognised(alternatives)]


def _caller_input(line: str, timers: dict[str, str], out: TextIO) -> list[FlowFact]:
    if not line.strip():
        for kind in ("inter_digit", "no_input"):
            if kind in timers:
                out.write(f"  (silence: {kind.replace('_', ' ')} timer fires)\n")
                return [TimerFired(timers.pop(kind))]
        return []
    if line.startswith("#"):
        return [DigitPressed(digit) for digit in line[1:] if digit in "0123456789*#"]
    text, _, confidence = line.partition("~")
    try:
        value = float(confidence) if confidence else DEFAULT_CONFIDENCE
    except ValueError:
        value = DEFAULT_CONFIDENCE
    return [SpeechRecognised((Hypothesis(text.strip(), value),))]


def _print_journey(journey: list[Journal], out: TextIO) -> None:
    out.write("journey:\n")
    for number, event in enumerate(journey, start=1):
        detail = json.dumps(dict(event.detail), ensure_ascii=False, default=str)
        out.write(f"  {number:3d} {event.kind} {detail}\n")
