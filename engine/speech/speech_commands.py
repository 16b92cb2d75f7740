"""The operator commands for speech: `speech test`, `speech synth`, `models install` and `models list`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.settings import Settings


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "models":
        return _models_install(args, settings) if args.models_command == "install" else _models_list(settings)
    if args.speech_command == "synth":
        return _synth(args)
    return _speech_test(args, settings)


def _speech_test(args: argparse.Namespace, settings: Settings) -> int:
    from engine.config.problems import FlowInvalid
    from engine.config.flow_model import AskNode
    from engine.flows.simulator import load_simulation
    from engine.speech.audio_files import AudioUnreadable
    from engine.speech.model_resolution import ModelNotFound
    from engine.speech.speech_service import load_language_model
    from engine.speech.speech_test import SpeechTestError, print_report, read_expected, run_speech_test

    try:
        flow_set = load_simulation(args.flow, args.flows)
        flow = flow_set.flows[args.flow]
        if not args.audio_dir.is_dir():
            raise SpeechTestError(f"{args.audio_dir}: no such folder")
        files = sorted(args.audio_dir.glob("*.wav"))
        if not files:
            raise SpeechTestError(f"{args.audio_dir}: no .wav files")
        expected_path = args.expected or (args.audio_dir / "expected.tsv")
        expected = read_expected(expected_path) if expected_path.is_file() else None
        if args.expected is not None and not args.expected.is_file():
            raise SpeechTestError(f"--expected {args.expected}: no such file")
        if expected is not None:
            missing = sorted(name for name in expected if not (args.audio_dir / name).is_file())
            if missing:
                raise SpeechTestError(f"{expected_path} names files not in {args.audio_dir}: {', '.join(missing[:5])}")
        model = load_language_model(settings.speech, flow.language)
        report = run_speech_test(flow_set, args.flow, args.node, files, model, expected, settings.speech.early_end_s)
    except FlowInvalid as invalid:
        print(invalid, file=sys.stderr)
        return 1
    except (SpeechTestError, ModelNotFound, AudioUnreadable, KeyError, OSError) as exc:
        print(f"threadline speech test: {exc}", file=sys.stderr)
        return 2
    node = flow.nodes[args.node]
    assert isinstance(node, AskNode)
    print_report(report, node, sys.stdout)
    return 0


def _synth(args: argparse.Namespace) -> int:
    import subprocess

    from engine.speech.synthetic_callers import read_sentences, synthesize

    try:
        expected = synthesize(read_sentences(args.sentences), args.language, args.out_dir)
    except (ValueError, OSError, subprocess.SubprocessError) as exc:
        print(f"threadline speech synth: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {sum(1 for _ in expected.open())} files and {expected}")
    return 0


def _models_install(args: argparse.Namespace, settings: Settings) -> int:
    from engine.speech.model_resolution import ModelInstallFailed, install_model, progress_bar

    into: Path = (args.into or settings.speech.search_dirs[0]).expanduser()
    try:
        installed = install_model(args.source, into, progress_bar())
    except (ModelInstallFailed, OSError) as exc:
        print(f"threadline models install: {exc}", file=sys.stderr)
        return 2
    print(f"installed {installed}")
    return 0


def _models_list(settings: Settings) -> int:
    from engine.speech.model_resolution import ModelNotFound
    from engine.speech.speech_service import find_model, recogniser_for

    status = 0
    for language in ("ko", "en", "zh"):
        recogniser = recogniser_for(settings.speech, language)
        try:
            found = find_model(settings.speech, language)
            print(f"{language}: {recogniser}: {found.path} ({found.how})")
        except ModelNotFound as exc:
            print(f"{language}: {recogniser}: none: {exc}")
            status = 1
    return status
