"""Agent state from events: order and duplicates never matter, and no state outlives its time."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.acd.agent_state import AgentEvent, AgentLedger, AgentState, EventKind, Status, derive

RING_S = 15.0


def event(n: int, at: float, kind: EventKind, call_id: str = "", reason: str = "", seconds: float = 0.0) -> AgentEvent:
    return AgentEvent(f"e{n}", at, kind, call_id, reason, seconds)


def test_a_call_goes_reserved_on_call_wrap_up_and_back_to_available_by_time() -> None:
    ledger = AgentLedger("a", RING_S)
    ledger.record(event(1, 0, EventKind.LOGIN))
    ledger.record(event(2, 1, EventKind.READY))
    assert ledger.state(1).status is Status.AVAILABLE
    ledger.record(event(3, 10, EventKind.RESERVED, "c1"))
    ledger.record(event(4, 12, EventKind.ANSWERED, "c1"))
    ledger.record(event(5, 100, EventKind.CALL_ENDED, "c1", seconds=30))
    assert ledger.state(110).status is Status.WRAP_UP and ledger.state(110).until == 130
    ledger.record(event(6, 120, EventKind.WRAP_UP_EXTENDED, seconds=20))
    assert ledger.state(140).status is Status.WRAP_UP
    after = ledger.state(150)
    assert after.status is Status.AVAILABLE and after.idle_since == 150, "the wrap-up ends by time; no timer needed"


def test_a_ring_nobody_answers_becomes_a_no_answer_pause_even_without_an_event() -> None:
    ledger = AgentLedger("a", RING_S)
    for e in (event(1, 0, EventKind.LOGIN), event(2, 0, EventKind.READY), event(3, 10, EventKind.RESERVED, "c1")):
        ledger.record(e)
    assert ledger.state(24).status is Status.RESERVED
    assert (ledger.state(25).status, ledger.state(25).reason) == (Status.PAUSED, "no-answer")


def test_busy_and_unavailable_pause_with_their_own_reason() -> None:
    for reason in ("busy", "unavailable", "rejected"):
        state = derive([event(1, 0, EventKind.LOGIN), event(2, 0, EventKind.READY), event(3, 5, EventKind.RESERVED, "c"), event(4, 6, EventKind.RING_FAILED, "c", reason)], RING_S)
        assert (state.status, state.reason) == (Status.PAUSED, reason)


def test_a_lost_registration_makes_an_available_agent_unroutable_until_it_returns() -> None:
    ledger = AgentLedger("a", RING_S)
    for e in (event(1, 0, EventKind.LOGIN), event(2, 0, EventKind.READY), event(3, 5, EventKind.UNREGISTERED)):
        ledger.record(e)
    assert not ledger.state(6).routable(6)
    ledger.record(event(4, 9, EventKind.REGISTERED))
    assert ledger.state(10).routable(10)


def test_a_late_end_of_an_earlier_call_does_not_end_the_current_one() -> None:
    events = [event(1, 0, EventKind.LOGIN), event(2, 0, EventKind.READY), event(3, 5, EventKind.RESERVED, "c2"), event(4, 6, EventKind.ANSWERED, "c2"), event(5, 7, EventKind.CALL_ENDED, "c1", seconds=10)]
    assert derive(events, RING_S).status is Status.ON_CALL


kinds = st.sampled_from(list(EventKind))
calls = st.sampled_from(["c1", "c2", "c3"])
reasons = st.sampled_from(["", "busy", "lunch", "no-answer"])
events_strategy = st.lists(
    st.tuples(st.integers(0, 300), kinds, calls, reasons, st.sampled_from([0.0, 10.0, 30.0])),
    min_size=1,
    max_size=40,
)


def build(raw: list[tuple[int, EventKind, str, str, float]]) -> list[AgentEvent]:
    return [AgentEvent(f"e{n}", float(at), kind, call, reason, seconds) for n, (at, kind, call, reason, seconds) in enumerate(raw)]


@settings(max_examples=400, deadline=None)
@given(events_strategy, st.randoms(use_true_random=False))
def test_shuffled_and_duplicated_streams_give_the_same_state(raw: list[tuple[int, EventKind, str, str, float]], rng: random.Random) -> None:
    events = build(raw)
    expected = derive(events, RING_S)
    delivered = events + [rng.choice(events) for _ in range(rng.randint(0, len(events)))]
    rng.shuffle(delivered)
    assert derive(delivered, RING_S) == expected


@settings(max_examples=400, deadline=None)
@given(events_strategy)
def test_no_agent_is_left_reserved_or_in_wrap_up_once_their_time_is_up(raw: list[tuple[int, EventKind, str, str, float]]) -> None:
    state: AgentState = derive(build(raw), RING_S)
    extensions = sum(1 for _, kind, _, _, _ in raw if kind is EventKind.WRAP_UP_EXTENDED)
    later = state.at_time(300 + 30 * (1 + extensions) + RING_S + 1)
    assert later.status not in (Status.RESERVED, Status.WRAP_UP), later
    if later.status is Status.ON_CALL:
        assert later.call_id, "on a call means on a named call, which that call's end (or the reconciler) closes"


def test_a_reservation_rings_for_the_queue_s_own_time() -> None:
    ledger = AgentLedger("a", RING_S)
    for e in (event(1, 0, EventKind.LOGIN), event(2, 0, EventKind.READY), event(3, 10, EventKind.RESERVED, "c1", seconds=40)):
        ledger.record(e)
    assert ledger.state(49).status is Status.RESERVED and ledger.state(50).reason == "no-answer"
