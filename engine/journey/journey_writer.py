"""One call's journey, written in order by its own task, off the call's control path.

The call session hands over each step as it happens and never waits for the database: a slow or
absent database delays the record, never a prompt. Every write is retried with a time limit per
attempt until it is stored or a give-up bound passes; event writes carry their sequence number, so
a write that committed but timed out is not stored twice when it is retried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from engine import metrics
from engine.asterisk.backoff import Backoff
from engine.journey.events import CallbackRequested, HungUp, JourneyEventModel, Queued, Resumed, kinds, to_stored
from engine.store.journey_store import JourneyEvent, CallerInfo, JourneyStore

log = logging.getLogger(__name__)
T = TypeVar("T")
QUEUED_KINDS = kinds(Queued, CallbackRequested)
"""Either means the call reached the ACD: it was not contained by the IVR."""


@dataclass(frozen=True)
class WritePolicy:
    attempt_timeout_s: float = 5.0
    first_retry_s: float = 0.5
    max_retry_s: float = 10.0
    give_up_after_s: float = 600.0
    """After this long without success an item is dropped with an error line (its call-event log
    line stays the record); later items of the call are still tried."""


@dataclass(frozen=True)
class _Open:
    caller: CallerInfo
    at: datetime
    detail: dict[str, Any]
    resumed: bool


@dataclass(frozen=True)
class _Event:
    kind: str
    at: datetime
    detail: dict[str, Any]


@dataclass(frozen=True)
class _Close:
    at: datetime
    by: str
    cause: int | None
    cause_txt: str | None
    kind: str


_Item = _Open | _Event | _Close


@dataclass
class JourneyWriter:
    """Queue of one call's journey writes; `run` stores them in order and ends after the close."""

    store: JourneyStore
    channel_id: str
    policy: WritePolicy = WritePolicy()
    call_id: int | None = None
    _queue: asyncio.Queue[_Item | None] = field(default_factory=asyncio.Queue)
    _seq: int = 0
    _refused: bool = False
    _queued: bool = False
    """The call was queued for an agent at some point (else, when it ends, the IVR contained it)."""
    _resumed: bool = False

    # -- the session's side: never blocks -------------------------------------------------

    def open(self, caller: CallerInfo, at: datetime, detail: dict[str, Any], resumed: bool) -> None:
        self._resumed = self._resumed or resumed
        self._queue.put_nowait(_Open(caller, at, detail, resumed))

    def write(self, event: JourneyEventModel, at: datetime) -> None:
        """`add` of a typed event, in its stored form."""
        kind, detail = to_stored(event)
        self.add(kind, at, detail)

    def add(self, kind: str, at: datetime, detail: dict[str, Any]) -> None:
        self._queued = self._queued or kind in QUEUED_KINDS
        metrics.journey_event(kind, detail)
        self._queue.put_nowait(_Event(kind, at, detail))

    def close(self, at: datetime, by: str, cause: int | None, cause_txt: str | None, kind: str = HungUp.KIND) -> None:
        if not self._queued and not self._resumed:
            metrics.call_contained()
        self._queue.put_nowait(_Close(at, by, cause, cause_txt, kind))

    def finish(self) -> None:
        """No close is coming (the engine is stopping and leaves the call open for the next one)."""
        self._queue.put_nowait(None)

    async def earlier_events(self, timeout_s: float = 2.0) -> list[JourneyEvent]:
        """The journey an earlier engine wrote for this call (an adopted call); empty if the database is slow."""
        try:
            async with asyncio.timeout(timeout_s):
                record = await self.store.get_call(self.channel_id)
        except Exception as exc:  # the caller is waiting: go on without the history
            log.warning("call %s: could not read its journey back (%s)", self.channel_id, exc)
            return []
        return list(record.events) if record is not None else []

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    # -- the writer task ------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            await self._store_item(item)
            if isinstance(item, _Close):
                return

    async def _store_item(self, item: _Item) -> None:
        if self._refused:
            return
        if isinstance(item, _Open):
            await self._store_open(item)
        elif self.call_id is None:
            log.error("call %s: %s not stored: the call row could not be written", self.channel_id, _name(item))
        elif isinstance(item, _Event):
            seq = self._seq + 1
            call_id = self.call_id
            began = time.perf_counter()
            stored = await self._with_retries(item.kind, lambda: self.store.add_event(call_id, item.kind, item.at, item.detail, seq=seq))
            metrics.JOURNEY_WRITE_SECONDS.observe(time.perf_counter() - began)
            self._seq = stored if stored is not None else seq
        else:
            call_id = self.call_id
            await self._with_retries(item.kind, lambda: self.store.close_call(call_id, item.at, item.by, item.cause, item.cause_txt, item.kind))

    async def _store_open(self, item: _Open) -> None:
        opened = await self._with_retries("arrival", lambda: self.store.open_call(item.caller, item.at, item.detail))
        if opened is None:
            return
        if opened.ended:
            # The channel was already closed in the store: never write after its hung_up.
            log.warning("call %s: its record is already closed; nothing more is written for it", self.channel_id)
            self._refused = True
            return
        self.call_id, self._seq = opened.call_id, opened.last_seq
        if item.resumed and not opened.created:  # right after the open, before anything queued since
            kind, detail = to_stored(Resumed(reason="engine reconnected to a call already in progress"))
            await self._store_item(_Event(kind, item.at, detail))

    async def _with_retries(self, what: str, write: Callable[[], Awaitable[T]]) -> T | None:
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.policy.give_up_after_s
        backoff = Backoff(first_s=self.policy.first_retry_s, max_s=self.policy.max_retry_s, jitter=0.0)
        while True:
            try:
                async with asyncio.timeout(self.policy.attempt_timeout_s):
                    return await write()
            except Exception as exc:  # any driver error or a timeout: the database did not take it
                delay = backoff.next_delay()
                if loop.time() + delay > give_up_at:
                    log.error("call %s: could not store %s, giving up: %s", self.channel_id, what, exc or type(exc).__name__)
                    return None
                log.warning("call %s: storing %s failed (%s); retrying in %.1f s", self.channel_id, what, exc or type(exc).__name__, delay)
                await asyncio.sleep(delay)


def _name(item: _Item) -> str:
    return "arrival" if isinstance(item, _Open) else item.kind
