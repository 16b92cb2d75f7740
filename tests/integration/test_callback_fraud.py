"""Toll fraud through callbacks, on the real Asterisk: no hostile caller ID or keyed number is ever dialled.

SIPp callers reach the billing queue's callback offer with the caller IDs an attacker would send:
an agent's extension (`2001`, asserted by a carrier trunk identified by its address, the way a
carrier presents it), `PJSIP/2001`, `1&Local/1@default`, a +882 satellite number, a 00x
international number and a withheld ID; and a withheld baresip caller keys a 20-digit number. Some
ask for the callback with its key, some wait past billing's max_wait, whose overflow calls the
caller ID back by itself. Each one hears that it cannot be called back and keeps waiting (it hangs
up itself, 40 s later: an engine BYE would fail its scenario), and its journey says why
(`callback_refused`). Then minsu's phone registers: only the one allowed caller, a baresip phone
calling from the national number 0212345678 whose overflow asked for a callback, is rung for and
dialled back. Asterisk's GET /channels, polled throughout, never shows another callback leg.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from engine.localpbx.credentials import load_credentials
from engine.localpbx.local_asterisk import LocalAsterisk
from engine.store.journey_store import CallerInfo, CallRecord
from tests.integration.conftest import PBX_ENV, RunningEngine, free_port, require_tool
from tests.integration.sip_peers import SIPP_DIR, Baresip, SippCall, write_tone
from tests.integration.test_acd_call import CALLER_HZ, MINSU_HZ, acd_setup, agent_phone, wait_agents

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])
ARI_PORT = int(PBX_ENV["THREADLINE_ASTERISK__ARI_PORT"])
TRUNK_ADDRESS = "127.0.0.2"
"""The carrier-trunk endpoint (asterisk_conf/templates/pjsip.conf.j2) is identified by this address."""
ALLOWED_NUMBER = "0212345678"
SAMPLE_OFFER = 'callback: {offer_after_s: 60, key: "1",'
BILLING_MAX_WAIT = "    max_wait:\n      seconds: 600\n      overflow: {callback: true}\n"
DIRECT_FLOW = """\
flow: callback_direct_ko
language: ko
description: 바로 요금 상담 대기열로
start: billing_queue
nodes:
  billing_queue:
    type: queue
    queue: billing
    skills: [billing, korean]
