"""The caller page (/try), end to end: one Chromium is the caller, another the agent.

The caller's page calls the IVR over WebRTC (SIP.js, the engine's /try/sip relay, Asterisk's
try-caller endpoint) with a fake microphone that says "요금 문의요" in espeak-ng Korean and then sends
a steady 440 Hz tone; the IVR hears it, queues the call for billing, and the agent's page (its
browser phone) rings with the pop and answers. Both pages measure what they hear with a Web Audio
analyser: the agent hears the caller's 440 Hz, the caller hears the agent's 1000 Hz. The caller hangs
up from the page. A page whose line is off (http.caller_page unset) is not served.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser, Playwright, async_playwright, expect

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import free_port, require_tool
from tests.integration.sip_peers import write_speech_then_tone
from tests.integration.test_acd_call import CALLER_HZ, MINSU_HZ, acd_setup, wait_agents
from tests.integration.test_agent_desktop import CHROMIUM
from tests.integration.test_agents import threadline
from tests.integration.test_browser_phone import ANALYSE_REMOTE_AUDIO, log_in, screenshot, write_microphone

pytestmark = pytest.mark.asterisk


@pytest.fixture
async def crm_knowing_everyone() -> AsyncIterator[str]:
    """A CRM that knows every caller (like the demo's), so the flow goes straight to its menu."""

    async def customers(_request: web.Request) -> web.Response:
        return web.json_response({"found": True, "name": "최유진", "plan": "gold"})

    app = web.Application()
    app.router.add_get("/customers", customers)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/customers"
    finally:
        await runner.cleanup()


async def launch(playwright: Playwright, microphone: Path) -> Browser:
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={microphone}", "--autoplay-policy=no-user-gesture-required"])


def caller_microphone(folder: Path) -> Path:
    """espeak-ng Korean "요금 문의요" after 6 s, then 440 Hz, at 48 kHz for Chromium's fake microphone."""
    phone_line = write_speech_then_tone(folder / "caller-8k.wav", "요금 문의요", 6.0, 2.0, CALLER_HZ, 90.0)
    wide = folder / "caller-mic.wav"
    subprocess.run(["sox", "-q", str(phone_line), "-r", "48000", str(wide)], check=True, capture_output=True, timeout=60)
    return wide


async def test_a_newcomer_calls_from_the_browser_and_reaches_the_billing_agent_by_voice(
    pbx: LocalAsterisk, start_engine, crm_knowing_everyone: str, tmp_path: Path
) -> None:
    for tool in ("espeak-ng", "sox", "chromium"):
        require_tool(tool)
    env, _secrets = await acd_setup(tmp_path, crm_knowing_everyone)
    passwd = await asyncio.to_thread(threadline, "agents", "passwd", "minsu", "--password-stdin", "--flows", env["THREADLINE_FLOWS__FOLDER"], env=env, stdin="minsu-password-1\n")
    assert passwd.returncode == 0, passwd.stderr
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'try.sqlite3'}", **env, THREADLINE_HTTP__CALLER_PAGE="true")
    agent_mic = await asyncio.to_thread(write_microphone, tmp_path / "agent-mic.wav", MINSU_HZ)
    caller_mic = await asyncio.to_thread(caller_microphone, tmp_path)
    figures: dict[str, Any] = {}
    async with async_playwright() as playwright:
        agent_browser = await launch(playwright, agent_mic)
        caller_browser = await launch(playwright, caller_mic)
        try:
            agent = await agent_browser.new_page()
            await log_in(agent, engine.http_url)
            await expect(agent.locator("#phone-registration")).to_have_attribute("data-registered", "yes", timeout=20_000)
            await wait_agents(engine, {"minsu": "available"})

            caller = await caller_browser.new_page()
            await caller.goto(f"{engine.http_url}/try")
            await expect(caller.locator("#try-state")).to_have_attribute("data-call", "ready", timeout=20_000)
            await screenshot(caller, "try-ready")
            await caller.click("#try-call")
            await expect(caller.locator("#try-state")).to_have_attribute("data-call", "talking", timeout=20_000)

            await expect(agent.locator("#phone-call")).to_have_attribute("data-call", "ringing", timeout=60_000)
            await expect(agent.locator("#pop")).to_be_visible()
            await expect(agent.locator("#pop-queue")).to_have_text("billing")
            await expect(agent.locator("#pop-intent")).to_have_text("billing")
            await expect(agent.locator("#pop-timeline")).to_contain_text("요금")
            await agent.click("#phone-answer")
            await expect(agent.locator("#phone-call")).to_have_attribute("data-call", "talking", timeout=10_000)
            await wait_agents(engine, {"minsu": "on_call"}, timeout_s=10)
            await asyncio.sleep(3.0)
            figures["agent_heard"] = agent_heard = await agent.evaluate(ANALYSE_REMOTE_AUDIO, "phone-audio")
            figures["caller_heard"] = caller_heard = await caller.evaluate(ANALYSE_REMOTE_AUDIO, "try-audio")
            assert abs(agent_heard["hz"] - CALLER_HZ) < 15 and agent_heard["db"] > -60, ("the agent hears the browser caller", agent_heard)
            assert abs(caller_heard["hz"] - MINSU_HZ) < 15 and caller_heard["db"] > -60, ("the browser caller hears the agent", caller_heard)

            await caller.click("#try-keypad button[data-key='5']")
            await expect(caller.locator("#try-keys")).to_have_text("Keys sent: 5")
            await screenshot(caller, "try-talking")

            await caller.click("#try-hangup")
            await expect(caller.locator("#try-state")).to_have_attribute("data-call", "ready", timeout=10_000)
            await expect(agent.locator("#phone-call")).to_have_attribute("data-call", "idle", timeout=10_000)
        finally:
            await agent_browser.close()
            await caller_browser.close()
    print(f"\ncaller page figures: {figures}")

    (call,) = await engine.ended_calls(1)
    kinds = [e.kind for e in call.events]
    assert "agent_answered" in kinds, kinds
    assert next(e.detail for e in call.events if e.kind == "call_ended")["by"] == "caller"


async def test_the_caller_page_is_off_unless_turned_on(pbx: LocalAsterisk, start_engine, crm_knowing_everyone: str, tmp_path: Path) -> None:
    env, _secrets = await acd_setup(tmp_path, crm_knowing_everyone)
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'off.sqlite3'}", **env)
    async with aiohttp.ClientSession() as session:
        for path in ("/try", "/try/config", "/try/sip"):
            async with session.get(f"{engine.http_url}{path}", allow_redirects=False) as answer:
                assert answer.status == 404, (path, answer.status)
