"""Callers who speak: baresip plays espeak-ng Korean through the real Asterisk, the engine's real Vosk decides.

The caller's audio reaches the engine through chan_websocket on a snoop channel; speech during the
menu prompt stops it (barge-in); the utterance is decided by Threadline's own end-of-speech
detection and the node's intent scoring. After the call, no tap channel or bridge is left behind.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, RunningEngine, free_port, require_tool, wait_for_event
from tests.integration.sip_peers import Baresip, write_speech

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
MENU_STARTS_AFTER_S = 6.0
"""The welcome and the CRM lookup take about 4 s: the caller speaks 2 s into the menu prompt."""


async def call_and_speak(engine: RunningEngine, tmp_path: Path, text: str, lead_s: float = MENU_STARTS_AFTER_S, language: str = "ko") -> dict[str, object]:
    phone = Baresip(tmp_path / "baresip", free_port(), free_port(), (44000, 44999))
    await phone.start(await asyncio.to_thread(write_speech, tmp_path / "caller.wav", text, lead_s, language=language))
    try:
        await phone.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
        await phone.wait_event("CALL_ESTABLISHED")
        await wait_for_event(engine, "queued", timeout_s=60)
        await phone.command("hangup")  # nobody is logged in to take it: the caller gives up
        return await phone.wait_event("CALL_CLOSED", timeout_s=20)
    finally:
        await phone.stop()


async def journey_so_far(engine: RunningEngine) -> list[tuple[str, dict[str, object]]]:
    async with engine.store() as store:
        calls = await store.recent_calls(limit=1)
    return [(e.kind, dict(e.detail)) for e in calls[0].events] if calls else []


async def next_event(engine: RunningEngine, after: int, wanted: tuple[str, ...], timeout_s: float = 40.0) -> tuple[int, str, dict[str, object]]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        for index, (kind, detail) in enumerate(await journey_so_far(engine)):
            if index > after and kind in wanted:
                return index, kind, detail
        await asyncio.sleep(0.1)
    raise AssertionError(f"none of {wanted} in the journey within {timeout_s:.0f} s\n{engine.log_tail()}")


async def assert_no_tap_left(pbx: LocalAsterisk) -> None:
    for _ in range(50):
        channels = await asyncio.to_thread(pbx.rx, "core show channels concise")
        bridges = await asyncio.to_thread(pbx.rx, "bridge show all")
        if "tl-tap-" not in channels and "tl-tap-" not in bridges:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"audio tap left behind:\n{channels}\n{bridges}")


async def test_a_caller_who_speaks_during_the_menu_is_routed_to_billing_with_no_key(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    crm_url, _ = mock_crm
    engine = await start_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'speech.sqlite3'}",
        THREADLINE_FLOWS__INBOUND="support_ko", THREADLINE_LOOKUPS__CRM__URL=crm_url,
    )
    await call_and_speak(engine, tmp_path, "요금 문의요")

    (call,) = await engine.ended_calls(1)
    events = [(e.kind, e.detail) for e in call.events]
    kinds = [kind for kind, _ in events]
    assert "dtmf" not in kinds, "no key was pressed"
    menu_at = next(i for i, (kind, detail) in enumerate(events) if kind == "node_entered" and detail["node"] == "menu")
    barge = kinds.index("barge_in")
    heard = next(detail for kind, detail in events if kind == "speech_heard")
    chosen = next(detail for kind, detail in events if kind == "intent_chosen")
    transfer = next(detail for kind, detail in events if kind == "transfer")
    assert menu_at < barge < kinds.index("speech_heard") < kinds.index("intent_chosen") < kinds.index("transfer") < kinds.index("queued")
    stopped = [detail for kind, detail in events[menu_at:barge + 3] if kind == "prompt_finished"]
    assert stopped, "the menu prompt was stopped by the caller's voice"
    assert "요금" in str(heard["text"]) and 0 < float(heard["latency_ms"]) < 1000, heard  # type: ignore[arg-type]
    assert (chosen["intent"], chosen["band"]) == ("billing", "accept"), chosen
    assert (transfer["queue"], transfer["skills"]) == ("billing", ["billing", "korean"])
    await assert_no_tap_left(pbx)


@pytest.mark.parametrize(
    ("flow", "language", "sentence", "heard_word", "skills"),
    [
        ("support_zh", "zh", "我想查一下这个月的话费", "话费", ["billing", "mandarin"]),
        ("support_en", "en", "I have a question about my bill", "bill", ["billing", "english"]),
    ],
    ids=["mandarin-whisper", "english-whisper"],
)
async def test_callers_in_mandarin_and_english_reach_billing_by_voice(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path,
    flow: str, language: str, sentence: str, heard_word: str, skills: list[str],
) -> None:
    """The same menu in the caller's language, heard by the default recogniser (Whisper base for both),
    the prompts in the caller's language, the queue asked for that language."""
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    crm_url, _ = mock_crm
    engine = await start_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'speech.sqlite3'}",
        THREADLINE_FLOWS__INBOUND=flow, THREADLINE_LOOKUPS__CRM__URL=crm_url,
    )
    await call_and_speak(engine, tmp_path, sentence, language=language)

    (call,) = await engine.ended_calls(1)
    events = [(e.kind, e.detail) for e in call.events]
    kinds = [kind for kind, _ in events]
    assert "dtmf" not in kinds, "no key was pressed"
    heard = next(detail for kind, detail in events if kind == "speech_heard")
    chosen = next(detail for kind, detail in events if kind in ("intent_chosen", "recognised"))
    assert heard_word in str(heard["text"]).casefold(), heard
    assert chosen["intent"] == "billing", chosen
    if chosen.get("band") == "confirm":
        pytest.fail(f"the caller was asked to confirm: {chosen}")
    transfer = next(detail for kind, detail in events if kind == "transfer")
    assert (transfer["queue"], transfer["skills"]) == ("billing", skills)
    await assert_no_tap_left(pbx)


