"""The agent's browser phone, end to end: real Chromium (Playwright) running the agent page with
SIP.js, the engine's /phone/sip relay, the real Asterisk (WebRTC: DTLS-SRTP, ICE) and a real
baresip caller going through the IVR and the billing queue.

The page registers on its own (the agent is routable with no softphone), rings with the pop,
answers; the page's Web Audio analyser hears the caller's 440 Hz and the caller's recording hears
the page's 1000 Hz fake microphone; hold and mute silence the agent for the caller and resume and
unmute bring them back; keys from the keypad reach the caller as RFC 4733 events through
Asterisk; hanging up on the page ends the caller's call; the call is recorded in stereo.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.async_api import Page, async_playwright, expect

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import free_port, require_tool
from tests.integration.sip_peers import Baresip, measure_wav, write_tone
from tests.integration.test_acd_call import CALLER_HZ, MINSU_HZ, SIP_PORT, acd_setup, status, wait_agents
from tests.integration.test_agent_desktop import CHROMIUM
from tests.integration.test_agents import threadline
from tests.integration.test_recording import dominant, recordings_of, stereo_sides

pytestmark = pytest.mark.asterisk
CALLER_NUMBER = "0212345678"
ANALYSE_REMOTE_AUDIO = """async (audioId) => {
  const stream = document.getElementById(audioId).srcObject;
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  analyser.fftSize = 8192;
  context.createMediaStreamSource(stream).connect(analyser);
  await new Promise((done) => setTimeout(done, 1500));
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  let peak = 1;
  for (let i = 2; i < bins.length; i++) if (bins[i] > bins[peak]) peak = i;
  const result = { hz: peak * context.sampleRate / analyser.fftSize, db: bins[peak] };
  await context.close();
  return result;
}"""
"""The loudest frequency an <audio> element of the page plays (its remote stream), in a Web Audio analyser."""


def write_microphone(path: Path, hz: float, seconds: float = 120.0) -> Path:
    """Chromium's fake microphone: a 48 kHz WAV (sox), looped by Chromium."""
    subprocess.run(["sox", "-q", "-n", "-r", "48000", "-c", "1", "-b", "16", str(path), "synth", str(seconds), "sine", str(hz), "vol", "0.3"],
                   check=True, capture_output=True, timeout=60)
    return path


def silence_then_tone(path: Path, silent_s: float, hz: float, tone_s: float) -> Path:
    """The caller: quiet through the menu (it keys 1), then a steady tone to tell who hears whom."""
    quiet = write_tone(path.with_suffix(".quiet.wav"), silent_s, hz, amplitude=0)
    tone = write_tone(path.with_suffix(".tone.wav"), tone_s, hz)
    subprocess.run(["sox", "-q", str(quiet), str(tone), str(path)], check=True, capture_output=True, timeout=30)
    return path


def tone_level(path: Path, hz: float, from_s: float, to_s: float) -> float:
    """Amplitude (0..1 of full scale) of one frequency in a stretch of a 16-bit mono WAV."""
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float64) / 32768.0
    part = samples[int(from_s * rate) : int(to_s * rate)]
    assert part.size > rate // 2, f"the caller's recording is only {samples.size / rate:.1f} s long"
    t = np.arange(part.size) / rate
    return float(2 * abs(np.mean(part * np.exp(-2j * np.pi * hz * t))))


async def screenshot(page: Page, name: str) -> None:
    """A full-page PNG in $PAGE_SCREENSHOTS (unset: none), for people reviewing the pages."""
    if folder := os.environ.get("PAGE_SCREENSHOTS"):
        await page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


async def log_in(page: Page, url: str) -> None:
    await page.goto(f"{url}/agent")
    await page.fill("#agent", "minsu")
    await page.fill("#password", "minsu-password-1")
    await page.click("button[type=submit]")
    await expect(page.locator("#agent-id")).to_have_text("minsu")


