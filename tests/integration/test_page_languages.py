"""Every page in Korean, Chinese and English, and the README's screenshots, from the real pages.

`threadline run --demo` on the real Asterisk, as in test_demo, over a database that already holds
a busy day of calls (tests/integration/busy_day.py, written through the engine's own stores): the
demo agent logs in with the browser phone, a known customer calls and says what the call is about
at the menu (keying 1 only if the speech was not taken), the agent answers on the page, a
supervisor watches the floor, and the call is recorded, reported and reviewed. On each page the test picks
each language in the page's language picker and checks that every visible heading, label and
table header with a catalogue key shows a message of that language (its key's, or another the
page's script put there, such as a title that follows the call), and that the page's lang
attribute follows. Each page is photographed in each language.

The screenshots go to $THREADLINE_SCREENSHOTS when it is set (the README's come from
`THREADLINE_SCREENSHOTS=docs/screenshots .venv/bin/pytest tests/integration/test_page_languages.py`),
else to the test's temporary folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright, expect

from engine.localpbx.local_asterisk import LocalAsterisk
from engine.store.journey_store import CallRecord
from tests.integration.busy_day import SEEDED_CHANNEL_PREFIX, seed_busy_day
from tests.integration.conftest import RunningEngine, free_port, require_tool
from tests.integration.sip_peers import Baresip, write_speech_then_tone
from tests.integration.test_acd_call import CALLER_HZ
from tests.integration.test_demo import engine_process, printed_banner

pytestmark = pytest.mark.asterisk
CHROMIUM = "/usr/bin/chromium"
CALLER_NUMBER = "01098765432"
"""A customer the demo CRM knows (한지원), who already called twice today: the pop shows both."""
SAID_AT_THE_MENU = "요금 문의요"
UNHEARD_MENU_KINDS = {"recognised", "no_match", "no_input"}
"""The menu asks to confirm, or did not take the speech: the caller keys 1 (billing) instead."""
MESSAGES = Path(__file__).parents[2] / "engine" / "web" / "static" / "messages"
CATALOGUES = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in MESSAGES.glob("*.json")}
LANGUAGES = ("ko", "zh", "en")
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}
SCREENSHOTS = os.environ.pop("THREADLINE_SCREENSHOTS", "")  # popped: the engine refuses unknown THREADLINE_ variables
CHECKED = "h1[data-i18n], h2[data-i18n], h3[data-i18n], th[data-i18n], label[data-i18n], legend[data-i18n], dt[data-i18n], label > span[data-i18n]"
"""Static text a page's own script never rewrites: each must read exactly as its catalogue says."""

VISIBLE_KEYS = """(selector) => [...document.querySelectorAll(selector)]
  .filter((element) => element.offsetParent !== null || element.getClientRects().length > 0)
  .map((element) => [element.dataset.i18n, element.textContent.trim()])"""


def messages_of(page_messages: str, language: str) -> dict[str, str]:
    """What a page's catalogues (common plus its body's data-messages) say in one language."""
    merged: dict[str, str] = {}
    for name in ["common", *page_messages.split()]:
        merged.update(CATALOGUES[name][language])
    return merged


async def read_in_every_language(page: Page, name: str, shots: Path, at_least: int = 3) -> None:
    """Pick each language on the page; every checked label must read as the catalogue says; photograph it."""
    page_messages = await page.evaluate("document.body.dataset.messages || ''")
    assert page_messages, f"{name}: the page names no catalogue"
    for language in LANGUAGES:
        await page.select_option("#language", language)
        await expect(page.locator("html")).to_have_attribute("lang", language, timeout=10_000)
        expected = messages_of(page_messages, language)
        seen: list[list[str]] = await page.evaluate(VISIBLE_KEYS, CHECKED)
        said = set(expected.values())  # a script may show another of its messages there (a title that follows the call)
        wrong = [(key, text, expected.get(key)) for key, text in seen if key not in expected or text not in said]
        assert not wrong, f"{name} in {language}: labels that do not read as the catalogue says: {wrong[:5]}"
        own = [key for key, _text in seen if not key.startswith(("common.", "status."))]
        assert len(own) >= at_least, f"{name} in {language}: only {own} of the page's own labels are visible"
        assert await page.evaluate("document.title") == expected.get(f"{name}.title", await page.evaluate("document.title"))
        await page.screenshot(path=str(shots / f"{name}-{language}.png"))
    await page.select_option("#language", "en")
    await expect(page.locator("html")).to_have_attribute("lang", "en")


def write_microphone(path: Path, hz: float, seconds: float = 120.0) -> Path:
    subprocess.run(["sox", "-q", "-n", "-r", "48000", "-c", "1", "-b", "16", str(path), "synth", str(seconds), "sine", str(hz), "vol", "0.3"],
                   check=True, capture_output=True, timeout=60)
    return path


