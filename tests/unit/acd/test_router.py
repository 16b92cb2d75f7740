"""The router, fed facts: skills, proficiency, priority, aging, relaxation, ties and requeues. No I/O."""

from __future__ import annotations

from engine.acd.router import Offer, QueueRule, Relaxation, Router, WaitingCall

BILLING = QueueRule("billing", {"billing": 3}, priority=5, relax=(Relaxation(60, 1), Relaxation(120, None)), aging_s=30)
TECH = QueueRule("technical", {"internet": 2}, priority=6)
VIP = QueueRule("vip", {"billing": 4}, priority=9)


def router(*rules: QueueRule) -> Router:
    return Router(rules or (BILLING, TECH, VIP))


def pairs(offers: list[Offer]) -> list[tuple[str, str]]:
    return [(offer.call_id, offer.agent_id) for offer in offers]


def test_an_agent_needs_every_skill_at_the_required_proficiency() -> None:
    r = router()
    r.agent_available("junior", {"billing": 2}, idle_since=0)
    r.agent_available("tech", {"internet": 5}, idle_since=0)
    r.caller_waiting(WaitingCall("c1", "billing", enqueued_at=0))
    assert r.offers(now=10) == [], "proficiency 2 is below billing's 3"
    r.agent_available("senior", {"billing": 4, "internet": 1}, idle_since=5)
    assert pairs(r.offers(now=11)) == [("c1", "senior")]


def test_the_best_proficiency_wins_then_the_longest_idle() -> None:
    r = router()
    r.agent_available("good-new", {"billing": 4}, idle_since=50)
    r.agent_available("good-old", {"billing": 4}, idle_since=10)
    r.agent_available("best", {"billing": 5}, idle_since=90)
    r.caller_waiting(WaitingCall("c1", "billing", enqueued_at=0))
    r.caller_waiting(WaitingCall("c2", "billing", enqueued_at=1))
    r.caller_waiting(WaitingCall("c3", "billing", enqueued_at=2))
    assert pairs(r.offers(now=100)) == [("c1", "best"), ("c2", "good-old"), ("c3", "good-new")]


def test_higher_priority_first_then_time_waited_across_queues() -> None:
    r = router()
    r.caller_waiting(WaitingCall("billing-early", "billing", enqueued_at=0))
    r.caller_waiting(WaitingCall("vip-late", "vip", enqueued_at=20))
    r.agent_available("a", {"billing": 5}, idle_since=0)
    assert pairs(r.offers(now=21)) == [("vip-late", "a")]


def test_aging_lets_a_long_waiting_low_priority_caller_overtake() -> None:
    r = router(QueueRule("low", {"x": 1}, priority=1, aging_s=10), QueueRule("high", {"x": 1}, priority=5, aging_s=10))
    r.caller_waiting(WaitingCall("old-low", "low", enqueued_at=0))
    r.caller_waiting(WaitingCall("new-high", "high", enqueued_at=35))
    r.agent_available("a", {"x": 1}, idle_since=0)
    assert pairs(r.offers(now=36)) == [("new-high", "a")], "at 36 s the low caller has aged 3 levels: 4 against 5"
    r = router(QueueRule("low", {"x": 1}, priority=1, aging_s=10), QueueRule("high", {"x": 1}, priority=5, aging_s=10))
    r.caller_waiting(WaitingCall("old-low", "low", enqueued_at=0))
    r.caller_waiting(WaitingCall("new-high", "high", enqueued_at=55))
    r.agent_available("a", {"x": 1}, idle_since=0)
    assert pairs(r.offers(now=56)) == [("old-low", "a")], "after 50 s it ranks 6 against 5: never starved"


def test_requirements_relax_with_the_wait_and_the_caller_keeps_its_place() -> None:
    r = router()
    r.agent_available("junior", {"billing": 2}, idle_since=0)
    r.agent_available("novice", {"billing": 1}, idle_since=0)
    r.caller_waiting(WaitingCall("c1", "billing", enqueued_at=0))
    assert r.offers(now=59) == []
    (offer,) = r.offers(now=61)
    assert (offer.agent_id, offer.relaxed, offer.waited_s) == ("junior", True, 61), "after 60 s one level lower is accepted"
    r.caller_waiting(WaitingCall("c2", "billing", enqueued_at=0))
    assert r.offers(now=100) == [], "novice (1) is two levels below"
    assert pairs(r.offers(now=121)) == [("c2", "novice")], "after 120 s any proficiency"


def test_flow_skills_add_to_the_queue_skills() -> None:
    r = router()
    r.agent_available("english", {"billing": 5}, idle_since=0)
    r.caller_waiting(WaitingCall("c1", "billing", enqueued_at=0, extra_skills={"korean": 1}))
    assert r.offers(now=1) == []
    r.agent_available("korean", {"billing": 3, "korean": 5}, idle_since=0)
    assert pairs(r.offers(now=2)) == [("c1", "korean")]


def test_an_unanswered_offer_puts_the_caller_back_at_its_place() -> None:
    r = router()
    r.agent_available("a", {"billing": 5}, idle_since=0)
    r.caller_waiting(WaitingCall("first", "billing", enqueued_at=0))
    (offer,) = r.offers(now=5)
    r.caller_waiting(WaitingCall("second", "billing", enqueued_at=3))
    r.caller_waiting(WaitingCall(offer.call_id, "billing", enqueued_at=0))  # ring-no-answer: back, same place
    r.agent_available("b", {"billing": 5}, idle_since=1)
    assert pairs(r.offers(now=30)) == [("first", "b")], "agent a is paused (not offered again); the first caller is still first"


def test_an_agent_who_is_not_routable_is_never_offered() -> None:
    r = router()
    r.agent_available("a", {"internet": 5}, idle_since=0)
    r.agent_busy("a")  # registration lost, paused, on a call: all the same to the router
    r.caller_waiting(WaitingCall("c1", "technical", enqueued_at=0))
    assert r.offers(now=1) == [] and r.waiting_count == 1


def test_a_freed_agent_takes_the_best_caller_it_can_serve() -> None:
    r = router()
    r.caller_waiting(WaitingCall("tech", "technical", enqueued_at=0))
    r.caller_waiting(WaitingCall("bill", "billing", enqueued_at=5))
    r.caller_waiting(WaitingCall("vip", "vip", enqueued_at=9))
    r.agent_available("a", {"billing": 3}, idle_since=0)
    offer = r.offer_for_agent("a", now=10)
    assert offer is not None and offer.call_id == "bill", "vip needs billing 4, technical needs internet"
    assert r.offer_for_agent("a", now=10) is None, "the agent is reserved now"


def test_ties_are_broken_the_same_way_every_time() -> None:
    results = set()
    for _ in range(5):
        r = router()
        for name in ("b", "a", "c"):
            r.agent_available(name, {"billing": 4}, idle_since=7)
        r.caller_waiting(WaitingCall("x", "billing", enqueued_at=1))
        r.caller_waiting(WaitingCall("w", "billing", enqueued_at=1))
        results.add(tuple(pairs(r.offers(now=2))))
    assert results == {(("w", "a"), ("x", "b"))}


def test_an_arriving_caller_gets_the_best_free_agent_at_once() -> None:
    r = router()
    r.agent_available("a", {"internet": 2}, idle_since=0)
    r.agent_available("b", {"internet": 4}, idle_since=3)
    r.caller_waiting(WaitingCall("c1", "technical", enqueued_at=5))
    offer = r.offer_for_caller("c1", now=5)
    assert offer is not None and (offer.agent_id, offer.relaxed) == ("b", False)
    assert r.waiting_count == 0 and r.available_count == 1
