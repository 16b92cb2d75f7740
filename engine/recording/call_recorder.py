"""Records conversations with agents: the adapter between the ACD and Asterisk's MixMonitor.

Why MixMonitor (over AMI) and not an ARI bridge recording or a snoop per leg: with its `D` option
one file holds the caller's side and the agent's side as two channels of the same clock, so
transcripts know who spoke and talk-over is measurable, without joining two files. It is attached
to the customer's channel, so it follows the caller through transfers and keeps running in
Asterisk while the engine restarts. `MixMonitorMute` pauses it for sensitive entries by writing
silence, so the file's timeline stays true.

Each recording in progress has a small JSON sidecar beside its raw file in the spool (agent,
queue, start, pauses). When the conversation ends the engine files it (WAV, sha256, a database
row) and removes both. A recording no engine filed, because one crashed or a restart lost track
of it, is filed by the periodic sweep from its sidecar; a kept file without a row gets one, and a
row whose file vanished is marked missing.

Each step (start, pause, stop and file) is a task of one TaskOwner: a failed step is logged with its
call and counted, and `close` lets steps finish filing (briefly), then cancels and awaits the rest.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from engine.asterisk.ari_client import AriClient
from engine.asterisk.errors import AsteriskError
from engine.recording.recording_files import FiledAudio, describe_wav, file_raw_recording, file_size, make_private_folders, open_private
from engine.store.recording_store import Recording, RecordingStore
from engine.task_owner import TaskOwner

log = logging.getLogger(__name__)
SETTLED_POLL_S = 0.25
SETTLED_MAX_S = 10.0
"""After a stop, the raw file is filed once it stops growing (Asterisk closes it on its own thread)."""
ABANDONED_AFTER_S = 30.0
"""A raw file no recording in progress owns, unchanged this long, is filed by the sweep."""
SWEEP_EVERY_S = 60.0
SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")

Record = Callable[[str, dict[str, Any]], None]


class AmiActions(Protocol):
    async def action(self, fields: dict[str, str], timeout_s: float = 5.0) -> dict[str, str]: ...


@dataclass
class _Sidecar:
    """What a row needs that the audio cannot tell; kept beside the raw file while it records."""

    call_id: str
    agent_id: str
    queue: str
    started_at: str
    pauses: list[list[float]] = field(default_factory=list)
    language: str = ""


@dataclass
class _Active:
    sidecar: _Sidecar
    raw: Path
    channel_name: str
    started: float
    record: Record
    paused_since: float | None = None


class CallRecorder:
    def __init__(
        self,
        ami: AmiActions,
        ari: AriClient,
        store: RecordingStore,
        folder: Path,
        spool: Path,
        asterisk_spool: str,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_filed: Callable[[Recording], None] | None = None,
    ) -> None:
        self.on_filed = on_filed
        """Told of each recording once it is filed (the transcriber)."""
        self._ami = ami
        self._ari = ari
        self._store = store
        self._folder = folder
        self._spool = spool
        self._asterisk_spool = asterisk_spool.rstrip("/")
        self._clock = clock
        self._wall_clock = wall_clock
        self._active: dict[str, _Active] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        """Per call, made when its conversation starts: start, pauses and stop run in the order asked."""
        self._pending: dict[str, int] = {}
        self._steps = TaskOwner("call-recorder")

    # -- what the ACD tells the recorder -------------------------------------------------------

    def conversation_started(self, call_id: str, channel_id: str, agent_id: str, queue: str, language: str, record: Record) -> None:
        """A customer is talking to an agent on `channel_id`: record it, unless it is recorded already."""
        self._in_order(call_id, self._start(call_id, channel_id, _Sidecar(call_id, agent_id, queue, "", language=language), record, adopt=False))

    def conversation_adopted(self, call_id: str, channel_id: str, agent_id: str, queue: str, language: str, record: Record) -> None:
        """After a restart: go on with the recording the last engine started (Asterisk kept it running)."""
        self._in_order(call_id, self._start(call_id, channel_id, _Sidecar(call_id, agent_id, queue, "", language=language), record, adopt=True))

    def conversation_ended(self, call_id: str) -> None:
        """The agent's part is over (hang-up or transfer): stop and file the recording."""
        if call_id in self._locks:
            self._in_order(call_id, self._stop(call_id))

    def sensitive_entry(self, call_id: str, sensitive: bool) -> None:
        """Pause (silence) while a caller keys or says something sensitive; resume after."""
        if call_id in self._locks:
            self._in_order(call_id, self._mute(call_id, sensitive))

    def is_recording(self, call_id: str) -> bool:
        return call_id in self._active

    async def close(self, timeout_s: float = 5.0) -> None:
        """The engine stops: recordings being filed are finished (briefly); those still running in
        Asterisk are left for the next engine to take over or file."""
        await self._steps.aclose(timeout_s)

    # -- carrying it out ---------------------------------------------------------------------------

    async def _start(self, call_id: str, channel_id: str, wanted: _Sidecar, record: Record, adopt: bool) -> None:
        agent_id = wanted.agent_id
        if call_id in self._active:
            return
        if adopt and (found := await asyncio.to_thread(self._running_for, call_id)) is not None:
            raw, sidecar = found
            channel_name = (await self._ari.get_channel(channel_id)).name
            self._active[call_id] = _Active(sidecar, raw, channel_name, self._clock() - _seconds_since(sidecar.started_at, self._wall_clock()), record)
            log.info("call %s: recording %s taken over from the last engine", call_id, raw.name)
            return
        started_at = self._wall_clock()
        name = f"{_safe(call_id)}--{started_at.strftime('%Y%m%dT%H%M%S%f')}--{_safe(agent_id)}.raw"
        sidecar = replace(wanted, started_at=started_at.isoformat())
        raw = self._spool / name
        try:
            channel_name = (await self._ari.get_channel(channel_id)).name
            await asyncio.to_thread(_write_sidecar, raw, sidecar)
            await self._ami.action({"Action": "MixMonitor", "Channel": channel_name, "File": f"{self._asterisk_spool}/{name}", "Options": "D"})
        except (AsteriskError, TimeoutError, OSError) as exc:
            log.error("call %s: not recorded, Asterisk refused the recording: %s", call_id, exc or type(exc).__name__)
            await asyncio.to_thread(_sidecar_path(raw).unlink, missing_ok=True)
            record("recording_failed", {"agent": agent_id, "reason": str(exc)[:200]})
            return
        self._active[call_id] = _Active(sidecar, raw, channel_name, self._clock(), record)
        record("recording_started", {"agent": agent_id, "file": name})

    async def _mute(self, call_id: str, sensitive: bool) -> None:
        active = self._active.get(call_id)
        if active is None or (active.paused_since is not None) == sensitive:
            return
        try:
            await self._ami.action({"Action": "MixMonitorMute", "Channel": active.channel_name, "Direction": "both", "State": "1" if sensitive else "0"})
        except (AsteriskError, TimeoutError) as exc:
            log.error("call %s: recording not %s: %s", call_id, "paused" if sensitive else "resumed", exc or type(exc).__name__)
            if sensitive:  # a sensitive entry must not be recorded: stop the recording instead
                await self._stop(call_id)
            return
        offset = round(self._clock() - active.started, 2)
        if sensitive:
            active.paused_since = offset
            active.record("recording_paused", {"at_s": offset})
        else:
            active.sidecar.pauses.append([active.paused_since or offset, offset])
            active.paused_since = None
            active.record("recording_resumed", {"at_s": offset})
        await asyncio.to_thread(_write_sidecar, active.raw, active.sidecar)

    async def _stop(self, call_id: str) -> None:
        active = self._active.pop(call_id, None)
        if active is None:
            return
        if active.paused_since is not None:
            active.sidecar.pauses.append([active.paused_since, round(self._clock() - active.started, 2)])
            active.paused_since = None
        try:
            await self._ami.action({"Action": "StopMixMonitor", "Channel": active.channel_name})
        except (AsteriskError, TimeoutError):
            pass  # the channel hung up: MixMonitor stopped with it
        await self._wait_settled(active.raw)
        await self._file(active.raw, active.sidecar, "ok", self._wall_clock())

    async def _wait_settled(self, raw: Path) -> None:
        """Until Asterisk has closed the file: its size unchanged over two polls."""
        deadline = self._clock() + SETTLED_MAX_S
        last = await asyncio.to_thread(file_size, raw)
        steady = 0
        while steady < 2 and self._clock() < deadline:
            await asyncio.sleep(SETTLED_POLL_S)
            size = await asyncio.to_thread(file_size, raw)
            steady = steady + 1 if size == last else 0
            last = size

    async def _file(self, raw: Path, sidecar: _Sidecar, status: str, ended_at: datetime) -> Recording | None:
        started_at = datetime.fromisoformat(sidecar.started_at)
        relative = Path(started_at.strftime("%Y/%m/%d")) / raw.with_suffix(".wav").name
        try:
            filed: FiledAudio = await asyncio.to_thread(file_raw_recording, raw, self._folder / relative)
        except FileNotFoundError:
            log.error("call %s: recording %s vanished before it was filed", sidecar.call_id, raw.name)
            return None
        recording = Recording(
            0, sidecar.call_id, relative.as_posix(), "wav", filed.channels, filed.sample_rate, filed.duration_s, filed.size_bytes, filed.sha256,
            sidecar.agent_id, sidecar.queue, started_at, ended_at, status, tuple((float(a), float(b)) for a, b in sidecar.pauses), sidecar.language,
        )
        recording_id = await self._store.add(recording)
        await asyncio.to_thread(_sidecar_path(raw).unlink, missing_ok=True)
        log.info("call %s: recording filed as %s (%.1f s, sha256 %s…)", sidecar.call_id, relative, filed.duration_s, filed.sha256[:12])
        recording = replace(recording, id=recording_id)
        if self.on_filed is not None:
            self.on_filed(recording)
        return recording

    # -- reconciling with the folders ----------------------------------------------------------------

    async def sweep(self, at_start: bool = False) -> dict[str, int]:
        """File raw recordings nobody is recording any more; at start also give kept files without a
        row one, and mark rows whose file is gone. Returns what it did, for the log."""
        done = {"filed": 0, "rows_added": 0, "marked_missing": 0}
        owned = {active.raw for active in self._active.values()}
        for raw in await asyncio.to_thread(_settled_raw_files, self._spool, owned, ABANDONED_AFTER_S):
            sidecar = await asyncio.to_thread(_read_sidecar, raw)
            modified = datetime.fromtimestamp((await asyncio.to_thread(raw.stat)).st_mtime, UTC)
            if await self._file(raw, sidecar, "recovered", modified) is not None:
                done["filed"] += 1
        if at_start:
            known = await self._store.statuses_by_path()
            on_disk = await asyncio.to_thread(_kept_files, self._folder)
            missing = [row_id for path, (row_id, status) in known.items() if path not in on_disk and status != "missing"]
            await self._store.set_status(missing, "missing")
            done["marked_missing"] = len(missing)
            for path in sorted(on_disk - set(known)):
                described = await asyncio.to_thread(describe_wav, self._folder / path)
                call_id, started, agent = await asyncio.to_thread(_facts_from_name, self._folder / path)
                await self._store.add(Recording(0, call_id, path, "wav", described.channels, described.sample_rate, described.duration_s, described.size_bytes,
                                                described.sha256, agent, "", started, started + timedelta(seconds=described.duration_s), "recovered", ()))
                done["rows_added"] += 1
        if any(done.values()):
            log.warning("recordings reconciled: %s", done)
        return done

    async def run_sweeps(self) -> None:
        await self.sweep(at_start=True)
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            await self.sweep()

    def _running_for(self, call_id: str) -> tuple[Path, _Sidecar] | None:
        """The newest raw file of this call in the spool (the recording Asterisk still runs)."""
        candidates = sorted(self._spool.glob(f"{_safe(call_id)}--*.raw"))
        return (candidates[-1], _read_sidecar(candidates[-1])) if candidates else None

    def _in_order(self, call_id: str, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` after every earlier step of this call (a stop never overtakes its start)."""
        if self._steps.closed:  # the engine stops: what Asterisk still records is the next engine's
            work.close()
            log.warning("call %s: recording step asked after the recorder closed; the next engine files it", call_id)
            return
        lock = self._locks.setdefault(call_id, asyncio.Lock())
        self._pending[call_id] = self._pending.get(call_id, 0) + 1

        async def step() -> None:
            try:
                async with lock:
                    await work
            finally:
                self._pending[call_id] -= 1
                if not self._pending[call_id] and call_id not in self._active:  # nothing more to do for this call
                    del self._pending[call_id]
                    self._locks.pop(call_id, None)

        self._steps.spawn(f"recording-{call_id}", step())


def _safe(text: str) -> str:
    return SAFE_NAME.sub("_", text)[:64] or "_"


def _seconds_since(iso: str, now: datetime) -> float:
    return max(0.0, (now - datetime.fromisoformat(iso)).total_seconds())


def _sidecar_path(raw: Path) -> Path:
    return raw.with_suffix(".json")


def _write_sidecar(raw: Path, sidecar: _Sidecar) -> None:
    make_private_folders(raw.parent)
    path = _sidecar_path(raw)
    partial = path.with_suffix(".json.part")
    with open_private(partial) as handle:
        handle.write(json.dumps(asdict(sidecar)).encode())
    partial.replace(path)


def _read_sidecar(raw: Path) -> _Sidecar:
    """The sidecar, or what the file name tells (call id, start) if it was lost."""
    try:
        data = json.loads(_sidecar_path(raw).read_text())
        return _Sidecar(str(data["call_id"]), str(data.get("agent_id", "")), str(data.get("queue", "")), str(data["started_at"]),
                        [[float(a), float(b)] for a, b in data.get("pauses", [])], str(data.get("language", "")))
    except (OSError, ValueError, KeyError, TypeError):
        call_id, started, agent = _facts_from_name(raw)
        return _Sidecar(call_id, agent, "", started.isoformat())


def _facts_from_name(path: Path) -> tuple[str, datetime, str]:
    """(call id, start, agent) from a recording's name: <call>--<UTC start>--<agent>.raw|.wav."""
    call_id, _, rest = path.stem.partition("--")
    stamp, _, agent = rest.partition("--")
    try:
        started = datetime.strptime(stamp, "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
    except ValueError:
        started = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return call_id, started, agent


def _settled_raw_files(spool: Path, owned: set[Path], quiet_s: float) -> list[Path]:
    if not spool.is_dir():
        return []
    now = time.time()
    return [raw for raw in sorted(spool.glob("*.raw")) if raw not in owned and now - raw.stat().st_mtime > quiet_s]


def _kept_files(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*.wav")}
