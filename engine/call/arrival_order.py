"""Callers are answered in the order they called, even when the engine learns of them out of order.

After an engine restart several callers who waited are taken at once: some through their queued
StasisStart, some through reconcile's channel list, and each call's ARI requests complete in any
order. Each call registers its arrival time (the channel's creation time); an Answer waits,
bounded, until no earlier caller the engine knows of is still waiting to be answered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

ArrivalKey = tuple[datetime, str]
"""(when the caller called, channel id): a total order, ties broken by the id."""


class ArrivalOrder:
    def __init__(self, max_wait_s: float = 3.0) -> None:
        self._max_wait_s = max_wait_s
        """A stuck earlier call must not hold everyone after it: past this, a caller goes anyway."""
        self._waiting: set[ArrivalKey] = set()
        self._changed = asyncio.Event()

    def register(self, key: ArrivalKey) -> None:
        self._waiting.add(key)

    @contextlib.asynccontextmanager
    async def turn(self, key: ArrivalKey) -> AsyncIterator[None]:
        """Wait until every earlier registered caller is done, hold the turn, then mark this one done."""
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._max_wait_s
            while any(other < key for other in self._waiting) and loop.time() < deadline:
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(deadline):
                        await self._changed.wait()
            if any(other < key for other in self._waiting):
                self._waiting.difference_update({other for other in self._waiting if other < key})  # had their chance
            yield
        finally:
            self.done(key)

    def done(self, key: ArrivalKey) -> None:
        """This caller needs no turn any more (answered, already up, or gone). Idempotent."""
        if key in self._waiting:
            self._waiting.discard(key)
            self._changed.set()
