"""The supervisor's live floor in a real browser, against the real engine and Asterisk.

A supervisor (sora) watches the billing queue while callers come and go: one waits and hangs up
(abandoned), one hangs up at once (a short abandon, not counted against the queue), one reaches
minsu and talks. The page shows each caller waiting and the day's KPIs change with each call.
Then the supervisor logs minsu out from the page, and the engine takes minsu out of routing.
The wallboard charts (Chart.js) draw the day's history: the waiting caller, the service level
against its target and minsu logged in; switched to Korean, the page and the charts' legends
are in Korean. Screenshots of the floor and the reports (en, ko; 1440x900) are kept in tmp_path.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, RunningEngine, free_port, require_tool
from tests.integration.sip_peers import Baresip, write_speech_then_tone
from tests.integration.test_acd_call import CALLER_HZ, MINSU_HZ, acd_setup, agent_phone, status, wait_agents
from tests.integration.test_agents import threadline

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
CHROMIUM = "/usr/bin/chromium"


async def call_billing(tmp_path: Path, name: str) -> Baresip:
    """A caller who says 요금 문의요 in the menu and so is queued for billing."""
    caller = Baresip(tmp_path / name, free_port(), free_port(), (47000, 47999))
    await caller.start(await asyncio.to_thread(write_speech_then_tone, tmp_path / f"{name}.wav", "요금 문의요", 6.0, 2.0, CALLER_HZ, 90.0))
    await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
    await caller.wait_event("CALL_ESTABLISHED")
    return caller


async def hang_up(caller: Baresip) -> None:
    await caller.command("hangup")
    await caller.wait_event("CALL_CLOSED")
    await caller.stop()


async def chart_values(page: Page, canvas: str, label: str) -> list[float]:
    """The y values Chart.js holds for the dataset `label` on `canvas` (nulls left out)."""
    values = await page.evaluate(
        "([canvas, label]) => { const set = Chart.getChart(document.getElementById(canvas)).data.datasets.find((d) => d.label === label);"
        " return set ? set.data.map((p) => (p !== null && typeof p === 'object' ? p.y : p)).filter((y) => y != null) : null; }",
        [canvas, label],
    )
    assert values is not None, f"{canvas}: no dataset {label!r}"
    return list(values)


async def chart_shows(page: Page, canvas: str, label: str, check: Callable[[list[float]], bool], timeout_s: float = 5.0) -> None:
    """The chart comes to hold what `check` wants within `timeout_s` (history points come a second apart)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check(values := await chart_values(page, canvas, label)):
        assert asyncio.get_running_loop().time() < deadline, f"{canvas} {label!r}: {values[-20:]}"
        await asyncio.sleep(0.25)


async def log_in_as_sora(page: Page, http_url: str) -> None:
    await page.goto(f"{http_url}/supervisor")
    await expect(page).to_have_url(re.compile(r"/login"))
    await page.fill("#agent", "sora")
    await page.fill("#password", "sora-password-1")
    await page.click("button[type=submit]")
    await expect(page).to_have_url(re.compile(r"/supervisor$"))
    await expect(page.locator("#connection")).to_have_text("connected")


async def drawn_size(page: Page, canvas: str) -> tuple[float, float]:
    box = await page.locator(f"#{canvas}").bounding_box()
    assert box is not None, f"#{canvas} is not shown"
    return box["width"], box["height"]


def kpi(page: Page, field: str):  # type: ignore[no-untyped-def]
    return page.locator(f'#kpis tr[data-queue="billing"] td[data-field="{field}"]')


