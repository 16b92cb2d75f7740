"""A real caller (baresip) through the Korean sample flow on the real Asterisk, by keypad.

The engine renders the prompts with espeak-ng, looks the caller up in a mock CRM the test runs,
plays the menu, takes the key, and hands the call to the billing queue (which, until the ACD
lands, ends with a message saying no agent queue is configured).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from tests.integration.conftest import PBX_ENV, free_port, require_tool, wait_for_event
from tests.integration.sip_peers import Baresip, write_tone

pytestmark = pytest.mark.asterisk
SIP_PORT = int(PBX_ENV["THREADLINE_ASTERISK__SIP_PORT"])


async def test_a_caller_keys_through_the_korean_sample_to_the_billing_queue(
    pbx: LocalAsterisk, start_engine, mock_crm: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    require_tool("baresip")
    require_tool("espeak-ng")
    crm_url, crm_requests = mock_crm
    engine = await start_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'flow.sqlite3'}",
        THREADLINE_FLOWS__INBOUND="support_ko", THREADLINE_LOOKUPS__CRM__URL=crm_url,
    )
    phone = Baresip(tmp_path / "baresip", free_port(), free_port(), (43000, 43999))
    await phone.start(await asyncio.to_thread(write_tone, tmp_path / "mic.wav", 60.0, amplitude=0))  # keys only: a silent caller
    try:
        await phone.command("dial", f"sip:1588@127.0.0.1:{SIP_PORT}")
        await phone.wait_event("CALL_ESTABLISHED")
        await wait_for_event(engine, "node_entered", node="menu")
        await asyncio.sleep(1.0)  # a second into the menu prompt: the key barges in
        await phone.command("sndcode", "1")
        await wait_for_event(engine, "queued", queue="billing")
        await asyncio.sleep(1.0)  # waiting for an agent, with music on hold; none is logged in
        await phone.command("hangup")
        await phone.wait_event("CALL_CLOSED", timeout_s=40)
    finally:
        await phone.stop()

    heard = await phone.heard()
    assert heard.seconds > 5 and heard.rms > 0.01, f"the caller did not hear the prompts: {heard}"
    assert crm_requests == [{"phone": "caller"}]

    (call,) = await engine.ended_calls(1)
    assert call.hung_up_by == "caller"
    events = [(e.kind, e.detail) for e in call.events]
    kinds = [kind for kind, _ in events]
    flow_started = dict(events)["flow_started"]
    assert flow_started["flow"] == "support_ko" and len(flow_started["version"]) == 16
    lookup = next(detail for kind, detail in events if kind == "lookup")
    assert lookup["ok"] is True and lookup["result"]["name"] == "김민수"
    assert next(detail for kind, detail in events if kind == "branch_taken")["index"] == 0, "a known caller skips the account number"
    assert "ask_account" not in [detail.get("node") for _, detail in events]
    assert next(detail for kind, detail in events if kind == "dtmf")["digit"] == "1"
    chosen = next(detail for kind, detail in events if kind == "intent_chosen")
    assert (chosen["intent"], chosen["key"]) == ("billing", "1")
    transfer = next(detail for kind, detail in events if kind == "transfer")
    assert (transfer["queue"], transfer["skills"]) == ("billing", ["billing", "korean"])
    assert kinds.index("flow_started") < kinds.index("lookup") < kinds.index("intent_chosen") < kinds.index("transfer") < kinds.index("queued") < kinds.index("abandoned") < kinds.index("hung_up")
    abandoned = next(detail for kind, detail in events if kind == "abandoned")
    assert (abandoned["queue"], abandoned["while"], abandoned["short"]) == ("billing", "waiting", True), "hung up within short_abandon_s"
    finished = [detail for kind, detail in events if kind == "prompt_finished"]
    assert any(d["state"] == "done" for d in finished) and all("flow-" in d["media"] or "sound:" in d["media"] for d in finished)
