"""Whether a number may be called back now: the queue's callback rules (callback_numbers.py, pure)
with the callbacks to that number in the last hour.

The hour's callbacks come from the journey, so a restart does not reset the count, and from this
engine's own memory, which counts alone when the journey is slow or down and covers requests the
journey writer has not stored yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from engine.acd.callback_numbers import CallbackRefused, CallbackRequest, NumberSource, RefusalReason, Verdict, check_callback, normalize, recent_for
from engine.config.acd_config import CallbackOffer
from engine.journey.events import CallbackRequested, from_stored

log = logging.getLogger(__name__)
RECENT_CALLBACKS_TIMEOUT_S = 1.0
"""How long the journey may take to say how often a number was called back lately; after that the
engine counts what it remembers itself (its own requests since it started)."""
RecentCallbacks = Callable[[datetime], Awaitable[list[tuple[str, str, datetime, dict[str, Any]]]]]
"""(since) -> (channel id, kind, at, detail) of the `callback_requested` events since then (the
journey store's events_of_kinds_since)."""


class CallbackLimits:
    def __init__(self, recent_callbacks: RecentCallbacks | None, wall_clock: Callable[[], float]) -> None:
        self._recent_callbacks = recent_callbacks
        self._wall_clock = wall_clock
        self._requested: deque[tuple[str, str, float]] = deque(maxlen=5000)
        """(call id, number, wall time) of callbacks this engine arranged."""

    def remember(self, call_id: str, number: str, waited_s: float) -> None:
        self._requested.append((call_id, number, self._wall_clock() - max(0.0, waited_s)))

    async def check(self, call_id: str, offer: CallbackOffer | None, raw: str, source: NumberSource) -> Verdict:
        if offer is None:
            return CallbackRefused(RefusalReason.NO_CALLBACKS, "")
        rules = offer.numbers.rules()
        first = normalize(raw, source, rules)
        if isinstance(first, CallbackRefused):
            return first
        now = self._wall_clock()
        requests = list(self._requested)
        if self._recent_callbacks is not None:
            try:
                async with asyncio.timeout(RECENT_CALLBACKS_TIMEOUT_S):
                    stored = await self._recent_callbacks(datetime.fromtimestamp(now - 3600.0, UTC))
                requests += [(channel, _number(kind, detail), at.timestamp()) for channel, kind, at, detail in stored]
            except Exception as exc:  # the journey is slow or down: count what this engine remembers
                log.warning("call %s: recent callbacks not read from the journey, counting this engine's own: %s", call_id, exc)
        return check_callback(CallbackRequest(raw, source, rules, recent_for(first.number, requests), now))


def _number(kind: str, detail: dict[str, Any]) -> str:
    """The number a stored `callback_requested` row was arranged for ("" for any other row)."""
    event = from_stored(kind, detail)
    return event.number if isinstance(event, CallbackRequested) else ""
