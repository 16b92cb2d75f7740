"""The `threadline` command: run the engine, manage the local Asterisk, migrate the database."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any
from pathlib import Path

from engine.localpbx.credentials import CredentialsError
from engine.localpbx.errors import LocalPbxError
from engine.settings import Settings, SettingsError, load_settings
from engine.store.database import DatabaseNotReady


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="threadline", description=__doc__)
    parser.add_argument("--config", type=Path, help="settings file (TOML); default ./threadline.toml if present")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the engine: ARI, AMI, HTTP and the Stasis app")
    run.add_argument("--demo", action="store_true",
                     help="the sample contact centre: sample flow, queues and agents, a demo CRM, recording and QA; "
                          "prints where to log in and call (demo data; not for real deployments)")
    run.add_argument("--new-passwords", action="store_true", help="with --demo: issue fresh demo passwords and SIP secret (the old ones stop working)")

    pbx = commands.add_parser("asterisk", help="the local Asterisk 22 in a Debian sid chroot")
    pbx_commands = pbx.add_subparsers(dest="pbx_command", required=True)
    pbx_commands.add_parser("up", help="provision once, start, and wait until fully booted")
    pbx_commands.add_parser("down", help="stop Asterisk")
    pbx_commands.add_parser("status", help="is it running, and for how long")
    cli = pbx_commands.add_parser("cli", help="attach an Asterisk console, or run one command")
    cli.add_argument("words", nargs="*", help="a CLI command to run, e.g. pjsip show endpoints")
    render = pbx_commands.add_parser("render", help="render the config into a folder (for the Docker image)")
    render.add_argument("--dest", type=Path, required=True)
    render.add_argument("--base-dir", default="/srv/threadline/default")

    validate = commands.add_parser("validate", help="check IVR flow files; every problem as file:line:column")
    validate.add_argument("paths", nargs="*", type=Path, help="flow files or folders (default: ivr_flows/)")
    commands.add_parser("schema", help="print the JSON Schema of flow files (for editor completion)")
    simulate = commands.add_parser("simulate", help="run a flow in the terminal: type what the caller says, #digits, @file.wav (heard by the real recogniser), or an empty line for silence")
    simulate.add_argument("flow", help="the flow's name, e.g. support_en")
    simulate.add_argument("--flows", type=Path, default=Path("ivr_flows"), help="the flow folder (default ivr_flows/)")
    simulate.add_argument("--script", type=Path, help="read the caller's side from this file, one input a line")
    simulate.add_argument("--lookups", type=Path, help="JSON file: endpoint name -> the answer a lookup gets")
    simulate.add_argument("--caller-number", default="01012345678")

    speech = commands.add_parser("speech", help="speech recognition tools for operators")
    speech_commands = speech.add_subparsers(dest="speech_command", required=True)
    speech_test = speech_commands.add_parser("test", help="run recordings through the live speech pipeline at an `ask` node and print accuracy figures")
    speech_test.add_argument("flow", help="the flow's name, e.g. support_ko")
    speech_test.add_argument("node", help="an `ask` node of that flow, e.g. menu")
    speech_test.add_argument("audio_dir", type=Path, help="a folder of WAV files (8 or 16 kHz)")
    speech_test.add_argument("--expected", type=Path, help="lines of file<TAB>intent (default: AUDIO_DIR/expected.tsv if present); `none` = should match nothing")
    speech_test.add_argument("--flows", type=Path, default=Path("ivr_flows"), help="the flow folder (default ivr_flows/)")
    synth = speech_commands.add_parser("synth", help="make synthetic callers (espeak-ng through a mu-law phone line) from lines of intent<TAB>sentence")
    synth.add_argument("sentences", type=Path)
    synth.add_argument("out_dir", type=Path)
    synth.add_argument("--language", default="ko", choices=["ko", "en", "zh"])

    models = commands.add_parser("models", help="speech models")
    models_commands = models.add_subparsers(dest="models_command", required=True)
    install = models_commands.add_parser("install", help="install a Vosk model folder, .zip or http(s) URL into the model cache")
    install.add_argument("source", help="a model folder, a .zip file, or an http(s) URL of a .zip")
    install.add_argument("--into", type=Path, help="default: the first of speech.search_dirs (~/.cache/vosk)")
    models_commands.add_parser("list", help="which model each flow language would use, and where it was found")

    from engine.acd import agent_commands

    agent_commands.add_parser(commands)

    from engine.recording import recording_commands

    recording_commands.add_parser(commands)
    recording_commands.add_retention_parsers(commands)
    from engine.acd import report_commands

    report_commands.add_parser(commands)
    from engine.acd import monitoring_commands

    monitoring_commands.add_parser(commands)
    from engine.api import token_commands

    token_commands.add_parser(commands)

    db = commands.add_parser("db", help="the database")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply the Alembic migrations")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    demo = args.command == "run" and args.demo
    if args.command == "run" and args.new_passwords and not demo:
        parser.error("--new-passwords issues the demo's passwords: use it with --demo")
    try:
        settings = load_settings(args.config, preset=_demo_preset() if demo else None)
        if demo:
            _warn_if_demo_overridden(settings)
        return _dispatch(args, settings)
    except (SettingsError, LocalPbxError, CredentialsError, DatabaseNotReady) as exc:
        print(f"threadline: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        from engine.app import run_engine

        return asyncio.run(run_engine(settings, demo=args.demo, new_passwords=args.new_passwords))
    if args.command == "validate":
        return _validate(args.paths or [Path("ivr_flows")], settings)
    if args.command == "simulate":
        return _simulate(args, settings)
    if args.command == "schema":
        import json

        from engine.config.flow_model import Flow

        print(json.dumps(Flow.model_json_schema(by_alias=True), indent=2, ensure_ascii=False))
        return 0
    if args.command == "agents":
        from engine.acd import agent_commands

        return agent_commands.dispatch(args, settings)
    if args.command in ("speech", "models"):
        from engine.speech import speech_commands

        return speech_commands.dispatch(args, settings)
    if args.command == "report":
        from engine.acd import report_commands

        return report_commands.dispatch(args, settings)
    if args.command == "monitoring":
        from engine.acd import monitoring_commands

        return monitoring_commands.dispatch(args, settings)
    if args.command == "tokens":
        from engine.api import token_commands

        return token_commands.dispatch(args, settings)
    if args.command in ("purge", "erase"):
        from engine.recording import recording_commands

        return recording_commands.dispatch_retention(args, settings)
    if args.command == "transcribe":
        from engine.recording import recording_commands

        return recording_commands.dispatch(args, settings)
    if args.command == "db":
        from engine.store.database import shown_url, upgrade_database

        revision = asyncio.run(upgrade_database(settings.database.url))
        print(f"database {shown_url(settings.database.url)} at revision {revision}")
        return 0
    return _asterisk(args, settings)


def _demo_preset() -> dict[str, Any]:
    from engine.demo.demo_mode import demo_preset

    return demo_preset()


def _warn_if_demo_overridden(settings: Settings) -> None:
    """The operator's own flows.inbound or lookups under --demo: say what that means (no refusal)."""
    from engine.demo.demo_mode import settings_warning

    warning = settings_warning(settings)
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)


