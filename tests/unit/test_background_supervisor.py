"""The background supervisor: a failing task is restarted with back-off and reported, never ends the
TaskGroup (the engine); cancellation still propagates."""

from __future__ import annotations

import asyncio
import logging

import pytest

from engine.background_supervisor import BackgroundSupervisor, RestartPolicy, health_detail, restart_decision

POLICY = RestartPolicy(first_delay_s=1.0, max_delay_s=30.0, factor=2.0, stable_after_s=60.0)


def test_back_off_doubles_up_to_the_ceiling() -> None:
    failures, delays = 0, []
    for _ in range(8):
        decision = restart_decision(POLICY, failures, ran_s=0.5)
        failures = decision.failures_in_a_row
        delays.append(decision.delay_s)
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert failures == 8


def test_a_long_run_starts_the_back_off_over() -> None:
    assert restart_decision(POLICY, 6, ran_s=60.0) == restart_decision(POLICY, 0, ran_s=0.0)
    assert restart_decision(POLICY, 6, ran_s=59.9).failures_in_a_row == 7


def test_health_names_each_failing_task() -> None:
    assert health_detail({}) == (True, "all background tasks running")
    ok, detail = health_detail({"flow-watch": "failed (ValueError: x)", "kpi": "failed (OSError)"})
    assert not ok and detail == "flow-watch: failed (ValueError: x); kpi: failed (OSError)"


FAST = RestartPolicy(first_delay_s=0.01, max_delay_s=0.05, stable_after_s=0.3)


async def test_a_failing_task_is_restarted_and_the_group_lives_on(caplog: pytest.LogCaptureFixture) -> None:
    reports: list[tuple[bool, str]] = []
    supervisor = BackgroundSupervisor(lambda ok, detail: reports.append((ok, detail)), FAST)
    runs = 0
    healthy_neighbour = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise ValueError(f"typo number {runs}")
        await asyncio.Event().wait()  # the fourth run keeps going

    async def neighbour() -> None:
        while runs <= 3:
            await asyncio.sleep(0.01)
        healthy_neighbour.set()
        await asyncio.Event().wait()

    caplog.set_level(logging.ERROR)
    async with asyncio.TaskGroup() as tasks:
        running = [supervisor.start(tasks, "flow-watch", flaky), supervisor.start(tasks, "neighbour", neighbour)]
        await asyncio.wait_for(healthy_neighbour.wait(), 5)
        assert reports[-1][0] is False and "flow-watch: failed (ValueError: typo number 3); restart 3" in reports[-1][1]
        deadline = asyncio.get_running_loop().time() + 5
        while supervisor.failing:  # stable for stable_after_s: recovered
            assert asyncio.get_running_loop().time() < deadline, reports
            await asyncio.sleep(0.02)
        for task in running:
            task.cancel()
    assert runs == 4
    assert reports[-1] == (True, "all background tasks running")
    assert "background task flow-watch failed (ValueError: typo number 1)" in caplog.text


async def test_cancellation_propagates_through_the_supervisor() -> None:
    supervisor = BackgroundSupervisor(lambda ok, detail: None, FAST)
    started, cleaned = asyncio.Event(), asyncio.Event()

    async def long_lived() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.set()

    with pytest.raises(asyncio.CancelledError):
        async with asyncio.TaskGroup() as tasks:
            task = supervisor.start(tasks, "purge", long_lived)
            await started.wait()
            task.cancel()
            await task
    assert cleaned.is_set() and task.cancelled()


async def test_a_task_failing_while_backing_off_is_cancelled_cleanly() -> None:
    supervisor = BackgroundSupervisor(lambda ok, detail: None, RestartPolicy(first_delay_s=30.0, max_delay_s=30.0))
    failed = asyncio.Event()

    async def broken() -> None:
        failed.set()
        raise RuntimeError("boom")

    async with asyncio.TaskGroup() as tasks:
        task = supervisor.start(tasks, "kpi", broken)
        await failed.wait()
        await asyncio.sleep(0.01)
        assert "kpi" in supervisor.failing
        task.cancel()
    assert task.cancelled()
