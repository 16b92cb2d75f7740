"""One journey across channels, end to end on the real components: the web chat in Chromium, the real
Asterisk, baresip phones, the agent page, the Journey API and the one flow file.

- Callback: a customer types "인터넷이 안 돼요" in the chat, answers "no" to two troubleshooting steps,
  asks for a person and picks "Call me back"; the engine rings jiyeon, then the customer's baresip
  phone; while it rings, jiyeon's page pops with what was typed and "steps 1–2 done, next: step 3".
  The journey is one contact with a chat leg and a phone leg.
- Code, and back: the chat gives a code, a baresip caller keys it in the greeting, hears no menu and
  lands in the technical queue with the chat on the pop; the agent's disposition reaches the
  customer's chat page, live and after a reload.
- One knowledge source: a step's text edited in the procedure file, one reload: the chat, the phone's
  prompt and the agent's pop all say the new text.
- API to pop: a contact made through the Journey API ("order 123 delayed") is on the next call's pop.
- Hostile codes on a call (used, incomplete, expired, too many tries) are refused cleanly and the
  engine keeps serving calls.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from engine.handoff.handoff_codes import refused_prompt
from engine.handoff.handoff_service import masked_number
from engine.speech.prompt_audio import EspeakNg, PromptCache
from engine.store.contact_store import ContactStore
from engine.store.database import create_engine
from engine.store.journey_store import CallRecord, JourneyStore
from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, RunningEngine, free_port, require_tool, wait_for_event
from tests.integration.sip_peers import Baresip, dominant_hz, write_tone
from tests.integration.test_acd_call import ADMIN_TOKEN, CALLER_HZ, JIYEON_HZ, acd_setup, agent_phone, wait_agents
from tests.integration.test_agents import threadline
from tests.integration.test_chat import CHROMIUM, SECRET, SITE, chat_leg, open_chat, procedure, type_in
from tests.integration.test_chat_handoff import EXPIRED, key_after_greeting_starts, seed_chat
from tests.integration.test_journey_api import _threadline
from tests.integration.test_page_languages import SCREENSHOTS, logged_in_page, write_microphone

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
CUSTOMER = "0212345678"
"""A number the mock CRM knows (and the callback rules accept)."""
PASSWORD = "jiyeon-password-1"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TECHNICAL_OFFER = 'callback: {offer_after_s: 90, key: "1",'


async def journey_engine(tmp_path: Path, start_engine: Any, crm_url: str, name: str, callback_port: int = 0, **extra: str) -> tuple[RunningEngine, Path, str]:
    """The sample flows with the chat on and jiyeon's page password; with `callback_port`, the technical
    queue calls back through baresip on that port. Returns jiyeon's SIP secret too."""
    env, secrets = await acd_setup(tmp_path, crm_url)
    flows = Path(env["THREADLINE_FLOWS__FOLDER"])
    if callback_port:
        queues = flows / "queues" / "support.yaml"
        text = await asyncio.to_thread(queues.read_text, encoding="utf-8")
        assert TECHNICAL_OFFER in text
        offer = f'{TECHNICAL_OFFER} dial: "PJSIP/loopback-callers/sip:{{number}}@127.0.0.1:{callback_port}", ring_s: 60,'
        await asyncio.to_thread(queues.write_text, text.replace(TECHNICAL_OFFER, offer, 1), encoding="utf-8")
    passwd = await asyncio.to_thread(threadline, "agents", "passwd", "jiyeon", "--password-stdin", "--flows", str(flows), env=env, stdin=f"{PASSWORD}\n")
    assert passwd.returncode == 0, passwd.stderr
    env.update({"THREADLINE_CHAT__ENABLED": "true", "THREADLINE_CHAT__IDENTITY_SECRET": SECRET, "THREADLINE_CHAT__ALLOWED_ORIGINS": SITE,
                "THREADLINE_FLOWS__WATCH_S": "0", "THREADLINE_CHAT__MESSAGE_BURST": "20", **extra})  # the default 5 refuses a quick customer's 6th click
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / name}", **env)
    return engine, flows, secrets["jiyeon"]