def _validate(paths: list[Path], settings: Settings) -> int:
    from engine.config.problems import FlowInvalid
    from engine.config.acd_config import callback_phrase_problems, flow_queue_uses, load_acd
    from engine.config.flow_validation import chat_text_problems, load_flow_set, vocabulary_problems
    from engine.config.qa_config import QualityConfig, load_quality, quality_vocabulary_problems

    missing = [path for path in paths if not path.exists()]
    if missing:
        print(f"threadline validate: {', '.join(map(str, missing))}: no such file or folder", file=sys.stderr)
        return 2
    try:
        flows, procedures = load_flow_set(paths)  # the procedures too, as the engine loads them
        vocabularies = _vocabularies({loaded.flow.language for loaded in flows.values()}, settings)
        problems = vocabulary_problems(flows, {}, vocabularies)
        acd = None
        quality = QualityConfig()
        for folder in {path if path.is_dir() else path.parent for path in paths}:
            try:
                acd = load_acd(folder, flow_queue_uses(flows), flows)
                problems.extend(callback_phrase_problems(acd, flows, vocabularies))
            except FlowInvalid as invalid:
                problems.extend(invalid.problems)
            try:
                quality = load_quality(folder)
                problems.extend(quality_vocabulary_problems(quality, _vocabularies(set(quality.by_language) - set(vocabularies), settings) | vocabularies))
            except FlowInvalid as invalid:
                problems.extend(invalid.problems)
        if problems:
            raise FlowInvalid(problems)
    except FlowInvalid as invalid:
        print(invalid, file=sys.stderr)
        print(f"{len(invalid.problems)} problem(s) found", file=sys.stderr)
        return 1
    except Exception as exc:  # a checker bug, never the operator's: still one line, no traceback
        print(f"threadline validate: checking {', '.join(map(str, paths))} failed ({type(exc).__name__}: {exc}); "
              "this is a bug in threadline, please report it with the file", file=sys.stderr)
        return 2
    for problem in chat_text_problems(flows, procedures):  # the phone plays these; the web chat needs their words
        print(f"warning: {problem}", file=sys.stderr)
    for name, loaded in sorted(flows.items()):
        print(f"{loaded.path}: flow {name} ok ({len(loaded.flow.nodes)} nodes, version {loaded.version})")
    if acd is not None and (acd.queues or acd.agents):
        print(f"queues ok: {', '.join(sorted(acd.queues))}; agents ok: {', '.join(sorted(acd.agents))}")
    if quality.by_language:
        print(f"quality ok: {', '.join(sorted(quality.by_language))}; scorecards {', '.join(sorted(quality.scorecards())) or 'none'}")
    return 0


