"""Channel figures against two hours worked out by hand: contacts and containment per channel,
chat-to-phone hand-offs and the repeat rate, each expected figure with its arithmetic."""

from __future__ import annotations

from typing import Any

import pytest

from engine.acd.channel_metrics import ALL, Leg, by_channel, channel_figures, channel_figures_by_interval, contained, leg
from engine.acd.contact_metrics import JourneyEvent
from engine.acd.historical_report import channel_rows

T9 = 1_767_258_000.0
"""2026-01-01 09:00 UTC."""


def ev(kind: str, minute: float, **detail: Any) -> JourneyEvent:
    return (kind, T9 + minute * 60, detail)


def answered_call(minute: float) -> list[JourneyEvent]:
    """A phone leg's queue part: queued, answered 1 min later, ended 5 min later."""
    return [ev("queued", minute, queue="technical"), ev("agent_answered", minute + 1, agent="minsu"), ev("call_ended", minute + 5, agent="minsu"),
            ev("hung_up", minute + 6)]


def goes_on(chat: str, minute: float, how: str) -> JourneyEvent:
    return ev("continued_from", minute, leg=chat, channel="chat", how=how)


LEGS: list[Leg] = [
    # 09:xx
    # c1: a chat the bot finished: contained.
    leg("chat1", "chat", 1, T9 + 5 * 60, [ev("hung_up", 10)]),
    # c2: a chat handed off by code; the phone leg took it (claimed on the chat leg) and its agent asked again (QA: repeated).
    leg("chat2", "chat", 2, T9 + 20 * 60, [ev("handoff_offered", 25, how="code", queue="technical"), ev("handoff_claimed", 30, leg="ph2", how="code"), ev("hung_up", 31)]),
    leg("ph2", "phone", 2, T9 + 29 * 60, [goes_on("chat2", 29, "code"), *answered_call(30)], repeated_question=True),
    # c3: a phone call answered by an agent, no contact row (a call that never met a chat), not checked by QA.
    leg("ph3", "phone", None, T9 + 40 * 60, answered_call(41)),
    # c4: a phone call the IVR finished: contained.
    leg("ph4", "phone", None, T9 + 50 * 60, [ev("hung_up", 53)]),
    # c9: a chat that started yesterday evening (before the period) and went on by code at 09:02: only the phone leg is in the period.
    leg("chat9", "chat", 9, T9 - 10 * 60, [ev("handoff_offered", -5, how="code"), ev("handoff_claimed", 2, leg="ph9", how="code"), ev("hung_up", 3)]),
    leg("ph9", "phone", 9, T9 + 2 * 60, [goes_on("chat9", 2, "code"), *answered_call(3)], repeated_question=True),
    # 10:xx
    # c5: a chat callback, answered: completed without a handoff_claimed (the callback's answer says it); QA checked, no repeat.
    leg("chat5", "chat", 5, T9 + 65 * 60, [ev("handoff_offered", 68, how="callback", queue="technical"), ev("hung_up", 69)]),
    leg("cb5", "phone", 5, T9 + 68 * 60, [goes_on("chat5", 68, "callback"), ev("queued", 68, queue="technical"), ev("callback_requested", 68, queue="technical"),
                                          ev("callback_answered", 80, agent="minsu"), ev("call_ended", 90, agent="minsu"), ev("hung_up", 90)], repeated_question=False),
    # c6: a chat that got a code nobody keyed: offered, not completed, not contained.
    leg("chat6", "chat", 6, T9 + 75 * 60, [ev("handoff_offered", 76, how="code"), ev("hung_up", 90)]),
    # c7: a chat callback that never connected: offered, not completed.
    leg("chat7", "chat", 7, T9 + 100 * 60, [ev("handoff_offered", 101, how="callback"), ev("hung_up", 102)]),
    leg("cb7", "phone", 7, T9 + 101 * 60, [goes_on("chat7", 101, "callback"), ev("queued", 101, queue="technical"), ev("callback_requested", 101, queue="technical"),
                                           ev("callback_failed", 130)]),
    # c8: an API thread: no end, not contained.
    leg("api8", "api", 8, T9 + 110 * 60, [ev("external_event", 110, type="order", text="order 123 delayed")]),
    # c10: a chat handed off by code whose phone leg has no transcript yet: handed off, not checked.
    leg("chat10", "chat", 10, T9 + 105 * 60, [ev("handoff_offered", 106, how="code"), ev("handoff_claimed", 108, leg="ph10", how="code"), ev("hung_up", 108)]),
    leg("ph10", "phone", 10, T9 + 108 * 60, [goes_on("chat10", 108, "code"), *answered_call(109)]),
]


def figures(hour: int) -> dict[str, Any]:
    return channel_figures_by_interval(LEGS, T9, T9 + 7200, 3600)[T9 + hour * 3600]


def test_the_first_hour_by_channel() -> None:
    hour = figures(0)
    chat, phone, everyone = hour["chat"], hour["phone"], hour[ALL]
    assert list(hour) == ["phone", "chat", ALL], "channels in a fixed order; no api leg in the hour"
    assert (chat.contacts, phone.contacts, everyone.contacts) == (2, 2, 4), "c1, c2 start in chat; c3, c4 on the phone; c9 started before 09:00"
    assert (chat.legs, phone.legs, everyone.legs) == (2, 4, 6), "chat1, chat2; ph2, ph3, ph4, ph9 (a leg counts where it started)"
    assert (chat.contained, chat.containment) == (1, 0.5), "chat1 of chat1, chat2 (chat2 offered the phone)"
    assert (phone.contained, phone.containment) == (1, 0.25), "ph4 of 4"
    assert everyone.containment == pytest.approx(2 / 6)
    assert (chat.handoffs_offered, chat.handoffs_completed) == (1, 1), "chat2 (chat9's hand-off belongs to the evening it started in)"
    assert (phone.handoffs_offered, phone.handed_off_contacts, phone.repeat_rate) == (0, 0, None), "hand-offs are the chat's"
    assert (chat.handed_off_contacts, chat.repeat_checked, chat.repeated, chat.repeat_rate) == (1, 1, 1, 1.0), "c2: ph2's agent asked again"
    assert everyone.repeat_rate == 1.0


