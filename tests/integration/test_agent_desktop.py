"""The agent desktop in a real browser (Debian chromium via Playwright) against the real engine and Asterisk.

The agent logs in, sees their state, and while their phone is still ringing the screen-pop shows
what the caller said in the IVR, the intent and the customer record. The page survives a dropped
websocket: it reconnects and shows its state again. On a call, the page shows the customer card,
the next troubleshooting step, a transfer picker that transfers to a colleague, and its keyboard
shortcuts work.
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
from tests.integration.conftest import PBX_ENV, THREADLINE, RunningEngine, free_port, require_tool
from tests.integration.sip_peers import Baresip, write_speech_then_tone, write_tone
from tests.integration.test_acd_call import ADMIN_TOKEN, CALLER_HZ, JIYEON_HZ, MINSU_HZ, acd_setup, agent_phone, status, wait_agents
from tests.integration.test_agents import flows_copy, threadline
from tests.integration.test_speech_call import journey_so_far

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
            await expect(page.locator("#pop")).to_be_visible(timeout=60_000)  # a misheard first try costs a re-ask
            agents = (await status(engine))["agents"]
            assert agents["minsu"]["status"] == "reserved", "the pop is on screen while the phone still rings"
            await expect(page.locator("#pop-intent")).to_have_text("billing")
            await expect(page.locator("#pop-customer")).to_contain_text("김민수")
            await expect(page.locator("#pop-queue")).to_have_text("billing")
            # What the caller said reaches the pop (a misheard first try stays in the timeline too).
            await expect(page.locator("#pop-timeline li.said").filter(has_text="요금")).not_to_have_count(0)
            await expect(page.locator("#pop-path")).to_contain_text("billing by speech")
            await expect(page.locator("#pop-customer")).to_have_text("김민수")
            await expect(page.locator("#pop")).not_to_contain_text("found")  # a customer card, not the lookup's dump
            await expect(page.locator("#pop-steps-box")).to_be_hidden()  # no troubleshooting on this call: no empty section
            await expect(page.locator("#previous")).to_be_hidden()
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
            await expect(page.locator('#queues li[data-queue="billing"]')).to_contain_text("0 waiting")  # the agent sees the lines
            await page.click("#go-available")
            await wait_agents(engine, {"minsu": "available"})
            await expect(page.locator("#status")).to_have_text("available")
            await page.click("#logout button")
            await expect(page).to_have_url(re.compile(r"/login"))
            await wait_agents(engine, {"minsu": "logged_out"}, timeout_s=5)
        finally:
            await browser.close()
            await phone.stop()


# The test's copy of the Korean flow: the IVR tries only the shared procedure's first step (inline,
# in a node named like the procedure, so the journey names it), then hands the caller to an agent,
# who continues the shared procedure where the IVR stopped. A flow set loads only the procedures its
# flows use: a small flow of its own uses the shared one, so the pop knows its remaining steps.
FIRST_STEP_ONLY = """  internet_down_ko:
    type: steps
    steps:
      - id: restart_router
        prompt: 공유기의 전원을 끄고 십 초 뒤에 다시 켜 주세요.
        question: 인터넷이 다시 되나요? 되면 1번, 안 되면 2번을 눌러 주세요.
    solved: goodbye
    unsolved: agent_queue
"""
SHARED_STEPS = """flow: shared_steps_ko
language: ko
start: steps
nodes:
  steps:
    type: steps
    procedure: internet_down_ko
    solved: bye
    unsolved: bye
  bye:
    type: hangup
    prompt: 감사합니다.