async def test_a_misunderstood_caller_still_reaches_technical_support_by_key(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    crm_url, _ = mock_crm
    engine = await start_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'speech.sqlite3'}",
        THREADLINE_FLOWS__INBOUND="support_ko", THREADLINE_LOOKUPS__CRM__URL=crm_url,
    )
    phone = Baresip(tmp_path / "baresip", free_port(), free_port(), (44000, 44999))
    await phone.start(await asyncio.to_thread(write_speech, tmp_path / "caller.wav", "잘 모르겠어요", MENU_STARTS_AFTER_S))
    try:
        await phone.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
        await phone.wait_event("CALL_ESTABLISHED")
        at, kind, detail = await next_event(engine, 0, ("recognised", "no_match", "intent_chosen"))
        assert kind != "intent_chosen", f"a vague sentence was accepted: {detail}"
        if kind == "recognised":  # the middle band: the engine asks "… 맞으세요? 맞으면 1번, 아니면 2번"
            assert detail["band"] == "confirm", detail
            await phone.command("sndcode", "2")
            at, kind, detail = await next_event(engine, at, ("no_match",))
            assert detail.get("confirmation") == "refused", detail
        await phone.command("sndcode", "2")  # technical support, by key
        await next_event(engine, at, ("intent_chosen",))
        await phone.command("hangup")
        await phone.wait_event("CALL_CLOSED")
    finally:
        await phone.stop()

    (call,) = await engine.ended_calls(1)
    events = [(e.kind, e.detail) for e in call.events]
    kinds = [kind for kind, _ in events]
    assert kinds.index("speech_heard") < kinds.index("no_match") < kinds.index("intent_chosen")
    chosen = next(detail for kind, detail in events if kind == "intent_chosen")
    assert (chosen["intent"], chosen["key"]) == ("technical", "2")
    assert next(detail for kind, detail in events if kind == "node_entered" and detail["node"] == "internet_steps")
    await assert_no_tap_left(pbx)


async def test_a_caller_handed_over_mid_menu_resumes_at_the_menu_with_the_new_engine(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    """SIGTERM while the caller is at the menu: the next engine asks the menu again (not the welcome
    and the lookup), knows the customer the first one looked up, and removes the first engine's tap."""
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    crm_url, crm_requests = mock_crm
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'resume.sqlite3'}"
    env = {"THREADLINE_FLOWS__INBOUND": "support_ko", "THREADLINE_LOOKUPS__CRM__URL": crm_url}
    first = await start_engine(database_url, **env)
    phone = Baresip(tmp_path / "baresip", free_port(), free_port(), (44000, 44999))
    await phone.start(await asyncio.to_thread(write_speech, tmp_path / "caller.wav", "요금 문의요", 60.0))  # silent for a minute
    try:
        await phone.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
        await phone.wait_event("CALL_ESTABLISHED")
        await next_event(first, 0, ("checkpoint",))
        await asyncio.sleep(1.0)  # the menu prompt is playing and the tap is open
        assert await first.stop() == 0, first.log_tail()
        second = await start_engine(database_url, **env)
        resumed_at, _, detail = await next_event(second, 0, ("flow_resumed",))
        assert detail["node"] == "menu", detail
        await asyncio.sleep(1.0)
        await phone.command("sndcode", "1")
        await next_event(second, resumed_at, ("queued",))
        await phone.command("hangup")
        await phone.wait_event("CALL_CLOSED", timeout_s=20)
    finally:
        await phone.stop()

    (call,) = await second.ended_calls(1)
    events = [(e.kind, e.detail) for e in call.events]
    kinds = [kind for kind, _ in events]
    after = kinds[kinds.index("flow_resumed"):]
    assert kinds.index("handed_over") < kinds.index("resumed") < kinds.index("flow_resumed")
    assert "lookup" not in after and not any(k == "node_entered" and d["node"] == "welcome" for k, d in events[kinds.index("flow_resumed"):])
    assert len(crm_requests) == 1, "the customer was looked up once, by the first engine"
    transfer = next(detail for kind, detail in events if kind == "transfer")
    assert transfer["queue"] == "billing"
    assert next(d for k, d in events if k == "checkpoint")["variables"]["customer"]["name"] == "김민수"
    await assert_no_tap_left(pbx)
