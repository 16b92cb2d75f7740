"""At start: the callbacks the last engine still owed (requested, never connected nor given up) go
back in line at their place, with what the IVR (or the chat) learned for the pop.

A callback arranged in a web chat is a phone leg that goes on from the chat leg (`continued_from`):
its pop and its variables are the chat's journal followed by its own, as when it was arranged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from engine.acd.acd_ports import CallSnapshot
from engine.acd.call_distributor import CallDistributor
from engine.acd.journey_marks import CALLBACK_REQUESTED, continued_from, owed_callback_of
from engine.config.flow_model import Step
from engine.store.journey_store import JourneyEvent, JourneyStore

log = logging.getLogger(__name__)
CALLBACKS_KEPT_S = 7 * 24 * 3600.0
"""How far back an owed callback is looked for at start."""


async def restore_callbacks(store: JourneyStore, distributor: CallDistributor, procedures: Mapping[str, Sequence[Step]],
                            languages: Mapping[str, str], now: datetime) -> None:
    """`languages`: each flow's language (the callback's prompts and transcripts speak it)."""
    try:
        requested = await store.events_of_kinds_since([CALLBACK_REQUESTED], now - timedelta(seconds=CALLBACKS_KEPT_S))
    except Exception as exc:  # the database is down at start: the engine runs; those callers are owed still
        log.error("owed callbacks not read: %s", exc)
        return
    for channel_id in dict.fromkeys(channel for channel, *_ in requested):
        record = await store.get_call(channel_id)
        if record is None:
            continue
        rows: Sequence[JourneyEvent] = record.events
        chat_leg = continued_from(rows)
        earlier = await store.get_call(chat_leg) if chat_leg else None
        if earlier is not None:
            rows = [*earlier.events, *rows]
        owed = owed_callback_of(rows)
        if owed is None:
            continue
        snapshot = CallSnapshot(record.caller_number, record.caller_name, owed.variables, [(e.kind, e.detail) for e in rows], procedures,
                                languages.get(owed.flow, ""))
        if distributor.restore_callback(channel_id, owed.queue, owed.number, (now - owed.queued_at).total_seconds(), owed.attempts, snapshot,
                                        owed.skills, owed.priority, continues_from=chat_leg or ""):
            log.info("callback for call %s (%s) restored at its place in %s", channel_id, owed.number, owed.queue)