"""


async def key_until(engine: RunningEngine, caller: Baresip, key: str, kind: str, timeout_s: float = 40.0) -> None:
    """The caller presses `key` every 2 s until the journey has `kind` (keys before the prompt are ignored)."""
    async with asyncio.timeout(timeout_s):
        while not any(k == kind for k, _ in await journey_so_far(engine)):
            await caller.command("sndcode", key)
            for _ in range(20):
                await asyncio.sleep(0.1)
                if any(k == kind for k, _ in await journey_so_far(engine)):
                    return


async def test_on_a_call_the_desk_shows_the_customer_and_next_step_transfers_by_picking_and_answers_shortcuts(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    for tool in ("baresip", "chromium"):
        require_tool(tool)
    crm_url, _ = mock_crm
    env, secrets = await acd_setup(tmp_path, crm_url)
    flow = Path(env["THREADLINE_FLOWS__FOLDER"]) / "support_ko.yaml"
    text = await asyncio.to_thread(flow.read_text, encoding="utf-8")
    steps_node = re.search(r"^  internet_steps:\n(?:    .*\n)+", text, re.M)
    technical_queue = re.search(r"^  technical_queue:\n(?:    .*\n)+\n", text, re.M)  # only the steps node went there
    assert steps_node and technical_queue, "the sample flow's steps node and technical queue"
    text = text.replace(steps_node[0], FIRST_STEP_ONLY).replace(technical_queue[0], "").replace("next: internet_steps", "next: internet_down_ko")
    await asyncio.to_thread(flow.write_text, text, encoding="utf-8")
    await asyncio.to_thread((flow.parent / "shared_steps_ko.yaml").write_text, SHARED_STEPS, encoding="utf-8")
    done = await asyncio.to_thread(threadline, "agents", "passwd", "minsu", "--password-stdin", "--flows", str(flow.parent), env=env, stdin="desk-password-123\n")
    assert done.returncode == 0, done.stderr
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'workspace.sqlite3'}", **env)
    caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999))
    jiyeon: Baresip | None = None
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"])
        try:
            page = await browser.new_page(viewport={"width": 1440, "height": 900})
            await page.goto(f"{engine.http_url}/agent")
            await page.fill("#agent", "minsu")
            await page.fill("#password", "desk-password-123")
            await page.click("button[type=submit]")
            await expect(page.locator("#phone-registration")).to_have_attribute("data-registered", "yes", timeout=20_000)  # minsu's phone is this page
            await wait_agents(engine, {"minsu": "available"})
            await expect(page.locator("#status")).to_have_text("available")

            await caller.start(await asyncio.to_thread(write_tone, tmp_path / "caller.wav", 90.0, CALLER_HZ, 8000, 0))  # a silent caller who keys
            await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
            await caller.wait_event("CALL_ESTABLISHED")
            await key_until(engine, caller, "2", "intent_chosen")  # technical support, by key
            await key_until(engine, caller, "2", "step_done")  # restarting the router did not help
            await expect(page.locator("#pop")).to_be_visible(timeout=40_000)

            card = page.locator("#pop-customer")
            await expect(card).to_have_text("김민수")
            await expect(page.locator("#pop-customer-facts")).to_contain_text("gold")
            await expect(page.locator("#pop")).not_to_contain_text("found")
            await expect(page.locator("#pop-caller-warning")).to_contain_text("caller ID not verified")
            next_step = page.locator("#pop-steps .next-step")
            await expect(next_step).to_contain_text("Next step:")
            await expect(next_step).to_contain_text("랜선")  # check_cable: the shared procedure's second step, in the IVR's words
            await expect(page.locator("#pop-timeline li.step")).to_contain_text("did not help")
            await expect(page.locator("#pop-timeline li.chose")).to_contain_text("key 2")

            await expect(page.locator("#phone-call")).to_have_attribute("data-call", "ringing", timeout=10_000)
            await page.keyboard.press("Alt+KeyA")  # answers on the browser phone
            await expect(page.locator("#phone-call")).to_have_attribute("data-call", "talking", timeout=10_000)
            await wait_agents(engine, {"minsu": "on_call"}, timeout_s=20)
            await page.keyboard.press("Alt+KeyO")
            await expect(page.locator("#phone-call")).to_have_attribute("data-call", "held", timeout=10_000)
            await page.keyboard.press("Alt+KeyO")
            await expect(page.locator("#phone-call")).to_have_attribute("data-call", "talking", timeout=10_000)
            colleague = page.locator('#transfer-agents label[data-to="agent:jiyeon"]')
            await expect(colleague).to_contain_text("이지연")
            await expect(colleague).to_contain_text("logged out")
            await expect(colleague.locator("input")).to_be_disabled()  # marked, and cannot be picked
            await expect(page.locator('#transfer-queues label[data-to="queue:billing"]')).to_contain_text("nobody waiting")
            jiyeon = await agent_phone(tmp_path, "jiyeon", "2002", secrets["jiyeon"], JIYEON_HZ)
            await expect(colleague).to_contain_text("available", timeout=20_000)  # the directory follows her state
            await colleague.click()
            await expect(page.locator("#transfer-submit")).to_have_text("Transfer to 이지연")
            await page.click("#transfer-submit")
            await expect(page.locator("#transfer-result")).to_contain_text("Transferring to 이지연")
            await wait_agents(engine, {"jiyeon": "on_call", "minsu": "wrap_up"}, timeout_s=20)

            await expect(page.locator("#wrap-up-countdown")).to_contain_text("wrap-up ends in")
            await page.focus("#notes")
            await page.keyboard.press("Alt+KeyV")  # typing notes: the shortcut stays out of the way
            await asyncio.sleep(1.0)
            assert (await status(engine))["agents"]["minsu"]["status"] == "wrap_up"
            await page.locator("#notes").blur()
            await page.keyboard.press("Alt+KeyV")
            await wait_agents(engine, {"minsu": "available"}, timeout_s=5)
            await expect(page.locator("#status")).to_have_text("available")
            await expect(page.locator("#pop")).to_be_hidden()
            await caller.command("hangup")
            await caller.wait_event("CALL_CLOSED")
        finally:
            await browser.close()
            await caller.stop()
            if jiyeon is not None:
                await jiyeon.stop()
    (call,) = await engine.ended_calls(1)
    transfers = [e.detail.get("to") for e in call.events if e.kind == "transferred"]
    assert transfers == ["agent:jiyeon"], transfers
