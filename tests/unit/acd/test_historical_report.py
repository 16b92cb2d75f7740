"""Historical report rows against two hours worked out by hand, and the same figures as the live
page's formulas (one implementation: contact_metrics)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.acd.contact_metrics import JourneyEvent, queue_kpis, visits_from_journey
from engine.acd.historical_report import build_report, csat, nps, surveys_from_journey

T9 = 1_767_258_000.0
"""2026-01-01 09:00 UTC."""


def ev(kind: str, at: float, **detail: Any) -> JourneyEvent:
    return (kind, T9 + at, detail)


HOURS: dict[str, list[JourneyEvent]] = {
    # 09:xx billing, minsu: wait 10, talk 120, wrap 30; survey CSAT 5, NPS 10 (promoter).
    "a": [ev("arrived", -30), ev("queued", 0, queue="billing"), ev("agent_answered", 10, agent="minsu", waited_s=10),
          ev("call_ended", 130, by="caller", agent="minsu", talk_s=120), ev("survey_answered", 150, csat=5, nps=10), ev("wrap_up_ended", 160, agent="minsu", wrap_up_s=30),
          ev("hung_up", 170)],
    # 09:xx billing, minsu: wait 40 (past T = 20), talk 60, wrap 30; survey CSAT 2, NPS 3 (detractor).
    "b": [ev("arrived", 560), ev("queued", 600, queue="billing"), ev("agent_answered", 640, agent="minsu", waited_s=40),
          ev("call_ended", 700, by="agent", agent="minsu", talk_s=60), ev("survey_answered", 710, csat=2, nps=3), ev("wrap_up_ended", 730, agent="minsu", wrap_up_s=30),
          ev("hung_up", 720)],
    # 09:xx billing: abandoned after 30 s.
    "c": [ev("arrived", 1190), ev("queued", 1200, queue="billing"), ev("abandoned", 1230, queue="billing", waited_s=30, short=False), ev("hung_up", 1230)],
    # 09:xx: finished in the IVR (contained).
    "d": [ev("arrived", 1800), ev("hung_up", 1900)],
    # 10:xx technical, jiyeon: wait 5, talk 100, wrap 0; NPS 8 (passive), no CSAT.
    "e": [ev("arrived", 3590), ev("queued", 3610, queue="technical"), ev("agent_answered", 3615, agent="jiyeon", waited_s=5),
          ev("call_ended", 3715, by="caller", agent="jiyeon", talk_s=100), ev("wrap_up_ended", 3715, agent="jiyeon", wrap_up_s=0), ev("survey_answered", 3720, nps=8),
          ev("hung_up", 3725)],
    # 10:xx: a short abandon (2 s) in technical.
    "f": [ev("arrived", 3900), ev("queued", 3910, queue="technical"), ev("abandoned", 3912, queue="technical", waited_s=2, short=True), ev("hung_up", 3912)],
}
STATES = [("minsu", T9, "available"), ("minsu", T9 + 10, "on_call"), ("minsu", T9 + 130, "wrap_up"), ("minsu", T9 + 160, "available"),
          ("minsu", T9 + 3600, "logged_out"), ("jiyeon", T9 + 3600, "available"), ("jiyeon", T9 + 3615, "on_call"), ("jiyeon", T9 + 3715, "available")]


def rows(by: str) -> dict[tuple[float, str], dict[str, Any]]:
    report = build_report(HOURS, STATES, T9, T9 + 7200, 3600, by, short_abandon_s=5.0, service_level_s=20.0)
    return {(row["interval_start"] - T9, row["key"]): row for row in report}


def test_per_queue_per_hour() -> None:
    table = rows("queue")
    billing = table[(0, "billing")]
    assert (billing["offered"], billing["answered"], billing["abandoned"], billing["short_abandoned"]) == (3, 2, 1, 0)
    assert billing["asa_s"] == 25.0, "(10 + 40) / 2"
    assert billing["aht_s"] == 120.0, "((120 + 30) + (60 + 30)) / 2"
    assert billing["abandon_rate"] == round(1 / 3, 3), "1 abandoned / (2 answered + 1 abandoned)"
    assert billing["service_level"] == 0.5, "1 of 2 answered within 20 s"
    assert billing["service_level_2"] == round(1 / 3, 3), "(1 answered + 0 abandoned within 20 s) / 3; c waited 30"
    assert billing["csat"] == 3.5 and billing["nps"] == 0.0, "CSAT (5 + 2) / 2; NPS 50% promoters - 50% detractors"
    first_hour = table[(0, "all")]
    assert first_hour["containment"] == 0.25 and first_hour["calls_arrived"] == 4, "d of a, b, c, d ended in the IVR"
    assert first_hour["occupancy"] == round(150 / 3600, 3), "minsu: 120 on call + 30 wrap-up of 3600 there for calls"
    technical = table[(3600, "technical")]
    assert (technical["offered"], technical["answered"], technical["short_abandoned"], technical["abandon_rate"]) == (2, 1, 1, 0.0)
    assert technical["nps"] == 0.0 and technical["csat"] is None, "a passive (8) counts in neither group; no CSAT was given"
    assert table[(3600, "all")]["containment"] == 0.0
    assert (0, "technical") not in table and (3600, "billing") not in table


def test_per_agent_and_the_same_figures_as_the_live_formulas() -> None:
    table = rows("agent")
    minsu = table[(0, "minsu")]
    assert (minsu["answered"], minsu["aht_s"], minsu["occupancy"]) == (2, 120.0, round(150 / 3600, 3))
    assert minsu["csat"] == 3.5
    jiyeon = table[(3600, "jiyeon")]
    assert (jiyeon["answered"], jiyeon["occupancy"]) == (1, round(100 / 3600, 3))
    visits = [v for call_id, events in HOURS.items() for v in visits_from_journey(call_id, events, 5.0) if v.queue == "billing"]
    live = queue_kpis(visits, 20.0)
    assert (live.asa_s, live.aht_s) == (25.0, 120.0) and live.abandon_rate is not None and round(live.abandon_rate, 3) == minsu_hour_billing_rate(), "what the supervisor page shows"


def minsu_hour_billing_rate() -> float:
    return float(rows("queue")[(0, "billing")]["abandon_rate"])


def test_nps_and_csat_formulas() -> None:
    surveys = [s for call_id, events in HOURS.items() for s in surveys_from_journey(call_id, events)]
    assert [(s.call_id, s.queue, s.agent) for s in surveys] == [("a", "billing", "minsu"), ("b", "billing", "minsu"), ("e", "technical", "jiyeon")]
    assert csat(surveys) == 3.5
    assert nps(surveys) == pytest.approx(100 * (1 - 1) / 3)
    assert nps([]) is None and csat([]) is None
    with pytest.raises(ValueError, match="by: queue or agent"):
        build_report(HOURS, STATES, T9, T9 + 3600, 900, "team")
