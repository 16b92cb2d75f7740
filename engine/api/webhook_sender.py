"""Delivers the webhook outbox: takes due deliveries from the database, POSTs each signed, and marks
it delivered or schedules the next try (engine/api/webhook_policy.py decides when, and when to give up).

Runs as one background task under the engine's supervisor. A delivery is marked only after its
answer, so an engine stopped mid-way sends it again after the restart: at least once, with the
event's id in the body and the Threadline-Event-Id header for the receiver to drop repeats.
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
BATCH = 50
CONCURRENCY = 8


class WebhookSender:
    def __init__(self, outbox: WebhookOutbox, settings: ApiSettings, clock: Callable[[], datetime], jitter: Callable[[], float] = random.random) -> None:
        self._outbox = outbox
        self._settings = settings
        self._secrets = {hook.url: hook.secret for hook in settings.webhooks}
        self._clock = clock
        self._jitter = jitter
        self._wake = asyncio.Event()
        self.sent = 0
        self.failed = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Forever: deliver what is due, then sleep until woken or the next delivery is due."""
        if not self._settings.webhooks:
            await asyncio.Event().wait()  # no webhooks: nothing will ever be owed
        forgotten_at = -FORGET_EVERY_S
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._settings.webhook_timeout_s)) as session:
            while True:
                if asyncio.get_running_loop().time() - forgotten_at >= FORGET_EVERY_S:
                    forgotten_at = asyncio.get_running_loop().time()
                    await self._outbox.forget_finished(self._clock() - KEEP_FINISHED)
                self._wake.clear()
                due = await self._outbox.due(self._clock(), BATCH)
                await self.deliver(session, due)
                if len(due) == BATCH:
                    continue
                await self._sleep()

    async def deliver(self, session: aiohttp.ClientSession, due: list[Delivery]) -> None:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(delivery: Delivery) -> None:
            async with gate:
                await self._deliver_one(session, delivery)

        async with asyncio.TaskGroup() as tasks:
            for delivery in due:
                tasks.create_task(one(delivery), name=f"webhook-{delivery.id}")

    async def _deliver_one(self, session: aiohttp.ClientSession, delivery: Delivery) -> None:
        secret = self._secrets.get(delivery.url)
        now = self._clock()
        if secret is None:
            await self._outbox.failed(delivery.id, "this url is no longer in api.webhooks", None, now)
            return
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

    async def _sleep(self) -> None:
        next_at = await self._outbox.next_due_at()
        wait = IDLE_POLL_S if next_at is None else min(max((next_at - self._clock()).total_seconds(), 0.05), IDLE_POLL_S)
        try:
            async with asyncio.timeout(wait):
                await self._wake.wait()
        except TimeoutError:
            pass
