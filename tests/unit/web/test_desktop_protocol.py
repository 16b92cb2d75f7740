"""The documented protocol is the one spoken: real messages validate against the models, and a
page's malformed message is answered with the field that was wrong."""

from __future__ import annotations

from typing import Any

import pytest

from engine.acd.agent_state import AgentState, Status
from engine.acd.agent_board import shown as _shown
from engine.acd.screen_pop import build_pop
from engine.web.desktop_protocol import AGENT_PAGE, SERVER_MESSAGE, PopMessage, StateMessage, problem, schema
from engine.config.flow_model import Step

STEPS = {"internet_down": (Step(id="restart", prompt="Restart the router.", question="Fixed?"),)}


def test_the_state_and_pop_the_engine_sends_match_the_documented_models() -> None:
    state = {"v": 1, "type": "state", "agent": "minsu", **_shown(AgentState(Status.WRAP_UP, since=10.0, call_id="c1", until=40.0), 20.0)}
    assert isinstance(SERVER_MESSAGE.validate_python(state), StateMessage)
    journal: list[tuple[str, dict[str, Any]]] = [("speech_heard", {"text": "요금 문의요", "confidence": 0.9}), ("intent_chosen", {"node": "menu", "intent": "billing", "band": "accept"}),
                                                 ("collected", {"into": "account", "value": "123456", "length": 6}), ("node_entered", {"node": "steps", "type": "steps"}),
                                                 ("step_done", {"procedure": "internet_down", "step": "restart", "index": 1, "fixed": True})]
    pop = build_pop("c1", "billing", "0101234", "", {"intent": "billing"}, journal, STEPS, 3.0, [], callback=True)
    pop.update(dispositions=["resolved"], transferred_from="jiyeon")
    parsed = SERVER_MESSAGE.validate_python(pop)
    assert isinstance(parsed, PopMessage) and parsed.callback and parsed.transferred_from == "jiyeon"
    assert [entry.kind for entry in parsed.timeline] == ["said", "chose", "collected", "node", "step"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"v": 1, "type": "set_state", "status": "asleep"}', "status"),
        ('{"v": 1, "type": "transfer", "call_id": "c1", "to": "nowhere"}', "to"),
        ('{"v": 1, "type": "wrap_up", "call_id": "c1", "disposition": "x", "notes": "' + "n" * 2001 + '"}', "notes"),
        ('{"v": 1, "type": "dance"}', "message"),
        ('{"v": 2, "type": "set_state", "status": "available"}', "v"),
    ],
)
def test_a_malformed_page_message_is_answered_with_its_field(raw: str, field: str) -> None:
    with pytest.raises(ValueError) as bad:
        AGENT_PAGE.validate_json(raw)
    assert problem(bad.value).startswith(field), problem(bad.value)


def test_the_schema_is_served_for_both_directions() -> None:
    served = schema()
    assert served["version"] == 1
    assert {"set_state", "wrap_up", "extend_wrap_up", "transfer"} <= set(served["page_to_server"]["discriminator"]["mapping"])
    assert {"state", "pop", "pop_cleared", "floor", "queues", "error"} <= set(served["server_to_page"]["discriminator"]["mapping"])


def test_an_error_carries_the_refusals_own_code_or_the_actions() -> None:
    from engine.acd.refusal import Refusal
    from engine.web.desktop_protocol import ERROR_CODES, ErrorMessage, error

    specific = error(Refusal("not_your_call", "you are not talking to that caller"), "transfer_refused")
    assert (specific["code"], specific["error"]) == ("not_your_call", "you are not talking to that caller")
    assert error("no agents are configured", "set_state_refused")["code"] == "set_state_refused", "a plain text: the action's code"
    assert isinstance(SERVER_MESSAGE.validate_python(specific), ErrorMessage) and specific["code"] in ERROR_CODES