"""


@dataclass(frozen=True)
class Attacker:
    from_user: str
    scenario: str
    refusals: frozenset[tuple[str, str]]
    """(source, reason) of the `callback_refused` events its journey must hold."""
    asserted: str = "0000"
    address: str = "127.0.0.1"


ATTACKERS = {
    "agent extension via the trunk": Attacker("carrier", "uac_callback_asks.xml", frozenset({("caller_id", "pattern")}), asserted="2001", address=TRUNK_ADDRESS),
    "PJSIP/2001": Attacker("PJSIP/2001", "uac_callback_asks.xml", frozenset({("caller_id", "not_digits")})),
    "1&Local/1@default": Attacker("1&Local/1%40default", "uac_callback_waits.xml", frozenset({("overflow", "not_digits")})),  # @ escaped, as SIP requires
    "+882 satellite": Attacker("+882130001234", "uac_callback_asks.xml", frozenset({("caller_id", "international")})),
    "00x international": Attacker("0079712345678", "uac_callback_waits.xml", frozenset({("overflow", "denied_prefix")})),
    "withheld": Attacker("anonymous", "uac_callback_waits.xml", frozenset({("overflow", "withheld")})),
}
KEYED_NUMBER = "12345678901234567890"
"""Keyed by a withheld baresip caller (SIPp replays fixed RTP events: Asterisk would drop repeats)."""
KEYED_REFUSALS = frozenset({("caller_id", "withheld"), ("keyed", "pattern"), ("overflow", "withheld")})


async def start_caller(attacker: Attacker) -> SippCall:
    """One SIPp caller from its own address with its From user and asserted identity."""
    command = [
        "sipp", f"127.0.0.1:{SIP_PORT}", "-sf", str(SIPP_DIR / attacker.scenario), "-s", "1588", "-m", "1", "-i", attacker.address,
        "-p", str(free_port()), "-mp", str(free_port()), "-timeout", "90s", "-nostdin", "-key", "from_user", attacker.from_user, "-key", "asserted", attacker.asserted,
    ]
    return SippCall(await asyncio.to_thread(subprocess.Popen, command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))


async def watch_channels(seen: dict[str, dict[str, Any]], stop: asyncio.Event, credentials: tuple[str, str]) -> None:
    """GET /ari/channels every 0.2 s: every channel Asterisk had, by id."""
    headers = {"Authorization": aiohttp.encode_basic_auth(*credentials)}
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=5)) as session:
        while not stop.is_set():
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(f"http://127.0.0.1:{ARI_PORT}/ari/channels") as response:
                    for channel in await response.json():
                        seen.setdefault(channel["id"], channel)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.2):
                    await stop.wait()


async def calls_so_far(engine: RunningEngine) -> list[CallRecord]:
    async with engine.store() as store:
        return await store.recent_calls(50)


async def wait_for(engine: RunningEngine, check: Any, what: str, timeout_s: float) -> list[CallRecord]:
    for _ in range(int(timeout_s * 4)):
        calls = await calls_so_far(engine)
        if check(calls):
            return calls
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what} never happened: {[(c.caller_number, [e.kind for e in c.events]) for c in await calls_so_far(engine)]}\n{engine.log_tail()}")


def kinds(call: CallRecord) -> list[str]:
    return [event.kind for event in call.events]


async def test_hostile_caller_ids_and_keyed_numbers_are_never_called_back_and_an_allowed_number_is(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    for tool in ("sipp", "baresip", "espeak-ng", "sox"):
        require_tool(tool)
    crm_url, _ = mock_crm
    env, secrets = await acd_setup(tmp_path, crm_url)
    flows = Path(env["THREADLINE_FLOWS__FOLDER"])
    queues = flows / "queues" / "support.yaml"
    caller_port = free_port()
    text = await asyncio.to_thread(queues.read_text)
    assert SAMPLE_OFFER in text and BILLING_MAX_WAIT in text
    offer = f'callback: {{offer_after_s: 0, key: "1", dial: "PJSIP/loopback-callers/sip:{{number}}@127.0.0.1:{caller_port}", ring_s: 15,'
    text = text.replace(SAMPLE_OFFER, offer, 1).replace(BILLING_MAX_WAIT, BILLING_MAX_WAIT.replace("600", "20"), 1)
    await asyncio.to_thread(queues.write_text, text)
    await asyncio.to_thread((flows / "callback_direct_ko.yaml").write_text, DIRECT_FLOW)
    engine: RunningEngine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'fraud.sqlite3'}", **{**env, "THREADLINE_FLOWS__INBOUND": "callback_direct_ko"})
    credentials = await asyncio.to_thread(load_credentials, pbx.settings.credentials_path)
    seen: dict[str, dict[str, Any]] = {}
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_channels(seen, stop, (credentials.ari_user, credentials.ari_password)))
    allowed = Baresip(tmp_path / "allowed", caller_port, free_port(), (47000, 47999), account=f"<sip:{ALLOWED_NUMBER}@127.0.0.1>;regint=0;answermode=auto")
    attackers: dict[str, SippCall] = {}
    keyer = Baresip(tmp_path / "keyer", free_port(), free_port(), (45000, 45499), account="<sip:anonymous@127.0.0.1>;regint=0")
    minsu: Baresip | None = None
    try:
        await allowed.start(await asyncio.to_thread(write_tone, tmp_path / "allowed.wav", 120.0, CALLER_HZ))
        await allowed.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
        await allowed.wait_event("CALL_ESTABLISHED")
        for label, attacker in ATTACKERS.items():
            attackers[label] = await start_caller(attacker)
            await asyncio.sleep(0.3)
        await keyer.start(await asyncio.to_thread(write_tone, tmp_path / "keyer.wav", 120.0, CALLER_HZ))
        await keyer.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
        await keyer.wait_event("CALL_ESTABLISHED")
        await asyncio.sleep(4.0)
        for key in f"1{KEYED_NUMBER}#":  # the callback key, then the number and #
            await keyer.command("sndcode", key)
            await asyncio.sleep(0.4)
        await allowed.wait_event("CALL_CLOSED", timeout_s=60)  # billing's overflow arranged its callback and let it go
        outcomes = await asyncio.gather(*(call.finish(timeout_s=90) for call in attackers.values()), return_exceptions=True)
        failed = {label: str(outcome)[-1500:] for label, outcome in zip(attackers, outcomes, strict=True) if isinstance(outcome, BaseException)}
        assert not failed, f"these callers did not keep waiting to hang up themselves: {failed}\n{engine.log_tail()}"
        await keyer.command("hangup")
        await keyer.wait_event("CALL_CLOSED")

        allowed.events.clear()
        minsu = await agent_phone(tmp_path, "minsu", "2001", secrets["minsu"], MINSU_HZ)
        await wait_agents(engine, {"minsu": "on_call"}, timeout_s=30)
        await allowed.wait_event("CALL_ESTABLISHED", timeout_s=30)  # the engine dialled the allowed number back
        await asyncio.sleep(2.0)
        await allowed.command("hangup")
        await allowed.wait_event("CALL_CLOSED")
        await wait_agents(engine, {"minsu": "wrap_up"}, timeout_s=10)
        await asyncio.sleep(3.0)  # time for anything else to be (wrongly) rung or dialled
    finally:
        stop.set()
        await watcher
        for call in attackers.values():
            await call.stop()
        await keyer.stop()
        await allowed.stop()
        if minsu is not None:
            await minsu.stop()

    calls = await wait_for(engine, lambda calls: len(calls) == len(ATTACKERS) + 2 and all("hung_up" in kinds(c) for c in calls), "every call's end", 20)
    by_number = {call.caller_number: call for call in calls}
    called_back = by_number.pop(ALLOWED_NUMBER)
    requested = [e.detail for e in called_back.events if e.kind == "callback_requested"]
    assert requested == [{"queue": "billing", "number": ALLOWED_NUMBER, "waited_s": requested[0]["waited_s"], "source": "overflow"}], requested
    assert "callback_answered" in kinds(called_back) and "callback_refused" not in kinds(called_back)

    hostile = [call for call in calls if call is not called_back]
    refusals = [{(e.detail["source"], e.detail["reason"]) for e in call.events if e.kind == "callback_refused"} for call in hostile]
    expected = {label: attacker.refusals for label, attacker in ATTACKERS.items()} | {"20 keyed digits": KEYED_REFUSALS}
    for label, wanted in expected.items():
        match = next((i for i, found in enumerate(refusals) if found == wanted), None)
        assert match is not None, f"{label}: no call refused as {sorted(wanted)}: {[(c.caller_number, r) for c, r in zip(hostile, refusals, strict=True)]}"
        refusals.pop(match)
        refused_call = hostile.pop(match)
        assert not {"callback_requested", "callback_dialing", "agent_ringing", "overflowed"} & set(kinds(refused_call)), (label, kinds(refused_call))
        assert refused_call.hung_up_by == "caller", (label, refused_call.hung_up_by)
        offered = [e.detail["said"] for e in refused_call.events if e.kind == "wait_announced"]
        assert "callback_offer_taken" in kinds(refused_call) or (offered and "1번을 눌러" in offered[0]), (label, kinds(refused_call))  # it reached the callback offer
        for event in refused_call.events:
            if event.kind == "callback_refused":
                assert event.detail["number"].isascii() and len(event.detail["number"]) <= 40, event.detail
                assert "전화를 다시 드릴 수 없습니다" in event.detail["said"], event.detail  # told, and offered to keep waiting
                assert "계속 기다" in event.detail["said"], event.detail
    keyed = next(e.detail for call in calls for e in call.events if e.kind == "callback_refused" and e.detail["source"] == "keyed")
    assert keyed["number"] == KEYED_NUMBER, keyed
    trunk_call = next(call for call in calls if call.caller_number == "2001")
    assert trunk_call.events[0].detail["channel"].startswith("PJSIP/carrier-trunk-"), "presented by the trunk, identified by its address"

    callback_legs = {channel_id: channel for channel_id, channel in seen.items() if channel_id.startswith("tl-cbk-")}
    agent_legs = {channel_id: channel for channel_id, channel in seen.items() if channel_id.startswith("tl-agent-")}
    assert len(callback_legs) == 1 and all(c["name"].startswith("PJSIP/loopback-callers-") for c in callback_legs.values()), callback_legs
    assert len(agent_legs) == 1, f"minsu was rung for the allowed callback only: {agent_legs}"
    assert not [c["name"] for c in seen.values() if c["name"].startswith("Local/")], "no Local channel was ever created"


async def seed_call(engine: RunningEngine, channel_id: str, number: str, events: list[tuple[str, dict[str, Any]]], minutes_ago: float) -> None:
    """A call an earlier engine stored: its row, its journey, its end."""
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    async with engine.store() as store:
        opened = await store.open_call(CallerInfo(channel_id, number, "", "1588"), at, {"caller_number": number})
        for kind, detail in events:
            await store.add_event(opened.call_id, kind, at, detail)
        await store.close_call(opened.call_id, at, "engine", 16, "Normal Clearing")


async def test_an_owed_callback_to_a_hostile_number_is_not_restored_and_a_number_called_back_3_times_this_hour_is_refused(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    """An engine from before the rules owed a callback to `1&Local/1@default`: the next engine closes
    it in the journey (`callback_refused`, source restored) instead of putting it in line. 0311112222
    was called back 3 times in the last hour (journey rows of earlier calls, so the count survives the
    restart): when its caller waits past max_wait, billing's overflow refuses another callback and the
    caller keeps waiting. minsu, registered afterwards, is never rung and nothing is dialled."""
    for tool in ("baresip", "espeak-ng", "sox"):
        require_tool(tool)
    crm_url, _ = mock_crm
    env, secrets = await acd_setup(tmp_path, crm_url)
    flows = Path(env["THREADLINE_FLOWS__FOLDER"])
    queues = flows / "queues" / "support.yaml"
    text = await asyncio.to_thread(queues.read_text)
    offer = f'callback: {{offer_after_s: 0, key: "1", dial: "PJSIP/loopback-callers/sip:{{number}}@127.0.0.1:{free_port()}", ring_s: 15,'
    text = text.replace(SAMPLE_OFFER, offer, 1).replace(BILLING_MAX_WAIT, BILLING_MAX_WAIT.replace("600", "8"), 1)
    await asyncio.to_thread(queues.write_text, text)
    await asyncio.to_thread((flows / "callback_direct_ko.yaml").write_text, DIRECT_FLOW)
    env = {**env, "THREADLINE_FLOWS__INBOUND": "callback_direct_ko"}
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'restored.sqlite3'}"
    engine: RunningEngine = await start_engine(database_url, **env)  # creates the schema
    assert await engine.stop() == 0, engine.log_tail()
    queued = ("queued", {"queue": "billing", "skills": ["billing", "korean"], "priority": 5})
    await seed_call(engine, "old-engine-owed", "1&Local/1@default", [queued, ("callback_requested", {"queue": "billing", "number": "1&Local/1@default", "waited_s": 30.0})], 20)
    for index in range(3):
        requested = ("callback_requested", {"queue": "billing", "number": "0311112222", "waited_s": 30.0})
        await seed_call(engine, f"earlier-{index}", "0311112222", [queued, requested, ("callback_failed", {"queue": "billing", "number": "0311112222", "attempts": 4})], 50 - index * 10)

    engine = await start_engine(database_url, **env)
    credentials = await asyncio.to_thread(load_credentials, pbx.settings.credentials_path)
    seen: dict[str, dict[str, Any]] = {}
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_channels(seen, stop, (credentials.ari_user, credentials.ari_password)))
    caller = Baresip(tmp_path / "caller", free_port(), free_port(), (47000, 47999), account="<sip:0311112222@127.0.0.1>;regint=0")
    minsu: Baresip | None = None
    try:
        await caller.start(await asyncio.to_thread(write_tone, tmp_path / "caller.wav", 120.0, CALLER_HZ))
        await caller.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
        await caller.wait_event("CALL_ESTABLISHED")
        await wait_for(engine, lambda calls: any(e.kind == "callback_refused" for c in calls if c.caller_number == "0311112222" and c.ended_at is None for e in c.events), "the overflow's refusal", 30)
        await asyncio.sleep(4.0)  # the caller keeps waiting, hearing why
        await caller.command("hangup")
        await caller.wait_event("CALL_CLOSED")
        minsu = await agent_phone(tmp_path, "minsu", "2001", secrets["minsu"], MINSU_HZ)
        await wait_agents(engine, {"minsu": "available"}, timeout_s=30)
        await asyncio.sleep(4.0)  # an owed callback would ring minsu now
        await wait_agents(engine, {"minsu": "available"}, timeout_s=1)
    finally:
        stop.set()
        await watcher
        await caller.stop()
        if minsu is not None:
            await minsu.stop()

    calls = await wait_for(engine, lambda calls: any(c.caller_number == "0311112222" and not c.channel_id.startswith("earlier-") and c.ended_at for c in calls), "the caller's end", 10)
    owed = next(call for call in calls if call.channel_id == "old-engine-owed")
    refused = [e.detail for e in owed.events if e.kind == "callback_refused"]
    assert refused == [{"queue": "billing", "source": "restored", "reason": "not_digits", "number": "1&Local/1@default", "detail": ""}], refused  # nobody to tell
    assert "callback_restored" not in kinds(owed)
    live = next(call for call in calls if call.caller_number == "0311112222" and not call.channel_id.startswith("earlier-"))
    limited = [e.detail for e in live.events if e.kind == "callback_refused"]
    assert [(d["source"], d["reason"]) for d in limited] == [("overflow", "rate_limited")] and "limit 3" in limited[0]["detail"], limited
    assert not {"callback_requested", "overflowed", "agent_ringing"} & set(kinds(live)) and live.hung_up_by == "caller", kinds(live)
    assert not [channel_id for channel_id in seen if channel_id.startswith(("tl-cbk-", "tl-agent-"))], seen
