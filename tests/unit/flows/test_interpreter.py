"""The flow interpreter, fed facts: every node type, timers, retries, barge-in, confirmation, globals. No loop."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from engine.flows.flow_facts import (
    CallStarted,
    CancelTimer,
    DigitPressed,
    FlowCommand,
    HangUp,
    Journal,
    Listen,
    Lookup,
    LookupAnswered,
    Play,
    PromptFinished,
    QueueLeft,
    SpeechRecognised,
    SpeechStarted,
    StartTimer,
    StopPrompt,
    TimerFired,
    Transfer,
)
from engine.config.flow_model import Flow, Step
from engine.language.intent_matching import Hypothesis
from engine.config.flow_model import FlowSet
from engine.flows.interpreter import MASK, FlowInterpreter

MENU = """
flow: line
language: ko
start: hello
globals:
  agent: {phrases: [상담원], keys: ["0"], queue: general}
  repeat: {phrases: [다시], keys: ["*"]}
  help: {phrases: [도움말], prompt: 번호를 누르세요}
nodes:
  hello: {type: say, prompt: "안녕하세요 {caller_name}님", next: menu}
  menu:
    type: ask
    prompt: 요금은 1번 기술은 2번
    intents:
      billing: {phrases: [요금, 요금이 많이 나왔어요], keys: ["1"], label: 요금 문의, next: billing_q}
      technical: {phrases: [인터넷 고장, 인터넷이 안 돼요], keys: ["2"], next: tech_q}
    confirm_prompt: "{label} 맞으세요?"
    reprompts:
      no_input: [말씀이 없으셨어요, 다시 말씀이 없으셨어요]
      no_match: [잘 못 들었어요]
      max_attempts: 3
    fallback: agent_q
  billing_q: {type: queue, queue: billing, skills: [billing], priority: 4}
  tech_q: {type: queue, queue: technical}
  agent_q: {type: queue, queue: general}
"""


KEYS_WRITTEN_BEFORE_THE_MODELS: dict[str, set[tuple[str, ...]]] = {
    "flow_restarted": {("reason",)},
    "flow_resumed": {("flow", "node", "version")},
    "flow_continued": {("to", "reason")},
    "flow_started": {("flow", "version")},
    "node_entered": {("flow", "node", "type")},
    "flow_entered": {("flow", "version")},
    "branch_taken": {("condition", "index"), ("condition",)},
    "barge_in": {("node",)},
    "no_match": {("node", "attempt", "key"), ("node", "attempt", "digits"), ("node", "attempt", "heard", "best"), ("node", "attempt", "heard"),
                 ("node", "attempt", "confirmation"), ("node", "attempt", "answer"), ("node", "step")},
    "no_input": {("node", "attempt"), ("node", "step")},
    "collected": {("node", "into", "value", "length"), ("node", "into", "value")},
    "recognised": {("heard", "intent", "confidence", "phrase", "band"), ("heard", "intent", "band")},
    "speech_ignored": {("node", "heard", "why")},
    "intent_chosen": {("node", "intent", "into", "key"), ("node", "intent", "into", "heard", "confidence", "phrase", "band"),
                      ("node", "intent", "into", "confirmed", "confidence")},
    "fallback": {("node", "after")},
    "help": {("node",)},
    "repeat": {("node",)},
    "lookup": {("endpoint", "into", "ok", "error"), ("endpoint", "into", "ok", "result"), ("endpoint", "ok", "error")},
    "steps_unsolved": {("procedure",)},
    "step_done": {("procedure", "step", "index", "fixed")},
    "transfer": {("queue", "skills", "priority", "reason")},
    "flow_error": {("reason",)},
    "checkpoint": {("flow", "node", "variables"), ("flow", "node", "variables", "step")},
}
"""Each kind's detail keys, in order, as the interpreter wrote them when it spelled its Journals as
dicts (before the typed models): the stored rows must not change. variables_set's keys are the
variables set."""


@pytest.fixture(autouse=True)
def journals_store_the_keys_they_always_did(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Journal any test here gets from the interpreter stores the keys it stored before."""
    for name in ("decide", "resume", "enter_node"):
        original = getattr(FlowInterpreter, name)

        def checked(self: FlowInterpreter, *args: Any, _original: Any = original) -> list[FlowCommand]:
            commands: list[FlowCommand] = _original(self, *args)
            for command in of(commands, Journal):
                assert command.kind == "variables_set" or tuple(command.detail) in KEYS_WRITTEN_BEFORE_THE_MODELS[command.kind], command
            return commands

        monkeypatch.setattr(FlowInterpreter, name, checked)