async def launch(playwright: Any, microphone: Path | None = None) -> Browser:
    """Chromium; with `microphone`, the agent page's browser phone sends that file (a tone) as its voice."""
    media = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={microphone}",
             "--autoplay-policy=no-user-gesture-required"] if microphone else []
    browser: Browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=[*BROWSER_ARGS, *media])
    return browser


async def chat_page(browser: Browser, engine: RunningEngine) -> Page:
    """A customer's chat, anonymous: the account keyed, then what the trouble is."""
    context = await browser.new_context(locale="ko-KR", viewport={"width": 480, "height": 820})
    page = await context.new_page()
    await page.goto(f"{engine.http_url}/chat")
    chat = page.locator("#chat")
    await expect(chat).to_have_attribute("data-input", "digits", timeout=30_000)
    await type_in(page, "123456")
    await expect(chat).to_have_attribute("data-node", "menu", timeout=15_000)
    await type_in(page, "인터넷이 안 돼요")
    await expect(chat).to_have_attribute("data-node", "internet_steps", timeout=15_000)
    return page


async def answer_no(page: Page, then_shows: str) -> None:
    await page.click("#chat-replies button:has-text('아니요')")
    await expect(page.locator("#chat-log li[data-who=bot]").last).to_have_text(then_shows, timeout=15_000)


async def agent_desk(browser: Browser, engine: RunningEngine) -> Page:
    """jiyeon's agent page, in Korean, once it shows her available."""
    _context, page = await logged_in_page(browser, f"{engine.http_url}/agent", "jiyeon", PASSWORD)
    await page.select_option("#language", "ko")
    await expect(page.locator("#status")).to_have_attribute("data-status", "available", timeout=30_000)
    return page


class AgentSocket:
    """jiyeon's agent page's websocket: its pops, and the wrap-up it sends."""

    def __init__(self, engine: RunningEngine) -> None:
        self.engine = engine
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # unsafe: cookies for an IP address
        self.socket: aiohttp.ClientWebSocketResponse | None = None

    async def __aenter__(self) -> AgentSocket:
        login = await self.http.post(f"{self.engine.http_url}/login", data={"agent": "jiyeon", "password": PASSWORD})
        assert login.status == 200
        self.socket = await self.http.ws_connect(f"{self.engine.http_url.replace('http', 'ws')}/ws", origin=self.engine.http_url)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.socket is not None:
            await self.socket.close()
        await self.http.close()

    async def next_of(self, kind: str, timeout_s: float = 60.0) -> dict[str, Any]:
        assert self.socket is not None
        async with asyncio.timeout(timeout_s):
            while (message := await self.socket.receive_json()).get("type") != kind:
                pass
        return dict(message)

    async def wrap_up(self, call_id: str, disposition: str) -> None:
        assert self.socket is not None
        await self.socket.send_json({"v": 1, "type": "wrap_up", "call_id": call_id, "disposition": disposition, "notes": ""})
        assert await self.next_of("wrap_up_saved", 15) == {"v": 1, "type": "wrap_up_saved", "call_id": call_id}


async def legs(engine: RunningEngine, contact_id: int) -> list[CallRecord]:
    database = create_engine(engine.database_url)
    try:
        journeys = JourneyStore(database)
        return await ContactStore(database, journeys).legs_of_contact(contact_id)
    finally:
        await database.dispose()


async def phone_leg(engine: RunningEngine, ended: bool = True, timeout_s: float = 30.0) -> CallRecord:
    """The newest phone leg (once ended, by default)."""
    for _ in range(int(timeout_s * 5)):
        async with engine.store() as store:
            calls = [call for call in await store.recent_calls(limit=20) if call.channel == "phone"]
        if calls and (calls[0].ended_at is not None or not ended):
            return calls[0]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {'ended ' if ended else ''}phone leg within {timeout_s:.0f} s\n{engine.log_tail()}")


