"""The screen-pop from a call's journal: what the caller said and did, in the agent's words."""

from __future__ import annotations

from typing import Any

from engine.acd.screen_pop import build_pop
from engine.config.flow_model import Step

STEPS = {"internet_down": (Step(id="restart", prompt="Restart the router.", question="Fixed?"), Step(id="cable", prompt="Check the cable.", question="Fixed?"), Step(id="lights", prompt="Check the lights.", question="Fixed?"))}


def test_the_pop_carries_identity_intent_utterances_steps_and_masked_fields() -> None:
    journal: list[tuple[str, dict[str, Any]]] = [
        ("node_entered", {"node": "menu", "type": "ask"}),
        ("speech_heard", {"text": "인터넷 안 돼요", "confidence": 0.91}),
        ("intent_chosen", {"node": "menu", "intent": "technical", "band": "accept"}),
        ("collected", {"node": "card", "into": "card", "value": "****"}),
        ("node_entered", {"node": "internet_steps", "type": "steps"}),
        ("step_done", {"procedure": "internet_down", "step": "restart", "index": 1, "fixed": False}),
    ]
    variables = {"customer": {"found": True, "name": "김민수", "plan": "gold"}, "intent": "technical"}
    pop = build_pop("c1", "technical", "01012345678", "", variables, journal, STEPS, 12.34, [{"at": "2026-11-20T09:00", "intent": "billing", "ended_by": "caller"}])
    assert pop["v"] == 1 and pop["type"] == "pop" and pop["caller"] == {"number": "01012345678", "name": "김민수", "verified": False}
    assert pop["intent"] == "technical" and pop["customer"]["plan"] == "gold" and pop["waited_s"] == 12.3
    assert pop["utterances"] == [{"text": "인터넷 안 돼요", "confidence": 0.91}]
    assert pop["collected"] == {"card": "****"}, "sensitive values arrive masked"
    (steps,) = pop["steps"]
    assert steps["done"] == [{"step": "restart", "text": "Restart the router.", "fixed": False}]
    assert steps["next"] == {"step": "cable", "text": "Check the cable."}, "the agent resumes at the first unfinished step, in the IVR's words"
    assert {"chose": "technical", "how": "speech (accept)"} in pop["path"] and pop["previous_calls"][0]["intent"] == "billing"
    assert [entry["kind"] for entry in pop["timeline"]] == ["node", "said", "chose", "collected", "node", "step"], "one journey, in the order it happened"
    assert pop["timeline"][3] == {"kind": "collected", "field": "card", "value": "****", "keyed": False}
    assert pop["timeline"][5] == {"kind": "step", "procedure": "internet_down", "step": "restart", "text": "Restart the router.", "fixed": False}


def test_a_key_press_and_an_unidentified_caller_are_shown_as_such() -> None:
    pop = build_pop("c2", "billing", "0101", "", {}, [("intent_chosen", {"intent": "billing", "key": "1"})], {}, 0.0)
    assert pop["customer"] is None and pop["caller"]["name"] == "" and {"chose": "billing", "how": "key 1"} in pop["path"]
    assert pop["timeline"] == [{"kind": "chose", "intent": "billing", "key": "1", "confirmed": False}]


def chat_then_call() -> list[tuple[str, dict[str, Any]]]:
    """A chat's journal (typed, chose, two steps done), then the call that went on from it by a code."""
    return [
        ("flow_started", {"flow": "support_ko", "version": "v1"}),
        ("typed", {"text": "인터넷이 안 돼요", "node": "menu"}),
        ("intent_chosen", {"node": "menu", "intent": "technical", "band": "accept"}),
        ("step_done", {"procedure": "internet_down", "step": "restart", "index": 1, "fixed": False}),
        ("step_done", {"procedure": "internet_down", "step": "cable", "index": 2, "fixed": False}),
        ("handoff_offered", {"how": "code", "queue": "technical"}),
        ("arrived", {"caller_number": "01012345678"}),
        ("continued_from", {"leg": "chat-1", "channel": "chat", "how": "code"}),
        ("transfer", {"queue": "technical"}),
    ]


def test_a_call_that_goes_on_from_a_chat_shows_what_was_typed_and_the_chats_steps() -> None:
    pop = build_pop("c3", "technical", "01012345678", "", {"intent": "technical"}, chat_then_call(), STEPS, 3.0)
    assert [entry["kind"] for entry in pop["timeline"]] == ["typed", "chose", "step", "step", "continued"]
    assert pop["timeline"][0] == {"kind": "typed", "text": "인터넷이 안 돼요", "button": False}
    assert pop["timeline"][-1] == {"kind": "continued", "leg": "chat-1", "channel": "chat", "how": "code"}
    assert pop["continued_from"] == {"leg": "chat-1", "channel": "chat", "how": "code"}
    (steps,) = pop["steps"]
    assert [done["step"] for done in steps["done"]] == ["restart", "cable"]
    assert steps["next"] == {"step": "lights", "text": "Check the lights."}, "steps 1-2 done in the chat, next: step 3"
    assert pop["intent"] == "technical"


def test_a_plain_call_has_no_chat() -> None:
    assert build_pop("c4", "billing", "0101", "", {}, [], {}, 0.0)["continued_from"] is None


def test_a_choice_typed_in_the_chat_is_shown_as_typed_and_the_call_s_own_as_spoken() -> None:
    """The chat's intent came from text, not a recogniser; once a leg continues the chat, choices are the call's again."""
    journal = [
        ("chat_sent", {"text": "무엇을 도와드릴까요?", "node": "menu"}),
        ("typed", {"text": "인터넷이 안 돼요", "node": "menu"}),
        ("intent_chosen", {"node": "menu", "intent": "technical", "into": "intent", "band": "accept", "confidence": 1.0}),
        ("continued_from", {"leg": "chat-abc", "channel": "chat", "how": "code"}),
        ("intent_chosen", {"node": "menu", "intent": "billing", "into": "intent", "band": "accept", "confidence": 0.9}),
    ]
    pop = build_pop("c1", "technical", "", "", {}, journal, {}, 0.0)
    chosen = [entry for entry in pop["timeline"] if entry["kind"] == "chose"]
    assert [entry.get("typed", False) for entry in chosen] == [True, False]
    assert [entry["how"] for entry in pop["path"] if "chose" in entry] == ["typed (accept)", "speech (accept)"]
    assert [entry["kind"] for entry in pop["timeline"]] == ["typed", "chose", "continued", "chose"]  # the chat's own messages are not the customer's
