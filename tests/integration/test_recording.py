"""Recording on the real Asterisk: a conversation with an agent is recorded as one stereo file,
the caller on the left and the agent on the right, filed with its sha256 and a database row."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from engine.recording.recording_files import sha256_of
from engine.store.database import create_engine
from engine.store.recording_store import Recording, RecordingStore
from tests.integration.conftest import RunningEngine, free_port, require_tool
from tests.integration.sip_peers import Baresip, write_speech_then_tone
from tests.integration.test_acd_call import CALLER_HZ, JIYEON_HZ, MINSU_HZ, SIP_PORT, acd_setup, agent_phone, wait_agents

pytestmark = pytest.mark.asterisk


async def recordings_of(engine: RunningEngine, call_id: str, expected: int = 1, timeout_s: float = 20.0) -> list[Recording]:
    database = create_engine(engine.database_url)
    try:
        store = RecordingStore(database)
        for _ in range(int(timeout_s * 5)):
            found = await store.for_call(call_id)
            if len(found) >= expected:
                return found
            await asyncio.sleep(0.2)
    finally:
        await database.dispose()
    raise AssertionError(f"no recording row for {call_id} within {timeout_s} s\n{engine.log_tail()}")


def stereo_sides(path: Path, from_s: float = 0.0, to_s: float | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (2, 2)
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64) / 32768.0
    frames = samples.reshape(-1, 2)[int(from_s * rate) : None if to_s is None else int(to_s * rate)]
    return frames[:, 0], frames[:, 1], rate


def dominant(side: np.ndarray, rate: int) -> tuple[float, float]:
    spectrum = np.abs(np.fft.rfft(side * np.hanning(side.size)))
    return float(np.fft.rfftfreq(side.size, 1 / rate)[int(np.argmax(spectrum[1:])) + 1]), float(np.sqrt(np.mean(side * side)))


async def test_a_conversation_is_recorded_in_stereo_with_its_row_and_hash(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    crm_url, _ = mock_crm
    env, secrets = await acd_setup(tmp_path, crm_url)
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'rec.sqlite3'}", **env)
    minsu = await agent_phone(tmp_path, "minsu", "2001", secrets["minsu"], MINSU_HZ)
    jiyeon = await agent_phone(tmp_path, "jiyeon", "2002", secrets["jiyeon"], JIYEON_HZ)
    caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999))
    try:
        await wait_agents(engine, {"minsu": "available", "jiyeon": "available"})
        await caller.start(await asyncio.to_thread(write_speech_then_tone, tmp_path / "caller.wav", "요금 문의요", 6.0, 2.0, CALLER_HZ, 60.0))
        await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
        await caller.wait_event("CALL_ESTABLISHED")
        await wait_agents(engine, {"minsu": "on_call"}, timeout_s=40)
        await asyncio.sleep(8.0)
        await caller.command("hangup")
        await caller.wait_event("CALL_CLOSED")
        await wait_agents(engine, {"minsu": "wrap_up"})
    finally:
        await caller.stop()
        await minsu.stop()
        await jiyeon.stop()

    (call,) = await engine.ended_calls(1)
    talk_s = float(next(e.detail["talk_s"] for e in call.events if e.kind == "call_ended"))
    assert "recording_started" in [e.kind for e in call.events]
    (recording,) = await recordings_of(engine, call.channel_id)
    path = tmp_path / "recordings" / recording.path
    assert (recording.status, recording.format, recording.channels, recording.agent_id, recording.queue) == ("ok", "wav", 2, "minsu", "billing")
    assert recording.sha256 == await asyncio.to_thread(sha256_of, path)
    assert recording.size_bytes == (await asyncio.to_thread(path.stat)).st_size
    assert abs(recording.duration_s - talk_s) <= 1.0, (recording.duration_s, talk_s)

    caller_side, agent_side, rate = await asyncio.to_thread(stereo_sides, path, 3.0)
    caller_hz, caller_rms = dominant(caller_side, rate)
    agent_hz, agent_rms = dominant(agent_side, rate)
    assert caller_rms > 0.01 and abs(caller_hz - CALLER_HZ) < 30, ("left is the caller", caller_hz, caller_rms)
    assert agent_rms > 0.01 and abs(agent_hz - MINSU_HZ) < 30, ("right is the agent", agent_hz, agent_rms)
    spool = pbx.host_dir / "spool" / "recording" / "calls"
    spool_left = await asyncio.to_thread(lambda: [p.name for p in spool.glob(f"{call.channel_id}--*")])
    assert spool_left == [], "the raw file and its sidecar are removed once filed"