def media_of(text: str) -> str:
    """The name the prompt cache gives a Korean prompt's audio: what a call's prompt_started plays."""
    return PromptCache(Path("."), EspeakNg()).path_for(text, "ko").stem


async def caller_phone(tmp_path: Path, name: str, number: str = "caller", auto_answer: bool = True, amplitude: int = 8000) -> Baresip:
    account = f"<sip:{number}@127.0.0.1>;regint=0" + (";answermode=auto" if auto_answer else "")
    phone = Baresip(tmp_path / name, free_port(), free_port(), (47000, 47999), account=account)
    await phone.start(await asyncio.to_thread(write_tone, tmp_path / f"{name}.wav", 120.0, CALLER_HZ, amplitude=amplitude))
    return phone


async def test_callback_from_the_chat_rings_the_agent_with_the_chat_on_the_pop_then_the_customers_phone(
    pbx: LocalAsterisk, start_engine: Any, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    customer_port = free_port()
    engine, flows, _ = await journey_engine(tmp_path, start_engine, mock_crm[0], "callback.sqlite3", callback_port=customer_port)
    steps = await asyncio.to_thread(procedure, flows)
    customer = Baresip(tmp_path / "customer", customer_port, free_port(), (47000, 47999), account=f"<sip:{CUSTOMER}@127.0.0.1>;regint=0")  # rings, answered by the test
    await customer.start(await asyncio.to_thread(write_tone, tmp_path / "customer.wav", 120.0, CALLER_HZ))
    microphone = await asyncio.to_thread(write_microphone, tmp_path / "jiyeon.wav", JIYEON_HZ)
    try:
        async with async_playwright() as playwright:
            browser = await launch(playwright, microphone)  # jiyeon answers on her page's browser phone
            try:
                desk = await agent_desk(browser, engine)
                page = await chat_page(browser, engine)
                await answer_no(page, steps[1]["question"])
                await answer_no(page, steps[2]["question"])
                # Two steps tried, then the customer asks for a person at the third step's question: the
                # steps' unsolved queue (technical), with steps 1-2 done and step 3 next.
                await page.click("#chat-replies button:has-text('상담원')")
                await expect(page.locator("#chat")).to_have_attribute("data-input", "handoff", timeout=15_000)
                await page.click("#handoff-callback")
                await page.fill("#callback-number", CUSTOMER)
                await page.click("#callback-form button[type=submit]")
                await expect(page.locator("#chat-log li[data-who=handoff]")).to_contain_text(masked_number(CUSTOMER), timeout=15_000)

                await expect(desk.locator("#phone-call")).to_have_attribute("data-call", "ringing", timeout=60_000)
                await desk.click("#phone-answer")
                await customer.wait_event("CALL_INCOMING", timeout_s=60)  # jiyeon answered; the engine dials the customer
                await expect(desk.locator("#pop")).to_be_visible(timeout=10_000)
                timeline, shown_steps = await desk.inner_text("#pop-timeline"), await desk.inner_text("#pop-steps")
                ringing = [event.kind for event in (await phone_leg(engine, ended=False)).events]
                assert "callback_answered" not in ringing, f"the pop was read while the customer's phone rang: {ringing}"
                assert "인터넷이 안 돼요" in timeline, timeline
                assert "1–2단계" in shown_steps, f"steps 1–2 done in the chat: {shown_steps}"
                assert steps[2]["prompt"] in await desk.inner_text("#pop-steps .next-text"), shown_steps  # next: step 3, the text the IVR reads
                if SCREENSHOTS:
                    await desk.screenshot(path=str(Path(SCREENSHOTS) / "agent-chat-pop-ko.png"), full_page=True)
                await desk.screenshot(path=str(tmp_path / "agent-chat-pop-ko.png"), full_page=True)

                await customer.command("accept")
                await customer.wait_event("CALL_ESTABLISHED", timeout_s=15)
                await asyncio.sleep(6.0)  # they talk: each side's tone
                await customer.command("hangup")
                await customer.wait_event("CALL_CLOSED")
            finally:
                await browser.close()
    finally:
        await customer.stop()

    heard_hz, heard_rms = await asyncio.to_thread(lambda: dominant_hz(customer.recording("dec"), -3.0, 0))
    assert heard_rms > 0.01 and abs(heard_hz - JIYEON_HZ) < 30, ("the customer heard jiyeon", heard_hz, heard_rms)
    chat = await chat_leg(engine)
    assert chat.contact_id is not None
    journey = await legs(engine, chat.contact_id)
    assert [leg.channel for leg in journey] == ["chat", "phone"], [(leg.channel_id, leg.channel) for leg in journey]
    call = journey[1]
    kinds = [event.kind for event in call.events]
    order = ["continued_from", "queued", "callback_requested", "agent_ringing", "callback_dialing", "callback_answered"]
    assert set(order) <= set(kinds) and [kinds.index(k) for k in order] == sorted(kinds.index(k) for k in order), kinds
    assert next(e.detail for e in call.events if e.kind == "callback_requested")["number"] == CUSTOMER
    assert next(e.detail for e in call.events if e.kind == "queued")["queue"] == "technical"
    claimed = [e.detail for e in (await legs(engine, chat.contact_id))[0].events if e.kind == "handoff_claimed"]
    assert claimed == [{"leg": call.channel_id, "how": "callback"}], claimed
    assert "Traceback" not in engine.log_text(), engine.log_tail()


async def phone_reaches(engine: RunningEngine, kind: str, where: Callable[[dict[str, Any]], bool] = lambda _: True, timeout_s: float = 60.0,
                        at_least: int = 1, after: CallRecord | None = None) -> CallRecord:
    """The newest phone leg once its journey has `at_least` `kind` events that `where` accepts; with
    `after`, only a leg newer than that one (the next call's row may not be written yet)."""
    for _ in range(int(timeout_s * 5)):
        async with engine.store() as store:
            calls = [call for call in await store.recent_calls(limit=20) if call.channel == "phone" and (after is None or call.id > after.id)]
        if calls and sum(event.kind == kind and where(dict(event.detail)) for event in calls[0].events) >= at_least:
            return calls[0]
        await asyncio.sleep(0.2)
    shown = [(e.kind, dict(e.detail)) for e in calls[0].events][-12:] if calls else []
    raise AssertionError(f"no {kind} on the newest phone leg within {timeout_s:.0f} s: {shown}\n{engine.log_tail()}")


async def test_a_chat_code_keyed_on_a_call_skips_the_menu_and_the_agents_disposition_comes_back_to_the_open_chat(
    pbx: LocalAsterisk, start_engine: Any, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    engine, flows, secret = await journey_engine(tmp_path, start_engine, mock_crm[0], "code.sqlite3")
    steps = await asyncio.to_thread(procedure, flows)
    jiyeon = await agent_phone(tmp_path, "jiyeon", "2002", secret, JIYEON_HZ)
    caller = await caller_phone(tmp_path, "caller", amplitude=0)
    try:
        await wait_agents(engine, {"jiyeon": "available"}, timeout_s=30)
        async with async_playwright() as playwright, AgentSocket(engine) as desk:
            browser = await launch(playwright)
            try:
                page = await chat_page(browser, engine)
                await answer_no(page, steps[1]["question"])
                await answer_no(page, steps[2]["question"])
                await page.click("#chat-replies button:has-text('아니요')")  # every step tried: the technical queue
                await expect(page.locator("#chat")).to_have_attribute("data-input", "handoff", timeout=15_000)
                await page.click("#handoff-code")
                shown = page.locator("#handoff-code-value")
                await expect(shown).to_have_text(re.compile(r"^\d{6}$"), timeout=15_000)
                code = await shown.inner_text()
                assert "1588" in await page.inner_text("#handoff-result"), "the number to call"

                await key_after_greeting_starts(caller, code)
                pop = await desk.next_of("pop")
                await wait_agents(engine, {"jiyeon": "on_call"}, timeout_s=40)
                await asyncio.sleep(2.0)
                await caller.command("hangup")
                await caller.wait_event("CALL_CLOSED")
                call = await phone_leg(engine)
                later = page.locator("#chat-log li[data-who=later]")
                await expect(later).to_have_count(1, timeout=20_000)  # the call ended: the open chat hears of it
                await desk.wrap_up(call.channel_id, "technician_booked")
                await expect(later).to_contain_text("technician_booked", timeout=20_000)  # live, no reload
                await page.reload()
                await expect(page.locator("#chat")).to_have_attribute("data-connection", "connected", timeout=15_000)
                await expect(later).to_contain_text("technician_booked", timeout=20_000)
                await page.screenshot(path=str(tmp_path / "chat-and-back.png"))
            finally:
                await browser.close()
    finally:
        await caller.stop()
        await jiyeon.stop()

    assert pop["queue"] == "technical" and pop["continued_from"]["how"] == "code", pop
    typed = [entry["text"] for entry in pop["timeline"] if entry["kind"] == "typed"]
    assert "인터넷이 안 돼요" in typed, pop["timeline"]
    (tried,) = pop["steps"]
    assert [done["step"] for done in tried["done"]] == ["restart_router", "check_cable", "check_lights"] and tried["next"] is None
    kinds = [event.kind for event in call.events]
    assert "continued_from" in kinds and "intent_chosen" not in kinds, f"no menu: {kinds}"
    assert not any(e.kind == "node_entered" and e.detail.get("node") == "menu" for e in call.events), "the menu never played"
    assert next(e.detail for e in call.events if e.kind == "queued")["queue"] == "technical"
    assert code not in str([e.detail for e in call.events]), "the code is never in the journey"
    chat = await chat_leg(engine)
    assert chat.contact_id is not None and [leg.channel for leg in await legs(engine, chat.contact_id)] == ["chat", "phone"]


async def test_one_edit_to_a_step_and_one_reload_reach_the_chat_the_phones_prompt_and_the_agents_pop(
    pbx: LocalAsterisk, start_engine: Any, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    engine, flows, _ = await journey_engine(tmp_path, start_engine, mock_crm[0], "knowledge.sqlite3")
    steps = await asyncio.to_thread(procedure, flows)
    edited = "공유기 뒤의 랜선을 뽑았다가 딸깍 소리가 나게 다시 꽂아 주세요."
    path = flows / "steps" / "internet_down_ko.yaml"
    text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    await asyncio.to_thread(path.write_text, text.replace(steps[1]["prompt"], edited), encoding="utf-8")
    async with aiohttp.ClientSession() as http, http.post(f"{engine.http_url}/flows/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as answer:
        assert answer.status == 200, await answer.text()

    async with async_playwright() as playwright:
        browser = await launch(playwright)
        try:
            page = await chat_page(browser, engine)
            await answer_no(page, steps[1]["question"])
            assert edited in await page.locator("#chat-log li[data-who=bot]").all_text_contents(), "the chat says the edited step"
            desk = await agent_desk(browser, engine)
            caller = await caller_phone(tmp_path, "caller", number=CUSTOMER, amplitude=0)  # the CRM knows the number: straight to the menu
            try:
                await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
                await caller.wait_event("CALL_ESTABLISHED")
                await phone_reaches(engine, "node_entered", lambda detail: detail.get("node") == "menu")
                await caller.command("sndcode", "2")  # technical: the steps
                question = media_of(steps[0]["question"])
                await phone_reaches(engine, "prompt_started", lambda detail: str(detail.get("media", "")).endswith(question))
                await caller.command("sndcode", "2")  # no, still broken
                said = media_of(edited)
                await phone_reaches(engine, "prompt_started", lambda detail: str(detail.get("media", "")).endswith(said))
                second = media_of(steps[1]["question"])
                await phone_reaches(engine, "prompt_started", lambda detail: str(detail.get("media", "")).endswith(second))
                await caller.command("sndcode", "0")  # a person, at step 2's question: the technical queue, step 2 next
                await expect(desk.locator("#pop-steps .next-text")).to_have_text(edited, timeout=60_000)  # the agent's page says the edit too
                await caller.command("hangup")
                await caller.wait_event("CALL_CLOSED")
            finally:
                await caller.stop()
        finally:
            await browser.close()
    call = await phone_leg(engine)
    played = [str(e.detail.get("media", "")) for e in call.events if e.kind == "prompt_started"]
    assert not any(m.endswith(media_of(steps[1]["prompt"])) for m in played), "the old text is never played"


async def test_a_contact_made_through_the_journey_api_is_on_the_next_calls_pop(
    pbx: LocalAsterisk, start_engine: Any, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    url = f"sqlite+aiosqlite:///{tmp_path / 'api.sqlite3'}"
    assert (await asyncio.to_thread(_threadline, url, "db", "upgrade")).returncode == 0
    made = await asyncio.to_thread(_threadline, url, "tokens", "create", "crm", "--scope", "journey:write", "--scope", "journey:read")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().rsplit(" ", 1)[1]
    engine, _, secret = await journey_engine(tmp_path, start_engine, mock_crm[0], "api.sqlite3")
    assert engine.database_url == url
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(engine.http_url) as http:
        async with http.post("/api/v1/contacts", headers=headers, json={"customer_number": CUSTOMER}) as created:
            assert created.status == 201, await created.text()
            ref = (await created.json())["id"]
        async with http.post(f"/api/v1/contacts/{ref}/events", headers=headers, json={"events": [{"type": "crm_update", "text": "order 123 delayed"}]}) as appended:
            assert appended.status == 201, await appended.text()

    jiyeon = await agent_phone(tmp_path, "jiyeon", "2002", secret, JIYEON_HZ)
    caller = await caller_phone(tmp_path, "caller", number=CUSTOMER, amplitude=0)
    try:
        await wait_agents(engine, {"jiyeon": "available"}, timeout_s=30)
        async with async_playwright() as playwright:
            browser = await launch(playwright)
            try:
                desk = await agent_desk(browser, engine)
                await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
                await caller.wait_event("CALL_ESTABLISHED")
                await phone_reaches(engine, "node_entered", lambda detail: detail.get("node") == "menu")
                await caller.command("sndcode", "0")  # a person, please
                await expect(desk.locator("#pop")).to_be_visible(timeout=60_000)
                previous = desk.locator("#pop-previous")
                await expect(previous).to_contain_text("order 123 delayed", timeout=10_000)
                await expect(previous).to_contain_text("API")
                await desk.screenshot(path=str(tmp_path / "api-pop.png"), full_page=True)
                await caller.command("hangup")
                await caller.wait_event("CALL_CLOSED")
            finally:
                await browser.close()
    finally:
        await caller.stop()
        await jiyeon.stop()
    call = await phone_leg(engine)
    assert call.caller_number == CUSTOMER and "agent_ringing" in [e.kind for e in call.events]


async def chat_code(engine: RunningEngine) -> str:
    """A real chat, over its websocket: the account, "상담원" at the menu, then "I'll call you"."""
    async with aiohttp.ClientSession() as http:
        status, body = await open_chat(http, engine.http_url)
        assert status == 200, body
        async with http.ws_connect(f"{engine.http_url}/chat/ws") as socket:
            await socket.send_json({"type": "hello", "token": body["token"]})

            async def until(wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
                async with asyncio.timeout(30):
                    while not wanted(message := await socket.receive_json()):
                        pass
                return dict(message)

            await until(lambda m: m.get("input", {}).get("kind") == "digits")
            await socket.send_json({"type": "text", "text": "123456"})
            await until(lambda m: m.get("node") == "menu")
            await socket.send_json({"type": "text", "text": "상담원"})
            await until(lambda m: m.get("input", {}).get("kind") == "handoff")
            await socket.send_json({"type": "code"})
            issued = await until(lambda m: m.get("type") == "handoff")
    assert re.fullmatch(r"\d{6}", str(issued.get("code"))), issued
    return str(issued["code"])


async def test_used_incomplete_and_expired_codes_on_a_call_are_refused_and_the_engine_keeps_serving(
    pbx: LocalAsterisk, start_engine: Any, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    """Beyond test_chat_handoff (one expired and one unknown code): a real chat's code keyed by a
    second caller after the first took it, an incomplete code, an expired one, then no more tries;
    the menu takes that caller's keys as always, and the next call reaches the agent."""
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    engine, _, secret = await journey_engine(tmp_path, start_engine, mock_crm[0], "hostile.sqlite3", THREADLINE_HANDOFF__KEY_TIMEOUT_S="10")
    await seed_chat(engine.database_url)  # its expired code
    code = await chat_code(engine)

    first = await caller_phone(tmp_path, "first", amplitude=0)
    try:
        await key_after_greeting_starts(first, code)
        await phone_reaches(engine, "continued_from")
        await first.command("hangup")
        await first.wait_event("CALL_CLOSED")
    finally:
        await first.stop()

    second = await caller_phone(tmp_path, "second", amplitude=0)
    try:
        await key_after_greeting_starts(second, code)
        await phone_reaches(engine, "handoff_refused", lambda detail: detail == {"reason": "used"})
        await second.command("sndcode", "1234#")
        await phone_reaches(engine, "handoff_refused", lambda detail: detail == {"reason": "incomplete"})
        await second.command("sndcode", EXPIRED)
        await phone_reaches(engine, "handoff_refused", lambda detail: detail == {"reason": "too_many_tries"})
        await phone_reaches(engine, "node_entered", lambda detail: detail.get("node") == "menu")
        # Not before the third "code not valid" has been said: a transfer while it plays is cut off (see the report).
        refused_said = media_of(refused_prompt("ko"))
        await phone_reaches(engine, "prompt_finished", lambda detail: str(detail.get("media", "")).endswith(refused_said), at_least=3)
        await second.command("sndcode", "1")
        await phone_reaches(engine, "queued", lambda detail: detail.get("queue") == "billing")
        await second.command("hangup")
        await second.wait_event("CALL_CLOSED")
    finally:
        await second.stop()
    refused = await phone_leg(engine)
    assert [e.detail for e in refused.events if e.kind == "handoff_refused"] == [
        {"reason": "used"}, {"reason": "incomplete"}, {"reason": "expired"}, {"reason": "too_many_tries"}]
    assert refused.contact_id is None and code not in str([e.detail for e in refused.events]) and EXPIRED not in str([e.detail for e in refused.events])

    jiyeon = await agent_phone(tmp_path, "jiyeon", "2002", secret, JIYEON_HZ)
    third = await caller_phone(tmp_path, "third", amplitude=0)
    try:
        await wait_agents(engine, {"jiyeon": "available"}, timeout_s=30)
        await third.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
        await third.wait_event("CALL_ESTABLISHED")
        await phone_reaches(engine, "node_entered", lambda detail: detail.get("node") == "menu", after=refused)
        await third.command("sndcode", "0")
        await wait_agents(engine, {"jiyeon": "on_call"}, timeout_s=60)
        await third.command("hangup")
        await third.wait_event("CALL_CLOSED")
    finally:
        await third.stop()
        await jiyeon.stop()
    served = await phone_leg(engine)
    assert "agent_answered" in [e.kind for e in served.events], "the engine keeps serving calls"
    assert "Traceback" not in engine.log_text(), engine.log_tail()
