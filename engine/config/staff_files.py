"""Who may log in, and the QA cards, when no flow runs inbound calls (flows.inbound unset).

Logins, roles, agent names, reports and QA come from the agents, queues and qa files, not from
the flow that answers calls: without this, an engine answering with the greeting alone let nobody
log in (not even a supervisor to review earlier calls). The files are read as `threadline
validate` reads them and re-read when they change, on SIGHUP and on POST /flows/reload, so a role
removed ends that person's session.
With flows.inbound set, the flows' own bundle (engine/call/flow_services.py) serves all this instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.config.acd_config import AcdConfig, load_acd
from engine.config.config_bundle import source_fingerprint
from engine.config.problems import FlowInvalid
from engine.config.qa_config import QualityConfig, load_quality

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StaffConfig:
    acd: AcdConfig
    quality: QualityConfig


def load_staff(folder: Path) -> StaffConfig:
    """The agents, queues and QA files of the folder; raises FlowInvalid. Reads files: run it off the loop."""
    return StaffConfig(load_acd(folder), load_quality(folder))


class StaffFiles:
    """The current StaffConfig (None while the files do not validate), re-read on edits, on SIGHUP
    and on POST /flows/reload."""

    def __init__(self, folder: Path, watch_s: float) -> None:
        self.folder = folder
        self.watch_s = watch_s
        self.current: StaffConfig | None = None
        self._seen: tuple[tuple[str, int, int], ...] | None = None
        self._lock = asyncio.Lock()
        self.on_load: Callable[[], None] | None = None
        """Called (on the loop) after a new set is loaded: the agent pages' directory follows a reload."""

    async def refresh(self, why: str = "changed", force: bool = False) -> tuple[str, ...]:
        """Re-read the files in a thread (one reader at a time); see `read`."""
        async with self._lock:
            before = self.current
            problems = await asyncio.to_thread(self.read, why, force)
        if self.current is not before and self.on_load is not None:
            self.on_load()
        return problems

    def read(self, why: str = "changed", force: bool = False) -> tuple[str, ...]:
        """Read the files if they changed (or `force`: an operator asked); returns the problems, none
        when loaded or unchanged. A broken edit keeps the last good set and is logged with its
        file:line; an unreadable folder is looked at again next time, changed or not. Blocking."""
        try:
            seen = source_fingerprint(self.folder)
            if seen == self._seen and not force:
                return ()
            staff = load_staff(self.folder)
        except FlowInvalid as invalid:
            self._seen = seen  # this edit is reported once; the next one is read
            log.error("agents and QA files in %s not loaded (%s); the last good ones stay:\n%s", self.folder, why, invalid)
            return tuple(str(problem) for problem in invalid.problems)
        except OSError as exc:
            log.error("agents and QA files in %s cannot be read (%s): %s", self.folder, why, exc)
            return (f"{self.folder}: cannot be read ({exc})",)
        self._seen, self.current = seen, staff
        log.info("agents and QA files loaded from %s (%s; no flow runs inbound calls): %d agents", self.folder, why, len(staff.acd.agents))
        return ()

    async def watch(self) -> None:
        """Re-read on edits every watch_s (flows.watch_s); 0: only at start and when asked."""
        if self.watch_s <= 0:
            await asyncio.Event().wait()
        while True:
            await asyncio.sleep(self.watch_s)
            await self.refresh()
