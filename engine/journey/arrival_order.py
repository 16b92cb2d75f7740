"""Callers are answered in the order they reached the engine, even when their requests overlap.

After an engine restart several callers who waited are taken at once; each call runs in its own
task, and their ARI requests may complete in any order. A ticket taken when the call arrives, in
event order, makes each Answer wait (bounded) until every earlier caller was answered or is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class ArrivalOrder:
    def __init__(self, max_wait_s: float = 3.0) -> None:
        self._max_wait_s = max_wait_s
        """A stuck earlier call must not hold everyone after it: past this, a caller goes anyway."""
        self._next_ticket = 0
        self._lowest_open = 0
        self._done: set[int] = set()
        self._turns: dict[int, asyncio.Event] = {}

    def take(self) -> int:
        ticket = self._next_ticket
        self._next_ticket += 1
        return ticket

    @contextlib.asynccontextmanager
    async def turn(self, ticket: int) -> AsyncIterator[None]:
        """Wait until every earlier ticket is done, hold the turn, then mark this one done."""
        try:
            if ticket > self._lowest_open:
                event = self._turns.setdefault(ticket, asyncio.Event())
                try:
                    async with asyncio.timeout(self._max_wait_s):
                        await event.wait()
                except TimeoutError:
                    self._give_up_on_earlier(ticket)
            yield
        finally:
            self.done(ticket)

    def _give_up_on_earlier(self, ticket: int) -> None:
        """Earlier tickets had their chance: stop waiting for them, now and for every later caller."""
        self._done.update(range(self._lowest_open, ticket))
        self._advance()

    def done(self, ticket: int) -> None:
        """This caller needs no turn any more (answered, already up, or gone). Idempotent."""
        if ticket < self._lowest_open or ticket in self._done:
            return
        self._done.add(ticket)
        self._advance()

    def _advance(self) -> None:
        while self._lowest_open in self._done:
            self._done.discard(self._lowest_open)
            self._turns.pop(self._lowest_open, None)
            self._lowest_open += 1
        waiting = self._turns.get(self._lowest_open)
        if waiting is not None:
            waiting.set()
