"""The pure rules every request is held to: who the client is behind a proxy, same-origin writes,
where a login may go next, which Host names this machine."""

from __future__ import annotations

import pytest

from engine.web.request_policy import ClientView, client_view, cross_origin_refusal, is_local_host, safe_next, trusted_networks

PROXY = trusted_networks(["127.0.0.1", "10.0.0.0/8"])


def test_forwarded_headers_are_believed_only_from_a_trusted_proxy() -> None:
    headers = {"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "desk.example"}
    assert client_view("http", "127.0.0.1:8080", "127.0.0.1", headers, PROXY) == ClientView("https", "desk.example", "203.0.113.5")
    assert client_view("http", "h:1", "198.51.100.1", headers, PROXY) == ClientView("http", "h:1", "198.51.100.1"), "not a proxy of ours"
    assert client_view("http", "h:1", "127.0.0.1", headers, ()) == ClientView("http", "h:1", "127.0.0.1"), "no proxies configured"


def test_the_client_is_the_right_most_address_that_is_not_a_proxy_so_a_forged_left_part_is_ignored() -> None:
    headers = {"X-Forwarded-For": "1.2.3.4, 203.0.113.5, 10.1.1.1"}
    assert client_view("http", "h", "127.0.0.1", headers, PROXY).remote == "203.0.113.5"
    assert client_view("http", "h", "127.0.0.1", {"X-Forwarded-Proto": "gopher"}, PROXY).scheme == "http"


@pytest.mark.parametrize(("method", "headers", "refused"), [
    ("GET", {"Origin": "http://evil.example"}, False),
    ("POST", {}, False),  # a script (curl, the admin token): no browser can be driven to send this
    ("POST", {"Origin": "http://desk:8080", "Sec-Fetch-Site": "same-origin"}, False),
    ("POST", {"Sec-Fetch-Site": "none"}, False),
    ("POST", {"Origin": "http://evil.example"}, True),
    ("POST", {"Origin": "http://desk:9090"}, True),  # another port on the same host: same-site, not same-origin
    ("POST", {"Sec-Fetch-Site": "same-site"}, True),
    ("POST", {"Sec-Fetch-Site": "cross-site", "Origin": "http://desk:8080"}, True),
    ("DELETE", {"Origin": "null"}, True),
])
def test_state_changes_must_come_from_this_origin(method: str, headers: dict[str, str], refused: bool) -> None:
    assert (cross_origin_refusal(method, headers, "http://desk:8080") is not None) == refused


@pytest.mark.parametrize(("wanted", "kept"), [
    ("/qa", True), ("/qa?since=2026-01-01#x", True), ("/", True),
    ("/\\evil.example", False), ("//evil.example", False), ("https://evil.example/", False), ("javascript:alert(1)", False),
    ("/%5Cevil.example", True),  # still a path here: the browser is given it percent-encoded, never as a backslash
    ("/\t/evil.example", False), ("", False), (None, False), ("qa", False),
])
def test_after_login_only_a_path_on_this_site(wanted: str | None, kept: bool) -> None:
    assert safe_next(wanted) == (wanted if kept else None)


@pytest.mark.parametrize(("host", "local"), [
    ("127.0.0.1:8080", True), ("localhost", True), ("[::1]:8080", True), ("LOCALHOST:1", True), ("desk.internal:8080", True),
    ("evil.example", False), ("evil.example:8080", False), ("127.0.0.1.evil.example", False), ("", False),
])
def test_the_host_header_must_name_this_machine(host: str, local: bool) -> None:
    assert is_local_host(host, "desk.internal") == local
    assert not is_local_host("0.0.0.0:8080", "0.0.0.0")
