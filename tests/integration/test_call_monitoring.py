"""A supervisor listens to, whispers to and barges into a live call, on the real Asterisk.

Three real SIP phones, three tones: the caller sends CALLER_HZ, the agent (minsu) MINSU_HZ, the
supervisor (sora, a softphone registered as her extension 2009) SORA_HZ. What each one heard is
measured in its own recording:

- listen: sora hears caller and agent; neither hears sora;
- whisper: sora hears both; minsu hears sora; the caller does not;
- barge: minsu and the caller both hear sora.

Monitoring is started and switched from the supervisor page in Chromium; every step is in the
audit (started, each mode, ended with why), and nothing of it is left in Asterisk afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import wave
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, async_playwright, expect

from engine.localpbx.local_asterisk import LocalAsterisk
from engine.web.page_language import LANGUAGE_COOKIE
from tests.integration.conftest import PBX_ENV, RunningEngine, free_port, require_tool
from tests.integration.sip_peers import Baresip, write_speech_then_tone
from tests.integration.test_acd_call import ADMIN_TOKEN, CALLER_HZ, MINSU_HZ, acd_setup, agent_phone, status, wait_agents
from tests.integration.test_agents import threadline
from tests.integration.test_browser_phone import write_microphone

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
SORA_HZ = 2200.0
CHROMIUM = "/usr/bin/chromium"
BROWSER = ("--no-sandbox", "--disable-gpu", "--disable-background-networking")
FAKE_MEDIA = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", "--autoplay-policy=no-user-gesture-required")
"""The supervisor page's microphone: a file (its tone), allowed without asking, and sound without a click."""
PHASE_S = 3.5
SHOTS = Path("/tmp/h3-shots")


def tone_levels(path: Path, from_s: float, to_s: float, tones: tuple[float, ...]) -> dict[float, float]:
    """Amplitude (0..1 of full scale) of each tone in a stretch of a 16-bit mono WAV."""
    import numpy as np

    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64) / 32768.0
    part = samples[int(from_s * rate) : int(to_s * rate)]
    assert part.size > rate, f"{path.name}: only {part.size / rate:.2f} s recorded in {from_s:.1f}-{to_s:.1f} s"
    window = np.hanning(part.size)
    spectrum = np.abs(np.fft.rfft(part * window)) * 2 / window.sum()
    freqs = np.fft.rfftfreq(part.size, 1 / rate)
    return {hz: float(spectrum[(freqs > hz - 15) & (freqs < hz + 15)].max()) for hz in tones}


def recorded_s(phone: Baresip) -> float:
    """How much the phone's current call has recorded so far (sndfile writes as it hears): where
    "now" is in that recording, whatever gaps of no audio came before."""
    found = sorted(phone.recordings.glob("*-dec.wav"))
    return (found[-1].stat().st_size - 44) / 2 / 8000 if found else 0.0


async def stopped_at_exit(stack: contextlib.AsyncExitStack, starting: Awaitable[Baresip]) -> Baresip:
    phone = await starting
    stack.push_async_callback(phone.stop)
    return phone


async def mark(phones: dict[str, Baresip]) -> dict[str, float]:
    return {name: await asyncio.to_thread(recorded_s, phone) for name, phone in phones.items()}


