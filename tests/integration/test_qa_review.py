"""QA review in a real browser on a real call: sora (qa) finds the call by a word of its transcript,
plays it (Chromium seeks with range requests), sees the transcript follow playback and the
repeated-question check, and scores it; audit rows record each playback and score. Then the auth
probes: strangers get 401, another agent's recording and path tricks 403 with an audit row, an
agent may hear their own call but not score it, and a file altered after filing is never served."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import async_playwright, expect

from engine.localpbx.local_asterisk import LocalAsterisk
from engine.store.database import create_engine
from engine.store.recording_store import AuditEntry, RecordingStore
from tests.integration.conftest import RunningEngine, free_port, require_tool
from tests.integration.sip_peers import Baresip, write_speech_then_tone
from tests.integration.test_acd_call import CALLER_HZ, MINSU_HZ, SIP_PORT, acd_setup, agent_phone, wait_agents
from tests.integration.test_agents import threadline
from tests.integration.test_recording import AGENT_ASKS, recordings_of, transcript_of
from tests.integration.test_supervisor import CHROMIUM

pytestmark = pytest.mark.asterisk


async def audit_rows(engine: RunningEngine) -> list[AuditEntry]:
    database = create_engine(engine.database_url)
    try:
        return await RecordingStore(database).audit_entries()
    finally:
        await database.dispose()


async def logged_in(engine: RunningEngine, agent: str, password: str) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    response = await session.post(f"{engine.http_url}/login", data={"agent": agent, "password": password})
    assert response.status == 200, await response.text()
    return session


async def test_a_reviewer_finds_plays_and_scores_a_call_and_access_is_checked_and_audited(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    for tool in ("baresip", "espeak-ng", "sox", "chromium"):
        require_tool(tool)
    crm_url, _ = mock_crm
    env, secrets = await acd_setup(tmp_path, crm_url)
    for agent in ("sora", "minsu", "jiyeon"):
        done = await asyncio.to_thread(threadline, "agents", "passwd", agent, "--password-stdin", "--flows", env["THREADLINE_FLOWS__FOLDER"], env=env, stdin=f"{agent}-password-1\n")
        assert done.returncode == 0, done.stderr
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'qa.sqlite3'}", **env)
    minsu = await agent_phone(tmp_path, "minsu", "2001", secrets["minsu"], MINSU_HZ, says=[(0.5, "안녕하세요 상담원 김민수 입니다"), (1.0, AGENT_ASKS)])
    caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999))
    try:
        await wait_agents(engine, {"minsu": "available"})
        await caller.start(await asyncio.to_thread(write_speech_then_tone, tmp_path / "caller.wav", "요금 문의요", 6.0, 2.0, CALLER_HZ, 60.0))
        await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
        await caller.wait_event("CALL_ESTABLISHED")
        await wait_agents(engine, {"minsu": "on_call"}, timeout_s=40)
        await asyncio.sleep(10.0)
        await caller.command("hangup")
        await caller.wait_event("CALL_CLOSED")
    finally:
        await caller.stop()
        await minsu.stop()
    (call,) = await engine.ended_calls(1)
    (recording,) = await recordings_of(engine, call.channel_id)
    await transcript_of(engine, recording.id)

    ranges: list[tuple[int, str]] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--autoplay-policy=no-user-gesture-required"])
        try:
            page = await browser.new_page()
            page.on("response", lambda r: ranges.append((r.status, r.request.headers.get("range", ""))) if "/audio" in r.url else None)
            await page.goto(f"{engine.http_url}/qa")
            await expect(page).to_have_url(re.compile(r"/login"))
            await page.fill("#agent", "sora")
            await page.fill("#password", "sora-password-1")
            await page.click("button[type=submit]")
            await expect(page).to_have_url(re.compile(r"/qa$"))
            await page.fill("input[name=words]", "김민수")
            await page.click("#find button[type=submit]")
            await expect(page.locator("#find-result")).to_have_text("1 call(s)")
            row = page.locator(f'#calls tr[data-recording="{recording.id}"]')
            await expect(row.locator('[data-flag="repeated_question"]')).to_have_text("Repeated question")  # a flag shown in the reader's words
            await row.click()
            await expect(page.locator("#transcript li.agent").first).to_contain_text("김민수")
            await expect(page.locator('#findings li[data-check="no_repeated_question"]')).to_have_attribute("data-passed", "false")
            # Play from the agent's question: the browser seeks (a range request) and the line is marked as playing.
            question = page.locator("#transcript li.agent").filter(has_text="번호")
            await question.first.click()
            await expect(question.first).to_have_class(re.compile(r"\bnow\b"), timeout=10_000)
            await page.select_option('#questions select[name="resolution"]', "4")
            await expect(page.locator('#questions select[name="no_repeat"]')).to_have_value("no")  # prefilled by the auto-check
            await page.click("#score button[type=submit]")
            await expect(page.locator("#score-result")).to_contain_text("saved")
            await expect(page.locator("#scores li").first).to_contain_text("by sora")
        finally:
            await browser.close()
    assert any(status == 206 and header.startswith("bytes=") for status, header in ranges), ranges

    audits = await audit_rows(engine)
    assert any(a.actor == "sora" and a.action == "play" and a.target == f"recording:{recording.id}" for a in audits), audits
    assert any(a.actor == "sora" and a.action == "score" and a.detail["scorecard"] == "standard" for a in audits), audits

    # Auth probes: every QA endpoint without a session, then with the wrong person.
    audio = f"{engine.http_url}/qa/recordings/{recording.id}/audio"
    async with aiohttp.ClientSession() as stranger:
        for method, url in [("GET", f"{engine.http_url}/qa/calls"), ("GET", f"{engine.http_url}/qa/scores"), ("GET", f"{engine.http_url}/qa/recordings/{recording.id}"),
                            ("GET", audio), ("POST", f"{engine.http_url}/qa/recordings/{recording.id}/scores")]:
            async with stranger.request(method, url, allow_redirects=False) as response:
                assert response.status == 401, (method, url, response.status)
        async with stranger.get(f"{engine.http_url}/qa", allow_redirects=False) as response:
            assert response.status == 303 and "/login" in response.headers["Location"]
    jiyeon = await logged_in(engine, "jiyeon", "jiyeon-password-1")
    try:
        async with jiyeon.get(audio) as response:
            assert response.status == 403, "another agent's recording"
        async with jiyeon.get(f"{engine.http_url}/qa/recordings/..%2F..%2F..%2Fetc%2Fpasswd/audio") as response:
            assert response.status in (403, 404), response.status
        async with jiyeon.get(f"{engine.http_url}/qa/recordings/1%20OR%201=1") as response:
            assert response.status == 403
        async with jiyeon.get(f"{engine.http_url}/qa/calls") as response:
            assert (await response.json())["calls"] == [], "an agent sees only their own calls"
    finally:
        await jiyeon.close()
    minsu_desk = await logged_in(engine, "minsu", "minsu-password-1")
    try:
        async with minsu_desk.get(audio, headers={"Range": "bytes=44-1000"}) as response:
            assert response.status == 206 and len(await response.read()) == 957, "minsu may hear his own call"
        async with minsu_desk.post(f"{engine.http_url}/qa/recordings/{recording.id}/scores", json={"scorecard": "standard", "answers": {"greeting": "yes"}}) as response:
            assert response.status == 403, "but not score it"
        async with minsu_desk.get(f"{engine.http_url}/qa/scores") as response:
            scores: list[dict[str, Any]] = (await response.json())["scores"]
            assert [s["reviewer"] for s in scores] == ["sora"], "minsu sees his own score"
    finally:
        await minsu_desk.close()
    denied = [a for a in await audit_rows(engine) if a.action == "denied"]
    assert {a.actor for a in denied} == {"jiyeon"} and len(denied) >= 2, denied
    assert any(a.detail.get("reason") == "another agent's recording" for a in denied) and any(a.detail.get("reason") == "not a recording id" for a in denied)

    # A file altered after filing is reported, never served.
    kept = tmp_path / "recordings" / recording.path
    await asyncio.to_thread(lambda: kept.write_bytes(kept.read_bytes()[:-2] + b"\x00\x01"))
    sora = await logged_in(engine, "sora", "sora-password-1")
    try:
        async with sora.get(audio) as response:
            assert response.status == 409 and "sha256" in (await response.json())["error"]
    finally:
        await sora.close()
    assert any(a.action == "integrity_failed" and a.target == f"recording:{recording.id}" for a in await audit_rows(engine))
