"""Contact metrics against a day worked out by hand: every expected figure is written out with its arithmetic."""

from __future__ import annotations

from typing import Any

import pytest

from engine.config.acd_config import QueueSettings, ServiceLevel
from engine.acd.contact_metrics import (
    DEFAULT_SERVICE_LEVEL_S,
    DEFAULT_SHORT_ABANDON_S,
    FORMULAS,
    AgentInterval,
    JourneyEvent,
    QueueVisit,
    VisitOutcome,
    by_interval,
    intervals_from_changes,
    kpis_by_queue,
    occupancy,
    occupancy_by_agent,
    queue_kpis,
    visits_from_journey,
)

DAY_9AM = 1_767_258_000.0
"""2026-01-01 09:00 UTC, a multiple of 900 s so quarter-hours start at whole offsets."""
NOW = DAY_9AM + 3600
"""The supervisor looks at 10:00."""
SL_S = 20.0
SHORT_ABANDON_S = {"sales": 5.0, "support": 10.0}


def ev(kind: str, at: float, **detail: Any) -> JourneyEvent:
    """A journey event `at` seconds after 09:00."""
    return (kind, DAY_9AM + at, detail)


def queued(at: float, queue: str, **extra: Any) -> JourneyEvent:
    return ev("queued", at, queue=queue, skills=[queue], priority=5, **extra)


