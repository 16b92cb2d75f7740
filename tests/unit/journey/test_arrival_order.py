"""ArrivalOrder: answers happen in ticket order whatever order the tasks reach them."""

from __future__ import annotations

import asyncio

from engine.journey.arrival_order import ArrivalOrder


async def test_later_tickets_wait_for_earlier_ones() -> None:
    order = ArrivalOrder()
    tickets = [order.take() for _ in range(4)]
    answered: list[int] = []

    async def answer(ticket: int, delay: float) -> None:
        await asyncio.sleep(delay)  # the requests before the answer complete in reverse order
        async with order.turn(ticket):
            answered.append(ticket)

    await asyncio.gather(*(answer(t, 0.04 - 0.01 * t) for t in tickets))
    assert answered == tickets


async def test_a_caller_gone_before_its_turn_does_not_block_the_next() -> None:
    order = ArrivalOrder()
    first, second = order.take(), order.take()
    order.done(first)  # hung up before being answered
    async with asyncio.timeout(0.5), order.turn(second):
        pass


async def test_a_stuck_earlier_caller_delays_the_next_only_boundedly() -> None:
    order = ArrivalOrder(max_wait_s=0.05)
    order.take()  # never answered, never done
    second = order.take()
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with order.turn(second):
        pass
    assert loop.time() - started < 1.0


def test_done_is_idempotent() -> None:
    order = ArrivalOrder()
    ticket = order.take()
    order.done(ticket)
    order.done(ticket)
    assert order.take() == 1


async def test_a_leaked_ticket_delays_only_the_caller_right_after_it() -> None:
    order = ArrivalOrder(max_wait_s=0.05)
    order.take()  # leaked
    second, third = order.take(), order.take()
    async with order.turn(second):
        pass
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with order.turn(third):
        pass
    assert loop.time() - started < 0.04, "the third caller waited for the leaked ticket again"
