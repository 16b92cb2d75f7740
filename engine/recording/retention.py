"""Retention and erasure of recorded personal data.

Purge: recordings and transcripts older than their queue's retention (or the site default) are
removed; a purged recording keeps its row, marked `purged`, so reports and audits still see that
the call was recorded. Journeys older than calls.keep_personal_days lose their personal fields the
way an erasure blanks them (steps and times stay). The engine purges daily; `threadline purge
--dry-run` shows what would go.

Erasure (`threadline erase --number N` or `--account A`): every call of that customer loses its
recordings (files and rows), transcripts, kept utterance audio, and the personal parts of its
journey (number, name, what was said, typed or keyed, lookup answers, notes); the steps and times stay,
so KPIs do not change. Chats and API threads are legs like calls: the customer's contacts forget who
they were, and every leg of them is erased with the calls; the webhook deliveries about those contacts
(sent or still owed) are deleted, so no receiver is sent them afterwards. The audit log keeps a record of
the erasure itself, never the number.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from engine.config.acd_config import AcdConfig
from engine.journey.events import (
    Arrived, CallbackDialing, CallbackFailed, CallbackRefused, CallbackRequested, CallbackRestored, CheckpointSaved, Collected, DispositionSet,
    DtmfReceived, FellBack, IntentChosen, LookedUp, Recognised, SpeechHeard, StepDone, VariablesSet, kinds,
    ChatSent, ExternalEvent, HandoffOffered, Typed,
)
from engine.settings import Settings
from engine.store.api_store import WebhookOutbox
from engine.store.contact_store import ContactStore
from engine.store.journey_store import JourneyStore
from engine.store.recording_store import Recording, RecordingStore

log = logging.getLogger(__name__)
PERSONAL_KINDS = frozenset(kinds(
    Arrived, SpeechHeard, Recognised, Collected, LookedUp, CheckpointSaved, VariablesSet, DispositionSet, DtmfReceived,
    CallbackRequested, CallbackRestored, CallbackDialing, CallbackFailed, CallbackRefused, IntentChosen, StepDone, FellBack,
    Typed, ChatSent, HandoffOffered, ExternalEvent,
))
"""Journey events whose detail can hold what a caller said, typed, keyed or is (erased); the others hold
only steps, queues, agents and times. A chat's transcript and an API thread's events are personal like a call's."""


@dataclass(frozen=True)
class PurgePlan:
    recordings: tuple[Recording, ...]
    transcripts: tuple[int, ...]
    """Recording ids whose transcript expires."""
    journeys: tuple[str, ...] = ()
    """Channel ids of calls whose journey's personal fields expire (calls.keep_personal_days)."""


def plan_purge(
    recordings: Sequence[Recording], transcripts: Mapping[int, tuple[str, datetime]], config: AcdConfig | None,
    recording_days: int, transcript_days: int, now: datetime,
) -> PurgePlan:
    """Pure: what has outlived its retention at `now` (a queue's own days, else the site's)."""
    def days(queue: str, field: str, default: int) -> int:
        settings = config.queues.get(queue) if config is not None else None
        chosen = getattr(settings.retention, field) if settings is not None else None
        return int(chosen) if chosen is not None else default

    expired = tuple(r for r in recordings if r.status != "purged" and r.started_at < now - timedelta(days=days(r.queue, "recordings_days", recording_days)))
    old_transcripts = tuple(sorted(rid for rid, (queue, started) in transcripts.items() if started < now - timedelta(days=days(queue, "transcripts_days", transcript_days))))
    return PurgePlan(expired, old_transcripts)