# The day: 17 calls, 16 of them queued, 17 queue visits (c08 overflows sales -> support). Offsets in seconds after 09:00.
DAY: dict[str, list[JourneyEvent]] = {
    # sales, answered fast: wait 8-0 = 8; talk 188-8 = 180; wrap 30; handle 210.
    "c01": [
        ev("arrived", -20, number="+3312345"),
        ev("prompt", -15, name="welcome"),
        queued(0, "sales"),
        ev("agent_ringing", 3, agent="a1", extension="201", waited_s=3, relaxed=False),
        ev("agent_answered", 8, agent="a1", waited_s=8),
        ev("call_ended", 188, by="agent", agent="a1", talk_s=180),
        ev("disposition", 200, agent="a1", disposition="resolved"),
        ev("wrap_up_ended", 218, agent="a1", wrap_up_s=30),
    ],
    # sales, answered slow: wait 145-100 = 45; talk 445-145 = 300 (an agent's hold is not seen: it is talk); wrap 20; handle 320.
    "c02": [
        queued(100, "sales"),
        ev("agent_ringing", 140, agent="a2", extension="202", waited_s=40, relaxed=True),
        ev("agent_answered", 145, agent="a2", waited_s=45),
        ev("call_ended", 445, by="caller", agent="a2", talk_s=300),
        ev("wrap_up_ended", 465, agent="a2", wrap_up_s=20),
    ],
    # sales, abandoned after a long wait: 390-300 = 90 > T.
    "c03": [queued(300, "sales"), ev("abandoned", 390, queue="sales", waited_s=90, **{"while": "waiting"}, short=False)],
    # sales, short abandon by the event's flag: 403-400 = 3.
    "c04": [queued(400, "sales"), ev("abandoned", 403, queue="sales", waited_s=3, **{"while": "waiting"}, short=True)],
    # sales, short abandon computed (no flag): 504-500 = 4 < sales' 5 s.
    "c05": [queued(500, "sales"), ev("abandoned", 504, queue="sales", waited_s=4, **{"while": "waiting"})],
    # sales, abandoned while an agent's phone rang: 562-550 = 12 <= T (counts in SL2 as abandoned within T).
    "c06": [
        queued(550, "sales"),
        ev("agent_ringing", 558, agent="a1", extension="201", waited_s=8, relaxed=False),
        ev("abandoned", 562, queue="sales", waited_s=12, **{"while": "agent ringing"}, short=False),
    ],
    # sales, callback requested after 660-600 = 60 on hold, returned at 1200: talk 1320-1200 = 120; wrap 15; handle 135.
    "c07": [
        queued(600, "sales"),
        ev("callback_requested", 660, queue="sales", number="+3398765", waited_s=60),
        ev("callback_answered", 1200, agent="a1", waited_s=600),
        ev("call_ended", 1320, by="agent", agent="a1", talk_s=120),
        ev("wrap_up_ended", 1335, agent="a1", wrap_up_s=15),
    ],
    # overflow: sales waited 760-700 = 60 and overflowed; support waited 775-760 = 15; talk 835-775 = 60; no wrap-up event -> 0; handle 60.
    "c08": [
        queued(700, "sales"),
        ev("overflowed", 760, queue="sales", to="queue:support", waited_s=60),
        queued(760, "support"),
        ev("agent_ringing", 770, agent="a3", extension="203", waited_s=10, relaxed=False),
        ev("agent_answered", 775, agent="a3", waited_s=15),
        ev("call_ended", 835, by="caller", agent="a3", talk_s=60),
    ],
    # support, a3 did not answer, a4 did: wait 925-900 = 25 > T; talk 1025-925 = 100; wrap 10; handle 110.
    "c09": [
        queued(900, "support"),
        ev("agent_ringing", 902, agent="a3", extension="203", waited_s=2, relaxed=False),
        ev("agent_not_answered", 917, agent="a3", reason="no-answer"),
        ev("agent_ringing", 918, agent="a4", extension="204", waited_s=18, relaxed=False),
        ev("agent_answered", 925, agent="a4", waited_s=25),
        ev("call_ended", 1025, by="agent", agent="a4", talk_s=100),
        ev("wrap_up_ended", 1035, agent="a4", wrap_up_s=10),
    ],
    # support, engine restart while waiting: the re-queue at 1030 is the same visit. wait 1040-1000 = 40; talk 1100-1040 = 60; wrap 5; handle 65.
    "c10": [
        queued(1000, "support"),
        queued(1030, "support", after_restart=True, waited_s=30),
        ev("agent_answered", 1040, agent="a3", waited_s=40),
        ev("call_ended", 1100, by="agent", agent="a3", talk_s=60),
        ev("wrap_up_ended", 1105, agent="a3", wrap_up_s=5),
    ],
    # sales, only the restart's re-queue is in the journey (its first "queued" was lost with the old engine):
    # enqueued 1455-5 = 1450; wait 1460-1450 = 10; talk 1560-1460 = 100; wrap 25; handle 125.
    "c11": [
        queued(1455, "sales", after_restart=True, waited_s=5),
        ev("agent_answered", 1460, agent="a4", waited_s=10),
        ev("call_ended", 1560, by="agent", agent="a4", talk_s=100),
        ev("wrap_up_ended", 1585, agent="a4", wrap_up_s=25),
    ],
    # support, short abandon computed with support's own threshold: 1608-1600 = 8 < 10 (it would not be short in sales).
    "c16": [queued(1600, "support"), ev("abandoned", 1608, queue="support", waited_s=8, **{"while": "waiting"})],
    # sales, answered exactly at T: wait 2020-2000 = 20 <= 20 is within; talk 2080-2020 = 60; no wrap-up -> 0; handle 60.
    "c14": [
        queued(2000, "sales"),
        ev("agent_answered", 2020, agent="a1", waited_s=20),
        ev("call_ended", 2080, by="caller", agent="a1", talk_s=60),
    ],
    # sales, abandoned with no flag after 2507-2500 = 7: not short in sales (7 >= 5), within T.
    "c17": [queued(2500, "sales"), ev("abandoned", 2507, queue="sales", waited_s=7, **{"while": "waiting"})],
    # sales, still talking at 10:00: wait 3410-3400 = 10; talk 3600-3410 = 190.
    "c13": [
        queued(3400, "sales"),
        ev("agent_ringing", 3405, agent="a2", extension="202", waited_s=5, relaxed=False),
        ev("agent_answered", 3410, agent="a2", waited_s=10),
    ],
    # support, still waiting at 10:00: 3600-3500 = 100.
    "c12": [queued(3500, "support"), ev("prompt", 3530, name="position")],
    # never queued: IVR only.
    "c15": [ev("arrived", 3000), ev("prompt", 3001, name="hours"), ev("speech_heard", 3005, text="opening hours"), ev("disposition", 3010)],
}

