"""The SIP relay's filter: a page speaks only as its own SIP user, one message per frame, and the
/try page only places calls, a few a minute, within its time."""

from __future__ import annotations

import pytest

from engine.web.caller_page import FIRST_CALL_WITHIN_S, MAX_NEW_INVITES, MAX_OPEN_S
from engine.web.sip_relay_policy import TRY_METHODS, FrameRefused, RelayPolicy, RelayRules, SipRequest, read_request

TRY = RelayRules("try-caller", TRY_METHODS, MAX_NEW_INVITES, FIRST_CALL_WITHIN_S, MAX_OPEN_S)
AGENT = RelayRules("web2001")


def request(method: str, user: str, to_tag: str = "", body: str = "", from_header: str = "From") -> str:
    to = f"<sip:800@127.0.0.1>{';tag=' + to_tag if to_tag else ''}"
    return (f"{method} sip:800@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WSS x.invalid;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n"
            f'To: {to}\r\n{from_header}: "Someone" <sip:{user}@127.0.0.1>;tag=abc\r\nCall-ID: c1\r\nCSeq: 1 {method}\r\n'
            f"Content-Length: {len(body.encode())}\r\n\r\n{body}")


def test_a_request_is_read_from_its_first_line_from_and_to_headers() -> None:
    assert read_request(request("INVITE", "try-caller", body="v=0\r\n")) == SipRequest("INVITE", "try-caller", False)
    assert read_request(request("BYE", "k8s7d2", to_tag="t1")) == SipRequest("BYE", "k8s7d2", True)
    assert read_request("SIP/2.0 200 OK\r\nCall-ID: c1\r\n\r\n") is None, "responses pass unread"
    assert read_request("\r\n\r\n") is None, "a keep-alive"
    compact = "OPTIONS sip:a@b SIP/2.0\r\nf: sip:web2001@h;tag=1\r\nt: sip:a@b\r\nl: 0\r\n\r\n"
    assert read_request(compact) == SipRequest("OPTIONS", "web2001", False)


@pytest.mark.parametrize("frame, why", [
    ("INVITE sip:a@b SIP/2.0\r\nFrom: <sip:try-caller@b>\r\nTo: <sip:a@b>\r\nContent-Length: 0\r\n", "blank line"),
    ("INVITE sip:a@b SIP/2.0\nFrom: <sip:try-caller@b>\nTo: <sip:a@b>\nContent-Length: 0\r\n\r\n", "CRLF"),
    (request("INVITE", "try-caller") + request("INVITE", "carrier-trunk"), "Content-Length"),
    (request("INVITE", "try-caller").replace("Content-Length: 0\r\n", ""), "Content-Length"),
    (request("INVITE", "try-caller").replace("Call-ID: c1\r\n", "From: <sip:carrier-trunk@b>\r\n"), "one From"),
    (request("INVITE", "try-caller").replace("Call-ID: c1\r\n", "Call-ID: c1\r\n more\r\n"), "folded"),
    ("hello there\r\n\r\n", "request line"),
])
def test_a_frame_that_is_not_exactly_one_plain_request_is_refused(frame: str, why: str) -> None:
    with pytest.raises(FrameRefused, match=why):
        read_request(frame)


@pytest.mark.parametrize("user", ["carrier-trunk", "loopback-callers", "01012345678", "web2002", "try-caller%2D", "Try-caller", ""])
def test_a_new_request_from_any_other_user_is_refused(user: str) -> None:
    policy = RelayPolicy(TRY, 0.0)
    refusal = policy.refusal(request("INVITE", user), 1.0)
    assert refusal is not None and "From a user other than" in refusal
    assert RelayPolicy(AGENT, 0.0).refusal(request("REGISTER", user), 1.0) is not None


def test_a_page_may_speak_as_itself_and_answer_inside_dialogs() -> None:
    agent = RelayPolicy(AGENT, 0.0)
    assert agent.refusal(request("REGISTER", "web2001"), 1.0) is None
    assert agent.refusal(request("BYE", "k8s7d2", to_tag="as1"), 1.0) is None, "a call Asterisk placed: the page's contact user"
    assert agent.refusal("SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n", 1.0) is None


@pytest.mark.parametrize("method", ["REGISTER", "SUBSCRIBE", "PUBLISH", "MESSAGE", "REFER"])
def test_the_try_page_may_only_place_calls(method: str) -> None:
    refusal = RelayPolicy(TRY, 0.0).refusal(request(method, "try-caller"), 1.0)
    assert refusal == f"{method} is not allowed here"
    assert RelayPolicy(TRY, 0.0).refusal(request(method, "try-caller", to_tag="x"), 1.0) is not None, "not inside a dialog either"


def test_the_try_page_places_a_few_calls_a_minute() -> None:
    policy = RelayPolicy(TRY, 0.0)
    for second in range(MAX_NEW_INVITES):
        assert policy.refusal(request("INVITE", "try-caller"), 10.0 + second) is None
    assert policy.refusal(request("INVITE", "try-caller", to_tag="t"), 20.0) is None, "a re-INVITE is not a new call"
    assert policy.refusal(request("INVITE", "try-caller"), 30.0) == f"more than {MAX_NEW_INVITES} new INVITEs in 60 s"
    assert policy.refusal(request("INVITE", "try-caller"), 70.5) is None, "a minute after the first"


def test_a_try_line_closes_without_a_call_within_a_minute_and_after_half_an_hour() -> None:
    policy = RelayPolicy(TRY, 100.0)
    assert policy.deadline() == (100.0 + FIRST_CALL_WITHIN_S, "no call started within 60 s")
    assert policy.refusal(request("INVITE", "try-caller"), 110.0) is None
    assert policy.deadline() == (100.0 + MAX_OPEN_S, "open for 30 minutes, the most a line stays open")
    assert RelayPolicy(AGENT, 0.0).deadline() is None, "an agent's phone stays open with their session"
