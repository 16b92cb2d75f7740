"""Owns short-lived tasks (a message to a page, a recording step, a page being closed) so none is
fired and forgotten: each is named, a failure is logged once with its name and counted but never
ends the engine, and `aclose` lets them finish (briefly) and then cancels and awaits the rest, so
no task outlives its owner or runs its `finally` after shutdown moved on.

Long-lived tasks that must be restarted belong to `BackgroundSupervisor`, not here. During
`aclose`'s grace period (`timeout_s`) tasks may still be spawned (a step finishing may need the
next one) and are waited for too; once it starts cancelling, `spawn` is refused with
`TaskOwnerClosed`: late work is a bug of the caller, or dropped on purpose by it (check `closed`),
never silently lost here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)
CANCEL_WARN_S = 5.0
"""While aclose awaits cancelled tasks, those still running after this long are named in the log."""


class TaskOwnerClosed(RuntimeError):
    """`spawn` after `aclose` began: the owner no longer takes work."""


@dataclass(frozen=True)
class TaskFailure:
    task: str
    error: str
    """The exception's type and message, e.g. `TimeoutError` or `ValueError: bad frame`."""


class TaskOwner:
    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._failures = 0
        self._last_failure: TaskFailure | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def running(self) -> int:
        return len(self._tasks)

    @property
    def failures(self) -> int:
        """How many tasks have failed (ended by an exception other than cancellation)."""
        return self._failures

    @property
    def last_failure(self) -> TaskFailure | None:
        return self._last_failure

    def spawn(self, name: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Runs `work` as a task named `name`. Sync code on the loop (a callback) may call it."""
        if self._closed:
            work.close()  # never to run: close it so Python does not warn it was never awaited
            raise TaskOwnerClosed(f"{self._owner} is closed: task {name} refused (spawned after aclose)")
        task = asyncio.get_running_loop().create_task(self._guarded(name, work), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: work.close())  # cancelled before it started: `work` never ran
        return task

    async def aclose(self, timeout_s: float | None = None) -> None:
        """Waits up to `timeout_s` for the tasks to finish, then refuses new work, cancels the rest and
        awaits them. A cancellation of aclose itself propagates at once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout_s or 0.0)
        while self._tasks and (grace := deadline - loop.time()) > 0:
            await asyncio.wait(set(self._tasks), timeout=grace, return_when=asyncio.FIRST_COMPLETED)
        self._closed = True
        left = set(self._tasks)
        for task in left:
            task.cancel()
        while left:
            _, left = await asyncio.wait(left, timeout=CANCEL_WARN_S)
            if left:
                log.warning("%s: still waiting for cancelled tasks: %s", self._owner, ", ".join(sorted(t.get_name() for t in left)))

    async def _guarded(self, name: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception as exc:  # any failure of one task: logged and counted, never the engine's end
            self._failures += 1
            self._last_failure = TaskFailure(name, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            log.error("%s: task %s failed: %s", self._owner, name, self._last_failure.error, exc_info=exc)