def interpreter(text: str = MENU, variables: dict[str, Any] | None = None, **extra: Any) -> FlowInterpreter:
    flow = Flow.model_validate(yaml.safe_load(text))
    flows = {flow.flow: flow, **extra.get("others", {})}
    return FlowInterpreter(FlowSet(flows, extra.get("procedures", {}), {flow.flow: "v1"}), flow.flow, variables or {"caller_name": "김민수", "caller_number": "01012345678"})


def of(commands: list[FlowCommand], kind: type) -> list[Any]:
    return [command for command in commands if isinstance(command, kind)]


def journal(commands: list[FlowCommand], kind: str) -> dict[str, Any]:
    found = [command.detail for command in of(commands, Journal) if command.kind == kind]
    assert found, f"no {kind} in {commands}"
    return dict(found[-1])


def to_menu(flow: FlowInterpreter) -> list[FlowCommand]:
    started = flow.decide(CallStarted())
    (hello,) = of(started, Play)
    assert hello.text == "안녕하세요 김민수님" and not hello.barge_in
    assert journal(started, "flow_started") == {"flow": "line", "version": "v1"}
    return flow.decide(PromptFinished(hello.prompt_id))


def speech(text: str, confidence: float = 0.9) -> SpeechRecognised:
    return SpeechRecognised((Hypothesis(text, confidence),))


def test_a_menu_plays_with_barge_in_and_listens_for_intents_and_globals() -> None:
    flow = interpreter()
    commands = to_menu(flow)
    (menu,) = of(commands, Play)
    assert menu.barge_in and flow.node_name == "menu"
    (listen,) = of(commands, Listen)
    assert {"요금", "인터넷 고장", "상담원", "다시", "도움말"} <= set(listen.phrases)
    assert (listen.end_of_speech_s, listen.max_speech_s) == (0.6, 15.0)
    after = flow.decide(PromptFinished(menu.prompt_id))
    assert [timer.seconds for timer in of(after, StartTimer)] == [6.0], "no-input timer starts when the prompt ends"


def test_a_key_wins_at_once_even_during_the_prompt() -> None:
    flow = interpreter()
    (menu,) = of(to_menu(flow), Play)
    commands = flow.decide(DigitPressed("1"))
    assert StopPrompt(menu.prompt_id) in commands
    assert journal(commands, "intent_chosen") == {"node": "menu", "intent": "billing", "into": "intent", "key": "1"}
    (transfer,) = of(commands, Transfer)
    assert (transfer.queue, transfer.skills, transfer.priority) == ("billing", ("billing",), 4)
    assert transfer.context["intent"] == "billing" and transfer.context["caller_name"] == "김민수"
    assert flow.finished


def test_a_whole_sentence_is_understood_and_accepted() -> None:
    flow = interpreter()
    to_menu(flow)
    commands = flow.decide(speech("이번 달 요금이 너무 많이 나왔어요"))
    chosen = journal(commands, "intent_chosen")
    assert chosen["intent"] == "billing" and chosen["band"] == "accept" and chosen["heard"][0]["text"].startswith("이번 달")
    assert of(commands, Transfer)[0].queue == "billing"


def test_speech_during_the_prompt_stops_it_barge_in() -> None:
    flow = interpreter()
    (menu,) = of(to_menu(flow), Play)
    commands = flow.decide(SpeechStarted())
    assert StopPrompt(menu.prompt_id) in commands and journal(commands, "barge_in")["node"] == "menu"
    assert flow.decide(PromptFinished(menu.prompt_id)) == [], "the stopped prompt's end starts no timer"


def test_the_middle_band_confirms_and_yes_by_key_accepts() -> None:
    flow = interpreter()
    to_menu(flow)
    commands = flow.decide(speech("요금", confidence=0.6))
    assert journal(commands, "recognised")["band"] == "confirm"
    (confirm,) = of(commands, Play)
    assert confirm.text == "요금 문의 맞으세요?"
    (listen,) = of(commands, Listen)
    assert {"네", "아니요"} <= set(listen.phrases) and "요금" not in listen.phrases, "the recogniser now listens for yes and no"
    accepted = flow.decide(DigitPressed("1"))
    assert journal(accepted, "intent_chosen")["confirmed"] is True
    assert of(accepted, Transfer)[0].queue == "billing"


