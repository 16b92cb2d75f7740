"""The chat's pure bounds found in review: identities that broke the parser, origins that reached
the CSP header, IPv6 clients counted one address at a time, and when a chat gives its slot back."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.chat.chat_identity import IdentityRefused, customer_key, sign, verified_identity
from engine.chat.chat_limits import ChatTimes, Openings, SlotLimits, client_key, why_end
from engine.settings import ChatSettings, origin_of

SECRET = "x" * 40
NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
ENGINE = Path(__file__).parents[3] / "engine"


def signed_raw(payload_json: str) -> tuple[str, str]:
    """An identity signed as given, for JSON json.dumps would not write (Infinity)."""
    identity = base64.urlsafe_b64encode(payload_json.encode()).decode().rstrip("=")
    return identity, hmac.new(SECRET.encode(), identity.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("signature", ["é" * 64, "ÿ" * 64, "g" * 64, "0" * 63, "0" * 65, "", " ", "０" * 64])
def test_a_signature_that_is_not_64_hex_characters_is_refused_by_name(signature: str) -> None:
    identity, _ = sign({"customer": "C-7", "exp": NOW.timestamp() + 60}, SECRET)
    with pytest.raises(IdentityRefused) as refused:
        verified_identity(identity, signature, SECRET, NOW)
    assert refused.value.field == "signature" and "64 hexadecimal" in str(refused.value)


@pytest.mark.parametrize("exp", ["Infinity", "-Infinity", "NaN", "1e400", "99999999999999999999999", "-1e300", str(NOW.timestamp() + 3601)])
def test_an_expiry_that_is_not_a_near_future_time_is_refused_by_name(exp: str) -> None:
    identity, signature = signed_raw('{"customer": "C-7", "exp": %s}' % exp)
    with pytest.raises(IdentityRefused) as refused:
        verified_identity(identity, signature, SECRET, NOW, max_ahead_s=3600)
    assert refused.value.field == "identity.exp", str(refused.value)


def test_an_expiry_within_the_bound_is_taken_and_the_customer_key_tells_customers_apart() -> None:
    first = verified_identity(*sign({"customer": "C-7", "exp": NOW.timestamp() + 3000}, SECRET), SECRET, NOW, max_ahead_s=3600)
    again = verified_identity(*sign({"customer": "C-7", "exp": NOW.timestamp() + 60}, SECRET), SECRET, NOW)
    other = verified_identity(*sign({"customer": "C-8", "exp": NOW.timestamp() + 60}, SECRET), SECRET, NOW)
    assert customer_key(first) == customer_key(again) != customer_key(other) and customer_key(None) == ""
    assert json.dumps(customer_key(first)).count("C-7") == 0  # a hash, never the customer's id


@pytest.mark.parametrize("bad", ["https://*", "https://*.shop.example", "https://shop.example;script-src *", "https://shop.example 'unsafe-inline'",
                                 "https://shop.example/path", "https://user@shop.example", "javascript://x", "https://", "https://shop.example?x=1",
                                 "https://shop_example.com", "https://shop.example#x"])
def test_an_allowed_origin_is_scheme_and_host_only(bad: str) -> None:
    with pytest.raises(ValueError, match="not an origin"):
        ChatSettings(allowed_origins=bad)


def test_allowed_origins_are_kept_as_browsers_send_them() -> None:
    settings = ChatSettings(allowed_origins="HTTPS://Shop.Example:443/, http://localhost:8080, https://[::1]:8443")
    assert settings.allowed_origins == ("https://shop.example", "http://localhost:8080", "https://[::1]:8443")
    assert origin_of("https://SHOP.example") in settings.allowed_origins


def test_ipv6_clients_count_by_their_64_and_ipv4_by_address() -> None:
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff:1") == client_key("2001:db8:0:0:abcd::9") == "2001:db8::/64"
    assert client_key("2001:db8:0:1::1") != client_key("2001:db8::1")
    assert client_key("::ffff:198.51.100.7") == client_key("198.51.100.7") == "198.51.100.7"
    assert client_key("fe80::1%eth0") == "fe80::/64" and client_key("") == "" and client_key("not an address") == "not an address"
    openings = Openings(per_minute=2)
    assert [openings.admit(client_key(f"2001:db8::{n}"), 0.0) for n in range(3)] == [True, True, False]


LIMITS = SlotLimits(attach_within_s=60, idle_timeout_s=1800, quiet_timeout_s=7200, max_lifetime_s=28800)


def times(opened: float = 0.0, last_seen: float = 0.0, last_message: float = 0.0, pages: int = 0, ever_attached: bool = True, ended: bool = False) -> ChatTimes:
    return ChatTimes(opened, last_seen, last_message, pages, ever_attached, ended)


def test_a_chat_gives_its_slot_back_when_it_holds_it_for_nothing() -> None:
    assert why_end(times(ever_attached=False), 59, LIMITS) is None
    assert why_end(times(ever_attached=False), 61, LIMITS) == "unused"  # a session no page ever opened
    assert why_end(times(pages=1, last_message=100), 7000, LIMITS) is None
    assert why_end(times(pages=1, last_seen=7300, last_message=100), 7301, LIMITS) == "quiet"  # a heartbeat alone keeps nothing alive
    assert why_end(times(pages=1, last_seen=28000, last_message=27000), 28801, LIMITS) == "lifetime"
    assert why_end(times(last_seen=100), 1899, LIMITS) is None and why_end(times(last_seen=100), 1901, LIMITS) == "idle"
    assert why_end(times(pages=2, ended=True), 1, LIMITS) == "engine"


def test_every_error_code_the_chat_sends_has_words_on_the_chat_page() -> None:
    sources = "\n".join(path.read_text(encoding="utf-8") for path in (*ENGINE.joinpath("chat").glob("*.py"), ENGINE / "web" / "chat_routes.py"))
    codes = set(re.findall(r'page_error\("(\w+)"\)', sources)) | set(re.findall(r'ChatRefused\(\d+, "(\w+)"', sources))
    script = (ENGINE / "web" / "static" / "chat.js").read_text(encoding="utf-8")
    notices = set(re.findall(r"(\w+): \"chat\.", script.split("const NOTICES = {", 1)[1].split("};", 1)[0]))
    handled = {"no_chat", "too_many_chats", "chat_busy", "no_flows", "bad_identity"}  # 4404 starts a new chat; /chat/session refusals show their text
    assert {"chat_full", "too_many_pages", "database_slow"} <= codes
    assert codes - handled <= notices, f"chat.js NOTICES lacks {codes - handled - notices}"
