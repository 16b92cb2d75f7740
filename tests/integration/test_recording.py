"""Recording on the real Asterisk: a conversation with an agent is recorded as one stereo file,
the caller on the left and the agent on the right, filed with its sha256 and a database row."""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from engine.recording.recording_files import sha256_of
from engine.store.database import create_engine
from engine.store.qa_store import CallFilter, QaStore, StoredTranscript
from engine.store.recording_store import Recording, RecordingStore
from tests.integration.conftest import RunningEngine, free_port, require_tool, wait_for_event
from tests.integration.sip_peers import Baresip, write_speech_then_tone
from tests.integration.test_agents import threadline
from tests.integration.test_acd_call import ADMIN_TOKEN, CALLER_HZ, JIYEON_HZ, MINSU_HZ, SIP_PORT, acd_setup, agent_phone, status, wait_agents

pytestmark = pytest.mark.asterisk
AGENT_ASKS = "고객 번호 알려 주세요"


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


async def check_figures_agree(engine: RunningEngine, env: dict[str, str]) -> None:
    """The report (page and CLI), /metrics and the live status count the one answered call alike."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{engine.http_url}/reports/data", params={"interval": "day", "by": "queue"}, headers=headers) as response:
            assert response.status == 200, await response.text()
            rows = (await response.json())["rows"]
        async with http.get(f"{engine.http_url}/metrics") as response:  # from loopback: no login
            exposition = await response.text()
        agents = (await status(engine))["agents"]
    billing = next(row for row in rows if row["key"] == "billing")
    assert (billing["offered"], billing["answered"], billing["abandoned"], billing["service_level"]) == (1, 1, 0, 1.0), billing
    assert (billing["csat"], billing["nps"], billing["surveys"]) == (5.0, 100.0, 2), "one promoter: NPS 100"
    everyone = next(row for row in rows if row["key"] == "all")
    assert everyone["calls_arrived"] == 1 and everyone["containment"] == 0.0, everyone
    assert 'threadline_calls_total{outcome="answered"} 1.0' in exposition, exposition
    on_wrap_up = sum(1 for agent in agents.values() if agent["status"] == "wrap_up")
    assert f'threadline_agents{{state="wrap_up"}} {float(on_wrap_up)}' in exposition and on_wrap_up == 1
    assert 'threadline_component_up{component="ari"} 1.0' in exposition and "threadline_journey_write_seconds_count" in exposition
    cli = await asyncio.to_thread(threadline, "report", "--interval", "day", "--by", "agent", "--format", "json", env={**env, "THREADLINE_DATABASE__URL": engine.database_url})
    assert cli.returncode == 0, cli.stderr
    minsu = next(row for row in json.loads(cli.stdout)["rows"] if row["key"] == "minsu")
    assert minsu["answered"] == 1 and minsu["asa_s"] == billing["asa_s"], minsu


async def transcript_of(engine: RunningEngine, recording_id: int, timeout_s: float = 60.0) -> StoredTranscript:
    database = create_engine(engine.database_url)
    try:
        store = QaStore(database)
        for _ in range(int(timeout_s * 4)):
            found = await store.transcript(recording_id)
            if found is not None:
                return found
            await asyncio.sleep(0.25)
    finally:
        await database.dispose()
    raise AssertionError(f"recording {recording_id} not transcribed within {timeout_s} s\n{engine.log_tail()}")


async def search(engine: RunningEngine, wanted: CallFilter) -> list[tuple[Recording, StoredTranscript | None]]:
    database = create_engine(engine.database_url)
    try:
        return await QaStore(database).search(wanted)
    finally:
        await database.dispose()


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
    env, secrets = await acd_setup(tmp_path, crm_url, "survey: survey_ko\n    wrap_up_s: 120")  # minsu still in wrap-up when the figures are compared
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'rec.sqlite3'}", **env)
    # minsu greets with his name, then asks for the customer number the CRM lookup already identified.
    minsu = await agent_phone(tmp_path, "minsu", "2001", secrets["minsu"], MINSU_HZ, says=[(0.5, "안녕하세요 상담원 김민수 입니다"), (1.0, AGENT_ASKS)])
    jiyeon = await agent_phone(tmp_path, "jiyeon", "2002", secrets["jiyeon"], JIYEON_HZ)
    caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999))
    try:
        await wait_agents(engine, {"minsu": "available", "jiyeon": "available"})
        await caller.start(await asyncio.to_thread(write_speech_then_tone, tmp_path / "caller.wav", "요금 문의요", 6.0, 2.0, CALLER_HZ, 60.0))
        await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
        await caller.wait_event("CALL_ESTABLISHED")
        await wait_agents(engine, {"minsu": "on_call"}, timeout_s=40)
        await asyncio.sleep(11.0)
        await minsu.command("hangup")  # the agent ends the call; the caller stays for the survey and answers by key
        await wait_agents(engine, {"minsu": "wrap_up"})
        await wait_for_event(engine, "node_entered", node="csat", timeout_s=15)
        await asyncio.sleep(1.5)
        await caller.command("sndcode", "5")
        await wait_for_event(engine, "node_entered", node="nps", timeout_s=15)
        await asyncio.sleep(1.5)
        for key in "9#":
            await caller.command("sndcode", key)
            await asyncio.sleep(0.3)
        await caller.wait_event("CALL_CLOSED", timeout_s=40)  # thanked, then hung up by the flow
    finally:
        await caller.stop()
        await minsu.stop()
        await jiyeon.stop()

    (call,) = await engine.ended_calls(1)
    answers = [e.detail for e in call.events if e.kind == "survey_answered"]
    assert answers == [{"csat": 5, "queue": "billing", "agent": "minsu"}, {"nps": 9, "queue": "billing", "agent": "minsu"}], answers
    assert next(e.detail for e in call.events if e.kind == "call_ended")["by"] == "agent" and call.hung_up_by == "engine"
    talk_s = float(next(e.detail["talk_s"] for e in call.events if e.kind == "call_ended"))
    await check_figures_agree(engine, env)  # also counts the survey
    assert "recording_started" in [e.kind for e in call.events]
    (recording,) = await recordings_of(engine, call.channel_id)
    path = tmp_path / "recordings" / recording.path
    assert (recording.status, recording.format, recording.channels, recording.agent_id, recording.queue) == ("ok", "wav", 2, "minsu", "billing")
    assert recording.sha256 == await asyncio.to_thread(sha256_of, path)
    assert recording.size_bytes == (await asyncio.to_thread(path.stat)).st_size
    assert abs(recording.duration_s - talk_s) <= 1.0, (recording.duration_s, talk_s)

    caller_side, agent_side, rate = await asyncio.to_thread(stereo_sides, path, 7.0)
    caller_hz, caller_rms = dominant(caller_side, rate)
    agent_hz, agent_rms = dominant(agent_side, rate)
    assert caller_rms > 0.01 and abs(caller_hz - CALLER_HZ) < 30, ("left is the caller", caller_hz, caller_rms)
    assert agent_rms > 0.01 and abs(agent_hz - MINSU_HZ) < 30, ("right is the agent", agent_hz, agent_rms)
    transcript = await transcript_of(engine, recording.id)
    agent_said = " ".join(segment["text"] for segment in transcript.segments if segment["speaker"] == "agent")
    assert {segment["speaker"] for segment in transcript.segments} <= {"caller", "agent"} and "김민수" in agent_said, transcript.segments
    assert all(segment["words"] and segment["words"][0][1] >= 0 for segment in transcript.segments), "word timestamps"
    assert transcript.findings["greeted_with_name"]["passed"] is True, transcript.findings
    repeated = transcript.findings["no_repeated_question"]
    assert repeated["passed"] is False and "customer" in repeated["detail"], (repeated, agent_said)
    assert "repeated_question" in transcript.flags
    found = await search(engine, CallFilter(words="김민수"))
    assert [r.id for r, _ in found] == [recording.id], "the call is found by a word of its transcript"
    assert await search(engine, CallFilter(words="인터넷")) == [], "a word nobody said (and no phrase spots)"

    spool = pbx.host_dir / "spool" / "recording" / "calls"
    spool_left = await asyncio.to_thread(lambda: [p.name for p in spool.glob(f"{call.channel_id}--*")])
    assert spool_left == [], "the raw file and its sidecar are removed once filed"


DTMF_5 = (770.0, 1336.0)
CARD = "4111111111111111"


def write_silence_then_dtmf(path: Path, silent_s: float, seconds: float) -> Path:
    """A caller whose line, after `silent_s`, carries in-band DTMF (the 5 key: 200 ms on, 100 ms
    off) for `seconds`, as a phone that leaks its key tones into the audio does."""
    rate = 8000
    head = bytes(2 * int(silent_s * rate))
    t = np.arange(int(seconds * rate)) / rate
    on = (t % 0.3) < 0.2
    tones = (0.25 * (np.sin(2 * np.pi * DTMF_5[0] * t) + np.sin(2 * np.pi * DTMF_5[1] * t)) * on * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(head + tones.tobytes())
    return path


def goertzel_power(frame: np.ndarray, hz: float, rate: int) -> float:
    """The power at one frequency, by the Goertzel recurrence (what DTMF receivers use)."""
    coefficient = 2 * np.cos(2 * np.pi * hz / rate)
    previous = before = 0.0
    for sample in frame:
        previous, before = sample + coefficient * previous - before, previous
    return float(previous * previous + before * before - coefficient * previous * before)


def dtmf_frames(side: np.ndarray, rate: int, frame_s: float = 0.05) -> list[bool]:
    """Per 50 ms frame: does it carry the 5 key's two tones (each a large share of the frame's energy)?"""
    size = int(rate * frame_s)
    found = []
    for start in range(0, side.size - size + 1, size):
        frame = side[start : start + size]
        energy = float(np.sum(frame * frame)) * size / 2
        if energy < 1e-6:
            found.append(False)
            continue
        found.append(all(goertzel_power(frame, hz, rate) / energy > 0.15 for hz in DTMF_5))
    return found


async def test_secure_entry_pauses_the_recording_and_no_key_tone_or_digit_is_kept(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    """minsu sends the caller to the billing queue's secure-entry flow. The caller's line carries
    in-band key tones throughout (a leaky phone) and keys the card number by RFC 4733. The recording
    has the tones before and after, and none while the card number is keyed; the digits are in no
    journey event, no log line; minsu's pop comes back with the card masked."""
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    crm_url, _ = mock_crm
    env, secrets = await acd_setup(tmp_path, crm_url)
    passwd = await asyncio.to_thread(threadline, "agents", "passwd", "minsu", "--password-stdin", "--flows", env["THREADLINE_FLOWS__FOLDER"], env=env, stdin="minsu-password-1\n")
    assert passwd.returncode == 0, passwd.stderr
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'pci.sqlite3'}", **env)
    minsu = await agent_phone(tmp_path, "minsu", "2001", secrets["minsu"], MINSU_HZ, says=[(0.5, "안녕하세요 상담원 김민수 입니다")])
    jiyeon = await agent_phone(tmp_path, "jiyeon", "2002", secrets["jiyeon"], JIYEON_HZ)
    caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999))
    pops: list[dict[str, object]] = []
    try:
        await wait_agents(engine, {"minsu": "available", "jiyeon": "available"})
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as desk:
            login = await desk.post(f"{engine.http_url}/login", data={"agent": "minsu", "password": "minsu-password-1"})
            assert login.status == 200
            socket = await desk.ws_connect(f"{engine.http_url.replace('http', 'ws')}/ws", origin=engine.http_url)
            # Routed by key (this test is about the recording, not the recogniser); the leaky tones start after the menu.
            await caller.start(await asyncio.to_thread(write_silence_then_dtmf, tmp_path / "caller.wav", 5.0, 90.0))
            await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
            await caller.wait_event("CALL_ESTABLISHED")
            await wait_for_event(engine, "node_entered", node="menu")
            await caller.command("sndcode", "1")
            await wait_agents(engine, {"minsu": "on_call"}, timeout_s=40)
            while (message := await socket.receive_json(timeout=10))["type"] != "pop":
                pass
            call_id = str(message["call_id"])
            await asyncio.sleep(4.0)  # talk, with the leaky key tones on the line
            await socket.send_json({"v": 1, "type": "secure_entry", "call_id": call_id})
            while (reply := await socket.receive_json(timeout=5))["type"] in ("state", "pop", "queues", "directory", "pop_cleared"):
                pass
            assert reply == {"v": 1, "type": "secure_entry_started", "call_id": call_id}, reply
            await wait_for_event(engine, "recording_paused", timeout_s=10)
            await asyncio.sleep(4.0)  # the prompt; the leaky tones go on, unrecorded
            for digit in CARD + "#":
                await caller.command("sndcode", digit)
                await asyncio.sleep(0.25)
            await wait_for_event(engine, "secure_entry_ended", timeout_s=20)
            while (message := await socket.receive_json(timeout=10))["type"] != "pop":
                pass
            pops.append(message)
            await asyncio.sleep(4.0)  # back with minsu, key tones on the line again
            await caller.command("hangup")
            await caller.wait_event("CALL_CLOSED")
            await socket.close()
        await wait_agents(engine, {"minsu": "wrap_up"})
    finally:
        await caller.stop()
        await minsu.stop()
        await jiyeon.stop()

    (call,) = await engine.ended_calls(1)
    kinds = [e.kind for e in call.events]
    order = ["agent_answered", "secure_entry_started", "recording_paused", "collected", "recording_resumed", "secure_entry_ended", "call_ended"]
    assert [k for k in kinds if k in order] == order, kinds
    assert next(e.detail for e in call.events if e.kind == "collected")["value"] == "****"
    entry = kinds.index("secure_entry_started")
    keyed = [e.detail.get("digit") for e in call.events[entry:] if e.kind == "dtmf"]
    assert len(keyed) == len(CARD) + 1 and set(keyed) == {"masked"}, ("keys of a sensitive entry are never stored", keyed)
    journey_text = json.dumps([e.detail for e in call.events], ensure_ascii=False)
    assert CARD not in journey_text and CARD[-4:] not in journey_text
    assert CARD[-4:] not in await asyncio.to_thread(engine.log_text), "no digit of the card in the engine's log"
    assert "****" in json.dumps(pops[0]["collected"]), pops[0]

    (recording,) = await recordings_of(engine, call.channel_id)
    ((paused_from, paused_to),) = recording.pauses
    assert paused_to - paused_from > 4.0, recording.pauses
    caller_side, _, rate = await asyncio.to_thread(stereo_sides, tmp_path / "recordings" / recording.path)
    frames = await asyncio.to_thread(dtmf_frames, caller_side, rate)
    per_s = 20
    before = frames[3 * per_s : int((paused_from - 0.3) * per_s)]
    during = frames[int((paused_from + 0.3) * per_s) : int((paused_to - 0.3) * per_s)]
    after = frames[int((paused_to + 0.3) * per_s) : int((recording.duration_s - 0.5) * per_s)]
    assert len(during) > 60 and not any(during), f"{sum(during)} of {len(during)} frames in the pause carry key tones"
    assert sum(before) / len(before) > 0.4, f"the detector hears the tones before the pause: {sum(before)} of {len(before)}"
    assert sum(after) / len(after) > 0.4, f"and after it: {sum(after)} of {len(after)}"
    transcript = await transcript_of(engine, recording.id)
    assert "repeated_question" not in transcript.flags, ("the control call: minsu asked for nothing the IVR had", transcript.segments)
    assert transcript.findings["no_repeated_question"]["passed"] is True