def test_a_refused_confirmation_goes_back_to_the_menu_where_keys_work() -> None:
    flow = interpreter()
    to_menu(flow)
    flow.decide(speech("요금", confidence=0.6))
    refused = flow.decide(speech("아니요"))
    assert journal(refused, "no_match")["confirmation"] == "refused"
    assert [play.text for play in of(refused, Play)] == ["잘 못 들었어요", "요금은 1번 기술은 2번"]
    assert journal(flow.decide(DigitPressed("2")), "intent_chosen")["intent"] == "technical"


def test_no_input_reprompts_escalate_then_fall_back() -> None:
    flow = interpreter()
    (menu,) = of(to_menu(flow), Play)
    texts = []
    prompts = [menu]
    for attempt in range(1, 3):
        timer = of(flow.decide(PromptFinished(prompts[-1].prompt_id)), StartTimer)[0]
        commands = flow.decide(TimerFired(timer.timer_id))
        assert journal(commands, "no_input")["attempt"] == attempt
        prompts = of(commands, Play)
        texts.append(prompts[0].text)
        flow.decide(PromptFinished(prompts[0].prompt_id))
    assert texts == ["말씀이 없으셨어요", "다시 말씀이 없으셨어요"]
    timer = of(flow.decide(PromptFinished(prompts[-1].prompt_id)), StartTimer)[0]
    last = flow.decide(TimerFired(timer.timer_id))
    assert journal(last, "fallback") == {"node": "menu", "after": 3}
    assert of(last, Transfer)[0].queue == "general"


def test_no_match_below_the_band_reprompts() -> None:
    flow = interpreter()
    to_menu(flow)
    commands = flow.decide(speech("날씨가 좋네요"))
    assert journal(commands, "no_match")["attempt"] == 1
    assert of(commands, Play)[0].text == "잘 못 들었어요"


def test_agent_is_always_one_word_or_key_away_with_everything_collected() -> None:
    flow = interpreter()
    to_menu(flow)
    by_voice = flow.decide(speech("상담원 연결해 주세요"))
    assert journal(by_voice, "transfer")["reason"] == "caller asked for an agent"
    assert of(by_voice, Transfer)[0].context["caller_number"] == "01012345678"
    other = interpreter()
    to_menu(other)
    assert of(other.decide(DigitPressed("0")), Transfer)[0].queue == "general"


def test_repeat_and_help_do_not_count_as_misses() -> None:
    flow = interpreter()
    to_menu(flow)
    repeated = flow.decide(DigitPressed("*"))
    assert [p.text for p in of(repeated, Play)] == ["요금은 1번 기술은 2번"] and journal(repeated, "repeat")
    helped = flow.decide(speech("도움말"))
    assert [p.text for p in of(helped, Play)] == ["번호를 누르세요", "요금은 1번 기술은 2번"]
    assert "no_match" not in [c.kind for c in of(helped, Journal)]


def test_a_stale_timer_is_ignored() -> None:
    flow = interpreter()
    (menu,) = of(to_menu(flow), Play)
    timer = of(flow.decide(PromptFinished(menu.prompt_id)), StartTimer)[0]
    flow.decide(DigitPressed("*"))  # repeat: the no-input timer is cancelled
    assert flow.decide(TimerFired(timer.timer_id)) == []


COLLECT = """
flow: pay
language: en
start: card
globals:
  agent: {phrases: [agent], keys: ["0"], queue: general}
nodes:
  card:
    type: collect
    prompt: Key your card number
    digits: {min: 4, max: 6, terminator: "#"}
    into: card
    sensitive: true
    reprompts: {no_match: [Too short]}
    next: confirm
    fallback: agent_q
  confirm:
    type: collect
    prompt: "Card {card} accepted for {caller_name}. Is that right?"
    yes_no: true
    into: ok
    next: done
    fallback: agent_q
  done: {type: hangup, prompt: Thanks}
  agent_q: {type: queue, queue: general}
"""