async def test_an_agent_takes_a_call_on_the_browser_phone_with_audio_both_ways(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    for tool in ("baresip", "espeak-ng", "sox", "chromium"):
        require_tool(tool)
    crm_url, _ = mock_crm
    env, _secrets = await acd_setup(tmp_path, crm_url)
    passwd = await asyncio.to_thread(threadline, "agents", "passwd", "minsu", "--password-stdin", "--flows", env["THREADLINE_FLOWS__FOLDER"], env=env, stdin="minsu-password-1\n")
    assert passwd.returncode == 0, passwd.stderr
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'phone.sqlite3'}", **env)
    microphone = await asyncio.to_thread(write_microphone, tmp_path / "page-mic.wav", MINSU_HZ)
    caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999), account=f"<sip:{CALLER_NUMBER}@127.0.0.1>;regint=0")
    figures: dict[str, Any] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={microphone}", "--autoplay-policy=no-user-gesture-required"])
        try:
            page = await browser.new_page()
            await log_in(page, engine.http_url)
            await expect(page.locator("#phone-registration")).to_have_attribute("data-registered", "yes", timeout=20_000)
            await expect(page.locator("#phone-sound-hint")).to_be_visible()  # no ring sound before a user gesture
            await screenshot(page, "agent-idle")
            await page.click("h1")
            await expect(page.locator("#phone-sound-hint")).to_be_hidden()
            await wait_agents(engine, {"minsu": "available"})
            assert (await status(engine))["agents"]["minsu"]["registered"], "the browser phone alone registers the agent"
            contacts = await asyncio.to_thread(pbx.rx, "pjsip show contacts")
            assert re.search(r"web2001/sip:\S+ +\w+ +Avail", contacts), contacts

            await caller.start(await asyncio.to_thread(silence_then_tone, tmp_path / "caller.wav", 4.5, CALLER_HZ, 90.0))
            await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
            await caller.wait_event("CALL_ESTABLISHED")
            # Billing by key, as soon as the menu listens (before the file's speech starts): this test
            # is about the phone, and a key never mishears (test_try_page covers reaching it by voice).
            await _at_menu(engine)
            await caller.command("sndcode", "1")
            await expect(page.locator("#phone-call")).to_have_attribute("data-call", "ringing", timeout=40_000)
            rang = time.monotonic()
            await expect(page.locator("#pop")).to_be_visible()
            await expect(page.locator("#phone-number")).to_have_text(CALLER_NUMBER)
            await expect(page.locator("#pop-caller")).to_contain_text(CALLER_NUMBER)
            await screenshot(page, "agent-ringing")
            await expect(page.locator("#phone-answer")).to_be_focused()  # nothing else had focus: Enter answers
            await page.keyboard.press("Enter")
            await expect(page.locator("#phone-call")).to_have_attribute("data-call", "talking", timeout=10_000)
            await expect(page.locator("#phone-hangup")).to_be_focused()
            figures["ring_to_answered_s"] = round(time.monotonic() - rang, 3)
            await wait_agents(engine, {"minsu": "on_call"}, timeout_s=10)
            talk_from = time.monotonic()
            await asyncio.sleep(4.0)
            heard = await page.evaluate(ANALYSE_REMOTE_AUDIO, "phone-audio")
            figures["page_heard"] = heard
            assert abs(heard["hz"] - CALLER_HZ) < 15 and heard["db"] > -60, ("the page hears the caller's tone", heard)
            talk_to = time.monotonic()

            await page.click("#phone-hold")
            await expect(page.locator("#phone-call")).to_have_attribute("data-call", "held", timeout=10_000)
            hold_from = time.monotonic()
            await asyncio.sleep(4.0)
            hold_to = time.monotonic()
            await page.click("#phone-hold")
            await expect(page.locator("#phone-call")).to_have_attribute("data-call", "talking", timeout=10_000)
            resumed_from = time.monotonic()
            await asyncio.sleep(4.0)
            resumed_to = time.monotonic()

            await page.click("#phone-mute")
            await expect(page.locator("#phone-mute")).to_have_attribute("aria-pressed", "true")
            mute_from = time.monotonic()
            await asyncio.sleep(4.0)
            mute_to = time.monotonic()
            await page.click("#phone-mute")
            await expect(page.locator("#phone-mute")).to_have_attribute("aria-pressed", "false")
            unmuted_from = time.monotonic()
            await asyncio.sleep(4.0)
            unmuted_to = time.monotonic()

            for key in ("1", "5", "#"):
                await page.click(f"#phone-keypad button[data-key='{key}']")
                await asyncio.sleep(0.4)
            keys = await _keys_heard(caller, 3)
            figures["keys_at_caller"] = keys

            await expect(page.locator("#phone-timer")).to_have_text(re.compile(r"^0:[0-5][0-9]$"))
            await page.click("#phone-hangup")
            hung_up = time.monotonic()  # the caller's recording ends here: its stretches are counted back from it
            await caller.wait_event("CALL_CLOSED", timeout_s=20)
            await expect(page.locator("#phone-call")).to_have_attribute("data-call", "idle")
            await wait_agents(engine, {"minsu": "wrap_up"})
        finally:
            await browser.close()
            await caller.stop()

    heard_by_caller = await asyncio.to_thread(caller.recording, "dec")
    ends_at = (await asyncio.to_thread(measure_wav, heard_by_caller)).seconds
    margin = 1.0  # Chromium's gain control settles, and the hold re-INVITE takes effect
    levels = {name: await asyncio.to_thread(tone_level, heard_by_caller, MINSU_HZ, ends_at - (hung_up - start) + margin, ends_at - (hung_up - end) - 0.3)
              for name, (start, end) in {
        "talk": (talk_from, talk_to), "held": (hold_from, hold_to), "resumed": (resumed_from, resumed_to),
        "muted": (mute_from, mute_to), "unmuted": (unmuted_from, unmuted_to)}.items()}
    figures["caller_1000hz_levels"] = {name: round(level, 4) for name, level in levels.items()}
    print(f"\nbrowser phone figures: {figures}")
    for audible in ("talk", "resumed", "unmuted"):
        assert levels[audible] > 0.01, (f"the caller hears the page's {MINSU_HZ:.0f} Hz ({audible})", levels)
    for silent, before in (("held", "talk"), ("muted", "resumed")):
        assert levels[silent] < levels[before] / 10, (f"the caller no longer hears the agent while {silent}", levels)
    assert keys == ["1", "5", "#"], keys

    (call,) = await engine.ended_calls(1)
    assert next(e.detail for e in call.events if e.kind == "call_ended")["by"] == "agent"
    ringing = next(e for e in call.events if e.kind == "agent_ringing")
    answered = next(e for e in call.events if e.kind == "agent_answered")
    assert (ringing.detail["agent"], ringing.detail["extension"]) == ("minsu", "2001")
    print(f"agent leg: ringing to answered {(answered.at - ringing.at).total_seconds():.3f} s (Playwright's click included)")
    (recording,) = await recordings_of(engine, call.channel_id)
    assert (recording.status, recording.channels, recording.agent_id) == ("ok", 2, "minsu")
    caller_side, agent_side, rate = await asyncio.to_thread(stereo_sides, tmp_path / "recordings" / recording.path, 0.5, 3.5)
    caller_hz, caller_rms = dominant(caller_side, rate)
    agent_hz, agent_rms = dominant(agent_side, rate)
    print(f"recording: left {caller_hz:.0f} Hz rms {caller_rms:.3f}, right {agent_hz:.0f} Hz rms {agent_rms:.3f}")
    assert caller_rms > 0.01 and abs(caller_hz - CALLER_HZ) < 30, ("left is the caller", caller_hz, caller_rms)
    assert agent_rms > 0.01 and abs(agent_hz - MINSU_HZ) < 30, ("right is the browser phone's agent", agent_hz, agent_rms)


async def _at_menu(engine: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with engine.store() as store:
            if any(e.kind == "node_entered" and e.detail.get("node") == "menu" for c in await store.recent_calls(limit=3) for e in c.events):
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the caller never reached the menu\n{engine.log_tail()}")


async def _keys_heard(caller: Baresip, count: int, timeout_s: float = 10.0) -> list[str]:
    """The keys the caller's baresip received as RFC 4733 events (CALL_DTMF_START), in order."""
    try:
        async with asyncio.timeout(timeout_s):
            while sum(1 for e in caller.events if e.get("type") == "CALL_DTMF_START") < count:
                caller.events.append(await caller._read_message())
    except TimeoutError:
        pass
    return [str(e.get("param", "")) for e in caller.events if e.get("type") == "CALL_DTMF_START"]
