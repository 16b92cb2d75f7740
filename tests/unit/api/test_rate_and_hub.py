"""The per-token rate window and the websocket pub/sub's bounded queues (no network)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.api.api_schema import ApiEvent, Contact
from engine.api.event_hub import EventHub, HubFull, TokenFull
from engine.api.rate_window import RateWindow

T0 = datetime(2026, 12, 20, 9, 0, tzinfo=UTC)


def event(n: int, contact: str = "ct_aaaaaaaaaaaa") -> ApiEvent:
    who = Contact(id=contact, created_at=T0, customer_number="0212345678", customer_account="", customer_name="", verified=False, origin="api")
    return ApiEvent(id=f"evt_{n}", type="contact.created", at=T0, contact=who)


def test_a_token_gets_its_rate_per_minute_and_then_a_wait() -> None:
    window = RateWindow(3)
    assert [window.admit("crm", 100.0 + n) for n in range(3)] == [None, None, None]
    assert window.admit("crm", 110.0) == 50.0, "the oldest request leaves the window at 160 s"
    assert window.admit("web", 110.0) is None, "another token has its own window"
    assert window.admit("crm", 159.0) == 1.0, "a refused request is not counted"
    assert window.admit("crm", 160.5) is None


def test_the_window_forgets_idle_keys_when_full() -> None:
    window = RateWindow(1, max_keys=2)
    window.admit("a", 0.0)
    window.admit("b", 0.0)
    assert window.admit("c", 100.0) is None and window.admit("a", 100.0) is None


async def test_subscribers_get_what_they_want_and_a_slow_one_is_dropped_not_the_publisher() -> None:
    hub = EventHub(queue_size=3)
    everything = hub.subscribe()
    one_contact = hub.subscribe(lambda e: e.contact.id == "ct_bbbbbbbbbbbb")
    hub.publish(event(1))
    hub.publish(event(2, "ct_bbbbbbbbbbbb"))
    assert (await everything.next(1)) == event(1) and (await one_contact.next(1)) == event(2, "ct_bbbbbbbbbbbb")
    assert await one_contact.next(0.01) is None, "nothing more for it"
    for n in range(3, 8):
        hub.publish(event(n))
    assert everything.dropped and hub.subscribers == 1 and hub.dropped == 1
    received = [await everything.next(1) for _ in range(4)]
    assert [e.id for e in received if e is not None] == ["evt_2", "evt_3", "evt_4"] and received[-1] is None, "then the drop mark"
    hub.unsubscribe(one_contact)
    assert hub.subscribers == 0


def test_one_token_holds_a_bounded_number_of_sockets() -> None:
    hub = EventHub(max_subscribers=5, max_per_token=2)
    held = [hub.subscribe(owner="crm"), hub.subscribe(owner="crm")]
    with pytest.raises(TokenFull, match="per token"):
        hub.subscribe(owner="crm")
    hub.subscribe(owner="web")
    hub.unsubscribe(held[0])
    hub.subscribe(owner="crm")
    hub.subscribe(owner="web")
    hub.subscribe(owner="other")
    with pytest.raises(HubFull, match="at most 5"):
        hub.subscribe(owner="other")


def test_wrong_tokens_are_counted_and_refused_alone() -> None:
    window = RateWindow(2)
    assert [window.admit("10.0.0.1", 0.0), window.admit("10.0.0.1", 1.0)] == [None, None]
    assert window.admit("10.0.0.1", 2.0) == 58.0, "the third wrong token within the minute waits"