def screenshot_folder(tmp_path: Path) -> Path:
    folder = Path(SCREENSHOTS or tmp_path / "screenshots").resolve()
    for sub in ("", "idle", "ringing", "talking"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return folder


def sizes(folder: Path) -> dict[str, int]:
    return {path.relative_to(folder).as_posix(): path.stat().st_size for path in folder.rglob("*.png")}


async def logged_in_page(browser: Browser, url: str, agent: str, password: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport=VIEWPORT, locale="en-US")
    page = await context.new_page()
    await page.goto(url)
    await page.fill("#agent", agent)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(url)
    return context, page


async def live_call(engine: RunningEngine) -> CallRecord | None:
    """The newest call that is not one of the seeded day's."""
    async with engine.store() as store:
        return next((call for call in await store.recent_calls(limit=3) if not call.channel_id.startswith(SEEDED_CHANNEL_PREFIX)), None)


async def live_call_reaches(engine: RunningEngine, done: set[str], timeout_s: float) -> set[str]:
    """The live call's journey kinds once one of `done` is among them, or when time is up."""
    kinds: set[str] = set()
    for _ in range(int(timeout_s * 10)):
        call = await live_call(engine)
        kinds = {event.kind for event in call.events} if call else set()
        if kinds & done:
            break
        await asyncio.sleep(0.1)
    return kinds


async def say_billing_at_the_menu(engine: RunningEngine, caller: Baresip) -> None:
    """The caller's recording says what the call is about once the menu plays; if the menu asks to
    confirm or did not take it, the caller keys 1, which picks (or confirms) billing either way."""
    assert "node_entered" in await live_call_reaches(engine, {"node_entered"}, 30), f"the call never reached the flow\n{engine.log_tail()}"
    kinds = await live_call_reaches(engine, {"intent_chosen", *UNHEARD_MENU_KINDS}, 20)
    if "intent_chosen" not in kinds:
        await asyncio.sleep(1.0)  # into the confirmation or the reprompt: the key barges in
        await caller.command("sndcode", "1")
        kinds = await live_call_reaches(engine, {"intent_chosen"}, 20)
    assert "intent_chosen" in kinds, f"the menu took neither the speech nor the key: {sorted(kinds)}\n{engine.log_tail()}"


async def live_call_ended(engine: RunningEngine, timeout_s: float = 30.0) -> None:
    for _ in range(int(timeout_s * 10)):
        call = await live_call(engine)
        if call is not None and call.ended_at is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the live call did not end within {timeout_s:.0f} s\n{engine.log_tail()}")


async def test_every_page_reads_in_korean_chinese_and_english_and_is_photographed(pbx: LocalAsterisk, tmp_path: Path) -> None:
    for tool in ("baresip", "sox", "chromium", "espeak-ng"):
        require_tool(tool)
    shots = await asyncio.to_thread(screenshot_folder, tmp_path)
    microphone = await asyncio.to_thread(write_microphone, tmp_path / "page-mic.wav", 700.0)
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}"  # the one engine_process gives the engine
    day = await seed_busy_day(database_url, datetime.now(UTC), regular_caller=CALLER_NUMBER)
    assert day.calls > 100, day
    async with engine_process(tmp_path, "pages", "--demo") as engine, async_playwright() as playwright:
        assert engine.database_url == database_url, "the busy day went to another database than the engine's"
        printed = await printed_banner(engine)
        (agent_id, agent_password), (supervisor_id, supervisor_password) = printed["agent"], printed["supervisor"]
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={microphone}", "--autoplay-policy=no-user-gesture-required"])
        caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999), account=f"<sip:{CALLER_NUMBER}@127.0.0.1>;regint=0")
        try:
            stranger = await browser.new_context(viewport=VIEWPORT, locale="en-US")
            page = await stranger.new_page()
            await page.goto(f"{engine.http_url}/login")
            await read_in_every_language(page, "login", shots, at_least=2)
            await page.goto(printed["caller_page"][0])
            await read_in_every_language(page, "try", shots, at_least=2)
            await stranger.close()

            _agent_context, desk = await logged_in_page(browser, f"{engine.http_url}/agent", agent_id, agent_password)
            await expect(desk.locator("#phone-registration")).to_have_attribute("data-registered", "yes", timeout=30_000)
            await desk.click("h1")  # a user gesture: the ring sound may play
            await expect(desk.locator("#status")).to_have_attribute("data-status", "available", timeout=30_000)
            await read_in_every_language(desk, "agent", shots / "idle")

            await caller.start(await asyncio.to_thread(write_speech_then_tone, tmp_path / "caller.wav", SAID_AT_THE_MENU, 6.0, 2.0, CALLER_HZ, 120.0))
            await caller.command("dial", printed["sip_address"][0])
            await caller.wait_event("CALL_ESTABLISHED")
            await say_billing_at_the_menu(engine, caller)
            await expect(desk.locator("#phone-call")).to_have_attribute("data-call", "ringing", timeout=40_000)
            await expect(desk.locator("#pop")).to_be_visible()
            await read_in_every_language(desk, "agent", shots / "ringing")
            await desk.click("#phone-answer")
            await expect(desk.locator("#phone-call")).to_have_attribute("data-call", "talking", timeout=10_000)

            _supervisor_context, floor = await logged_in_page(browser, f"{engine.http_url}/supervisor", supervisor_id, supervisor_password)
            await expect(floor.locator("#connection")).to_have_text("connected", timeout=10_000)
            await expect(floor.locator("#chart-agents")).to_have_attribute("data-points", re.compile(r"^[1-9]"), timeout=20_000)  # the day so far
            await asyncio.sleep(2.0)  # a few floor updates: the charts have points
            await read_in_every_language(floor, "supervisor", shots)
            await read_in_every_language(desk, "agent", shots / "talking")

            await caller.command("hangup")
            await caller.wait_event("CALL_CLOSED", timeout_s=30)
            await live_call_ended(engine)
            await floor.goto(f"{engine.http_url}/reports")
            await floor.click("#choose button[type=submit]")
            await expect(floor.locator("#report tbody tr").first).to_be_visible(timeout=10_000)
            await read_in_every_language(floor, "reports", shots)

            await floor.goto(f"{engine.http_url}/qa")
            await expect(floor.locator("#calls tbody tr").first).to_be_visible(timeout=60_000)
            await floor.locator("#calls tbody tr").first.click()
            await read_in_every_language(floor, "qa", shots)
        finally:
            await browser.close()
            await caller.stop()
    pictures = await asyncio.to_thread(sizes, shots)
    assert len(pictures) == 3 * 8, sorted(pictures)
    assert all(size > 8_000 for size in pictures.values()), f"a blank screenshot: {pictures}"