def day_visits() -> list[QueueVisit]:
    return [visit for call_id, events in DAY.items() for visit in visits_from_journey(call_id, events, SHORT_ABANDON_S, now=NOW)]


def visit_of(call_id: str, queue: str) -> QueueVisit:
    return next(visit for visit in day_visits() if visit.call_id == call_id and visit.queue == queue)


def test_each_journey_becomes_its_queue_visits() -> None:
    # (outcome, agent, wait, talk, wrap-up), the arithmetic is next to each call in DAY.
    expected: dict[tuple[str, str], tuple[VisitOutcome, str | None, float, float, float]] = {
        ("c01", "sales"): (VisitOutcome.ANSWERED, "a1", 8, 180, 30),
        ("c02", "sales"): (VisitOutcome.ANSWERED, "a2", 45, 300, 20),
        ("c03", "sales"): (VisitOutcome.ABANDONED, None, 90, 0, 0),
        ("c04", "sales"): (VisitOutcome.SHORT_ABANDON, None, 3, 0, 0),
        ("c05", "sales"): (VisitOutcome.SHORT_ABANDON, None, 4, 0, 0),
        ("c06", "sales"): (VisitOutcome.ABANDONED, None, 12, 0, 0),
        ("c07", "sales"): (VisitOutcome.CALLBACK, "a1", 60, 120, 15),
        ("c08", "sales"): (VisitOutcome.OVERFLOWED, None, 60, 0, 0),
        ("c08", "support"): (VisitOutcome.ANSWERED, "a3", 15, 60, 0),
        ("c09", "support"): (VisitOutcome.ANSWERED, "a4", 25, 100, 10),
        ("c10", "support"): (VisitOutcome.ANSWERED, "a3", 40, 60, 5),
        ("c11", "sales"): (VisitOutcome.ANSWERED, "a4", 10, 100, 25),
        ("c12", "support"): (VisitOutcome.WAITING, None, 100, 0, 0),
        ("c13", "sales"): (VisitOutcome.TALKING, "a2", 10, 190, 0),
        ("c14", "sales"): (VisitOutcome.ANSWERED, "a1", 20, 60, 0),
        ("c16", "support"): (VisitOutcome.SHORT_ABANDON, None, 8, 0, 0),
        ("c17", "sales"): (VisitOutcome.ABANDONED, None, 7, 0, 0),
    }
    got = {(v.call_id, v.queue): (v.outcome, v.agent, v.wait_s, v.talk_s, v.wrap_up_s) for v in day_visits()}
    assert got == expected  # c15 never queued: no visit


def test_visit_times_say_when_the_queue_and_the_conversation_ended() -> None:
    answered = visit_of("c02", "sales")
    assert (answered.enqueued_at, answered.answered_at, answered.ended_at) == (DAY_9AM + 100, DAY_9AM + 145, DAY_9AM + 445)
    assert answered.handled and answered.handle_s == 320  # 300 + 20
    callback = visit_of("c07", "sales")
    assert (callback.answered_at, callback.ended_at) == (DAY_9AM + 1200, DAY_9AM + 1320), "a returned callback ends with its conversation"
    restarted = visit_of("c11", "sales")
    assert restarted.enqueued_at == DAY_9AM + 1450, "a restart's re-queue keeps the caller's place: at - waited_s"
    talking = visit_of("c13", "sales")
    assert talking.ended_at is None and not talking.handled
    waiting = visit_of("c12", "support")
    assert (waiting.answered_at, waiting.ended_at) == (None, None)
    abandoned = visit_of("c03", "sales")
    assert abandoned.ended_at == DAY_9AM + 390 and not abandoned.handled


def test_sales_kpis_of_the_day() -> None:
    kpis = kpis_by_queue(day_visits(), {"sales": SL_S, "support": SL_S})["sales"]
    # Offered 12: c01 c02 c03 c04 c05 c06 c07 c08 c11 c13 c14 c17.
    # answered 5 (c01 c02 c11 c13 c14, c13 still talking) + abandoned 3 (c03 c06 c17) + short 2 (c04 c05)
    # + callback 1 (c07) + overflowed 1 (c08) + waiting 0 = 12.
    assert (kpis.offered, kpis.answered, kpis.talking, kpis.abandoned, kpis.short_abandoned) == (12, 5, 1, 3, 2)
    assert (kpis.callbacks, kpis.overflowed, kpis.waiting, kpis.handled) == (1, 1, 0, 5)
    # ASA = (8 + 45 + 10 + 10 + 20) / 5 = 93 / 5 = 18.6 (c07's 60 s is a callback: excluded).
    assert kpis.asa_s == pytest.approx(18.6)
    # Handled 5 (c01 c02 c11 c14 + callback c07; c13 still talking):
    # AHT = (210 + 320 + 125 + 60 + 135) / 5 = 850 / 5 = 170.
    assert kpis.aht_s == pytest.approx(170.0)
    # Abandon rate = 3 / (5 + 3) = 0.375.
    assert kpis.abandon_rate == pytest.approx(0.375)
    # SL: answered within 20 s: c01 (8), c11 (10), c13 (10), c14 (20, boundary counts); c02 (45) is not: 4 / 5 = 0.8.
    assert kpis.service_level == pytest.approx(0.8)
    # SL2 = (4 answered within T + 2 abandoned within T: c06 (12), c17 (7); c03 (90) is not) / (5 + 3) = 6 / 8 = 0.75.
    assert kpis.service_level_2 == pytest.approx(0.75)
    assert kpis.service_level_s == SL_S


def test_support_kpis_of_the_day() -> None:
    kpis = kpis_by_queue(day_visits(), SL_S)["support"]
    # Offered 5: c08 (overflow-in) c09 c10 c12 c16 = answered 3 + short 1 (c16) + waiting 1 (c12).
    assert (kpis.offered, kpis.answered, kpis.talking, kpis.abandoned, kpis.short_abandoned) == (5, 3, 0, 0, 1)
    assert (kpis.callbacks, kpis.overflowed, kpis.waiting, kpis.handled) == (0, 0, 1, 3)
    # ASA = (15 + 25 + 40) / 3 = 80 / 3 = 26.67.
    assert kpis.asa_s == pytest.approx(80 / 3)
    # AHT = (60 + 110 + 65) / 3 = 235 / 3 = 78.33.
    assert kpis.aht_s == pytest.approx(235 / 3)
    # Abandon rate = 0 / (3 + 0) = 0: a real zero, not "no data".
    assert kpis.abandon_rate == 0.0
    # SL = 1 (c08, 15 s) / 3; SL2 = (1 + 0) / (3 + 0).
    assert kpis.service_level == pytest.approx(1 / 3)
    assert kpis.service_level_2 == pytest.approx(1 / 3)


def test_offered_is_the_sum_of_the_outcomes() -> None:
    for kpis in kpis_by_queue(day_visits()).values():
        assert kpis.offered == kpis.answered + kpis.abandoned + kpis.short_abandoned + kpis.callbacks + kpis.overflowed + kpis.waiting


def test_the_day_by_quarter_hour_goes_by_enqueue_time() -> None:
    grouped = by_interval(day_visits(), 900)
    calls = {start - DAY_9AM: sorted(f"{v.call_id}/{v.queue}" for v in visits) for start, visits in grouped.items()}
    assert calls == {
        # 09:00-09:15 (0..899): enqueued 0, 100, 300, 400, 500, 550, 600, 700 (sales) and 760 (support).
        0: ["c01/sales", "c02/sales", "c03/sales", "c04/sales", "c05/sales", "c06/sales", "c07/sales", "c08/sales", "c08/support"],
        # 09:15-09:30: 900 (on the boundary: the later interval), 1000, 1450 (c11's place, not its re-queue), 1600.
        900: ["c09/support", "c10/support", "c11/sales", "c16/support"],
        # 09:30-09:45: 2000, 2500.
        1800: ["c14/sales", "c17/sales"],
        # 09:45-10:00: 3400, 3500.
        2700: ["c12/support", "c13/sales"],
    }
    assert list(grouped) == sorted(grouped)
    # An interval report: 09:00-09:15 in sales is c01..c08's sales visits: answered c01 (8 s) and c02 (45 s),
    # abandoned c03 (90) and c06 (12), short c04 and c05, callback c07, overflowed c08.
    first_sales = queue_kpis([v for v in grouped[DAY_9AM] if v.queue == "sales"], SL_S)
    assert (first_sales.offered, first_sales.answered, first_sales.abandoned, first_sales.short_abandoned) == (8, 2, 2, 2)
    assert first_sales.asa_s == pytest.approx(26.5)  # (8 + 45) / 2
    assert first_sales.abandon_rate == pytest.approx(0.5)  # 2 / (2 + 2)
    assert first_sales.service_level_2 == pytest.approx(0.5)  # (1 answered within T: c01 + 1 abandoned: c06) / 4


def test_by_interval_refuses_a_zero_interval() -> None:
    with pytest.raises(ValueError):
        by_interval([], 0)


# -- edge cases ------------------------------------------------------------------------------------


def test_no_visits_give_zero_counts_and_no_ratios() -> None:
    kpis = queue_kpis([], SL_S)
    assert (kpis.offered, kpis.answered, kpis.abandoned, kpis.handled, kpis.waiting) == (0, 0, 0, 0, 0)
    assert (kpis.asa_s, kpis.aht_s, kpis.abandon_rate, kpis.service_level, kpis.service_level_2) == (None, None, None, None, None)
    assert visits_from_journey("c", []) == []
    assert kpis_by_queue([]) == {}


def test_only_waiting_and_short_abandons_have_no_ratios_yet() -> None:
    visits = [
        *visits_from_journey("w", [queued(0, "q")], now=DAY_9AM + 30),
        *visits_from_journey("s", [queued(0, "q"), ev("abandoned", 2, queue="q", waited_s=2, **{"while": "waiting"})]),
    ]
    kpis = queue_kpis(visits, SL_S)
    assert (kpis.offered, kpis.waiting, kpis.short_abandoned) == (2, 1, 1)
    assert (kpis.asa_s, kpis.aht_s, kpis.abandon_rate, kpis.service_level, kpis.service_level_2) == (None, None, None, None, None)


def test_a_talking_call_is_answered_but_not_yet_handled() -> None:
    visits = visits_from_journey("t", [queued(0, "q"), ev("agent_answered", 30, agent="a", waited_s=30)], now=DAY_9AM + 100)
    kpis = queue_kpis(visits, SL_S)
    assert (kpis.answered, kpis.talking, kpis.handled) == (1, 1, 0)
    assert (kpis.asa_s, kpis.service_level, kpis.aht_s) == (30.0, 0.0, None)  # 30 s > T = 20
    assert visits[0].talk_s == 70  # 100 - 30, measured to now


def test_open_visits_are_measured_to_the_last_event_without_now() -> None:
    (visit,) = visits_from_journey("w", [queued(0, "q"), ev("prompt", 40, name="position")])
    assert (visit.outcome, visit.wait_s) == (VisitOutcome.WAITING, 40.0)


def test_short_abandon_threshold_one_number_or_per_queue_with_the_default_for_others() -> None:
    journey = [queued(0, "q"), ev("abandoned", 7, queue="q", waited_s=7, **{"while": "waiting"})]
    assert visits_from_journey("a", journey, 10.0)[0].outcome is VisitOutcome.SHORT_ABANDON  # 7 < 10
    assert visits_from_journey("a", journey, {"other": 10.0})[0].outcome is VisitOutcome.ABANDONED  # 7 >= default 5
    flagged = [queued(0, "q"), ev("abandoned", 7, queue="q", waited_s=7, short=True)]
    assert visits_from_journey("a", flagged, 5.0)[0].outcome is VisitOutcome.SHORT_ABANDON, "the event's flag wins"