async def purge(database: AsyncEngine, settings: Settings, config: AcdConfig | None, dry_run: bool, actor: str = "engine") -> PurgePlan:
    store = RecordingStore(database)
    now = datetime.now(UTC)
    plan = plan_purge(await store.all_recordings(), await store.transcript_dates(), config, settings.recording.keep_days, settings.transcripts.keep_days, now)
    journeys = JourneyStore(database)
    cutoff = now - timedelta(days=settings.calls.keep_personal_days)
    if not dry_run:
        await ContactStore(database, journeys).blank_contacts_before(cutoff)
    if dry_run:
        return replace(plan, journeys=tuple(await journeys.calls_with_personal_data_before(cutoff, limit=1_000_000)))
    if plan.recordings or plan.transcripts:
        folder = settings.recording.folder
        await asyncio.to_thread(_remove_files, [folder / r.path for r in plan.recordings])
        await store.delete_transcripts(list(plan.transcripts))
        await store.set_status([r.id for r in plan.recordings], "purged")
        await store.audit(now, actor, "purge", "recordings", {"recordings": len(plan.recordings), "transcripts": len(plan.transcripts)})
        log.info("retention: purged %d recordings and %d transcripts", len(plan.recordings), len(plan.transcripts))
    blanked = await _purge_journeys(journeys, cutoff)
    if blanked:
        await store.audit(now, actor, "purge", "journeys", {"journeys": len(blanked), "older_than_days": settings.calls.keep_personal_days})
        log.info("retention: blanked the personal fields of %d journeys older than %d days", len(blanked), settings.calls.keep_personal_days)
    return replace(plan, journeys=tuple(blanked))


async def _purge_journeys(journeys: JourneyStore, cutoff: datetime, batch: int = 500) -> list[str]:
    """Blank the personal fields of every journey that arrived before `cutoff`, in batches; the kept
    utterance audio the blanked events pointed to is deleted too."""
    blanked: list[str] = []
    while calls := await journeys.calls_with_personal_data_before(cutoff, limit=batch):
        audio = await journeys.erase_personal_data(calls, PERSONAL_KINDS)
        await asyncio.to_thread(_remove_files, [Path(name) for name in audio])
        blanked.extend(calls)
        if len(calls) < batch:
            break
    return blanked


@dataclass(frozen=True)
class Erased:
    calls: tuple[str, ...]
    recordings: int
    audio_files: int


async def erase(database: AsyncEngine, settings: Settings, number: str = "", account: str = "", actor: str = "cli") -> Erased:
    """Erase one customer's personal data (see the module docstring); the audit row names no number."""
    if not number and not account:
        raise ValueError("give --number or --account")
    journeys, store = JourneyStore(database), RecordingStore(database)
    contacts = ContactStore(database, journeys)
    refs = [contact.ref for contact in await contacts.contacts_of_customer(number, account, limit=100_000)]
    deliveries = await WebhookOutbox(database).forget_contacts(refs)
    contact_legs = await contacts.erase_customer(number, account)
    calls = sorted(set(await journeys.calls_of_customer(number, account)) | set(contact_legs))
    recordings = [r for call_id in calls for r in await store.for_call(call_id)]
    await asyncio.to_thread(_remove_files, [settings.recording.folder / r.path for r in recordings])
    await store.delete_recordings([r.id for r in recordings])
    kept_audio = await journeys.erase_personal_data(calls, PERSONAL_KINDS)
    keep_dir = settings.speech.keep_audio_dir
    audio_files = [Path(name) for name in kept_audio]
    if keep_dir is not None:
        audio_files += await asyncio.to_thread(lambda: [p for call_id in calls for p in keep_dir.glob(f"*/*-{call_id}.wav")])
    removed_audio = await asyncio.to_thread(_remove_files, audio_files)
    by = "number" if number else "account"
    await store.audit(datetime.now(UTC), actor, "erase", f"calls:{len(calls)}", {"by": by, "calls": calls, "recordings": len(recordings), "audio_files": removed_audio,
                                                                                   "webhook_deliveries": deliveries})
    log.warning("erasure by %s: %d calls, %d recordings, %d kept utterances", by, len(calls), len(recordings), removed_audio)
    return Erased(tuple(calls), len(recordings), removed_audio)


def _remove_files(paths: Sequence[Path]) -> int:
    removed = 0
    for path in paths:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed
