"""The chat's pure core on the real sample flows and small ones: messages, buttons, typed intents,
sensitive entries, steps, lookups, the hand-off and resuming. No loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine.chat.chat_conversation import ChatConversation, ChatTurn, QuickReply
from engine.config.config_bundle import load_bundle
from engine.config.flow_model import Flow, FlowSet
from engine.config.flow_validation import chat_text_problems, load_flow_set
from engine.flows.flow_facts import HangUp, Lookup, LookupAnswered, SpeechRecognised, Transfer
from engine.flows.interpreter import FlowInterpreter
from engine.journey.channel_events import ChatSent, Typed
from engine.journey.events import CheckpointSaved, IntentChosen, Recognised, StepDone, to_stored
from engine.language.intent_matching import Hypothesis

FLOWS = Path(__file__).parents[3] / "ivr_flows"
BUNDLE = load_bundle(FLOWS, "support_ko")
STEPS = BUNDLE.flow_set.procedures["internet_down_ko"]


def sample() -> ChatConversation:
    return ChatConversation(BUNDLE.flow_set, "support_ko", {"caller_number": "", "caller_name": ""})


def small(text: str) -> FlowSet:
    flow = Flow.model_validate(yaml.safe_load(text))
    return FlowSet({flow.flow: flow})


def texts(turn: ChatTurn) -> list[str]:
    return [message.text for message in turn.messages]


def at_the_menu() -> ChatConversation:
    chat = sample()
    lookup = next(e for e in chat.start().effects if isinstance(e, Lookup))
    chat.fact(LookupAnswered(lookup.request_id, None, "not configured"))
    chat.typed("123456")
    return chat


def test_say_is_a_message_and_a_lookup_is_the_phones_crm_call() -> None:
    chat = sample()
    turn = chat.start()
    assert texts(turn) == ["안녕하세요. 고객지원 센터입니다."]
    lookup = next(e for e in turn.effects if isinstance(e, Lookup))
    assert (lookup.endpoint, dict(lookup.params)) == ("crm", {"phone": ""})
    assert turn.input.kind == "waiting"
    assert [type(e).__name__ for e in turn.events if isinstance(e, ChatSent)] == ["ChatSent"]
    found = chat.fact(LookupAnswered(lookup.request_id, {"found": True, "name": "김민수"}))
    assert found.messages[0].text.startswith("요금 문의는 1번") and found.input.kind == "text"


def test_a_failed_lookup_asks_for_the_account_as_a_digit_entry_sent_whole() -> None:
    chat = sample()
    lookup = next(e for e in chat.start().effects if isinstance(e, Lookup))
    asked = chat.fact(LookupAnswered(lookup.request_id, None, "timed out"))
    assert texts(asked) == ["고객 번호 여섯 자리를 눌러 주세요."]
    assert (asked.input.kind, asked.input.min_digits, asked.input.max_digits, asked.input.masked) == ("digits", 6, 6, False)
    short = chat.typed("123")
    assert texts(short) == ["여섯 자리 숫자를 눌러 주세요.", "고객 번호 여섯 자리를 눌러 주세요."]  # the phone's no-match reprompt
    words = chat.typed("모르겠어요")
    assert words.notice == "digits_expected" and not words.messages
    menu = chat.typed("123 456")
    assert menu.messages[0].text.startswith("요금 문의는 1번")
    assert chat.interpreter.variables["account"] == "123456"


def test_an_ask_offers_its_intents_as_buttons_with_the_agent() -> None:
    chat = at_the_menu()
    assert chat.input.kind == "text"
    assert chat.input.replies == (QuickReply("요금 문의", key="1"), QuickReply("기술 지원", key="2"), QuickReply("가입 상담", key="3"), QuickReply("상담원", key="0"))


def test_typed_text_picks_the_same_intent_as_the_same_words_spoken() -> None:
    chat = at_the_menu()
    turn = chat.typed("인터넷이 안 돼요")
    chosen = next(e for e in turn.events if isinstance(e, IntentChosen))
    phone = FlowInterpreter(BUNDLE.flow_set, "support_ko", {})
    phone.enter_node("menu")
    spoken = next(c.event for c in phone.decide(SpeechRecognised((Hypothesis("인터넷이 안 돼요", 1.0),))) if isinstance(getattr(c, "event", None), IntentChosen))
    assert (chosen.intent, chosen.band, chosen.confidence) == (spoken.intent, spoken.band, spoken.confidence) == ("technical", "accept", 1.0)
    assert texts(turn)[0] == STEPS[0].prompt and texts(turn)[1] == STEPS[0].question
    assert turn.events[0] == Typed(text="인터넷이 안 돼요", node="menu")


MENU = """
flow: line
language: ko
start: menu
globals:
  agent: {phrases: [상담원], keys: ["0"], queue: general}
nodes:
  menu:
    type: ask
    prompt: 요금은 1번 기술은 2번
    intents:
      billing: {phrases: [요금, 요금이 많이 나왔어요], keys: ["1"], label: 요금 문의, next: billing_q}
      technical: {phrases: [인터넷 고장, 인터넷이 안 돼요], next: tech_q}
    confirm_prompt: "{label} 맞으세요?"
    fallback: agent_q
  billing_q: {type: queue, queue: billing}
  tech_q: {type: queue, queue: technical}
  agent_q: {type: queue, queue: general}
"""


def test_half_a_phrase_typed_is_confirmed_as_on_the_phone_and_a_button_answers() -> None:
    chat = ChatConversation(small(MENU), "line", {})
    chat.start()
    assert chat.input.replies[1] == QuickReply("인터넷 고장", text="인터넷 고장")  # no key: its first phrase is typed for the customer
    turn = chat.typed("인터넷")
    assert next(e for e in turn.events if isinstance(e, Recognised)).band == "confirm"
    assert texts(turn) == ["인터넷 고장 맞으세요?"]
    assert [reply.label for reply in turn.input.replies] == ["네", "아니요"]
    confirmed = chat.pressed(0)
    assert next(e for e in confirmed.events if isinstance(e, IntentChosen)).confirmed is True
    assert confirmed.events[0] == Typed(text="네", node="menu", button=True)
    transfer = next(e for e in confirmed.effects if isinstance(e, Transfer))
    assert transfer.queue == "technical" and confirmed.input.kind == "handoff" and chat.transfer == transfer


def test_a_button_without_a_key_sends_its_phrase_and_the_agent_button_hands_off() -> None:
    chat = ChatConversation(small(MENU), "line", {})
    chat.start()
    chosen = chat.pressed(1)
    assert next(e for e in chosen.events if isinstance(e, IntentChosen)).intent == "technical"
    other = ChatConversation(small(MENU), "line", {})
    other.start()
    agent = other.typed("상담원 연결해 주세요")
    assert next(e for e in agent.effects if isinstance(e, Transfer)).queue == "general" and agent.input.kind == "handoff"


SECRET = """
flow: card
language: en
start: pin
nodes:
  pin:
    type: collect
    prompt: Type your card's PIN.
    digits: {min: 4, max: 4}
    into: pin
    sensitive: true
    next: thanks
    fallback: bye
  thanks: {type: say, prompt: "Thank you, {pin}.", next: bye}
  bye: {type: hangup, prompt: Goodbye.}
"""


def test_a_sensitive_entry_is_masked_and_never_in_a_message_or_the_journal() -> None:
    chat = ChatConversation(small(SECRET), "card", {})
    start = chat.start()
    assert start.input.kind == "digits" and start.input.masked
    turn = chat.typed("4321")
    stored = json.dumps([to_stored(event) for event in (*start.events, *turn.events)], ensure_ascii=False)
    assert "4321" not in stored and "4321" not in json.dumps(texts(turn))
    assert turn.events[0] == Typed(text="****", node="pin")
    assert texts(turn) == ["Thank you, .", "Goodbye."]
    assert any(isinstance(e, HangUp) for e in turn.effects) and turn.input.kind == "closed"


def test_steps_show_the_procedures_texts_and_ask_did_that_fix_it() -> None:
    chat = at_the_menu()
    chat.typed("인터넷이 안 돼요")
    assert [reply.key for reply in chat.input.replies] == ["1", "2", "0"]  # yes, no, and the agent: a person is one button away mid-procedure too
    second = chat.pressed(1)  # 아니요: the next step
    assert texts(second) == [STEPS[1].prompt, STEPS[1].question]
    assert next(e for e in second.events if isinstance(e, StepDone)).fixed is False
    solved = chat.typed("네")
    assert next(e for e in solved.events if isinstance(e, StepDone)).fixed is True
    assert texts(solved) == ["이용해 주셔서 감사합니다."] and any(isinstance(e, HangUp) for e in solved.effects)
    assert solved.input.kind == "closed" and chat.typed("hello").notice == "not_now"


def test_a_chat_resumes_at_the_step_it_was_on() -> None:
    chat = at_the_menu()
    events = [*chat.typed("인터넷이 안 돼요").events, *chat.pressed(1).events]
    checkpoint = [e for e in events if isinstance(e, CheckpointSaved)][-1]
    again = sample()
    turn = again.resume(to_stored(checkpoint)[1])
    assert again.node_name == "internet_steps" and texts(turn) == [STEPS[1].prompt, STEPS[1].question]
    assert again.interpreter.variables["account"] == "123456"
    assert [reply.key for reply in turn.input.replies] == ["1", "2", "0"]


def test_no_input_timers_are_the_phones_and_are_not_run_in_a_chat() -> None:
    chat = at_the_menu()
    assert not chat.typed("뭐라고요").effects  # a no-match reprompt arms the phone's no-input timer only


RECORDED = """
flow: recorded
language: en
start: hello
nodes:
  hello: {type: say, prompt: {file: hello.wav, text: "Hello, and welcome."}, next: menu}
  menu:
    type: ask
    prompt: {file: menu.wav}
    intents:
      bills: {phrases: [bills], keys: ["1"], next: done}
    fallback: done
  done: {type: hangup}
"""


def test_a_recording_shows_its_text_alternative_and_validation_names_one_without(tmp_path: Path) -> None:
    chat = ChatConversation(small(RECORDED), "recorded", {})
    turn = chat.start()
    assert [(m.text, m.recording_only) for m in turn.messages] == [("Hello, and welcome.", False), ("", True)]
    (tmp_path / "recorded.yaml").write_text(RECORDED, encoding="utf-8")
    for name in ("hello.wav", "menu.wav"):
        (tmp_path / name).write_bytes(b"RIFF")
    flows, procedures = load_flow_set([tmp_path])
    (problem,) = chat_text_problems(flows, procedures)
    assert (Path(problem.file).name, problem.line) == ("recorded.yaml", 9)
    assert "menu.wav" in problem.message and "add `text:`" in problem.message


def test_validate_warns_of_a_recording_the_chat_cannot_show_at_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.cli import main

    monkeypatch.setenv("THREADLINE_SPEECH__ENABLED", "false")
    (tmp_path / "recorded.yaml").write_text(RECORDED, encoding="utf-8")
    for name in ("hello.wav", "menu.wav"):
        (tmp_path / name).write_bytes(b"RIFF")
    assert main(["validate", str(tmp_path)]) == 0, "a warning: the phone still plays it"
    out = capsys.readouterr()
    assert f"warning: {tmp_path / 'recorded.yaml'}:9:" in out.err and "menu.wav" in out.err and "hello.wav" not in out.err
    assert "flow recorded ok" in out.out


def test_mid_procedure_the_agent_button_hands_over_with_the_steps_done_so_far() -> None:
    """"Steps 1-2 done, next: step 3": the customer asks for a person at the third step's question."""
    chat = at_the_menu()
    chat.typed("인터넷이 안 돼요")
    first, second = chat.pressed(1), chat.pressed(1)  # no, no
    done = [event for turn in (first, second) for event in turn.events if isinstance(event, StepDone)]
    assert [event.step for event in done] == [STEPS[0].id, STEPS[1].id]
    agent = next(index for index, reply in enumerate(chat.input.replies) if reply.key == "0")
    turn = chat.pressed(agent)
    assert chat.transfer is not None and chat.transfer.queue == "technical" and turn.input.kind == "handoff"  # the steps' unsolved queue
    assert not [event for event in turn.events if isinstance(event, StepDone)]  # the third step was not done