def _vocabularies(languages: set[str], settings: Settings) -> dict[str, frozenset[str]]:
    """The words of each language's speech model, to check phrases against; a language without a model is noted, not failed."""
    from engine.speech.model_resolution import ModelNotFound
    from engine.speech.speech_service import find_model, recogniser_for
    from engine.language.vocabulary import VocabularyUnreadable, model_vocabulary

    found: dict[str, frozenset[str]] = {}
    if not settings.speech.enabled:
        return found
    for language in sorted(languages):
        if recogniser_for(settings.speech, language) != "vosk":
            continue  # Whisper writes any word; PocketSphinx's grammar drops unknown words and its dictionary is large
        try:
            vocabulary = model_vocabulary(find_model(settings.speech, language).path)
        except (ModelNotFound, VocabularyUnreadable, OSError) as exc:
            print(f"note: phrases in {language} flows are not checked against a speech model: {exc}", file=sys.stderr)
            continue
        if vocabulary is not None:
            found[language] = vocabulary
    return found


def _file_hearing(language: str, settings: Settings) -> Callable[[Path, tuple[str, ...]], tuple[Any, ...]] | None:
    """`@file.wav` in the simulator: the model is loaded on first use, so typing-only sessions start at once."""
    from functools import cache

    from engine.speech.model_resolution import ModelNotFound
    from engine.speech.recognition import SpeechModel
    from engine.speech.speech_service import find_model, load_language_model
    from engine.speech.speech_test import hear_recording

    try:
        find_model(settings.speech, language)
    except ModelNotFound:
        return None

    @cache
    def model() -> SpeechModel:
        return load_language_model(settings.speech, language)

    def hear(path: Path, phrases: tuple[str, ...]) -> tuple[Any, ...]:
        return hear_recording(model(), phrases, path, settings.speech.early_end_s)

    return hear


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from engine.config.problems import FlowInvalid
    from engine.flows.simulator import load_simulation, simulate

    try:
        flow_set = load_simulation(args.flow, args.flows)
        lookups = json.loads(args.lookups.read_text()) if args.lookups else {}
        lines = iter(args.script.read_text().splitlines()) if args.script else _typed_lines()
    except FlowInvalid as invalid:
        print(invalid, file=sys.stderr)
        return 1
    except (KeyError, OSError, ValueError) as exc:
        print(f"threadline simulate: {exc}", file=sys.stderr)
        return 2
    result = simulate(flow_set, args.flow, lines, sys.stdout, lookups, {"caller_number": args.caller_number}, _file_hearing(flow_set.flows[args.flow].language, settings))
    return 0 if result.ended_by in ("transfer", "hangup") else 3


def _typed_lines() -> Iterator[str]:
    while True:
        try:
            yield input("caller> ")
        except EOFError:
            return


def _asterisk(args: argparse.Namespace, settings: Settings) -> int:
    from engine.localpbx.local_asterisk import LocalAsterisk

    pbx = LocalAsterisk(settings)
    if args.pbx_command == "up":
        print(pbx.up())
        ast = settings.asterisk
        print(f"  SIP  udp+tcp 127.0.0.1:{ast.sip_port}   ARI http://127.0.0.1:{ast.ari_port}/ari   AMI 127.0.0.1:{ast.ami_port}")
        print(f"  credentials: {settings.credentials_path} (mode 0600)")
    elif args.pbx_command == "down":
        print(pbx.down())
    elif args.pbx_command == "status":
        status = pbx.status()
        print(f"running pid {status.pid}: {status.detail}" if status.running else "not running")
        return 0 if status.running else 3
    elif args.pbx_command == "cli":
        command = pbx.cli_command(args.words)
        os.execvp(command[0], command)
    elif args.pbx_command == "render":
        _render(settings, args.dest, args.base_dir)
    return 0


def _render(settings: Settings, dest: Path, base_dir: str) -> None:
    from engine.localpbx.credentials import load_or_create_credentials
    from engine.localpbx.pbx_config import PbxConfigParams, render_config

    credentials = load_or_create_credentials(settings.credentials_path)
    for path in render_config(PbxConfigParams.from_settings(settings, base_dir, credentials), dest):
        print(path)
