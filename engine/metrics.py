"""Prometheus metrics (official prometheus_client), served at /metrics.

Counters and histograms are updated where things happen (journey writes, recognitions, call
outcomes); the live gauges (engine health, per-queue waiting and longest wait, agents by state)
are read from the engine when Prometheus scrapes, so they can never drift from what the
supervisor page shows. One registry per process, not prometheus_client's global default, so
library metrics do not leak into ours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.acd.channel_metrics import ChannelFigures, by_channel
from engine.journey.events import Abandoned, CallbackFailed, CallbackRequested, CallEnded, JourneyEventModel, Overflowed, from_stored

REGISTRY = CollectorRegistry(auto_describe=True)
OUTCOME_KINDS = {
    CallEnded.KIND: "answered", Abandoned.KIND: "abandoned", CallbackRequested.KIND: "callback", Overflowed.KIND: "overflowed", CallbackFailed.KIND: "callback_failed",
}
"""Journey events that settle a call's outcome in a queue, and the label each is counted under."""

CALLS = Counter("threadline_calls", "Calls by how they ended in a queue (answered, abandoned, short_abandoned, callback, overflowed), or contained in the IVR", ["outcome"], registry=REGISTRY)
JOURNEY_WRITE_SECONDS = Histogram(
    "threadline_journey_write_seconds", "Time to store one journey event (including retries)", registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RECOGNITION_LATENCY_SECONDS = Histogram(
    "threadline_recognition_latency_seconds", "End of the caller's speech to the recogniser's answer", ["language"], registry=REGISTRY,
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5),
)
RECOGNITION_CONFIDENCE = Histogram(
    "threadline_recognition_confidence", "Confidence of the best alternative (0-1) of each utterance", ["language"], registry=REGISTRY,
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
)
CHAT_REPLY_SECONDS = Histogram(
    "threadline_chat_reply_seconds", "A chat customer's message (text or quick reply) received to the bot's turn sent to the page", registry=REGISTRY,
    buckets=(0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5),
)
MONITORING_SESSIONS = Counter("threadline_monitoring_sessions", "Supervisors' monitoring sessions started, by the mode they started in", ["mode"], registry=REGISTRY)
MONITORING_MODES = Counter("threadline_monitoring_modes", "Modes put in force in monitoring sessions (the first and each change)", ["mode"], registry=REGISTRY)


def journey_event(kind: str, detail: Mapping[str, Any]) -> None:
    """Count a call's outcome from the journey event that settles it."""
    if kind == Abandoned.KIND and _short(from_stored(kind, detail)):
        CALLS.labels("short_abandoned").inc()
    elif kind in OUTCOME_KINDS:
        CALLS.labels(OUTCOME_KINDS[kind]).inc()


def _short(abandoned: JourneyEventModel) -> bool:
    return isinstance(abandoned, Abandoned) and bool(abandoned.short)


def call_contained() -> None:
    """A call that ended in the IVR without being queued."""
    CALLS.labels("contained").inc()


class LiveGauges(Collector):
    """Read at scrape time: components' health, queues' waiting callers, agents by state."""

    def __init__(self, health: Callable[[], Mapping[str, bool]], floor: Callable[[], Mapping[str, Any]]) -> None:
        self._health = health
        self._floor = floor

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("threadline_component_up", "1 while a component (ari, ami, database, background) is healthy", labels=["component"])
        for component, ok in self._health().items():
            up.add_metric([component], 1.0 if ok else 0.0)
        yield up
        floor = self._floor()
        waiting = GaugeMetricFamily("threadline_queue_waiting", "Callers waiting in the queue now", labels=["queue"])
        longest = GaugeMetricFamily("threadline_queue_longest_wait_seconds", "The longest current wait in the queue", labels=["queue"])
        for queue, line in floor.get("queues", {}).items():
            waiting.add_metric([queue], float(len(line.get("waiting", ()))))
            longest.add_metric([queue], float(line.get("longest_wait_s", 0.0)))
        yield waiting
        yield longest
        states = GaugeMetricFamily("threadline_agents", "Agents by state", labels=["state"])
        counts: dict[str, int] = {}
        for agent in floor.get("agents", {}).values():
            counts[str(agent.get("status", "unknown"))] = counts.get(str(agent.get("status", "unknown")), 0) + 1
        for state in ("logged_out", "available", "reserved", "on_call", "wrap_up", "paused"):
            states.add_metric([state], float(counts.pop(state, 0)))
        for state, count in counts.items():
            states.add_metric([state], float(count))
        yield states


class ChannelGauges(Collector):
    """Today's figures across channels (engine/acd/channel_metrics.py, the reports' formulas), as the
    last refresh left them (engine/acd/report_commands.py ChannelFiguresToday); nothing before the first."""

    def __init__(self, figures: Callable[[], Mapping[str, ChannelFigures] | None]) -> None:
        self._figures = figures

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        figures = self._figures()
        if figures is None:
            return
        shown = by_channel(figures)
        contacts = GaugeMetricFamily("threadline_contacts_today", "Contacts since midnight, by the channel of their first leg (phone, chat, api, all)", labels=["channel"])
        legs = GaugeMetricFamily("threadline_legs_today", "Legs (calls, chats, API threads) started since midnight, by channel", labels=["channel"])
        containment = GaugeMetricFamily(
            "threadline_containment_ratio", "Legs started since midnight that ended without a queue, a callback or a hand-off, ÷ legs started, by channel", labels=["channel"])
        for channel, figured in shown.items():
            contacts.add_metric([channel], float(figured.contacts))
            legs.add_metric([channel], float(figured.legs))
            if figured.containment is not None:
                containment.add_metric([channel], figured.containment)
        everyone = shown["all"]
        handoffs = GaugeMetricFamily("threadline_handoffs_today", "Chat-to-phone hand-offs of chats started since midnight: offered, and completed (a phone leg took the chat)", labels=["stage"])
        handoffs.add_metric(["offered"], float(everyone.handoffs_offered))
        handoffs.add_metric(["completed"], float(everyone.handoffs_completed))
        handed_off = GaugeMetricFamily("threadline_handed_off_contacts_today", "Contacts handed off from chat to phone since midnight: all, QA-checked, and with a question asked again", labels=["state"])
        for state, count in (("handed_off", everyone.handed_off_contacts), ("checked", everyone.repeat_checked), ("repeated", everyone.repeated)):
            handed_off.add_metric([state], float(count))
        yield from (contacts, legs, containment, handoffs, handed_off)
        if everyone.repeat_rate is not None:
            yield GaugeMetricFamily("threadline_handoff_repeat_ratio", "Handed-off contacts since midnight where QA found a question asked again ÷ those QA checked", value=everyone.repeat_rate)


def exposition() -> bytes:
    return generate_latest(REGISTRY)


HANDOFF_CLAIMS_REFUSED = Counter("threadline_handoff_claims_refused", "Hand-off code claims refused, by reason (unknown, expired, used, budget: the engine-wide limit was reached, "
                                 "number_limit: the caller number's limit was reached)", ["reason"], registry=REGISTRY)
