"""The SIP relay's filter: a page speaks only as its own SIP user, one message per frame, and the
/try page only places calls, a few a minute, within its time."""

from __future__ import annotations

import pytest

from engine.web.caller_page import FIRST_CALL_WITHIN_S, MAX_NEW_INVITES, MAX_OPEN_S, caller_rules
from engine.web.sip_relay_policy import AGENT_METHODS, FrameRefused, RelayPolicy, RelayRules, SipRequest, name_addr, read_request

TRY = caller_rules("try-caller")
AGENT = RelayRules("web2001", AGENT_METHODS)


def request(method: str, user: str, to_tag: str = "", body: str = "", *, to: str = "", display: str = '"Someone"',
            call_id: str = "c1", from_tag: str = "abc") -> str:
    to = to or f"<sip:800@127.0.0.1>{';tag=' + to_tag if to_tag else ''}"
    return (f"{method} sip:800@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WSS x.invalid;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n"
            f"To: {to}\r\nFrom: {display} <sip:{user}@127.0.0.1>;tag={from_tag}\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\n"
            f"Content-Length: {len(body.encode())}\r\n\r\n{body}")


def response(status: str) -> str:
    return ("SIP/2.0 " + status + "\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bK2\r\nTo: <sip:k8s7d2@x.invalid>;tag=p1\r\n"
            "From: <sip:800@127.0.0.1>;tag=as1\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")


def test_a_request_is_read_from_its_first_line_from_and_to_headers() -> None:
    assert read_request(request("INVITE", "try-caller", body="v=0\r\n")) == SipRequest("INVITE", "try-caller", False, "c1", "abc", "800")
    assert read_request(request("BYE", "k8s7d2", to_tag="t1")) == SipRequest("BYE", "k8s7d2", True, "c1", "abc", "800")
    assert read_request(response("200 OK")) is None, "a well-framed response passes"
    assert read_request("\r\n\r\n") is None, "a keep-alive"
    compact = "OPTIONS sip:a@b SIP/2.0\r\nf: sip:web2001@h;tag=1\r\nt: sip:a@b\r\ni: c9\r\nl: 0\r\n\r\n"
    assert read_request(compact) == SipRequest("OPTIONS", "web2001", False, "c9", "1", "a")


@pytest.mark.parametrize("value, uri, params", [
    ('"Browser caller" <sip:try-caller@127.0.0.1>;tag=abc', "sip:try-caller@127.0.0.1", ";tag=abc"),
    ('"김민수" <sip:web2001@127.0.0.1>;tag=x1', "sip:web2001@127.0.0.1", ";tag=x1"),
    ('"<x>;tag=1" <sip:800@h>', "sip:800@h", ""),
    ('"<sip:try-caller@h>" <sip:X@h>', "sip:X@h", ""),
    ('"a \\" <sip:try-caller@h>" <sip:X@h>;tag=2', "sip:X@h", ";tag=2"),
    ("Someone <sip:a@h;transport=ws>;tag=3", "sip:a@h;transport=ws", ";tag=3"),
    ("sip:a@h;tag=4", "sip:a@h", ";tag=4"),
])
def test_from_and_to_are_read_as_name_addr_past_a_quoted_display_name(value: str, uri: str, params: str) -> None:
    assert name_addr(value) == (uri, params)


@pytest.mark.parametrize("value", ['"open <sip:a@h>', '"name" sip:a@h', "<sip:a@h", "<sip:a@h>, <sip:b@h>", "<sip:a@h> x"])
def test_a_from_or_to_that_is_not_one_address_is_refused(value: str) -> None:
    with pytest.raises(FrameRefused):
        name_addr(value)


def test_a_quoted_display_name_forges_neither_a_sender_nor_a_dialog() -> None:
    forged_from = request("INVITE", "X", display='"<sip:try-caller@h>"')
    assert RelayPolicy(TRY, 0.0).refusal(forged_from, 1.0) == "INVITE From a user other than the page's own (try-caller)"
    forged_dialog = request("INVITE", "X", to='"<x>;tag=1" <sip:800@h>')
    assert RelayPolicy(TRY, 0.0).refusal(forged_dialog, 1.0) == "INVITE From a user other than the page's own (try-caller)"


