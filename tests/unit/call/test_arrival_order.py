"""ArrivalOrder: answers happen in arrival order whatever order the tasks reach them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from engine.call.arrival_order import ArrivalKey, ArrivalOrder

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def key(n: int) -> ArrivalKey:
    return (T0 + timedelta(seconds=n), f"chan.{n}")


async def test_later_callers_wait_for_earlier_ones_whatever_order_they_were_found_in() -> None:
    order = ArrivalOrder()
    keys = [key(n) for n in range(4)]
    for k in reversed(keys):  # found newest first (reconcile's list is not sorted)
        order.register(k)
    answered: list[ArrivalKey] = []

    async def answer(k: ArrivalKey, delay: float) -> None:
        await asyncio.sleep(delay)  # the requests before the answer complete in reverse order
        async with order.turn(k):
            answered.append(k)

    await asyncio.gather(*(answer(k, 0.04 - 0.01 * n) for n, k in enumerate(keys)))
    assert answered == keys


async def test_a_caller_gone_before_its_turn_does_not_block_the_next() -> None:
    order = ArrivalOrder()
    order.register(key(0))
    order.register(key(1))
    order.done(key(0))  # hung up before being answered
    async with asyncio.timeout(0.5), order.turn(key(1)):
        pass


async def test_a_stuck_earlier_caller_delays_the_next_only_boundedly_and_once() -> None:
    order = ArrivalOrder(max_wait_s=0.05)
    for n in range(3):
        order.register(key(n))  # key(0) is never answered and never done
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with order.turn(key(1)):
        pass
    assert loop.time() - started < 1.0
    started = loop.time()
    async with order.turn(key(2)):
        pass
    assert loop.time() - started < 0.04, "the third caller waited for the stuck one again"


def test_done_is_idempotent() -> None:
    order = ArrivalOrder()
    order.register(key(0))
    order.done(key(0))
    order.done(key(0))