def test_digits_with_terminator_are_collected_and_sensitive_ones_masked() -> None:
    flow = interpreter(COLLECT, {"caller_name": "Ann"})
    flow.decide(CallStarted())
    assert flow.keys_are_sensitive
    for digit in "0123":  # 0 is a digit here, not the agent key
        flow.decide(DigitPressed(digit))
    commands = flow.decide(DigitPressed("#"))
    assert journal(commands, "collected") == {"node": "card", "into": "card", "value": MASK, "length": 4}
    (question,) = of(commands, Play)
    assert question.text == "Card  accepted for Ann. Is that right?", "a sensitive value is never spoken"
    assert not flow.keys_are_sensitive
    done = flow.decide(speech("yes that's right"))
    assert journal(done, "collected")["value"] is True and of(done, Play)[0].text == "Thanks"


def test_speech_during_digit_entry_is_ignored_masked_and_keeps_the_keys() -> None:
    flow = interpreter(COLLECT)
    flow.decide(CallStarted())
    flow.decide(DigitPressed("1"))
    flow.decide(DigitPressed("2"))
    ignored = flow.decide(speech("four one one one"))
    assert [c.kind for c in of(ignored, Journal)] == ["speech_ignored"] and len(ignored) == 1, "no timer or prompt is touched"
    assert journal(ignored, "speech_ignored")["heard"][0]["text"] == MASK, "what is said at a sensitive field is never journaled"
    flow.decide(DigitPressed("3"))
    flow.decide(DigitPressed("4"))
    assert journal(flow.decide(DigitPressed("#")), "collected")["length"] == 4, "the keys before the speech were kept"


def test_agent_by_voice_still_works_during_digit_entry() -> None:
    flow = interpreter(COLLECT)
    flow.decide(CallStarted())
    commands = flow.decide(speech("agent please"))
    assert journal(commands, "recognised")["intent"] == "agent" and of(commands, Transfer)[0].queue == "general"


def test_too_few_digits_is_a_no_match_and_max_length_ends_entry() -> None:
    flow = interpreter(COLLECT)
    flow.decide(CallStarted())
    flow.decide(DigitPressed("1"))
    short = flow.decide(DigitPressed("#"))
    assert journal(short, "no_match")["digits"] == 1 and of(short, Play)[0].text == "Too short"
    for digit in "12345":
        flow.decide(DigitPressed(digit))
    assert journal(flow.decide(DigitPressed("6")), "collected")["length"] == 6


def test_the_inter_digit_timer_ends_entry() -> None:
    flow = interpreter(COLLECT)
    flow.decide(CallStarted())
    for digit in "1234":
        commands = flow.decide(DigitPressed(digit))
    timer = of(commands, StartTimer)[0]
    assert timer.seconds == 3.0
    assert journal(flow.decide(TimerFired(timer.timer_id)), "collected")["length"] == 4


LOGIC = """
flow: logic
start: init
nodes:
  init: {type: set, values: {tries: 2, who: "{caller_name}"}, next: check}
  check:
    type: branch
    when:
      - {if: tries > 5, then: many}
      - {if: who == "Ann" and tries == 2, then: crm}
    else: many
  crm:
    type: lookup
    endpoint: crm
    params: {phone: "{caller_number}"}
    into: customer
    timeout_s: 3
    hold_prompt: One moment
    hold_after_s: 1
    next: known
    on_failure: many
  known: {type: say, prompt: "Hello {customer.name}, plan {customer.plan}", next: many}
  many: {type: hangup}
"""


def test_set_branch_and_a_lookup_with_a_hold_prompt() -> None:
    flow = interpreter(LOGIC, {"caller_name": "Ann", "caller_number": "555"})
    commands = flow.decide(CallStarted())
    assert journal(commands, "branch_taken") == {"condition": 'who == "Ann" and tries == 2', "index": 1}
    (lookup,) = of(commands, Lookup)
    assert (lookup.endpoint, dict(lookup.params), lookup.timeout_s) == ("crm", {"phone": "555"}, 3)
    hold_timer = next(t for t in of(commands, StartTimer) if t.seconds == 1)
    (hold,) = of(flow.decide(TimerFired(hold_timer.timer_id)), Play)
    assert hold.text == "One moment"
    answered = flow.decide(LookupAnswered(lookup.request_id, {"name": "Ann Lee", "plan": "gold"}))
    assert StopPrompt(hold.prompt_id) in answered
    assert journal(answered, "lookup")["result"] == {"name": "Ann Lee", "plan": "gold"}
    assert of(answered, Play)[0].text == "Hello Ann Lee, plan gold"


def test_a_lookup_that_times_out_goes_to_on_failure_and_a_late_answer_is_ignored() -> None:
    flow = interpreter(LOGIC, {"caller_name": "Ann"})
    commands = flow.decide(CallStarted())
    (lookup,) = of(commands, Lookup)
    timeout = next(t for t in of(commands, StartTimer) if t.seconds == 3)
    failed = flow.decide(TimerFired(timeout.timer_id))
    assert journal(failed, "lookup") == {"endpoint": "crm", "ok": False, "error": "no answer within 3 s"}
    assert of(failed, HangUp)[0].reason == "flow ended" and flow.finished
    assert flow.decide(LookupAnswered(lookup.request_id, {"name": "late"})) == []


STEPS = """
flow: fix
start: steps
nodes:
  steps: {type: steps, procedure: internet, solved: bye, unsolved: tech}
  bye: {type: hangup, prompt: Glad it works}
  tech: {type: queue, queue: technical, skills: [internet]}
"""
PROCEDURE = (
    Step(id="restart", prompt="Restart the router", question="Working now?"),
    Step(id="cable", prompt="Check the cable", question="Working now?"),
)


def answer_step(flow: FlowInterpreter, commands: list[FlowCommand], answer: str) -> list[FlowCommand]:
    (step_prompt,) = of(commands, Play)
    (question,) = of(flow.decide(PromptFinished(step_prompt.prompt_id)), Play)
    flow.decide(PromptFinished(question.prompt_id))
    return flow.decide(DigitPressed(answer))


def test_steps_are_journaled_one_by_one_until_one_fixes_it() -> None:
    flow = interpreter(STEPS, procedures={"internet": PROCEDURE})
    first = flow.decide(CallStarted())
    second = answer_step(flow, first, "2")
    assert journal(second, "step_done") == {"procedure": "internet", "step": "restart", "index": 1, "fixed": False}
    solved = answer_step(flow, second, "1")
    assert journal(solved, "step_done")["step"] == "cable" and journal(solved, "step_done")["fixed"] is True
    assert of(solved, Play)[0].text == "Glad it works"


def test_steps_that_never_fix_it_hand_over_with_the_steps_done() -> None:
    flow = interpreter(STEPS, procedures={"internet": PROCEDURE})
    commands = flow.decide(CallStarted())
    commands = answer_step(flow, commands, "2")
    last = answer_step(flow, commands, "2")
    assert journal(last, "steps_unsolved")["procedure"] == "internet"
    assert of(last, Transfer)[0].queue == "technical"


def test_mid_procedure_the_agent_key_or_words_hand_over_with_the_steps_done_so_far() -> None:
    """A caller (or a chat customer) may ask for a person at a step's question; the step they were at is not done."""
    with_agent = STEPS.replace("flow: fix\n", "flow: fix\nglobals:\n  agent: {phrases: [상담원 연결], keys: [\"0\"], queue: general}\n")
    flow = interpreter(with_agent, procedures={"internet": PROCEDURE})
    second = answer_step(flow, flow.decide(CallStarted()), "2")
    (step_prompt,) = of(second, Play)
    asking = flow.decide(PromptFinished(step_prompt.prompt_id))
    assert "상담원 연결" in of(asking, Listen)[0].phrases  # the step's question listens for it too
    flow.decide(PromptFinished(of(asking, Play)[0].prompt_id))
    by_words = flow.decide(speech("상담원 연결 해 주세요", 0.9))
    assert of(by_words, Transfer)[0].queue == "technical" and flow.finished  # where the steps' failure goes, not the general line
    assert journal(by_words, "help") == {"node": "steps"}
    assert not [c for c in by_words if isinstance(c, Journal) and c.kind == "step_done"]
    keyed = interpreter(with_agent, procedures={"internet": PROCEDURE})
    (step_prompt,) = of(keyed.decide(CallStarted()), Play)
    keyed.decide(PromptFinished(of(keyed.decide(PromptFinished(step_prompt.prompt_id)), Play)[0].prompt_id))
    assert of(keyed.decide(DigitPressed("0")), Transfer)[0].queue == "technical"
    plain = interpreter(STEPS, procedures={"internet": PROCEDURE})
    (step_prompt,) = of(plain.decide(CallStarted()), Play)
    plain.decide(PromptFinished(of(plain.decide(PromptFinished(step_prompt.prompt_id)), Play)[0].prompt_id))
    assert not of(plain.decide(DigitPressed("0")), Transfer)  # no agent handler: 0 is no answer, the question is asked again