async def test_a_supervisor_sees_callers_wait_and_the_kpis_change_and_can_log_an_agent_out(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    for tool in ("baresip", "espeak-ng", "sox", "chromium"):
        require_tool(tool)
    crm_url, _ = mock_crm
    env, secrets = await acd_setup(tmp_path, crm_url, "wrap_up_s: 2")
    passwd = await asyncio.to_thread(threadline, "agents", "passwd", "sora", "--password-stdin", "--flows", env["THREADLINE_FLOWS__FOLDER"], env=env, stdin="sora-password-1\n")
    assert passwd.returncode == 0, passwd.stderr
    engine: RunningEngine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'floor.sqlite3'}", **env)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        callers: list[Baresip] = []
        minsu: Baresip | None = None
        try:
            page = await (await browser.new_context(viewport={"width": 1440, "height": 900})).new_page()
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            await log_in_as_sora(page, engine.http_url)
            waiting = page.locator('#queues tr[data-queue="billing"] td[data-field="waiting"]')
            await expect(waiting).to_have_text("0")
            await expect(page.locator("#formulas")).to_contain_text("SL2")
            await expect(page.locator("#chart-waiting")).to_have_attribute("data-points", re.compile(r"^[1-9]"), timeout=10_000)
            for canvas in ("chart-waiting", "chart-service-level", "chart-agents"):  # nobody logged in yet: no agents to stack
                width, height = await drawn_size(page, canvas)
                assert width > 200 and height > 100, (canvas, width, height)

            # 1. Nobody can answer billing yet: the caller waits (seen live), then gives up after > 5 s.
            first = await call_billing(tmp_path, "first")
            callers.append(first)
            await expect(waiting).to_have_text("1", timeout=40_000)
            await expect(page.locator('#queues tr[data-queue="billing"] td[data-field="callers"]')).to_contain_text("#1")
            await expect(page.locator('#tiles [data-tile="waiting"] .tile-value')).to_have_text("1")
            await asyncio.sleep(6.5)
            await expect(page.locator('#queues tr[data-queue="billing"] td[data-field="longest"]')).not_to_have_text("0 s")
            await hang_up(first)
            await expect(waiting).to_have_text("0", timeout=10_000)
            await expect(kpi(page, "abandoned")).to_have_text("1", timeout=10_000)
            await expect(kpi(page, "abandon_rate")).to_have_text("100%")

            # 2. A caller who hangs up as soon as it is queued: a short abandon, not in the abandon rate.
            second = await call_billing(tmp_path, "second")
            callers.append(second)
            await expect(waiting).to_have_text("1", timeout=40_000)
            await hang_up(second)
            await expect(kpi(page, "short_abandoned")).to_have_text("1", timeout=10_000)
            await expect(kpi(page, "abandoned")).to_have_text("1")
            await expect(kpi(page, "offered")).to_have_text("2")

            # 3. minsu's phone registers; the next caller reaches minsu and talks, then hangs up.
            minsu = await agent_phone(tmp_path, "minsu", "2001", secrets["minsu"], MINSU_HZ)
            await wait_agents(engine, {"minsu": "available"})
            await expect(page.locator('#agents tr[data-agent="minsu"] td[data-field="status"]')).to_have_text("available", timeout=5_000)
            third = await call_billing(tmp_path, "third")
            callers.append(third)
            await wait_agents(engine, {"minsu": "on_call"}, timeout_s=40)
            await expect(page.locator('#agents tr[data-agent="minsu"] td[data-field="status"]')).to_have_text("on a call", timeout=5_000)
            await asyncio.sleep(3.0)
            await hang_up(third)
            await expect(kpi(page, "answered")).to_have_text("1", timeout=10_000)
            await expect(kpi(page, "offered")).to_have_text("3")
            await expect(kpi(page, "abandon_rate")).to_have_text("50%")  # 1 abandoned ÷ (1 answered + 1 abandoned)
            await expect(kpi(page, "service_level")).to_contain_text("100%")  # answered at once: within 20 s
            await expect(kpi(page, "asa")).not_to_have_text("–")
            await expect(page.locator("#occupancy")).not_to_have_text("–")
            await wait_agents(engine, {"minsu": "available"}, timeout_s=10)  # wrap-up (2 s) ends by time
            await expect(kpi(page, "aht")).not_to_have_text("–", timeout=10_000)

            # The wallboard drew it all: the waiting callers, 100 % service level (its 80 % target beside it), minsu available.
            await expect(page.locator('#tiles [data-tile="service_level"] .tile-value')).to_have_text("100%")
            await chart_shows(page, "chart-waiting", "billing", lambda values: max(values) >= 1)
            await chart_shows(page, "chart-service-level", "billing", lambda values: values[-1] == 100)
            await chart_shows(page, "chart-service-level", "Target 80%", lambda values: set(values) == {80})
            await chart_shows(page, "chart-agents", "available", lambda values: max(values) >= 1)
            await expect(page.locator("#chart-agents")).to_have_attribute("data-points", re.compile(r"^[1-9]"))
            await page.screenshot(path=str(tmp_path / "supervisor-en.png"))
            await page.select_option("#language", "ko")
            await expect(page.locator("#wallboard-title")).to_have_text("오늘의 센터 현황")
            await expect(kpi(page, "service_level")).to_contain_text("목표")
            await chart_shows(page, "chart-agents", "대기", lambda values: max(values) >= 1)  # the legend follows the language
            await page.screenshot(path=str(tmp_path / "supervisor-ko.png"))
            reports = await page.context.new_page()
            await reports.goto(f"{engine.http_url}/reports")
            await expect(reports.locator("#result")).to_contain_text("행")
            await reports.select_option('#choose select[name="interval"]', "15m")
            await reports.click("#choose button[type=submit]")
            await expect(reports.locator("#chart-volume")).to_have_attribute("data-points", re.compile(r"^[1-9]"))
            await chart_shows(reports, "chart-volume", "인입", lambda values: sum(values) == 3)
            await reports.screenshot(path=str(tmp_path / "reports-ko.png"))
            await reports.select_option("#language", "en")
            await expect(reports.locator("#result")).to_contain_text("row(s)")
            await chart_shows(reports, "chart-volume", "Offered", lambda values: sum(values) == 3)
            await reports.screenshot(path=str(tmp_path / "reports-en.png"))
            await reports.close()
            await page.select_option("#language", "en")
            await expect(page.locator("#wallboard-title")).to_have_text("Today on the floor")
            assert not problems, problems

            # 4. The supervisor logs minsu out from the page.
            await page.locator('#agents tr[data-agent="minsu"] button[data-action="logged_out"]').click()
            await expect(page.locator("#action-result")).to_have_text("minsu set to logged out")
            await wait_agents(engine, {"minsu": "logged_out"}, timeout_s=5)
            await expect(page.locator('#agents tr[data-agent="minsu"] td[data-field="status"]')).to_have_text("logged out", timeout=5_000)
        finally:
            await browser.close()
            print(f"screenshots in {tmp_path}")
            for caller in callers:
                await caller.stop()
            if minsu is not None:
                await minsu.stop()

    calls = await engine.ended_calls(3)
    abandons = [e.detail for call in calls for e in call.events if e.kind == "abandoned"]
    assert sorted(bool(a["short"]) for a in abandons) == [False, True], abandons
    first = next(call for call in calls if any(e.kind == "abandoned" and not e.detail["short"] for e in call.events))
    announced = [e.detail for e in first.events if e.kind == "wait_announced"]
    assert announced and announced[0]["position"] == 1, [e.kind for e in first.events]
    assert announced[0]["estimate_s"] is None and "상담원이 통화 중" in announced[0]["said"], "no agent staffed: no time is promised"
    assert (await status(engine))["agents"]["minsu"]["status"] == "logged_out"

    # 5. The engine restarts: the wallboard's morning is rebuilt from the database, not drawn from the restart on.
    assert await engine.stop() == 0
    restarted: RunningEngine = await start_engine(engine.database_url, **env)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = await (await browser.new_context(viewport={"width": 1440, "height": 900})).new_page()
            await log_in_as_sora(page, restarted.http_url)
            await chart_shows(page, "chart-waiting", "billing", lambda values: max(values) >= 1, timeout_s=10)
            await chart_shows(page, "chart-service-level", "billing", lambda values: values[-1] == 100)
            await expect(page.locator("#history-since")).to_have_text("")
        finally:
            await browser.close()
