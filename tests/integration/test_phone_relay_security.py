"""Pages relayed to Asterisk cannot pass for someone else.

Every page behind the engine's SIP relay reaches Asterisk from one address, so two guards stand
in the way of a forged caller (engine/web/sip_relay_policy.py, asterisk_conf/templates/pjsip.conf.j2):
the relay refuses a request not From the page's own user (and, on /try, anything but calls), and
Asterisk itself, reached from the relay's address 127.0.0.3, lets no request in without a password,
even one From carrier-trunk (trusted, no password) or loopback-callers.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import aiohttp
import pytest

from engine.localpbx.local_asterisk import LocalAsterisk
from engine.web.phone_gateway import REFUSED, RELAY_SOURCE_ADDRESS
from tests.integration.test_acd_call import acd_setup
from tests.integration.test_try_page import crm_knowing_everyone  # noqa: F401  (a fixture)

pytestmark = pytest.mark.asterisk
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n"


def invite(user: str, target: str = "800", host: str = "127.0.0.1") -> str:
    """A new call From `user`, as a page would send it over the SIP websocket."""
    branch, tag, call_id = (secrets.token_hex(6) for _ in range(3))
    return (f"INVITE sip:{target}@{host} SIP/2.0\r\nVia: SIP/2.0/WS {branch}.invalid;branch=z9hG4bK{branch}\r\nMax-Forwards: 70\r\n"
            f"To: <sip:{target}@{host}>\r\nFrom: \"{user}\" <sip:{user}@{host}>;tag={tag}\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:{user}@{branch}.invalid;transport=ws>\r\nContent-Type: application/sdp\r\n"
            f"Content-Length: {len(SDP)}\r\n\r\n{SDP}")


def register(user: str, host: str = "127.0.0.1") -> str:
    token = secrets.token_hex(6)
    return (f"REGISTER sip:{host} SIP/2.0\r\nVia: SIP/2.0/WS {token}.invalid;branch=z9hG4bK{token}\r\nMax-Forwards: 70\r\n"
            f"To: <sip:{user}@{host}>\r\nFrom: <sip:{user}@{host}>;tag={token}\r\nCall-ID: {token}\r\nCSeq: 1 REGISTER\r\n"
            f"Contact: <sip:{user}@{token}.invalid;transport=ws>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n")


async def relay_answer(http_url: str, frame: str) -> int | None:
    """Opens /try/sip as a page would, sends one frame, and returns the code the relay closes with."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{http_url}/try/sip", protocols=("sip",), origin=http_url) as page:
            await page.send_str(frame)
            async with asyncio.timeout(15):
                async for _message in page:
                    pass  # Asterisk's answers, if any got through, until the relay closes
            return page.close_code


async def test_the_try_relay_cuts_off_registrations_and_forged_callers_before_the_flows(
    pbx: LocalAsterisk, start_engine, crm_knowing_everyone: str, tmp_path: Path  # noqa: F811
) -> None:
    env, _secrets = await acd_setup(tmp_path, crm_knowing_everyone)
    engine = await start_engine(f"sqlite+aiosqlite:///{tmp_path / 'relay.sqlite3'}", **env, THREADLINE_HTTP__CALLER_PAGE="true")
    assert await relay_answer(engine.http_url, register("try-caller")) == REFUSED
    for forged in ("carrier-trunk", "loopback-callers", "01012345678"):
        assert await relay_answer(engine.http_url, invite(forged)) == REFUSED, forged
    smuggled = "SIP/2.0 200 OK\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n" + invite("carrier-trunk")
    assert await relay_answer(engine.http_url, smuggled) == REFUSED, "a request riding behind a response"
    quoted = invite("carrier-trunk").replace('From: "carrier-trunk"', 'From: "<sip:try-caller@127.0.0.1>"')
    assert await relay_answer(engine.http_url, quoted) == REFUSED, "try-caller only in the quoted display name"
    log = engine.log_text()
    assert "the page sent REGISTER is not allowed here" in log
    assert "the page sent INVITE From a user other than the page's own (try-caller)" in log
    assert "the page sent Content-Length missing, repeated or not the body's length" in log
    assert "SDP" not in log.split("relay closed, the page sent")[-1].splitlines()[0], "the reason is logged, never the message"
    await asyncio.sleep(2.0)  # what a call would take to reach the flows, had one got through
    async with engine.store() as store:
        assert await store.recent_calls(limit=10) == [], "no call reached the flows"


async def test_asterisk_lets_no_relayed_request_in_without_a_password(pbx: LocalAsterisk) -> None:
    """Straight to Asterisk's SIP websocket from the relay's address, as if the filter were bypassed:
    From carrier-trunk (trusted, no password), loopback-callers or a bare number, a new call is
    challenged or refused, never taken."""
    url = f"ws://127.0.0.1:{pbx.settings.asterisk.ari_port}/ws"
    connector = aiohttp.TCPConnector(local_addr=(RELAY_SOURCE_ADDRESS, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        for forged in ("carrier-trunk", "loopback-callers", "01012345678"):
            async with session.ws_connect(url, protocols=("sip",)) as asterisk:
                await asterisk.send_str(invite(forged))
                final = ""
                async with asyncio.timeout(10):
                    while not final:
                        message = await asterisk.receive()
                        assert message.type == aiohttp.WSMsgType.TEXT, (forged, message)
                        status = message.data.split("\r\n", 1)[0]
                        final = status if not status.startswith("SIP/2.0 1") else ""
                assert final in ("SIP/2.0 401 Unauthorized", "SIP/2.0 403 Forbidden"), (forged, final, pbx.log_tail(20))
