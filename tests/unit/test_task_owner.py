"""The owner of short-lived tasks: a failure is logged and counted, never raised; aclose lets quick
work finish, cancels the rest and awaits it; nothing is spawned after close."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from engine.task_owner import TaskOwner, TaskOwnerClosed


async def test_a_failure_is_logged_once_and_counted_and_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    owner = TaskOwner("test")

    async def broken() -> None:
        raise ValueError("bad frame")

    caplog.set_level(logging.ERROR)
    task = owner.spawn("send-to-agent-7", broken())
    await task  # does not raise
    assert task.exception() is None
    assert owner.failures == 1
    assert owner.last_failure is not None
    assert (owner.last_failure.task, owner.last_failure.error) == ("send-to-agent-7", "ValueError: bad frame")
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1
    assert "send-to-agent-7" in failures[0].getMessage()
    assert failures[0].exc_info is not None and failures[0].exc_info[0] is ValueError
    await owner.aclose()


async def test_cancellation_propagates_inside_the_task_and_is_not_a_failure() -> None:
    owner = TaskOwner("test")

    async def waits() -> None:
        await asyncio.Event().wait()

    task = owner.spawn("waits", waits())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert owner.failures == 0


async def test_aclose_cancels_and_awaits_the_tasks_their_finally_ran() -> None:
    owner = TaskOwner("test")
    cleaned: list[str] = []

    async def long_job(name: str) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.01)  # cleanup that itself awaits: aclose must wait for it
            cleaned.append(name)

    tasks = [owner.spawn(f"job-{n}", long_job(f"job-{n}")) for n in range(3)]
    await asyncio.sleep(0)
    await owner.aclose()
    assert sorted(cleaned) == ["job-0", "job-1", "job-2"]
    assert all(task.cancelled() for task in tasks)
    assert owner.running == 0 and owner.failures == 0


async def test_aclose_with_a_timeout_lets_quick_tasks_finish_and_cancels_slow_ones() -> None:
    owner = TaskOwner("test")
    finished: list[str] = []

    async def job(name: str, takes_s: float) -> None:
        await asyncio.sleep(takes_s)
        finished.append(name)

    quick = owner.spawn("quick", job("quick", 0.01))
    slow = owner.spawn("slow", job("slow", 10.0))
    await owner.aclose(timeout_s=0.5)
    assert finished == ["quick"]
    assert quick.done() and not quick.cancelled()
    assert slow.cancelled()


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
async def test_a_task_cancelled_before_it_started_leaves_no_never_awaited_warning() -> None:
    owner = TaskOwner("test")

    async def job() -> None:
        await asyncio.sleep(0)

    owner.spawn("never-started", job())
    await owner.aclose()  # cancels it before its first step
    gc.collect()  # a coroutine never awaited would warn now


async def test_every_task_is_named() -> None:
    owner = TaskOwner("test")
    seen: list[str] = []

    async def job() -> None:
        current = asyncio.current_task()
        assert current is not None
        seen.append(current.get_name())

    task = owner.spawn("recording-call-17", job())
    assert task.get_name() == "recording-call-17"
    await task
    assert seen == ["recording-call-17"]


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
async def test_spawn_after_aclose_is_refused() -> None:
    owner = TaskOwner("test")
    await owner.aclose()

    async def job() -> None:
        pass

    with pytest.raises(TaskOwnerClosed, match="late"):
        owner.spawn("late", job())
    gc.collect()  # the refused coroutine was closed: no "never awaited" warning
    assert owner.closed


async def test_spawn_from_a_done_callback_and_from_sync_code_on_the_loop() -> None:
    owner = TaskOwner("test")
    ran: list[str] = []

    async def job(name: str) -> None:
        ran.append(name)

    def sync_listener() -> None:  # like the hub's agent_changed: plain code called on the loop
        owner.spawn("from-sync", job("from-sync"))

    first = owner.spawn("first", job("first"))
    first.add_done_callback(lambda _: owner.spawn("from-callback", job("from-callback")))
    asyncio.get_running_loop().call_soon(sync_listener)
    await first
    for _ in range(5):
        await asyncio.sleep(0)
    assert sorted(ran) == ["first", "from-callback", "from-sync"]
    await owner.aclose()


async def test_many_tasks_some_failing() -> None:
    owner = TaskOwner("test")
    done = 0

    async def job(n: int) -> None:
        nonlocal done
        await asyncio.sleep(0.001 * (n % 5))
        if n % 10 == 0:
            raise RuntimeError(f"job {n}")
        done += 1

    tasks = [owner.spawn(f"job-{n}", job(n)) for n in range(1000)]
    assert owner.running == 1000
    await asyncio.gather(*tasks)  # nothing raised
    assert done == 900 and owner.failures == 100 and owner.running == 0
    await owner.aclose()


async def test_work_spawned_during_the_grace_period_is_waited_for_then_spawn_is_refused() -> None:
    owner = TaskOwner("test")
    finished: list[str] = []

    async def follow_up() -> None:
        await asyncio.sleep(0.01)
        finished.append("follow-up")

    async def first_step() -> None:
        await asyncio.sleep(0.01)
        owner.spawn("follow-up", follow_up())  # a stop after its start, asked while the owner closes
        finished.append("first")

    owner.spawn("first", first_step())
    await owner.aclose(timeout_s=1.0)
    assert finished == ["first", "follow-up"]

    async def late() -> None:
        pass

    with pytest.raises(TaskOwnerClosed):
        owner.spawn("late", late())
