"""The caller page's pure parts: what the page calls with, and the bound on open lines."""

from __future__ import annotations

from engine.web.caller_page import MAX_LINES, MAX_LINES_PER_CLIENT, CallerLine, OpenLines, caller_config

LINE = CallerLine("ws://127.0.0.1:8088/ws", "127.0.0.1", "try-caller", "secret", "1588")


def test_the_page_relays_through_its_own_origin_and_wss_behind_tls() -> None:
    plain = caller_config(LINE, "http://127.0.0.1:8080")
    assert plain["websocket_url"] == "ws://127.0.0.1:8080/try/sip"
    assert plain["target"] == "sip:1588@127.0.0.1"
    assert plain["aor"] == "sip:try-caller@127.0.0.1"
    assert caller_config(LINE, "https://demo.example.com")["websocket_url"] == "wss://demo.example.com/try/sip"


def test_one_address_holds_at_most_its_share_and_everyone_together_at_most_the_total() -> None:
    lines = OpenLines()
    assert all(lines.admit("10.0.0.1") for _ in range(MAX_LINES_PER_CLIENT))
    assert not lines.admit("10.0.0.1")
    lines.release("10.0.0.1")
    assert lines.admit("10.0.0.1")
    others = [f"10.0.1.{n}" for n in range(MAX_LINES)]
    admitted = sum(lines.admit(client) for client in others)
    assert admitted == MAX_LINES - MAX_LINES_PER_CLIENT
    for client in others[:admitted]:
        lines.release(client)
    assert lines.by_client == {"10.0.0.1": MAX_LINES_PER_CLIENT}