@pytest.mark.parametrize("frame, why", [
    ("INVITE sip:a@b SIP/2.0\r\nFrom: <sip:try-caller@b>\r\nTo: <sip:a@b>\r\nContent-Length: 0\r\n", "blank line"),
    ("INVITE sip:a@b SIP/2.0\nFrom: <sip:try-caller@b>\nTo: <sip:a@b>\nContent-Length: 0\r\n\r\n", "CRLF"),
    (request("INVITE", "try-caller") + request("INVITE", "carrier-trunk"), "Content-Length"),
    (request("INVITE", "try-caller").replace("Content-Length: 0\r\n", ""), "Content-Length"),
    (request("INVITE", "try-caller").replace("Call-ID: c1\r\n", "From: <sip:carrier-trunk@b>\r\n"), "one From"),
    (request("INVITE", "try-caller").replace("Call-ID: c1\r\n", "Call-ID: c1\r\n more\r\n"), "folded"),
    ("hello there\r\n\r\n", "request line"),
    (request("INVITE", "try-caller").replace("Call-ID: c1\r\n", "Call-ID: c1\r\ni: c2\r\n"), "one From, To"),
    (request("INVITE", "try-caller").replace("Call-ID: c1\r\n", "t: <sip:801@h>\r\n"), "one From, To"),
    (request("INVITE", "try-caller").replace("Call-ID: c1\r\n", ""), "one From, To and Call-ID"),
    (request("INVITE", "try-caller").replace("Content-Length: 0\r\n", "Content-Length: 0\r\nl: 0\r\n"), "Content-Length"),
    (request("INVITE", "try-caller").replace("Content-Length: 0", "Content-Length: \u00b2"), "Content-Length"),
    (request("INVITE", "try-caller").replace("Content-Length: 0", "Content-Length: +0"), "Content-Length"),
    (response("200 OK") + request("INVITE", "carrier-trunk"), "Content-Length"),
    (response("200 OK").replace("Content-Length: 0\r\n", ""), "Content-Length"),
    (response("200 OK").replace("\r\nCall-ID", "\nCall-ID"), "CRLF"),
    (response("200 OK").replace("Call-ID: c1\r\n", "Call-ID: c1\r\ni: c2\r\n"), "one From, To or Call-ID"),
    (response("200 OK").replace("SIP/2.0 200 OK", "SIP/2.0 2000 OK"), "status line"),
    (response("200 OK").replace("SIP/2.0 200 OK", "SIP/2.0 \u00b200 OK"), "status line"),
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


def test_an_agent_registers_only_its_own_user_and_sends_only_what_its_phone_sends() -> None:
    agent = RelayPolicy(AGENT, 0.0)
    assert agent.refusal(request("REGISTER", "web2001", to="<sip:web2001@h>"), 1.0) is None
    assert agent.refusal(request("REGISTER", "web2001", to="<sip:web2002@h>"), 1.0) == "a REGISTER for a user other than the page's own (web2001)"
    assert agent.refusal(request("REGISTER", "web2001", to="<sip:web2002@h>;tag=1"), 1.0) is not None, "a To tag makes no REGISTER in-dialog"
    for method in ("SUBSCRIBE", "PUBLISH", "MESSAGE", "REFER"):
        assert agent.refusal(request(method, "web2001"), 1.0) == f"{method} is not allowed here"
    assert agent.refusal(request("NOTIFY", "k8s7d2", to_tag="t"), 1.0) is None


def test_a_page_may_speak_as_itself_and_answer_inside_dialogs() -> None:
    agent = RelayPolicy(AGENT, 0.0)
    assert agent.refusal(request("REGISTER", "web2001", to="<sip:web2001@127.0.0.1>"), 1.0) is None
    assert agent.refusal(request("BYE", "k8s7d2", to_tag="as1"), 1.0) is None, "a call Asterisk placed: the page's contact user"
    assert agent.refusal("SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n", 1.0) is None


@pytest.mark.parametrize("method", ["REGISTER", "SUBSCRIBE", "PUBLISH", "MESSAGE", "REFER"])
def test_the_try_page_may_only_place_calls(method: str) -> None:
    refusal = RelayPolicy(TRY, 0.0).refusal(request(method, "try-caller"), 1.0)
    assert refusal == f"{method} is not allowed here"
    assert RelayPolicy(TRY, 0.0).refusal(request(method, "try-caller", to_tag="x"), 1.0) is not None, "not inside a dialog either"


def test_a_try_line_carries_one_call_in_all() -> None:
    policy = RelayPolicy(TRY, 0.0)
    assert policy.refusal(request("INVITE", "try-caller"), 10.0) is None
    assert policy.refusal(request("INVITE", "try-caller"), 10.5) is None, "the INVITE re-sent with credentials: same Call-ID"
    assert policy.refusal(request("INVITE", "try-caller", to_tag="t"), 20.0) is None, "a re-INVITE is not a new call"
    assert policy.refusal(request("INVITE", "try-caller", call_id="c2"), 30.0) == "a second call on this line (a line carries one call)"
    assert policy.refusal(request("INVITE", "try-caller", from_tag="other"), 30.0) is not None, "nor the same Call-ID in another dialog"
    assert policy.refusal(request("INVITE", "try-caller", call_id="c2"), 500.0) is not None, "not later either"


def test_the_try_page_resends_its_invite_a_few_times_a_minute() -> None:
    policy = RelayPolicy(TRY, 0.0)
    for second in range(MAX_NEW_INVITES):
        assert policy.refusal(request("INVITE", "try-caller"), 10.0 + second) is None
    assert policy.refusal(request("INVITE", "try-caller"), 30.0) == f"more than {MAX_NEW_INVITES} new INVITEs in 60 s"
    assert policy.refusal(request("INVITE", "try-caller"), 70.5) is None, "a minute after the first"


def test_a_try_line_closes_without_a_call_within_a_minute_and_after_half_an_hour() -> None:
    policy = RelayPolicy(TRY, 100.0)
    assert policy.deadline() == (100.0 + FIRST_CALL_WITHIN_S, "no call started within 60 s")
    assert policy.refusal(request("INVITE", "try-caller"), 110.0) is None
    assert policy.deadline() == (100.0 + MAX_OPEN_S, "open for 30 minutes, the most a line stays open")
    assert RelayPolicy(AGENT, 0.0).deadline() is None, "an agent's phone stays open with their session"
