"""The customer web chat on the real engine (real Asterisk running beside it, a real database), in Chromium.

A customer types the account and "인터넷이 안 돼요" on the sample Korean flow, works through the
troubleshooting steps with the buttons, reloads the page mid-flow and goes on at the same step with
the transcript; the step texts are the procedure file's. An edit to that file, reloaded, reaches a
chat in progress. Hostile input (oversized messages, a flood, HTML, bad signatures, strangers'
origins, too many new chats) is refused cleanly and the engine keeps serving. The page is
photographed in Korean, Chinese and English into $THREADLINE_SCREENSHOTS when it is set (the
README's: `THREADLINE_SCREENSHOTS=docs/screenshots`), like tests/integration/test_page_languages.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from playwright.async_api import Page, async_playwright, expect

from engine.chat.chat_identity import sign
from engine.localpbx.local_asterisk import LocalAsterisk
from engine.recording.retention import PERSONAL_KINDS
from tests.integration.conftest import RunningEngine
from tests.integration.test_acd_call import ADMIN_TOKEN, acd_setup

pytestmark = pytest.mark.asterisk
CHROMIUM = "/usr/bin/chromium"
SECRET = "chat-test-identity-secret-0123456789abcdef"
SITE = "https://shop.example"
SCREENSHOTS = Path(os.environ["THREADLINE_SCREENSHOTS"]).resolve() if os.environ.get("THREADLINE_SCREENSHOTS") else None
"""Read, not popped, at import: test_page_languages.py pops it when collected in the same run (and
reads it then); chat_engine removes it before an engine starts (unknown THREADLINE_ variables are refused)."""


async def chat_engine(tmp_path: Path, start_engine: Any, crm_url: str, **extra: str) -> tuple[RunningEngine, Path]:
    os.environ.pop("THREADLINE_SCREENSHOTS", None)
    env, _ = await acd_setup(tmp_path, crm_url)
    env.update({"THREADLINE_CHAT__ENABLED": "true", "THREADLINE_CHAT__IDENTITY_SECRET": SECRET, "THREADLINE_CHAT__ALLOWED_ORIGINS": SITE,
                "THREADLINE_FLOWS__WATCH_S": "0", **extra})
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'chat.sqlite3'}", **env)
    return engine, Path(env["THREADLINE_FLOWS__FOLDER"])


def procedure(flows: Path) -> list[dict[str, str]]:
    return list(yaml.safe_load((flows / "steps" / "internet_down_ko.yaml").read_text(encoding="utf-8"))["steps"])


async def bot_texts(page: Page) -> list[str]:
    return list(await page.locator("#chat-log li[data-who=bot]").all_text_contents())


async def type_in(page: Page, text: str) -> None:
    await page.fill("#chat-input", text)
    await page.click("#chat-send")


async def chat_leg(engine: RunningEngine) -> Any:
    async with engine.store() as store:
        return next(call for call in await store.recent_calls(limit=20) if call.channel_id.startswith("chat-"))


async def test_a_customer_types_through_the_steps_reloads_and_goes_on_and_an_edit_reaches_the_chat(
    pbx: LocalAsterisk, start_engine: Any, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    engine, flows = await chat_engine(tmp_path, start_engine, mock_crm[0])
    steps = await asyncio.to_thread(procedure, flows)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            context = await browser.new_context(locale="ko-KR", viewport={"width": 480, "height": 820})
            page = await context.new_page()
            await page.goto(f"{engine.http_url}/chat")
            chat = page.locator("#chat")
            await expect(chat).to_have_attribute("data-input", "digits", timeout=15_000)  # no caller number: the CRM does not know the chat
            assert (await bot_texts(page))[-1] == "고객 번호 여섯 자리를 눌러 주세요."
            await type_in(page, "123456")
            await expect(chat).to_have_attribute("data-node", "menu")
            assert await page.locator("#chat-replies button").all_text_contents() == ["요금 문의", "기술 지원", "가입 상담", "상담원"]

            await type_in(page, "인터넷이 안 돼요")
            await expect(chat).to_have_attribute("data-node", "internet_steps")
            assert (await bot_texts(page))[-2:] == [steps[0]["prompt"], steps[0]["question"]], "the chat shows the procedure file's own words"
            await page.click("#chat-replies button:has-text('아니요')")
            await expect(page.locator("#chat-log li[data-who=bot]").last).to_have_text(steps[1]["question"])
            before = await page.locator("#chat-log li").all_text_contents()
            await page.screenshot(path=str(tmp_path / "before-reload.png"))

            await page.reload()  # mid-flow: the same chat, the same step, the transcript so far
            await expect(chat).to_have_attribute("data-connection", "connected", timeout=10_000)
            await expect(chat).to_have_attribute("data-node", "internet_steps")
            assert await page.locator("#chat-log li").all_text_contents() == before
            await expect(page.locator("#chat-replies button")).to_have_text(["네", "아니요", "상담원"])  # yes, no, and a person mid-procedure

            # One knowledge source: the step's text edited in the file, flows reloaded; the chat's next visit shows it.
            edited = "공유기 뒤의 랜선을 뽑았다가 딸깍 소리가 나게 다시 꽂아 주세요."
            path = flows / "steps" / "internet_down_ko.yaml"
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
            await asyncio.to_thread(path.write_text, text.replace(steps[1]["prompt"], edited), encoding="utf-8")
            async with aiohttp.ClientSession() as http, http.post(f"{engine.http_url}/flows/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as answer:
                assert answer.status == 200, await answer.text()
            await page.reload()
            await expect(page.locator("#chat-log li[data-who=bot]").last).to_have_text(steps[1]["question"], timeout=10_000)
            assert (await bot_texts(page))[-2:] == [edited, steps[1]["question"]]
            await expect(chat).to_have_attribute("data-node", "internet_steps")

            html = "<img src=x onerror=\"document.body.dataset.owned=1\"><b>굵게</b>"
            await type_in(page, html)  # not a yes or no: asked again, and shown exactly as typed
            await expect(page.locator("#chat-log li[data-who=customer]").last).to_have_text(html)
            assert await page.locator("#chat-log img, #chat-log b").count() == 0 and await page.evaluate("document.body.dataset.owned") is None

            for language in ("ko", "zh", "en"):
                await page.select_option("#language", language)
                await expect(page.locator("html")).to_have_attribute("lang", language)
                await page.screenshot(path=str((SCREENSHOTS or tmp_path) / f"chat-{language}.png"))

            await page.click("#chat-replies button:has-text('아니요')")
            await expect(page.locator("#chat-log li[data-who=bot]").last).to_have_text(steps[2]["question"])
            await page.click("#chat-replies button:has-text('아니요')")  # every step done: the technical queue, so the hand-off
            await expect(chat).to_have_attribute("data-input", "handoff")
            await expect(page.locator("#chat-handoff")).to_be_visible()
            await page.click("#handoff-code")
            await expect(page.locator("#handoff-result")).not_to_be_empty()  # no hand-off service here: refused in words, never a code
            await page.screenshot(path=str(tmp_path / "handoff.png"))
        finally:
            await browser.close()

    leg = await chat_leg(engine)
    assert leg.channel == "chat" and leg.contact_id is not None
    kinds = [event.kind for event in leg.events]
    assert kinds[0] == "arrived" and kinds.count("step_done") == 3 and "transfer" in kinds, kinds
    typed = [event.detail["text"] for event in leg.events if event.kind == "typed"]
    assert typed[:2] == ["123456", "인터넷이 안 돼요"], typed
    sent = [event.detail["text"] for event in leg.events if event.kind == "chat_sent"]
    assert steps[0]["prompt"] in sent and edited in sent
    assert {"typed", "chat_sent"} <= PERSONAL_KINDS, "the transcript is erased with the rest of the customer's journey"
    async with engine.store() as store:
        await store.erase_personal_data([leg.channel_id], PERSONAL_KINDS)
        erased = await store.get_call(leg.channel_id)
    assert erased is not None and not any("text" in event.detail for event in erased.events if event.kind in ("typed", "chat_sent"))


async def open_chat(http: aiohttp.ClientSession, url: str, **body: str) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{url}/chat/session", json=body) as answer:
        return answer.status, await answer.json()


async def test_hostile_input_is_refused_cleanly_and_the_engine_keeps_serving(
    pbx: LocalAsterisk, start_engine: Any, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    engine, _flows = await chat_engine(tmp_path, start_engine, mock_crm[0], THREADLINE_CHAT__SESSIONS_PER_CLIENT_PER_MINUTE="8")
    url = engine.http_url
    figures: dict[str, Any] = {}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/chat") as page:
            assert page.status == 200
            assert f"frame-ancestors 'self' {SITE}" in page.headers["Content-Security-Policy"] and "X-Frame-Options" not in page.headers
        async with http.get(f"{url}/healthz") as other:
            assert other.headers["X-Frame-Options"] == "DENY", "every other page still refuses to be framed"

        identity, signature = sign({"customer": "C-1", "number": "0212345678", "name": "김민수", "exp": int(time.time()) + 300}, SECRET)
        status, body = await open_chat(http, url, identity=identity, signature="0" * 64)
        assert (status, body["field"]) == (400, "signature"), body
        status, body = await open_chat(http, url, identity="!!!", signature=sign({}, SECRET)[1])
        assert (status, body["field"]) == (400, "signature"), body
        stale, stale_signature = sign({"customer": "C-1", "exp": int(time.time()) - 5}, SECRET)
        status, body = await open_chat(http, url, identity=stale, signature=stale_signature)
        assert (status, body["field"]) == (400, "identity.exp"), body
        status, body = await open_chat(http, url, identity=identity, signature="é" * 64)  # not hex: refused by name, never a 500
        assert (status, body["field"]) == (400, "signature"), body
        lasting, lasting_signature = sign({"customer": "C-1", "exp": int(time.time()) + 86_400}, SECRET)  # a day ahead: more than chat.identity_max_s
        status, body = await open_chat(http, url, identity=lasting, signature=lasting_signature)
        assert (status, body["field"]) == (400, "identity.exp"), body
        async with http.post(f"{url}/chat/session", data="not json", headers={"Content-Type": "application/json"}) as answer:
            assert answer.status == 400 and (await answer.json())["field"] == "body"
        async with http.post(f"{url}/chat/session", json={}, headers={"Origin": "https://evil.example"}) as answer:
            assert answer.status == 403, "a stranger's page cannot open chats"
        async with http.post(f"{url}/chat/session", json={}, headers={"Origin": SITE, "Sec-Fetch-Site": "cross-site"}) as answer:
            assert answer.status == 200 and answer.headers["Access-Control-Allow-Origin"] == SITE

        status, body = await open_chat(http, url, identity=identity, signature=signature)
        assert status == 200, body
        async with http.ws_connect(f"{url}/chat/ws") as socket:
            await socket.send_json({"type": "hello", "token": body["token"]})
            hello = await socket.receive_json(timeout=10)
            while not any("요금 문의는 1번" in item.get("text", "") for item in hello.get("items", [])):  # the CRM knew the signed number: straight to the menu
                hello = await socket.receive_json(timeout=10)
            await socket.send_json({"type": "text", "text": "가" * 501})
            assert (await socket.receive_json(timeout=5))["code"] == "too_long"
            await socket.send_str("{not json")
            assert (await socket.receive_json(timeout=5))["code"] == "invalid"
            for _ in range(60):  # a flood
                await socket.send_json({"type": "text", "text": "상담원"})
            answers = []
            while True:
                message = await socket.receive(timeout=10)
                if message.type != aiohttp.WSMsgType.TEXT:
                    break
                answers.append(json.loads(message.data))
            figures["flood"] = {"too_fast": sum(a.get("code") == "too_fast" for a in answers), "turns": sum(a["type"] == "turn" for a in answers), "close": socket.close_code}
            assert figures["flood"]["too_fast"] > 20 and socket.close_code == 1008, figures
        async with http.ws_connect(f"{url}/chat/ws") as socket:
            await socket.send_str("x" * 10_000)  # bigger than any message may be
            closing = await socket.receive(timeout=5)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and socket.close_code == 1009, (closing, socket.close_code)
        async with http.ws_connect(f"{url}/chat/ws") as socket:
            await socket.send_json({"type": "hello", "token": "made-up-token-0123456789"})
            assert (await socket.receive_json(timeout=5))["code"] == "no_chat"

        opened = [await open_chat(http, url) for _ in range(9)]
        figures["sessions"] = [status for status, _ in opened]
        assert 429 in figures["sessions"], figures
        async with http.get(f"{url}/healthz") as health:
            assert health.status == 200, "the engine keeps serving"
    print(f"\nhostile chat figures: {figures}")

    async with engine.store() as store:
        chats = [call for call in await store.recent_calls(limit=50) if call.channel_id.startswith("chat-")]
    verified = [call for call in chats if call.caller_number == "0212345678"]
    assert len(verified) == 1 and verified[0].caller_name == "김민수"
    assert "Traceback" not in engine.log_text(), engine.log_tail()


async def test_a_shared_browser_never_resumes_the_last_customers_chat(
    pbx: LocalAsterisk, start_engine: Any, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    """Customer A's signed page, then customer B's in the same browser: B gets a chat of their own;
    the identity leaves the address bar at once; A's page, reloaded without it, still resumes A's."""
    engine, _flows = await chat_engine(tmp_path, start_engine, mock_crm[0])
    signed = {who: sign({"customer": who, "exp": int(time.time()) + 600}, SECRET) for who in ("C-A", "C-B")}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = await (await browser.new_context(locale="ko-KR")).new_page()
            chat = page.locator("#chat")

            async def visit(who: str) -> str:
                identity, signature = signed[who]
                await page.goto("about:blank")  # a new page load, as a site's next page is (not a same-document fragment change)
                await page.goto(f"{engine.http_url}/chat#identity={identity}&signature={signature}")
                await expect(chat).to_have_attribute("data-connection", "connected", timeout=15_000)
                assert await page.evaluate("location.hash") == "", "the identity is cleared from the address bar"
                kept = json.loads(await page.evaluate("localStorage.getItem('threadline.chat.token')"))
                assert len(kept["customer"]) == 64 and identity not in json.dumps(kept)
                return str(kept["token"])

            first = await visit("C-A")
            await page.reload()  # A reloads: no identity in the fragment now, A's chat goes on
            await expect(chat).to_have_attribute("data-connection", "connected", timeout=10_000)
            assert json.loads(await page.evaluate("localStorage.getItem('threadline.chat.token')"))["token"] == first
            second = await visit("C-B")
            assert second != first, "customer B got a chat of their own"
            again = await visit("C-A")  # A comes back with a fresh identity: a new chat too (B's token was last), never B's
            assert again not in (first, second)
        finally:
            await browser.close()
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{engine.http_url}/chat/ws") as socket:
        await socket.send_json({"type": "hello", "token": second, "identity": signed["C-A"][0], "signature": signed["C-A"][1]})
        assert (await socket.receive_json(timeout=5))["code"] == "no_chat", "the engine checks it too: A's identity never opens B's chat"
    async with engine.store() as store:
        chats = [call for call in await store.recent_calls(limit=20) if call.channel_id.startswith("chat-")]
    assert len(chats) == 3
    assert "Traceback" not in engine.log_text(), engine.log_tail()