def test_defaults_are_the_queue_config_defaults() -> None:
    assert DEFAULT_SHORT_ABANDON_S == QueueSettings.model_fields["short_abandon_s"].default
    assert DEFAULT_SERVICE_LEVEL_S == ServiceLevel().seconds


def test_an_overflow_to_callback_is_handled_like_a_callback_when_connected() -> None:
    visits = visits_from_journey(
        "o",
        [
            queued(0, "q"),
            ev("overflowed", 600, queue="q", to="callback", waited_s=600),
            ev("agent_answered", 900, agent="a", waited_s=900),
            ev("call_ended", 960, by="agent", agent="a", talk_s=60),
            ev("wrap_up_ended", 970, agent="a", wrap_up_s=10),
        ],
    )
    (visit,) = visits
    assert (visit.outcome, visit.wait_s, visit.talk_s, visit.wrap_up_s) == (VisitOutcome.OVERFLOWED, 600, 60, 10)
    kpis = queue_kpis(visits, SL_S)
    assert (kpis.answered, kpis.handled, kpis.asa_s, kpis.aht_s, kpis.abandon_rate) == (0, 1, None, 70.0, None)  # AHT 60 + 10


def test_an_overflow_elsewhere_is_not_answered_by_a_later_answer() -> None:
    visits = visits_from_journey(
        "m", [queued(0, "q"), ev("overflowed", 600, queue="q", to="message", waited_s=600), ev("agent_answered", 700, agent="a", waited_s=700)]
    )
    assert [(v.outcome, v.answered_at) for v in visits] == [(VisitOutcome.OVERFLOWED, None)]


def test_a_callback_not_yet_returned_is_only_a_callback() -> None:
    (visit,) = visits_from_journey("c", [queued(0, "q"), ev("callback_requested", 50, queue="q", number="1", waited_s=50)], now=DAY_9AM + 500)
    assert (visit.outcome, visit.wait_s, visit.answered_at, visit.ended_at, visit.handled) == (VisitOutcome.CALLBACK, 50, None, DAY_9AM + 50, False)
    kpis = queue_kpis([visit], SL_S)
    assert (kpis.callbacks, kpis.abandon_rate, kpis.service_level, kpis.asa_s) == (1, None, None, None)


def test_kinds_nothing_writes_are_not_folded() -> None:
    """hold_started/hold_ended were folded once, but no engine writes them (an agent's hold is on the
    phone, unseen): a row of either, or of any kind this version does not know, changes nothing."""
    (visit,) = visits_from_journey(
        "h",
        [queued(0, "q"), ev("agent_answered", 10, agent="a", waited_s=10), ev("hold_started", 50, agent="a"), ev("call_ended", 80, by="caller", agent="a", talk_s=70)],
    )
    assert visit.talk_s == 70  # 80 - 10


def test_a_requeue_without_reason_ends_the_open_visit_so_no_caller_is_counted_twice() -> None:
    visits = visits_from_journey("r", [queued(0, "a"), queued(30, "b"), ev("agent_answered", 40, agent="x", waited_s=10)])
    assert [(v.queue, v.outcome, v.wait_s) for v in visits] == [("a", VisitOutcome.OVERFLOWED, 30), ("b", VisitOutcome.TALKING, 10)]


def test_events_that_do_not_fit_are_ignored() -> None:
    visits = visits_from_journey(
        "x",
        [
            ev("agent_answered", 0, agent="a", waited_s=0),  # nobody waiting
            queued(10, "q"),
            ev("call_ended", 12, by="caller", agent="a", talk_s=0),  # nothing to end
            ev("wrap_up_ended", 13, agent="a", wrap_up_s=5),  # no conversation of this agent to wrap up
            ev("abandoned", 20, queue="q", waited_s=10, **{"while": "waiting"}),
            ev("abandoned", 21, queue="q", waited_s=11, **{"while": "waiting"}),  # a second hang-up
        ],
    )
    assert [(v.outcome, v.wait_s) for v in visits] == [(VisitOutcome.ABANDONED, 10)]