def test_the_second_hour_by_channel() -> None:
    hour = figures(1)
    chat, phone, api = hour["chat"], hour["phone"], hour["api"]
    assert (chat.contacts, phone.contacts, api.contacts) == (4, 0, 1), "c5, c6, c7, c10 in chat; c8 by the API; the phone legs continue chats"
    assert (chat.legs, phone.legs, api.legs) == (4, 3, 1), "chat5, chat6, chat7, chat10; cb5, cb7, ph10; api8"
    assert (chat.containment, phone.containment, api.containment) == (0.0, 0.0, 0.0), "every chat offered the phone; every phone leg queued; api8 never ended"
    assert (chat.handoffs_offered, chat.handoffs_completed) == (4, 2), "chat5 (callback answered) and chat10 (code); chat6's code unused, chat7's callback failed"
    assert (chat.handed_off_contacts, chat.repeat_checked, chat.repeated, chat.repeat_rate) == (2, 1, 0, 0.0), "c5 checked clean; c10 not transcribed: unknown, not counted"


def test_the_whole_period_and_the_rows() -> None:
    period = channel_figures(LEGS, T9, T9 + 7200)
    assert {channel: period[channel].contacts for channel in period} == {"phone": 2, "chat": 6, "api": 1, ALL: 9}
    assert {channel: period[channel].legs for channel in period} == {"phone": 7, "chat": 6, "api": 1, ALL: 14}
    everyone = period[ALL]
    assert (everyone.contained, everyone.containment) == (2, pytest.approx(2 / 14)), "chat1 and ph4"
    assert (everyone.handoffs_offered, everyone.handoffs_completed) == (5, 3), "chat2, chat5, chat6, chat7, chat10; completed chat2, chat5, chat10"
    assert (everyone.handed_off_contacts, everyone.repeat_checked, everyone.repeated, everyone.repeat_rate) == (3, 2, 1, 0.5), "c2 repeated, c5 clean, c10 unknown"
    rows = {(row["interval_start"] - T9, row["key"]): row for row in channel_rows(LEGS, T9, T9 + 7200, 3600)}
    assert rows[(0, "chat")]["containment"] == 0.5 and rows[(0, "chat")]["by"] == "channel"
    assert rows[(3600, ALL)]["repeat_rate"] == 0.0 and rows[(3600, ALL)]["handoffs_completed"] == 2
    assert rows[(0, ALL)]["containment"] == round(2 / 6, 3)
    empty = channel_rows([], T9, T9 + 7200, 3600)
    assert [(row["key"], row["legs"], row["containment"]) for row in empty] == [(ALL, 0, None), (ALL, 0, None)], "every interval has its all row"


def test_containment_is_one_definition() -> None:
    """The phone's containment (the report's `all` row) and the channels' are the same function."""
    def events(*kinds: str) -> list[tuple[float, Any]]:
        return leg("x", "chat", None, T9, [ev(kind, n) for n, kind in enumerate(kinds)]).events
    assert contained(events("arrived", "hung_up"))
    assert not contained(events("arrived", "queued", "hung_up")), "queued for an agent"
    assert not contained(events("arrived", "callback_requested", "hung_up"))
    assert not contained(events("chat_sent", "handoff_offered", "hung_up")), "a chat that sent its customer to the phone"
    assert not contained(events("arrived", "failed")) and not contained(events("arrived")), "failed or still open"


def test_every_channel_shows_on_metrics_even_at_zero() -> None:
    shown = by_channel(channel_figures([], T9, T9 + 60))
    assert list(shown) == ["phone", "chat", "api", ALL] and all(f.legs == 0 and f.containment is None for f in shown.values())


def test_a_contact_with_two_checked_phone_legs_repeats_if_either_did() -> None:
    legs = [
        leg("c", "chat", 1, T9, [ev("handoff_offered", 1, how="code"), ev("hung_up", 2)]),
        leg("p1", "phone", 1, T9 + 120, [goes_on("c", 2, "code"), *answered_call(3)], repeated_question=False),
        leg("p2", "phone", 1, T9 + 600, [goes_on("c", 10, "number"), *answered_call(11)], repeated_question=True),
    ]
    chat = channel_figures(legs, T9, T9 + 3600)["chat"]
    assert (chat.handoffs_completed, chat.handed_off_contacts, chat.repeat_checked, chat.repeated) == (1, 1, 1, 1)


def test_metrics_show_the_figures_the_report_shows() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from engine.metrics import ChannelGauges

    registry = CollectorRegistry()
    registry.register(ChannelGauges(lambda: channel_figures(LEGS, T9, T9 + 7200)))
    text = generate_latest(registry).decode()
    for line in ('threadline_contacts_today{channel="chat"} 6.0', 'threadline_legs_today{channel="phone"} 7.0', 'threadline_containment_ratio{channel="api"} 0.0',
                 'threadline_handoffs_today{stage="offered"} 5.0', 'threadline_handoffs_today{stage="completed"} 3.0',
                 'threadline_handed_off_contacts_today{state="repeated"} 1.0', "threadline_handoff_repeat_ratio 0.5"):
        assert line in text, text
    before_first_refresh = CollectorRegistry()
    before_first_refresh.register(ChannelGauges(lambda: None))
    assert "threadline_contacts_today" not in generate_latest(before_first_refresh).decode()