async def audit(engine: RunningEngine) -> list[dict[str, Any]]:
    """The audit's sessions once every one has its end (rows are written in batches about each second)."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for _ in range(25):
        async with aiohttp.ClientSession() as session, session.get(f"{engine.http_url}/monitor/audit", headers=headers) as response:
            assert response.status == 200, await response.text()
            body: dict[str, Any] = await response.json()
        if body["sessions"] and all(entry["ended_at"] for entry in body["sessions"]):
            break
        await asyncio.sleep(0.2)
    assert body["truncated"] is False
    return list(body["sessions"])


async def leftovers(pbx: LocalAsterisk) -> str:
    channels = await asyncio.to_thread(pbx.rx, "core show channels concise")
    bridges = await asyncio.to_thread(pbx.rx, "bridge show all")
    return "\n".join(line for line in (channels + bridges).splitlines() if "tl-mon-" in line)


async def log_in(page: Page, engine: RunningEngine) -> None:
    """sora's session cookie for the page's context (the login page itself is tested elsewhere), then the floor."""
    answer = await page.request.post(f"{engine.http_url}/login", form={"agent": "sora", "password": "sora-password-1"}, headers={"Origin": engine.http_url})
    assert answer.ok, await answer.text()
    await page.goto(f"{engine.http_url}/supervisor")
    await expect(page).to_have_url(re.compile(r"/supervisor$"))


async def monitoring_setup(tmp_path: Path, crm_url: str) -> tuple[dict[str, str], dict[str, str]]:
    """The sample flows and agents, sora (supervisor, extension 2009) with a web password."""
    for tool in ("baresip", "espeak-ng", "sox", "chromium"):
        require_tool(tool)
    env, secrets = await acd_setup(tmp_path, crm_url)
    passwd = await asyncio.to_thread(threadline, "agents", "passwd", "sora", "--password-stdin", "--flows", env["THREADLINE_FLOWS__FOLDER"], env=env, stdin="sora-password-1\n")
    assert passwd.returncode == 0, passwd.stderr
    return env, secrets


async def test_a_supervisor_listens_whispers_and_barges_and_each_party_hears_what_it_should(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    env, secrets = await monitoring_setup(tmp_path, mock_crm[0])
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'monitor.sqlite3'}"
    engine: RunningEngine = await start_engine(database_url, **env)
    marks: dict[str, dict[str, float]] = {}
    await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:  # every phone stops (and finishes its recording) before the measuring
        minsu = await stopped_at_exit(stack, agent_phone(tmp_path, "minsu", "2001", secrets["minsu"], MINSU_HZ))
        sora = await stopped_at_exit(stack, agent_phone(tmp_path, "sora", "2009", secrets["sora"], SORA_HZ))
        caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999))
        stack.push_async_callback(caller.stop)
        phones = {"caller": caller, "minsu": minsu, "sora": sora}
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=list(BROWSER))
            try:
                await wait_agents(engine, {"minsu": "available"})
                page = await browser.new_page()
                await page.route("**/phone/config*", lambda route: route.abort())  # sora's softphone takes the monitoring calls here
                await log_in(page, engine)
                await caller.start(await asyncio.to_thread(write_speech_then_tone, tmp_path / "caller.wav", "요금 문의요", 6.0, 1.0, CALLER_HZ, 90.0))
                await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
                await wait_agents(engine, {"minsu": "on_call"}, timeout_s=40)

                row = page.locator('#monitor-calls tr[data-agent="minsu"]')
                await expect(row).to_contain_text("minsu", timeout=10_000)
                await row.locator('button[data-mode="listen"]').press("Enter")  # by keyboard: the floor above re-renders and moves it
                await expect(page.locator("#monitor-session")).to_have_attribute("data-phase", "active", timeout=15_000)
                await sora.wait_event("CALL_ESTABLISHED")
                await asyncio.sleep(0.3)
                marks["listen"] = await mark(phones)
                await expect(page.locator("#monitor-session")).to_have_attribute("data-mode", "listen")
                await asyncio.sleep(PHASE_S)

                await page.locator('#monitor-session button[data-mode="whisper"]').press("Enter")
                await expect(page.locator("#monitor-session")).to_have_attribute("data-mode", "whisper", timeout=5_000)
                await expect(page.locator("#monitor-session")).to_have_attribute("data-phase", "active", timeout=5_000)
                marks["whisper"] = await mark(phones)
                await asyncio.sleep(PHASE_S)

                await page.locator('#monitor-session button[data-mode="barge"]').press("Enter")
                await expect(page.locator("#monitor-session")).to_have_attribute("data-mode", "barge", timeout=5_000)
                await expect(page.locator("#monitor-session")).to_have_attribute("data-phase", "active", timeout=5_000)
                marks["barge"] = await mark(phones)
                await page.locator("#monitor").screenshot(path=str(SHOTS / "monitor-barge.png"))
                await asyncio.sleep(PHASE_S)
                marks["end"] = await mark(phones)

                await page.locator("#monitor-stop").press("Enter")
                await sora.wait_event("CALL_CLOSED", timeout_s=10)
                await expect(page.locator("#monitor-session")).to_be_hidden(timeout=5_000)

                # A second session ends by itself when the monitored call ends.
                await row.locator('button[data-mode="listen"]').press("Enter")
                await expect(page.locator("#monitor-session")).to_have_attribute("data-phase", "active", timeout=15_000)
                await caller.command("hangup")
                await caller.wait_event("CALL_CLOSED")
                await expect(page.locator("#monitor-session")).to_be_hidden(timeout=10_000)
                await expect(page.locator("#monitor-ended")).to_have_text("Monitoring ended: the call ended.")
                audit_list = page.locator("#monitor-audit li")
                await expect(audit_list.first).to_contain_text("sora → minsu · Listen · call ended", timeout=5_000)
                await expect(audit_list.nth(1)).to_contain_text("sora → minsu · Listen → Whisper → Barge · stopped")
                await page.locator("#monitor").screenshot(path=str(SHOTS / "monitor-after-the-call.png"))
                await wait_agents(engine, {"minsu": "wrap_up"})
            finally:
                await browser.close()

    def heard(name: str, phone: Baresip, mode: str) -> dict[float, float]:
        following = {"listen": "whisper", "whisper": "barge", "barge": "end"}[mode]
        start, end = marks[mode][name] + 0.5, marks[following][name] - 0.2
        first_call = sorted(phone.recordings.glob("*-dec.wav"))[0]  # sora's second monitoring call has its own
        return tone_levels(first_call, start, end, (CALLER_HZ, MINSU_HZ, SORA_HZ))

    levels = {(name, mode): await asyncio.to_thread(heard, name, phone, mode)
              for name, phone in (("caller", caller), ("minsu", minsu), ("sora", sora)) for mode in ("listen", "whisper", "barge")}
    shown = "\n".join(f"{who:6} {mode:7} " + " ".join(f"{hz:.0f}Hz={level:.4f}" for hz, level in heard_levels.items()) for (who, mode), heard_levels in levels.items())
    print(shown)
    loud, quiet = 0.01, 0.002
    for mode in ("listen", "whisper", "barge"):
        assert levels[("sora", mode)][CALLER_HZ] > loud and levels[("sora", mode)][MINSU_HZ] > loud, f"sora hears caller and agent in {mode}\n{shown}"
    assert levels[("minsu", "listen")][SORA_HZ] < quiet and levels[("caller", "listen")][SORA_HZ] < quiet, f"listen: nobody hears sora\n{shown}"
    assert levels[("minsu", "whisper")][SORA_HZ] > loud, f"whisper: minsu hears sora\n{shown}"
    assert levels[("caller", "whisper")][SORA_HZ] < quiet, f"whisper: the caller does not hear sora\n{shown}"
    assert levels[("minsu", "barge")][SORA_HZ] > loud and levels[("caller", "barge")][SORA_HZ] > loud, f"barge: both hear sora\n{shown}"
    assert levels[("caller", "barge")][MINSU_HZ] > loud and levels[("minsu", "barge")][CALLER_HZ] > loud, f"barge: caller and agent still hear each other\n{shown}"

    sessions = await audit(engine)
    assert [(s["supervisor"], s["agent"], s["end_reason"]) for s in sessions] == [("sora", "minsu", "stopped"), ("sora", "minsu", "call_ended")], sessions
    assert [m["mode"] for m in sessions[0]["modes"]] == ["listen", "whisper", "barge"], sessions[0]
    assert all(s["started_at"] and s["ended_at"] and s["call_id"] for s in sessions), sessions
    printed = await asyncio.to_thread(threadline, "monitoring", "audit", env={**env, "THREADLINE_DATABASE__URL": database_url})
    assert printed.returncode == 0 and "sora monitored minsu" in printed.stdout and "(call_ended)" in printed.stdout, printed
    assert await leftovers(pbx) == ""
    async with aiohttp.ClientSession() as session, session.get(f"{engine.http_url}/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as response:
        metrics = await response.text()
    assert 'threadline_monitoring_sessions_total{mode="listen"} 2.0' in metrics, [line for line in metrics.splitlines() if "monitoring" in line]


LEVELS_HEARD = """async ([audioId, tones]) => {
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 8192;
  context.createMediaStreamSource(document.getElementById(audioId).srcObject).connect(analyser);
  await new Promise((done) => setTimeout(done, 1500));
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  const hzPerBin = context.sampleRate / analyser.fftSize;
  const levels = {};
  for (const hz of tones) {
    const at = Math.round(hz / hzPerBin);
    levels[hz] = Math.max(...bins.slice(at - 3, at + 4));
  }
  await context.close();
  return levels;
}"""
"""dB at each tone of what an <audio> element of the page plays (its remote stream)."""


async def test_the_supervisor_pages_own_phone_answers_the_monitoring_call_by_itself(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    env, secrets = await monitoring_setup(tmp_path, mock_crm[0])
    engine: RunningEngine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'monitor-web.sqlite3'}", **env)
    microphone = await asyncio.to_thread(write_microphone, tmp_path / "sora-mic.wav", SORA_HZ)
    async with contextlib.AsyncExitStack() as stack:  # every phone stops (and finishes its recording) before the measuring
        minsu = await stopped_at_exit(stack, agent_phone(tmp_path, "minsu", "2001", secrets["minsu"], MINSU_HZ))
        caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999))
        stack.push_async_callback(caller.stop)
        phones = {"caller": caller, "minsu": minsu}
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=[*BROWSER, *FAKE_MEDIA, f"--use-file-for-fake-audio-capture={microphone}"])
            try:
                page = await (await browser.new_context()).new_page()  # one context: the agent page opened later shares the login
                await page.context.add_cookies([{"name": LANGUAGE_COOKIE, "value": "ko", "url": engine.http_url}])  # this supervisor reads Korean
                await log_in(page, engine)
                await expect(page.locator("#phone-registration")).to_have_attribute("data-registered", "yes", timeout=20_000)
                await wait_agents(engine, {"minsu": "available"})
                own = await page.evaluate("fetch('/phone/config?for=supervisor').then((r) => r.json())")
                assert own["auth_user"] == "mon2009", own  # the supervisor page's own phone, not the agent page's web2009
                await asyncio.sleep(1.0)
                assert (await status(engine))["agents"]["sora"]["status"] == "logged_out"  # opening /supervisor logs nobody in
                await caller.start(await asyncio.to_thread(write_speech_then_tone, tmp_path / "caller.wav", "요금 문의요", 6.0, 1.0, CALLER_HZ, 90.0))
                await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
                await wait_agents(engine, {"minsu": "on_call"}, timeout_s=40)
                await asyncio.sleep(1.5)  # the caller's tone starts a second after its words

                await page.locator('#monitor-calls tr[data-agent="minsu"] button[data-mode="listen"]').press("Enter")
                await expect(page.locator("#phone-call")).to_have_attribute("data-call", "talking", timeout=15_000)  # answered by itself
                await expect(page.locator("#monitor-session")).to_have_attribute("data-phase", "active", timeout=10_000)
                heard = await page.evaluate(LEVELS_HEARD, ["phone-audio", [CALLER_HZ, MINSU_HZ]])
                assert heard[str(int(CALLER_HZ))] > -60 and heard[str(int(MINSU_HZ))] > -60, ("the page hears caller and agent", heard)

                await page.locator('#monitor-session button[data-mode="whisper"]').press("Enter")
                await expect(page.locator("#monitor-session")).to_have_attribute("data-mode", "whisper", timeout=5_000)
                await expect(page.locator("#monitor-session")).to_have_attribute("data-phase", "active", timeout=5_000)
                whisper_from = await mark(phones)
                await expect(page.locator('#monitor-session button[data-mode="whisper"]')).to_have_text("코칭")
                await page.locator("#monitor").screenshot(path=str(SHOTS / "monitor-browser-phone-whisper-ko.png"))
                await asyncio.sleep(PHASE_S)
                whisper_to = await mark(phones)

                agent_page = await page.context.new_page()  # sora opens her agent page too: it takes no phone from this one
                await agent_page.goto(f"{engine.http_url}/agent")
                await expect(agent_page.locator("#phone-registration")).to_have_attribute("data-registered", "yes", timeout=20_000)
                await wait_agents(engine, {"sora": "available"})
                await asyncio.sleep(1.0)
                await expect(page.locator("#phone-registration")).to_have_attribute("data-registered", "yes")
                await expect(page.locator("#monitor-session")).to_have_attribute("data-phase", "active")
                await agent_page.close()

                await page.locator("#phone-hangup").press("Enter")  # the supervisor hangs up: the session ends
                await expect(page.locator("#monitor-session")).to_be_hidden(timeout=10_000)
                await expect(page.locator("#monitor-ended")).to_have_text("전화를 끊어 모니터링이 종료되었습니다.")
                await caller.command("hangup")
                await caller.wait_event("CALL_CLOSED")
            finally:
                await browser.close()

    def whispered(name: str, phone: Baresip) -> float:
        return tone_levels(phone.recording("dec"), whisper_from[name] + 0.5, whisper_to[name] - 0.2, (SORA_HZ,))[SORA_HZ]

    minsu_heard, caller_heard = await asyncio.to_thread(whispered, "minsu", minsu), await asyncio.to_thread(whispered, "caller", caller)
    print(f"whisper from the browser phone: minsu heard {SORA_HZ:.0f} Hz at {minsu_heard:.4f}, the caller at {caller_heard:.4f}; the page heard {heard}")
    assert minsu_heard > 0.01 and caller_heard < 0.002, (minsu_heard, caller_heard)
    (session,) = await audit(engine)
    assert session["end_reason"] == "supervisor_hung_up" and [m["mode"] for m in session["modes"]] == ["listen", "whisper"], session
    assert await leftovers(pbx) == ""