# -- occupancy -------------------------------------------------------------------------------------


def test_occupancy_clips_intervals_to_the_window_and_leaves_out_pauses() -> None:
    changes = [
        ("a1", 900.0, "available"),
        ("a1", 1100.0, "reserved"),
        ("a1", 1110.0, "on_call"),
        ("a1", 1400.0, "wrap_up"),
        ("a1", 1430.0, "available"),
        ("a1", 1800.0, "paused"),
        ("a1", 1900.0, "on_call"),
        ("a2", 2200.0, "available"),  # after `until`: no interval
        ("a2", 1600.0, "on_call"),  # out of order on purpose
        ("a2", 500.0, "logged_out"),
        ("a2", 1500.0, "available"),
        ("a2", 2050.0, "wrap_up"),
        ("a3", 0.0, "paused"),
    ]
    intervals = intervals_from_changes(changes, until=2100.0)
    assert intervals == [
        AgentInterval("a1", "available", 900, 1100),
        AgentInterval("a1", "reserved", 1100, 1110),
        AgentInterval("a1", "on_call", 1110, 1400),
        AgentInterval("a1", "wrap_up", 1400, 1430),
        AgentInterval("a1", "available", 1430, 1800),
        AgentInterval("a1", "paused", 1800, 1900),
        AgentInterval("a1", "on_call", 1900, 2100),
        AgentInterval("a2", "logged_out", 500, 1500),
        AgentInterval("a2", "available", 1500, 1600),
        AgentInterval("a2", "on_call", 1600, 2050),
        AgentInterval("a2", "wrap_up", 2050, 2100),
        AgentInterval("a3", "paused", 0, 2100),
    ]
    # Window 1000..2000.
    # a1: handling = on_call 1110-1400 (290) + wrap_up 1400-1430 (30) + on_call 1900-2000 (100, clipped) = 420;
    #     available = available 1000-1100 (100, clipped) + reserved 10 + available 1430-1800 (370) = 480; paused 100 left out.
    #     occupancy = 420 / (420 + 480) = 420 / 900.
    # a2: logged_out left out; available 1500-1600 (100); on_call 1600-2000 (400, clipped; wrap_up is after the window).
    #     occupancy = 400 / 500 = 0.8.
    # a3: only paused: None.
    assert occupancy_by_agent(intervals, 1000, 2000) == {"a1": pytest.approx(420 / 900), "a2": pytest.approx(0.8), "a3": None}
    # Floor: (420 + 400) / (900 + 500) = 820 / 1400.
    assert occupancy(intervals, 1000, 2000) == pytest.approx(820 / 1400)


def test_occupancy_without_ready_or_handling_time_is_none() -> None:
    assert occupancy([], 0, 100) is None
    assert occupancy([AgentInterval("a", "on_call", 0, 50)], 60, 100) is None  # outside the window
    assert occupancy([AgentInterval("a", "on_call", 0, 50)], 10, 10) is None  # empty window
    assert occupancy_by_agent([], 0, 100) == {}


def test_of_two_changes_at_one_instant_the_later_given_wins() -> None:
    assert intervals_from_changes([("a", 10.0, "available"), ("a", 10.0, "reserved")], until=20.0) == [AgentInterval("a", "reserved", 10, 20)]


# -- formulas ----------------------------------------------------------------------------------------


def test_every_kpi_has_its_formula_for_the_page() -> None:
    assert set(FORMULAS) == {"asa", "aht", "abandon_rate", "service_level", "service_level_2", "occupancy"}
    assert FORMULAS["service_level"] == "SL = answered within T s ÷ answered"
    assert all(isinstance(line, str) and "\n" not in line for line in FORMULAS.values())