def test_goto_another_flow_records_its_version() -> None:
    other = Flow.model_validate(yaml.safe_load("flow: other\nstart: bye\nnodes:\n  bye: {type: hangup}\n"))
    text = "flow: first\nstart: jump\nnodes:\n  jump: {type: goto, target: other.bye}\n"
    flow = interpreter(text, others={"other": other})
    commands = flow.decide(CallStarted())
    assert journal(commands, "flow_entered")["flow"] == "other"
    assert of(commands, HangUp) and flow.finished


def test_a_loop_of_instant_nodes_never_holds_the_caller() -> None:
    text = """
flow: loop
start: a
globals: {agent: {phrases: [agent], queue: general}}
nodes:
  a: {type: set, values: {n: 1}, next: b}
  b:
    type: branch
    when: [{if: n == 1, then: a}]
    else: c
  c: {type: hangup}
"""
    commands = interpreter(text).decide(CallStarted())
    assert "looped" in journal(commands, "flow_error")["reason"]
    assert of(commands, Transfer)[0].queue == "general"


def test_nothing_is_decided_after_the_flow_ended() -> None:
    flow = interpreter()
    to_menu(flow)
    flow.decide(DigitPressed("1"))
    assert flow.decide(DigitPressed("2")) == [] and flow.decide(speech("요금")) == []


@pytest.mark.parametrize("digit", ["5", "9"])
def test_an_unknown_key_is_a_no_match(digit: str) -> None:
    flow = interpreter()
    to_menu(flow)
    assert journal(flow.decide(DigitPressed(digit)), "no_match")["key"] == digit


def test_timers_are_cancelled_when_leaving_a_node() -> None:
    flow = interpreter()
    (menu,) = of(to_menu(flow), Play)
    timer = of(flow.decide(PromptFinished(menu.prompt_id)), StartTimer)[0]
    commands = flow.decide(DigitPressed("1"))
    assert CancelTimer(timer.timer_id) in commands


@pytest.mark.parametrize(("said", "expected"), [("네", True), ("네 맞아요", True), ("아니요", False), ("네트워크가 안 돼요", None), ("네 아니요", None)])
def test_yes_and_no_are_whole_words(said: str, expected: bool | None) -> None:
    flow = interpreter()
    to_menu(flow)
    flow.decide(speech("요금", confidence=0.6))  # confirm band
    commands = flow.decide(speech(said))
    if expected is True:
        assert journal(commands, "intent_chosen")["confirmed"] is True
    else:
        assert journal(commands, "no_match")["confirmation"] == ("refused" if expected is False else "unclear")


MANDARIN_MENU = MENU.replace("language: ko", "language: zh").replace("[요금, 요금이 많이 나왔어요]", "[话费, 查询话费]").replace("[상담원]", "[人工服务]")


@pytest.mark.parametrize(("said", "expected"), [("是的", True), ("对", True), ("好的，可以", True), ("不是", False), ("不对，不是这个", False), ("没有", False), ("我不知道", None)])
def test_chinese_yes_and_no_with_negation_by_prefix(said: str, expected: bool | None) -> None:
    flow = interpreter(MANDARIN_MENU)
    to_menu(flow)
    assert journal(flow.decide(speech("我想查话费", confidence=0.6)), "recognised")["band"] == "confirm"
    commands = flow.decide(speech(said))
    if expected is True:
        assert journal(commands, "intent_chosen")["confirmed"] is True
    else:
        assert journal(commands, "no_match")["confirmation"] == ("refused" if expected is False else "unclear")


def test_a_global_handler_in_the_middle_band_is_not_taken() -> None:
    """"상담원" half heard must not send a caller to an agent without asking; the menu's own intent may still be confirmed."""
    flow = interpreter()
    to_menu(flow)
    commands = flow.decide(speech("상담원", confidence=0.6))
    assert not of(commands, Transfer) and journal(commands, "no_match")["node"] == "menu"
    flow = interpreter()
    to_menu(flow)
    assert of(flow.decide(speech("상담원", confidence=0.9)), Transfer), "sure: taken at once"


