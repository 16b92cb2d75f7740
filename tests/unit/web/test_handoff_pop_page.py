"""The agent page with a call that goes on from a chat, in headless Chromium against the real app and
hub: the pop built by screen_pop from the chat's journal shows what was typed, where the call came
from, the chat's steps and the next one, and earlier legs with their channel."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine.acd.screen_pop import build_pop
from engine.config.flow_model import Step
from engine.web.desktop_hub import DesktopHub
from test_agent_page_browser import IDLE, agent_page, pytestmark  # noqa: F401  (the page fixture, and skipped without chromium)

STEPS = {"internet_down_ko": (Step(id="restart_router", prompt="공유기 전원을 껐다가 다시 켜 주세요.", question="해결되었나요?"),
                              Step(id="check_cable", prompt="인터넷 선이 잘 꽂혀 있는지 확인해 주세요.", question="해결되었나요?"),
                              Step(id="check_lights", prompt="공유기 불빛이 초록색인지 확인해 주세요.", question="해결되었나요?"))}
JOURNAL: list[tuple[str, dict[str, Any]]] = [
    ("flow_started", {"flow": "support_ko", "version": "chat"}),
    ("typed", {"text": "인터넷이 안 돼요", "node": "menu"}),
    ("intent_chosen", {"node": "menu", "intent": "technical", "band": "accept"}),
    ("step_done", {"procedure": "internet_down_ko", "step": "restart_router", "index": 1, "fixed": False}),
    ("step_done", {"procedure": "internet_down_ko", "step": "check_cable", "index": 2, "fixed": False}),
    ("arrived", {"caller_number": "01012345678"}),
    ("continued_from", {"leg": "chat-1", "channel": "chat", "how": "code"}),
]
PREVIOUS = [{"at": "2026-12-07T09:58+00:00", "channel": "chat", "intent": "technical", "queue": None, "ended_by": None, "disposition": None, "notes": None,
             "agent": None, "events": []},
            {"at": "2026-12-06T15:00+00:00", "channel": "api", "intent": None, "queue": None, "ended_by": None, "disposition": None, "notes": None,
             "agent": None, "events": [{"type": "order", "text": "order 123 delayed"}]}]


async def test_a_chat_hand_off_pop_shows_the_typed_text_the_chats_steps_and_each_legs_channel(agent_page: tuple[Any, DesktopHub, list[str]]) -> None:
    page, hub, _ = agent_page
    pop = build_pop("c9", "technical", "01012345678", "", {"intent": "technical", "customer": {"found": True, "name": "김민수"}}, JOURNAL, STEPS, 4.0, PREVIOUS)
    hub.agent_changed("minsu", {**IDLE, "status": "reserved", "reason": "", "call_id": "c9"})
    hub.call_offered("minsu", {**pop, "dispositions": ["resolved"], "transferred_from": ""})
    await page.wait_for_function("!document.getElementById('pop').hidden")
    timeline = await page.inner_text("#pop-timeline")
    assert "채팅 입력" in timeline and "인터넷이 안 돼요" in timeline and "채팅에서 이어짐" in timeline and "코드 입력" in timeline
    steps = await page.inner_text("#pop-steps")
    assert "공유기 불빛이 초록색인지 확인해 주세요." in steps and "1–2단계" in steps, steps
    previous = await page.inner_text("#pop-previous")
    assert "채팅" in previous and "API" in previous and "order: order 123 delayed" in previous
    shot = os.environ.get("THREADLINE_HANDOFF_SCREENSHOT")
    if shot:
        await page.screenshot(path=str(Path(shot)), full_page=True)
