"""Keeps the engine's long-lived background tasks (flow watcher, purges, sweeps, transcriber, floor, ...)
running: a task that fails is logged with its name, reported on the health board and restarted after
a back-off; its failure never reaches the engine's TaskGroup, so it never ends live calls.

`restart_decision` is the pure policy (no clock, no loop); `BackgroundSupervisor` is the thin adapter
that runs the tasks. Cancellation (engine shutdown) always propagates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

HEALTH_COMPONENT = "background"


@dataclass(frozen=True)
class RestartPolicy:
    first_delay_s: float = 1.0
    max_delay_s: float = 60.0
    factor: float = 2.0
    stable_after_s: float = 60.0
    """A run at least this long counts as recovered: the back-off starts over at the next failure."""


@dataclass(frozen=True)
class RestartDecision:
    failures_in_a_row: int
    delay_s: float


def restart_decision(policy: RestartPolicy, failures_in_a_row: int, ran_s: float) -> RestartDecision:
    """After a failure: how many failures in a row this makes, and how long to wait before the restart."""
    failures = 1 if ran_s >= policy.stable_after_s else failures_in_a_row + 1
    delay = min(policy.max_delay_s, policy.first_delay_s * policy.factor ** (failures - 1))
    return RestartDecision(failures, delay)


def health_detail(failing: dict[str, str]) -> tuple[bool, str]:
    """The health board's entry for the background tasks, from the failing ones (name -> what happened)."""
    if not failing:
        return True, "all background tasks running"
    return False, "; ".join(f"{name}: {detail}" for name, detail in sorted(failing.items()))


TaskFactory = Callable[[], Coroutine[Any, Any, None]]
HealthReport = Callable[[bool, str], None]


class BackgroundSupervisor:
    """Starts each background task in the engine's TaskGroup, wrapped so that only cancellation ends it."""

    def __init__(
        self,
        report: HealthReport,
        policy: RestartPolicy = RestartPolicy(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._report = report
        self._policy = policy
        self._clock = clock
        self._failing: dict[str, str] = {}

    def start(self, tasks: asyncio.TaskGroup, name: str, factory: TaskFactory) -> asyncio.Task[None]:
        """`factory` makes a fresh coroutine for each (re)start."""
        return tasks.create_task(self._keep_running(name, factory), name=name)

    @property
    def failing(self) -> dict[str, str]:
        return dict(self._failing)

    async def _keep_running(self, name: str, factory: TaskFactory) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        while True:
            started = self._clock()
            recovered = loop.call_later(self._policy.stable_after_s, self._recovered, name) if name in self._failing else None
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of a background task: logged, reported, restarted
                decision = restart_decision(self._policy, failures, self._clock() - started)
                failures = decision.failures_in_a_row
                what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                log.error(
                    "background task %s failed (%s); restarting in %.0fs (failure %d in a row)",
                    name, what, decision.delay_s, failures, exc_info=exc,
                )
                self._set_failing(name, f"failed ({what[:200]}); restart {failures} in {decision.delay_s:.0f}s")
                await asyncio.sleep(decision.delay_s)
                continue
            finally:
                if recovered is not None:
                    recovered.cancel()
            log.warning("background task %s ended by itself; it is not restarted", name)
            if self._failing.pop(name, None) is not None:
                self._report(*health_detail(self._failing))
            return

    def _set_failing(self, name: str, detail: str) -> None:
        self._failing[name] = detail
        self._report(*health_detail(self._failing))

    def _recovered(self, name: str) -> None:
        if self._failing.pop(name, None) is not None:
            log.info("background task %s has run for %.0fs since its restart: recovered", name, self._policy.stable_after_s)
            self._report(*health_detail(self._failing))