def test_a_terminator_after_a_full_entry_is_not_the_next_menus_key() -> None:
    text = """
flow: acct
start: account
nodes:
  account: {type: collect, prompt: Key it, digits: {min: 2, max: 2}, into: account, next: menu, fallback: bye}
  menu:
    type: ask
    prompt: Menu
    intents: {done: {phrases: [done], keys: ["#"], next: bye}}
    fallback: bye
  bye: {type: hangup}
"""
    flow = interpreter(text)
    flow.decide(CallStarted())
    flow.decide(DigitPressed("1"))
    assert journal(flow.decide(DigitPressed("2")), "collected")["value"] == "12"
    assert flow.decide(DigitPressed("#")) == [], "swallowed"
    assert journal(flow.decide(DigitPressed("#")), "intent_chosen")["intent"] == "done"


def test_an_adopted_call_resumes_at_its_last_question_with_what_it_knew() -> None:
    first = interpreter(variables={"caller_name": "김민수", "caller_number": "0101"})
    commands = to_menu(first)
    checkpoint = journal(commands, "checkpoint")
    assert checkpoint["node"] == "menu" and checkpoint["variables"]["caller_number"] == "0101"

    adopted = interpreter(variables={"caller_name": "", "caller_number": "0101"})
    resumed = adopted.resume(checkpoint)
    assert journal(resumed, "flow_resumed")["node"] == "menu"
    assert [play.text for play in of(resumed, Play)] == ["요금은 1번 기술은 2번"], "the caller hears the question again, not the whole flow"
    assert adopted.variables["caller_name"] == "김민수", "what the first engine knew comes back"
    assert journal(adopted.decide(DigitPressed("1")), "intent_chosen")["intent"] == "billing"


def test_a_checkpoint_the_running_flows_cannot_honour_starts_over() -> None:
    adopted = interpreter()
    restarted = adopted.resume({"flow": "menu_flow", "node": "gone"})
    assert "flow_restarted" in [c.kind for c in of(restarted, Journal)] and "flow_started" in [c.kind for c in of(restarted, Journal)]


def test_a_queue_overflow_into_a_flow_brings_the_handed_over_flow_back_at_that_node() -> None:
    flow = interpreter()
    menu = of(to_menu(flow), Play)[0]
    flow.decide(PromptFinished(menu.prompt_id))
    assert of(flow.decide(DigitPressed("1")), Transfer)[0].queue == "billing"
    assert flow.decide(DigitPressed("2")) == [], "queued: the flow no longer decides"
    back = flow.decide(QueueLeft("menu"))
    assert journal(back, "flow_continued") == {"to": "menu", "reason": "queue overflow"}
    assert flow.node_name == "menu" and of(back, Play)


def test_the_rarer_journal_rows_store_the_keys_they_always_did() -> None:
    """Rows no other test here makes: the else branch, a lookup that answered with an error, a
    steps node's unclear answer and silence, a yes/no left unanswered, and words that fit no global
    during a collect (the autouse fixture checks each row's keys)."""
    otherwise = interpreter(LOGIC, {"caller_name": "Bob"})
    assert journal(otherwise.decide(CallStarted()), "branch_taken") == {"condition": "else"}

    looked_up = interpreter(LOGIC, {"caller_name": "Ann"})
    (lookup,) = of(looked_up.decide(CallStarted()), Lookup)
    failed = looked_up.decide(LookupAnswered(lookup.request_id, None, "HTTP 500"))
    assert journal(failed, "lookup") == {"endpoint": "crm", "into": "customer", "ok": False, "error": "HTTP 500"}

    steps = interpreter(STEPS, procedures={"internet": PROCEDURE})
    unclear = answer_step(steps, steps.decide(CallStarted()), "5")
    assert journal(unclear, "no_match") == {"node": "steps", "step": "restart"}
    (question,) = of(unclear, Play)
    (timer,) = of(steps.decide(PromptFinished(question.prompt_id)), StartTimer)
    assert journal(steps.decide(TimerFired(timer.timer_id)), "no_input") == {"node": "steps", "step": "restart"}

    collect = interpreter(COLLECT, {"caller_name": "Ann"})
    collect.decide(CallStarted())
    for digit in "1234#":
        collect.decide(DigitPressed(digit))
    assert journal(collect.decide(DigitPressed("7")), "no_match") == {"node": "confirm", "attempt": 1, "answer": "key 7"}
