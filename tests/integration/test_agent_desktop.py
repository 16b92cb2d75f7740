"""The agent desktop in a real browser (Debian chromium via Playwright) against the real engine and Asterisk.

The agent logs in, sees their state, and while their phone is still ringing the screen-pop shows
what the caller said in the IVR, the intent and the customer record. The page survives a dropped
websocket: it reconnects and shows its state again.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, THREADLINE, free_port, require_tool
from tests.integration.sip_peers import Baresip, write_speech_then_tone, write_tone
from tests.integration.test_acd_call import ADMIN_TOKEN, CALLER_HZ, MINSU_HZ, status, wait_agents
from tests.integration.test_agents import flows_copy, threadline

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
CHROMIUM = "/usr/bin/chromium"


async def test_the_agent_sees_the_pop_with_the_ivr_context_before_answering(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    for tool in ("baresip", "espeak-ng", "sox", "chromium"):
        require_tool(tool)

    crm_url, _ = mock_crm
    flows = await asyncio.to_thread(flows_copy, tmp_path)
    env = {"THREADLINE_FLOWS__FOLDER": str(flows), "THREADLINE_FLOWS__INBOUND": "support_ko", "THREADLINE_LOOKUPS__CRM__URL": crm_url,
           "THREADLINE_ACD__SECRETS_FILE": str(tmp_path / "agents.json"), "THREADLINE_HTTP__ADMIN_TOKEN": ADMIN_TOKEN}
    provisioned = await asyncio.to_thread(threadline, "agents", "provision", "--flows", str(flows), env=env)
    secret = re.search(r"^minsu: SIP user 2001, secret (\S+)", provisioned.stdout, re.M)
    assert secret, provisioned.stdout
    command = [THREADLINE, "agents", "passwd", "minsu", "--password-stdin", "--flows", str(flows)]
    password = await asyncio.to_thread(subprocess.run, command, input="desk-password-123\n", text=True, capture_output=True, env={**os.environ, **PBX_ENV, **env}, timeout=60)
    assert password.returncode == 0, password.stderr
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'desk.sqlite3'}", **env)
    phone = Baresip(tmp_path / "minsu", free_port(), free_port(), (46000, 46999), account=f"<sip:2001@127.0.0.1:{SIP_PORT}>;auth_pass={secret[1]};regint=60")
    await phone.start(await asyncio.to_thread(write_tone, tmp_path / "minsu.wav", 60.0, MINSU_HZ))
    caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = await browser.new_page()
            await page.goto(f"{engine.http_url}/agent")
            await expect(page).to_have_url(re.compile(r"/login"))
            await page.fill("#agent", "minsu")
            await page.fill("#password", "desk-password-123")
            await page.click("button[type=submit]")
            await expect(page.locator("#agent-id")).to_have_text("minsu")
            await wait_agents(engine, {"minsu": "available"})
            await expect(page.locator("#status")).to_have_text("available")

            await page.evaluate("socket.close()")  # the network drops the websocket: the page comes back by itself
            await expect(page.locator("#connection")).to_have_text("connected", timeout=10_000)
            await expect(page.locator("#status")).to_have_text("available")

            await caller.start(await asyncio.to_thread(write_speech_then_tone, tmp_path / "caller.wav", "요금 문의요", 6.0, 2.0, CALLER_HZ, 60.0))
            await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
            await caller.wait_event("CALL_ESTABLISHED")
            await expect(page.locator("#pop")).to_be_visible(timeout=40_000)
            agents = (await status(engine))["agents"]
            assert agents["minsu"]["status"] == "reserved", "the pop is on screen while the phone still rings"
            await expect(page.locator("#pop-intent")).to_have_text("billing")
            await expect(page.locator("#pop-customer")).to_contain_text("김민수")
            await expect(page.locator("#pop-queue")).to_have_text("billing")
            await expect(page.locator("#pop-utterances li").first).to_contain_text("요금")
            await expect(page.locator("#pop-path")).to_contain_text("billing by speech")
            await page.click("#go-paused")
            await caller.command("hangup")
            await caller.wait_event("CALL_CLOSED")
            await expect(page.locator("#pop")).to_be_hidden(timeout=10_000)
        finally:
            await browser.close()
            await caller.stop()
            await phone.stop()


async def test_with_desktop_login_a_registered_phone_waits_for_the_agent_to_log_in_and_choose_available(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    """acd.login = desktop: minsu's phone registers but minsu is not routed until she logs in on
    the page and presses Available; logging out of the page logs her out of the queues."""
    for tool in ("baresip", "chromium"):
        require_tool(tool)
    crm_url, _ = mock_crm
    flows = await asyncio.to_thread(flows_copy, tmp_path)
    env = {"THREADLINE_FLOWS__FOLDER": str(flows), "THREADLINE_FLOWS__INBOUND": "support_ko", "THREADLINE_LOOKUPS__CRM__URL": crm_url,
           "THREADLINE_ACD__SECRETS_FILE": str(tmp_path / "agents.json"), "THREADLINE_HTTP__ADMIN_TOKEN": ADMIN_TOKEN, "THREADLINE_ACD__LOGIN": "desktop"}
    provisioned = await asyncio.to_thread(threadline, "agents", "provision", "--flows", str(flows), env=env)
    secret = re.search(r"^minsu: SIP user 2001, secret (\S+)", provisioned.stdout, re.M)
    assert secret, provisioned.stdout
    password = await asyncio.to_thread(threadline, "agents", "passwd", "minsu", "--password-stdin", "--flows", str(flows), env=env, stdin="desk-password-123\n")
    assert password.returncode == 0, password.stderr
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'login.sqlite3'}", **env)
    phone = Baresip(tmp_path / "minsu", free_port(), free_port(), (46000, 46999), account=f"<sip:2001@127.0.0.1:{SIP_PORT}>;auth_pass={secret[1]};regint=60")
    await phone.start(await asyncio.to_thread(write_tone, tmp_path / "minsu.wav", 30.0, MINSU_HZ))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            for _ in range(50):
                minsu = (await status(engine))["agents"]["minsu"]
                if minsu["registered"]:
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            assert (await status(engine))["agents"]["minsu"]["status"] == "logged_out", "a registered phone alone does not log her in"
            page = await browser.new_page()
            await page.goto(f"{engine.http_url}/agent")
            await page.fill("#agent", "minsu")
            await page.fill("#password", "desk-password-123")
            await page.click("button[type=submit]")
            await expect(page.locator("#status")).to_have_text("logged out")
            await expect(page.locator("#queues")).to_contain_text("billing: 0 waiting")  # the agent sees the lines
            await page.click("#go-available")
            await wait_agents(engine, {"minsu": "available"})
            await expect(page.locator("#status")).to_have_text("available")
            await page.click("#logout button")
            await expect(page).to_have_url(re.compile(r"/login"))
            await wait_agents(engine, {"minsu": "logged_out"}, timeout_s=5)
        finally:
            await browser.close()
            await phone.stop()
