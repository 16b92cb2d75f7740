"""Delivers the webhook outbox: takes due deliveries from the database, POSTs each signed, and marks
it delivered or schedules the next try (engine/api/webhook_policy.py decides when, and when to give up).

Runs as one background task under the engine's supervisor, with one worker per webhook url: a
receiver that hangs holds up only its own deliveries. A worker claims a few deliveries at a time for
a lease (engine/store/api_store.py `take_due`), so two engines during a hand-over do not both send
one. A delivery is marked only after its answer, so an engine stopped mid-way sends it again after
its lease: at least once, with the event's id in the body and the Threadline-Event-Id header for the
receiver to drop repeats. Finished deliveries are deleted after KEEP_FINISHED, with or without webhooks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta

import aiohttp

from engine.api.webhook_policy import EVENT_ID_HEADER, SIGNATURE_HEADER, delivered, next_try_in, signature
from engine.settings import ApiSettings
from engine.store.api_store import Delivery, WebhookOutbox

log = logging.getLogger(__name__)
IDLE_POLL_S = 5.0
"""With nothing due and no wake-up, the outbox is looked at again this often (another engine may have written it)."""
KEEP_FINISHED = timedelta(days=7)
"""Delivered and given-up deliveries are kept this long (to look into a receiver's trouble), then deleted:
their payloads hold customers' numbers and texts."""
FORGET_EVERY_S = 3600.0
CONCURRENCY = 8
BATCH = CONCURRENCY
"""Deliveries a url's worker claims at once: all sent side by side, so the lease covers one request's timeout."""
LEASE_MARGIN_S = 60.0
"""A claim lasts the request timeout plus this; a sender stopped mid-way leaves its deliveries to another after it."""


class WebhookSender:
    def __init__(self, outbox: WebhookOutbox, settings: ApiSettings, clock: Callable[[], datetime], jitter: Callable[[], float] = random.random) -> None:
        self._outbox = outbox
        self._settings = settings
        self._secrets = {hook.url: hook.secret for hook in settings.webhooks}
        self._clock = clock
        self._jitter = jitter
        self._wakes = {url: asyncio.Event() for url in self._secrets}
        self._lease = timedelta(seconds=settings.webhook_timeout_s + LEASE_MARGIN_S)
        self.sent = 0
        self.failed = 0

    def wake(self) -> None:
        for wake in self._wakes.values():
            wake.set()

    async def run(self) -> None:
        """Forever: the clean-up, and one worker per webhook url."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._settings.webhook_timeout_s)) as session, asyncio.TaskGroup() as tasks:
            tasks.create_task(self._tidy(), name="webhooks-tidy")
            for n, url in enumerate(self._secrets):
                tasks.create_task(self._serve(session, url), name=f"webhooks-{n}")

    async def _tidy(self) -> None:
        """Hourly: finished deliveries older than KEEP_FINISHED go, and pending ones to a url no longer configured are given up."""
        while True:
            now = self._clock()
            await self._outbox.forget_finished(now - KEEP_FINISHED)
            await self._outbox.give_up_other_urls(list(self._secrets), now)
            await asyncio.sleep(FORGET_EVERY_S)

    async def _serve(self, session: aiohttp.ClientSession, url: str) -> None:
        """One url's deliveries: what is due, then sleep until woken or the next one is due."""
        while True:
            self._wakes[url].clear()
            now = self._clock()
            due = await self._outbox.take_due(url, now, now + self._lease, BATCH)
            await self.deliver(session, due)
            if len(due) < BATCH:
                await self._sleep(url)

    async def deliver(self, session: aiohttp.ClientSession, due: list[Delivery]) -> None:
        async with asyncio.TaskGroup() as tasks:
            for delivery in due:
                tasks.create_task(self._deliver_one(session, delivery), name=f"webhook-{delivery.id}")

    async def _deliver_one(self, session: aiohttp.ClientSession, delivery: Delivery) -> None:
        secret = self._secrets[delivery.url]
        now = self._clock()
        body = json.dumps(delivery.payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json", SIGNATURE_HEADER: signature(secret, int(now.timestamp()), body),
            EVENT_ID_HEADER: delivery.event_id, "User-Agent": "threadline-webhooks/1",
        }
        try:
            async with asyncio.timeout(self._settings.webhook_timeout_s), session.post(delivery.url, data=body, headers=headers, allow_redirects=False) as answer:
                status = answer.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            await self._failed(delivery, f"{type(exc).__name__}: {exc}"[:200])
            return
        if delivered(status):
            self.sent += 1
            await self._outbox.delivered(delivery.id, self._clock())
        else:
            await self._failed(delivery, f"HTTP {status}")

    async def _failed(self, delivery: Delivery, error: str) -> None:
        self.failed += 1
        attempts = delivery.attempts + 1
        delay = next_try_in(attempts, self._settings.webhook_max_attempts, self._settings.webhook_max_delay_s, self._jitter())
        now = self._clock()
        if delay is None:
            log.warning("webhook %s: event %s given up after %d attempts (%s)", delivery.url, delivery.event_id, attempts, error)
        else:
            log.info("webhook %s: event %s attempt %d failed (%s); next in %.0f s", delivery.url, delivery.event_id, attempts, error, delay)
        await self._outbox.failed(delivery.id, error, now + timedelta(seconds=delay) if delay is not None else None, now)

    async def _sleep(self, url: str) -> None:
        next_at = await self._outbox.next_due_at(url)
        wait = IDLE_POLL_S if next_at is None else min(max((next_at - self._clock()).total_seconds(), 0.05), IDLE_POLL_S)
        try:
            async with asyncio.timeout(wait):
                await self._wakes[url].wait()
        except TimeoutError:
            pass
