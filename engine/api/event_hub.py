"""In-process publish/subscribe of the Journey API's events, for the websocket (/api/v1/events).

`publish(event)` never waits: each subscriber has a bounded queue, and one that falls QUEUE_SIZE
events behind is dropped (its socket is closed with "too slow") rather than slowing the publisher
or growing without bound. A dropped reader catches up with GET /api/v1/contacts. Webhooks do not
go through here: their deliveries are persisted (engine/api/journey_publisher.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from engine.api.api_schema import ApiEvent

QUEUE_SIZE = 256
MAX_SUBSCRIBERS = 200
MAX_PER_TOKEN = 10
"""Sockets one token may hold open: one leaking client must not take every place."""


class HubFull(RuntimeError):
    pass


class TokenFull(HubFull):
    """This token holds MAX_PER_TOKEN sockets already."""


class Subscription:
    def __init__(self, wanted: Callable[[ApiEvent], bool], size: int, owner: str = "") -> None:
        self.wanted = wanted
        self.owner = owner
        self.dropped = False
        self._queue: asyncio.Queue[ApiEvent | None] = asyncio.Queue(size + 1)  # +1: room for the drop mark
        self._size = size

    def offer(self, event: ApiEvent) -> bool:
        """False once the subscriber is too far behind (and so dropped)."""
        if self.dropped:
            return False
        if self._queue.qsize() >= self._size:
            self.dropped = True
            self._queue.put_nowait(None)
            return False
        self._queue.put_nowait(event)
        return True

    async def next(self, timeout_s: float) -> ApiEvent | None:
        """The next event; None after `timeout_s` without one, or once dropped (check `dropped`)."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self._queue.get()
        except TimeoutError:
            return None


class EventHub:
    def __init__(self, queue_size: int = QUEUE_SIZE, max_subscribers: int = MAX_SUBSCRIBERS, max_per_token: int = MAX_PER_TOKEN) -> None:
        self._subscribers: set[Subscription] = set()
        self._queue_size = queue_size
        self._max = max_subscribers
        self._max_per_token = max_per_token
        self.dropped = 0
        """Subscribers dropped for being too slow, since start."""

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self, wanted: Callable[[ApiEvent], bool] = lambda _event: True, owner: str = "") -> Subscription:
        """A new subscriber for the token named `owner`; HubFull when the engine, TokenFull when that token, has no room."""
        if len(self._subscribers) >= self._max:
            raise HubFull(f"at most {self._max} event sockets at once")
        if owner and sum(1 for held in self._subscribers if held.owner == owner) >= self._max_per_token:
            raise TokenFull(f"at most {self._max_per_token} event sockets per token; close one first")
        subscription = Subscription(wanted, self._queue_size, owner)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def publish(self, event: ApiEvent) -> None:
        for subscription in list(self._subscribers):
            if subscription.wanted(event) and not subscription.offer(event):
                self._subscribers.discard(subscription)
                self.dropped += 1
