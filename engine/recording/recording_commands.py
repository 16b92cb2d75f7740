"""`threadline transcribe`: the transcript backlog from the command line, with progress."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

from engine.config.acd_config import load_acd
from engine.config.problems import FlowInvalid
from engine.config.qa_config import load_quality
from engine.recording.retention import erase, purge
from engine.recording.transcriber import Transcriber, worker_pool
from engine.settings import Settings
from engine.store.database import create_engine, require_current
from engine.store.journey_store import JourneyStore
from engine.store.qa_store import QaStore
from engine.store.recording_store import RecordingStore


def add_parser(commands: Any) -> None:
    transcribe = commands.add_parser("transcribe", help="transcribe recordings that have no transcript yet (re-runnable)")
    which = transcribe.add_mutually_exclusive_group(required=True)
    which.add_argument("--pending", action="store_true", help="every recording without a transcript")
    which.add_argument("--redo", action="store_true", help="every recording again (a new model or new QA phrases)")
    which.add_argument("--recording", type=int, action="append", help="this recording id (repeatable)")
    transcribe.add_argument("--workers", type=int, help="worker processes (default: transcripts.workers)")


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_transcribe(args, settings))


async def _transcribe(args: argparse.Namespace, settings: Settings) -> int:
    folder = settings.flows.folder
    try:
        quality = await asyncio.to_thread(load_quality, folder)
        acd = await asyncio.to_thread(load_acd, folder)
    except FlowInvalid as invalid:
        print(f"threadline transcribe: {folder} does not validate:\n{invalid}", file=sys.stderr)
        return 1
    names = {agent_id: agent.name for agent_id, agent in acd.agents.items()}
    database = create_engine(settings.database.url)
    try:
        await require_current(database, settings.database.url)
        qa, recordings = QaStore(database), RecordingStore(database)
        if args.pending:
            todo = await qa.untranscribed(limit=100_000)
        elif args.redo:
            todo = [r for r in await recordings.all_recordings() if r.status in ("ok", "recovered")]
        else:
            todo = [r for r in [await recordings.get(i) for i in args.recording] if r is not None]
        transcriber = Transcriber(settings.transcripts, settings.speech, qa, JourneyStore(database), settings.recording.folder, lambda: quality, lambda: names)
        workers = args.workers or settings.transcripts.workers
        done = failed = 0
        audio_s = decode_s = 0.0
        began = time.monotonic()
        with worker_pool(workers) as pool:
            pending = {asyncio.ensure_future(transcriber.transcribe(recording, pool)): recording for recording in todo}
            for finished in asyncio.as_completed(list(pending)):
                try:
                    stored = await finished
                except Exception as exc:  # reported per recording; the rest go on
                    failed += 1
                    print(f"\n  failed: {exc}", file=sys.stderr)
                    continue
                if stored is None:
                    failed += 1
                    continue
                done += 1
                audio_s, decode_s = audio_s + stored.audio_s, decode_s + stored.decode_s
                rtf = decode_s / audio_s if audio_s else 0.0
                print(f"\rtranscribed {done + failed}/{len(todo)}  audio {audio_s:.0f} s  CPU RTF {rtf:.2f}  wall {time.monotonic() - began:.0f} s", end="", file=sys.stderr, flush=True)
        print(f"\n{done} transcribed, {failed} failed, {len(todo)} in all", file=sys.stderr if failed else sys.stdout)
        return 1 if failed else 0
    finally:
        await database.dispose()


def add_retention_parsers(commands: Any) -> None:
    purge_command = commands.add_parser("purge", help="remove recordings and transcripts older than their retention")
    purge_command.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    erase_command = commands.add_parser("erase", help="erase one customer's recordings, transcripts and journey personal data (audited)")
    who = erase_command.add_mutually_exclusive_group(required=True)
    who.add_argument("--number", help="the customer's calling number")
    who.add_argument("--account", help="an account number the IVR collected or looked up")


def dispatch_retention(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_purge(args, settings) if args.command == "purge" else _erase(args, settings))


async def _purge(args: argparse.Namespace, settings: Settings) -> int:
    try:
        config = await asyncio.to_thread(load_acd, settings.flows.folder)
    except FlowInvalid as invalid:
        print(f"threadline purge: the queues in {settings.flows.folder} do not validate:\n{invalid}", file=sys.stderr)
        return 1
    database = create_engine(settings.database.url)
    try:
        await require_current(database, settings.database.url)
        plan = await purge(database, settings, config, args.dry_run, actor="cli")
    finally:
        await database.dispose()
    verb = "would remove" if args.dry_run else "removed"
    for recording in plan.recordings:
        print(f"{verb} recording {recording.id} {recording.path} ({recording.queue or 'no queue'}, {recording.started_at:%Y-%m-%d})")
    for recording_id in plan.transcripts:
        print(f"{verb} transcript of recording {recording_id}")
    print(f"{verb} {len(plan.recordings)} recordings and {len(plan.transcripts)} transcripts")
    print(f"{'would blank' if args.dry_run else 'blanked'} the personal fields of {len(plan.journeys)} journeys older than {settings.calls.keep_personal_days} days")
    return 0


async def _erase(args: argparse.Namespace, settings: Settings) -> int:
    database = create_engine(settings.database.url)
    try:
        await require_current(database, settings.database.url)
        erased = await erase(database, settings, number=args.number or "", account=args.account or "", actor=os.environ.get("SUDO_USER") or os.environ.get("USER") or "cli")
    finally:
        await database.dispose()
    print(f"erased {len(erased.calls)} calls: {erased.recordings} recordings, {erased.audio_files} kept utterances; the journey keeps steps and times only")
    return 0
