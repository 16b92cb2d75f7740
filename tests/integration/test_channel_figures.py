"""Figures across channels on a real database and through the real web server: a chat the bot
finished, a chat handed off by code to a phone leg whose agent asks again for the account the chat
collected, and a phone-only call. The report by channel, /metrics, the QA check and the QA page's
history give the figures worked out by hand below.

By hand (one day):
- contacts: chat 2 (the contained chat, the handed-off chat), phone 1 (the phone-only call: no
  contact row, a contact of its own; the code's phone leg belongs to the chat's contact); all 3;
- legs: chat 2, phone 2; all 4;
- containment: chat 1 ÷ 2 = 0.5 (the handed-off chat offered the phone); phone 0 ÷ 2 (both queued);
  all 1 ÷ 4 = 0.25;
- hand-offs: offered 1, completed 1 (the code was claimed);
- repeat rate: 1 handed-off contact, checked 1, repeated 1 (the agent asked for the account the chat
  had collected) = 1.0.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import async_playwright, expect

from engine.acd.report_commands import ChannelFiguresToday, as_csv, report_rows
from engine.config.qa_config import QualityFile
from engine.journey.events import (
    AgentAnswered,
    CallEnded,
    Collected,
    ContinuedFrom,
    HandoffClaimed,
    HandoffOffered,
    IntentChosen,
    JourneyEventModel,
    Queued,
    Typed,
    to_stored,
)
from engine.localpbx.local_asterisk import LocalAsterisk
from engine.recording.quality_checks import CallFacts, earlier_leg_fields, known_fields, review_call
from engine.recording.transcriber import Transcriber
from engine.recording.transcription import TranscriptSegment
from engine.settings import SpeechSettings, TranscriptSettings
from engine.store.contact_store import ContactStore
from engine.store.database import create_engine, upgrade_database
from engine.store.journey_store import CallerInfo, JourneyStore
from engine.store.qa_store import QaStore, StoredTranscript
from engine.store.recording_store import Recording, RecordingStore
from tests.integration.conftest import RunningEngine, require_tool
from tests.integration.test_acd_call import ADMIN_TOKEN, acd_setup
from tests.integration.test_agents import threadline
from tests.integration.test_supervisor import CHROMIUM

QUALITY = QualityFile.model_validate({"language": "ko", "checks": {"identity_questions": {"account": ["고객 번호 알려"]}}})
AGENT_ASKS = "고객 번호 알려 주세요"
EXPECTED = {
    "phone": {"contacts": 1, "legs": 2, "contained": 0, "containment": 0.0, "handoffs_offered": 0, "handoffs_completed": 0, "repeat_rate": None},
    "chat": {"contacts": 2, "legs": 2, "contained": 1, "containment": 0.5, "handoffs_offered": 1, "handoffs_completed": 1, "handed_off_contacts": 1,
             "repeat_checked": 1, "repeated": 1, "repeat_rate": 1.0},
    "all": {"contacts": 3, "legs": 4, "contained": 1, "containment": 0.25, "handoffs_offered": 1, "handoffs_completed": 1, "handed_off_contacts": 1,
            "repeat_checked": 1, "repeated": 1, "repeat_rate": 1.0},
}


async def add(journeys: JourneyStore, call_id: int, at: datetime, *events: JourneyEventModel) -> None:
    for event in events:
        kind, detail = to_stored(event)
        await journeys.add_event(call_id, kind, at, detail)


async def seed_day(database_url: str, t0: datetime) -> str:
    """The three contacts, from `t0`; returns the phone leg that went on from the chat."""
    await upgrade_database(database_url)
    database = create_engine(database_url)
    try:
        journeys = JourneyStore(database)
        contacts = ContactStore(database, journeys)
        minute = timedelta(minutes=1)
        # 1. A chat the bot finished: contained.
        finished = await contacts.create_contact("chat", t0)
        leg = await contacts.open_leg(finished, "chat", CallerInfo("chat-done", "", "", "chat"), t0, to_stored(Typed(text="요금 얼마예요", node="menu")))
        await add(journeys, leg.call_id, t0 + minute, IntentChosen(node="menu", intent="billing"))
        await journeys.close_call(leg.call_id, t0 + 2 * minute, "customer", None, None)
        # 2. A chat handed off by code; the phone leg claims it and the agent asks again for the account.
        handed = await contacts.create_contact("chat", t0 + 10 * minute, number="01012345678")
        chat = await contacts.open_leg(handed, "chat", CallerInfo("chat-code", "01012345678", "", "chat"), t0 + 10 * minute, to_stored(Typed(text="인터넷이 안 돼요", node="menu")))
        await add(journeys, chat.call_id, t0 + 11 * minute, IntentChosen(node="menu", intent="technical"), Typed(text="****", node="ask_account"),
                  Collected(node="ask_account", into="account", length=8), HandoffOffered(how="code", queue="technical"))
        phone = await journeys.open_call(CallerInfo("1801.7", "01012345678", "", "1588"), t0 + 14 * minute, {})
        assert await contacts.attach_leg("1801.7", handed.id)
        await add(journeys, phone.call_id, t0 + 14 * minute, ContinuedFrom(leg="chat-code", channel="chat", how="code"), Queued(queue="technical"))
        await add(journeys, chat.call_id, t0 + 14 * minute, HandoffClaimed(leg="1801.7", how="code"))
        await journeys.close_call(chat.call_id, t0 + 15 * minute, "engine", None, None)
        await add(journeys, phone.call_id, t0 + 15 * minute, AgentAnswered(agent="minsu", waited_s=60))
        await add(journeys, phone.call_id, t0 + 20 * minute, CallEnded(by="caller", agent="minsu"))
        await journeys.close_call(phone.call_id, t0 + 20 * minute, "caller", 16, None)
        # 3. A phone-only call, answered.
        only = await journeys.open_call(CallerInfo("1802.1", "0212345678", "", "1588"), t0 + 30 * minute, {})
        await add(journeys, only.call_id, t0 + 30 * minute, Queued(queue="billing"))
        await add(journeys, only.call_id, t0 + 31 * minute, AgentAnswered(agent="jiyeon", waited_s=30))
        await add(journeys, only.call_id, t0 + 34 * minute, CallEnded(by="agent", agent="jiyeon"))
        await journeys.close_call(only.call_id, t0 + 34 * minute, "caller", 16, None)
        await review_phone_leg(database, "1801.7", t0 + 15 * minute + timedelta(seconds=2))
        return "1801.7"
    finally:
        await database.dispose()


async def review_phone_leg(database: Any, call_id: str, started: datetime) -> None:
    """The phone leg's recording and its QA review, as the transcriber makes it: the journey read back,
    the legs it goes on from read back through the store, the checks run, the transcript saved."""
    journeys = JourneyStore(database)
    recording_id = await RecordingStore(database).add(Recording(0, call_id, f"{call_id}.wav", "wav", 2, 8000, 300.0, 1000, "0" * 64, "minsu", "technical",
                                                                  started, started + timedelta(minutes=5), "ok", (), "ko"))
    call = await journeys.get_call(call_id)
    assert call is not None
    transcriber = Transcriber(TranscriptSettings(), SpeechSettings(), QaStore(database), journeys, Path("."), lambda: None, lambda: {})  # type: ignore[arg-type,return-value]
    earlier = earlier_leg_fields(await transcriber.earlier_legs(call_id, call.events), started)
    assert earlier == {"menu": "chat", "ask_account": "chat", "account": "chat"}, earlier
    segments = [TranscriptSegment("agent", 0.5, 3.0, "안녕하세요 상담원 김민수 입니다", 0.9), TranscriptSegment("caller", 3.5, 5.0, "인터넷 이 안 돼요", 0.9),
                TranscriptSegment("agent", 5.5, 7.0, AGENT_ASKS, 0.9)]
    review = review_call(QUALITY, CallFacts(segments, 8.0, "김민수", known_fields(call.events, started), 60.0, (), earlier))
    finding = review.findings["no_repeated_question"]
    assert not finding.passed and "the chat (an earlier leg) had it already" in finding.detail, finding
    await QaStore(database).save_transcript(StoredTranscript(recording_id, call_id, "ko", "test", started, 8.0, 1.0, " ".join(s.text for s in segments),
                                                             [asdict(s) for s in segments], {c: asdict(f) for c, f in review.findings.items()}, list(review.flags), review.sentiment))


def figures_of(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["key"]: {field: row[field] for field in EXPECTED[row["key"]]} for row in rows}


async def test_the_report_by_channel_and_metrics_give_the_figures_worked_out_by_hand(database_url: str) -> None:
    t0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    await seed_day(database_url, t0)
    database = create_engine(database_url)
    try:
        day = datetime(2026, 12, 7, tzinfo=UTC)
        rows = await report_rows(database, None, day, day + timedelta(days=1), "day", "channel")
        assert figures_of(rows) == EXPECTED, rows
        assert as_csv(rows).splitlines()[0].startswith("interval_start,interval_end,by,key,contacts,legs,contained,containment,handoffs_offered")
        today = ChannelFiguresToday(database, wall_clock=lambda: (t0 + timedelta(hours=2)).timestamp())
        await today.refresh()
        assert today.latest is not None
        assert {key: {field: getattr(figures, field) for field in EXPECTED[key]} for key, figures in today.latest.items()} == EXPECTED, "/metrics: the report's figures"
        queue_rows = await report_rows(database, None, day, day + timedelta(days=1), "day", "queue")
        assert next(row for row in queue_rows if row["key"] == "all")["calls_arrived"] is not None, "the queue report still reads"
    finally:
        await database.dispose()


@pytest.mark.asterisk
async def test_the_pages_show_the_channels_through_the_real_web_server(pbx: LocalAsterisk, start_engine: Any, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path) -> None:
    require_tool("chromium")
    env, _secrets = await acd_setup(tmp_path, mock_crm[0])
    done = await asyncio.to_thread(threadline, "agents", "passwd", "sora", "--password-stdin", "--flows", env["THREADLINE_FLOWS__FOLDER"], env=env, stdin="sora-password-1\n")
    assert done.returncode == 0, done.stderr
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'channels.sqlite3'}"
    now = datetime.now(UTC)
    t0 = max(now - timedelta(minutes=40), now.astimezone().replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC) + timedelta(seconds=1))
    phone_leg = await seed_day(database_url, t0)
    engine: RunningEngine = await start_engine(database_url, **env)
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(headers=bearer) as operator:
        async with operator.get(f"{engine.http_url}/reports/data", params={"by": "channel", "interval": "day"}) as response:
            assert response.status == 200, await response.text()
            rows = (await response.json())["rows"]
        assert figures_of(rows) == EXPECTED, rows
        async with operator.get(f"{engine.http_url}/reports/data", params={"by": "channel", "interval": "day", "format": "csv"}) as response:
            text = await response.text()
            assert response.status == 200 and ",channel,chat,2,2,1,0.5,1,1,1,1,1,1.0" in text, text
        async with operator.get(f"{engine.http_url}/reports/data", params={"by": "nobody"}) as response:
            assert response.status == 422 and (await response.json())["field"] == "by"
    wanted = ('threadline_contacts_today{channel="chat"} 2.0', 'threadline_containment_ratio{channel="all"} 0.25',
              'threadline_handoffs_today{stage="completed"} 1.0', "threadline_handoff_repeat_ratio 1.0")
    exposition = ""
    async with aiohttp.ClientSession() as scraper:
        for _ in range(180):  # today's channel figures are computed by a background task soon after the start: not at once on a busy machine
            async with scraper.get(f"{engine.http_url}/metrics") as response:
                exposition = await response.text()
            if all(line in exposition for line in wanted):
                break
            await asyncio.sleep(0.5)
    for line in wanted:
        assert line in exposition, exposition

    shots = tmp_path / "screenshots"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = await (await browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")).new_page()
            await page.goto(f"{engine.http_url}/reports")
            await page.fill("#agent", "sora")
            await page.fill("#password", "sora-password-1")
            await page.click("button[type=submit]")
            await expect(page).to_have_url(re.compile(r"/reports$"))
            await page.select_option("select[name=by]", "channel")
            await page.select_option("select[name=interval]", "day")
            await page.click("#choose button[type=submit]")
            chat = page.locator('#report tbody tr[data-key="chat"]')
            await expect(chat.locator('td[data-field="containment"]')).to_have_text("50%")
            await expect(chat.locator('td[data-field="repeat_rate"]')).to_have_text("100%")
            await expect(page.locator("#chart-volume")).to_have_attribute("data-points", re.compile(r"^[1-9]"))
            await page.screenshot(path=str(shots / "reports-by-channel.png"), full_page=True)
            await page.goto(f"{engine.http_url}/qa")
            await page.click("#find button[type=submit]")
            row = page.locator("#calls tbody tr").first
            await expect(row.locator("td[data-channel]")).to_contain_text("phone")
            await expect(row.locator('span[data-channel="chat"]')).to_have_attribute("data-call", "chat-code")
            await expect(row.locator('[data-flag="repeated_question"]')).to_be_visible()
            await row.click()
            await expect(page.locator("#contact-history")).to_contain_text("chat")
            await expect(page.locator('#findings li[data-check="no_repeated_question"]')).to_contain_text("the chat (an earlier leg) had it already")
            await page.screenshot(path=str(shots / "qa-legs.png"), full_page=True)
        finally:
            await browser.close()
    print(f"screenshots in {shots} (phone leg {phone_leg})")
