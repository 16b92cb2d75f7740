"""The journey's typed models and their codec: round trips, rows as the previous version wrote them,
and a scan of the engine's source so no kind is written without a model or read without a writer."""

from __future__ import annotations

import ast
import json
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.journey.events import MODELS, JourneyEventModel, UnknownEvent, VariablesSet, from_stored, to_stored

ENGINE = Path(__file__).resolve().parents[3] / "engine"

# -- (a) round trip of every model ------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**9, 10**9) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def strategy_for(annotation: Any) -> st.SearchStrategy[Any]:
    """Values of a model field's type (the types events.py uses)."""
    if annotation is Any:
        return JSON_VALUES
    if annotation is str:
        return st.text(max_size=12)
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(-10**6, 10**6)
    if annotation is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(strategy_for(arg) for arg in args))
    if annotation is type(None):
        return st.none()
    if origin is tuple:
        return st.lists(strategy_for(args[0]), max_size=3).map(tuple)
    if origin is dict:
        return st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=3)
    raise AssertionError(f"no strategy for {annotation!r}: add one")


def events_of(model: type[JourneyEventModel]) -> st.SearchStrategy[JourneyEventModel]:
    """The model with any subset of its fields set (a field left unset is not stored)."""
    fields = {name: strategy_for(info.annotation) for name, info in model.model_fields.items()}
    return st.fixed_dictionaries({}, optional=fields).map(lambda values: model(**values))


def through_the_database(event: JourneyEventModel) -> tuple[str, dict[str, Any]]:
    kind, detail = to_stored(event)
    return kind, json.loads(json.dumps(detail))


@pytest.mark.parametrize("model", list(MODELS.values()), ids=list(MODELS))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_model_comes_back_as_it_was_stored(model: type[JourneyEventModel], data: st.DataObject) -> None:
    event = data.draw(events_of(model))
    kind, detail = through_the_database(event)
    back = from_stored(kind, detail)
    assert back == event and to_stored(back) == (kind, detail)
    assert list(to_stored(back)[1]) == list(detail), "the same keys in the same order"


@pytest.mark.parametrize("model", [m for m in MODELS.values() if m is not VariablesSet], ids=[k for k, m in MODELS.items() if m is not VariablesSet])
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_keys_this_version_does_not_know_are_kept(model: type[JourneyEventModel], data: st.DataObject) -> None:
    known = {name for name in model.model_fields} | {"while"}
    extra = data.draw(st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda key: key not in known), JSON_VALUES, max_size=3))
    kind, detail = through_the_database(data.draw(events_of(model)))
    assert to_stored(from_stored(kind, {**detail, **extra}))[1] == {**detail, **extra}


# -- (b) rows exactly as today's writers store them -----------------------------------------------

SAMPLES: list[tuple[str, dict[str, Any]]] = [
    # engine/call/call_session.py, engine/store/journey_store.py, engine/journey/journey_writer.py
    ("arrived", {"channel": "PJSIP/trunk-0001", "caller_number": "0101", "dialed": "5100", "waited_for_engine_ms": 120}),
    ("arrived", {"channel": "PJSIP/trunk-0001", "caller_number": "", "dialed": "5100"}),
    ("answered", {}),
    ("resumed", {"reason": "engine reconnected to a call already in progress"}),
    ("hung_up", {"by": "caller", "cause": 16, "cause_txt": "Normal Clearing"}),
    ("failed", {"by": "engine", "cause": None, "cause_txt": "engine error"}),
    ("lost", {"by": "lost", "cause": None, "cause_txt": "gone after a restart"}),
    ("handed_over", {"reason": "engine stopping", "talking_to_agent": True}),
    ("handed_over", {"wait_s": 30.0, "reason": "engine stopping"}),
    ("prompt_started", {"media": "sound:tl/menu", "playback_id": "tl-pb-1"}),
    ("prompt_finished", {"media": "sound:tl/menu", "state": "done"}),
    ("dtmf", {"digit": "masked", "duration_ms": 100}),
    ("left_with_agent", {"reason": "the caller was talking to an agent"}),
    # engine/flows/interpreter.py (Journal), engine/call/flow_driver.py
    ("flow_restarted", {"reason": "the checkpoint does not fit the running flows"}),
    ("flow_resumed", {"flow": "main", "node": "menu", "version": "abc"}),
    ("flow_continued", {"to": "menu", "reason": "reload"}),
    ("flow_started", {"flow": "main", "version": "abc"}),
    ("node_entered", {"flow": "main", "node": "menu", "type": "ask"}),
    ("flow_entered", {"flow": "survey", "version": "abc"}),
    ("variables_set", {"greeting": "hi", "pin": "****"}),
    ("branch_taken", {"condition": "x == 1", "index": 0}),
    ("branch_taken", {"condition": "else"}),
    ("barge_in", {"node": "menu"}),
    ("collected", {"node": "acct", "into": "account", "value": "1234", "length": 4}),
    ("collected", {"node": "ok", "into": "confirmed", "value": True}),
    ("recognised", {"heard": [{"text": "bill", "confidence": 0.9}], "intent": "billing", "confidence": 0.6, "phrase": "bill", "band": "confirm"}),
    ("recognised", {"heard": [{"text": "agent"}], "intent": "agent", "band": "global"}),
    ("speech_ignored", {"node": "pin", "heard": [{"text": "wait"}], "why": "keys are the answer here"}),
    ("intent_chosen", {"node": "menu", "intent": "billing", "into": "intent", "key": "1"}),
    ("intent_chosen", {"node": "menu", "intent": "billing", "into": "intent", "heard": [], "confidence": 0.9, "phrase": "bill", "band": "accept"}),
    ("intent_chosen", {"node": "menu", "intent": "billing", "into": "intent", "confirmed": True, "confidence": 0.6}),
    ("no_match", {"node": "menu", "attempt": 1, "key": "9"}),
    ("no_match", {"node": "acct", "attempt": 1, "digits": 3}),
    ("no_match", {"node": "menu", "attempt": 2, "heard": [], "best": None}),
    ("no_match", {"node": "menu", "attempt": 2, "confirmation": "refused"}),
    ("no_match", {"node": "ok", "attempt": 1, "answer": "unclear"}),
    ("no_match", {"node": "steps", "step": "restart"}),
    ("no_input", {"node": "menu", "attempt": 1}),
    ("no_input", {"node": "steps", "step": "restart"}),
    ("fallback", {"node": "menu", "after": 3}),
    ("help", {"node": "menu"}),
    ("repeat", {"node": "menu"}),
    ("lookup", {"endpoint": "crm", "into": "customer", "ok": False, "error": "HTTP 500"}),
    ("lookup", {"endpoint": "crm", "into": "customer", "ok": True, "result": {"found": True}}),
    ("lookup", {"endpoint": "crm", "ok": False, "error": "no answer within 5 s"}),
    ("steps_unsolved", {"procedure": "internet_down"}),
    ("step_done", {"procedure": "internet_down", "step": "restart", "index": 1, "fixed": True}),
    ("transfer", {"queue": "billing", "skills": ["ko"], "priority": 5, "reason": "intent"}),
    ("flow_error", {"reason": "prompt missing"}),
    ("checkpoint", {"flow": "main", "node": "menu", "variables": {"intent": "billing"}}),
    ("checkpoint", {"flow": "main", "node": "steps", "variables": {}, "step": 2}),
    ("speech_heard", {"text": "bill", "confidence": 0.9, "latency_ms": 200.5, "speech_ms": 800.0, "ended": "silence", "audio": "/keep/a.wav"}),
    ("survey_answered", {"csat": 5, "queue": "billing", "agent": "minsu"}),
    ("survey_answered", {"nps": 9, "queue": "billing", "agent": "minsu"}),
    ("survey_answer_refused", {"question": "csat", "reason": "not 1-5"}),
    # engine/acd/queued_call.py (Journal), engine/acd/call_distributor.py
    ("queued", {"queue": "billing", "skills": ["billing"], "priority": 5}),
    ("queued", {"queue": "billing", "skills": ["billing"], "priority": 5, "after_restart": True, "waited_s": 12.5}),
    ("queued", {"queue": "billing", "skills": ["billing"], "priority": 5, "transferred_from": "minsu"}),
    ("queued", {"queue": "tech", "skills": ["tech"], "priority": 5, "overflow_from": "billing"}),
    ("queued", {"queue": "sales", "skills": ["sales"], "priority": None, "transferred_from": "minsu"}),
    ("abandoned", {"queue": "billing", "waited_s": 12.0, "while": "agent ringing", "short": False}),
    ("call_ended", {"by": "caller", "agent": "minsu", "talk_s": 60.0}),
    ("call_ended", {"by": "agent", "agent": "minsu", "while_engine_restarted": True}),
    ("agent_ringing", {"agent": "minsu", "extension": "201", "waited_s": 3.0, "relaxed": False, "callback": False}),
    ("agent_answered", {"agent": "minsu", "waited_s": 8.0}),
    ("survey_offered", {"queue": "billing", "agent": "minsu", "flow": "survey"}),
    ("agent_not_answered", {"agent": "minsu", "reason": "no answer"}),
    ("conversation_adopted", {"agent": "minsu", "bridge": "tl-call-1"}),
    ("callback_restored", {"queue": "billing", "number": "0101", "waited_s": 30.0, "attempts": 1}),
    ("transferred", {"from_agent": "minsu", "to": "queue:tech", "talk_s": 30.0}),
    ("secure_entry_started", {"agent": "minsu", "flow": "card"}),
    ("secure_entry_ended", {"agent": "minsu"}),
    ("secure_entry_ended", {"agent": "minsu", "failed": "bridge gone"}),
    ("callback_offer_taken", {"by": "key"}),
    ("overflowed", {"queue": "billing", "to": "callback", "waited_s": 60.0}),
    ("callback_requested", {"queue": "billing", "number": "0101", "waited_s": 28.0, "source": "caller_id"}),
    ("callback_refused", {"queue": "billing", "source": "keyed", "reason": "too_long", "number": "0101…", "detail": "", "said": "Too long."}),
    ("callback_refused", {"queue": "billing", "source": "restored", "reason": "rate_limited", "number": "0101", "detail": ""}),
    ("callback_dialing", {"agent": "minsu", "number": "0101", "attempt": 1}),
    ("callback_answered", {"agent": "minsu", "attempt": 1, "waited_s": 300.0}),
    ("callback_attempt_failed", {"attempt": 1, "reason": "busy", "agent": "minsu"}),
    ("callback_failed", {"queue": "billing", "number": "0101", "attempts": 3}),
    ("wait_announced", {"position": 2, "estimate_s": 60, "said": "About a minute."}),
    ("wait_announced", {"position": 2, "estimate_s": None, "said": "You are second."}),
    ("disposition", {"agent": "minsu", "disposition": "resolved", "notes": ""}),
    ("wrap_up_ended", {"agent": "minsu", "wrap_up_s": 30.0}),
    # engine/recording/call_recorder.py
    ("recording_started", {"agent": "minsu", "file": "c--20260101T090000000000--minsu.raw"}),
    ("recording_failed", {"agent": "minsu", "reason": "refused"}),
    ("recording_paused", {"at_s": 12.5}),
    ("recording_resumed", {"at_s": 20.25}),
    # engine/journey/channel_events.py: the chat, hand-offs between channels, the Journey API
    ("typed", {"text": "인터넷이 안 돼요", "node": "menu"}),
    ("chat_sent", {"text": "무엇을 도와드릴까요?", "node": "menu"}),
    ("handoff_offered", {"how": "code", "queue": "technical", "number": "1600-0000", "expires_at": "2026-12-07T09:10:00+00:00"}),
    ("handoff_claimed", {"leg": "1795.1", "how": "code"}),
    ("handoff_refused", {"reason": "expired"}),
    ("continued_from", {"leg": "chat-abc", "channel": "chat", "how": "code"}),
    ("external_event", {"type": "order_update", "text": "order 123 delayed", "source": "crm", "data": {"order": "123"}}),
]


@pytest.mark.parametrize(("kind", "detail"), SAMPLES)
def test_rows_as_written_today_decode_and_encode_to_the_same_bytes(kind: str, detail: dict[str, Any]) -> None:
    event = from_stored(kind, detail)
    assert type(event) is MODELS[kind]
    stored_kind, stored = to_stored(event)
    assert stored_kind == kind and json.dumps(stored, ensure_ascii=False) == json.dumps(detail, ensure_ascii=False)


def test_every_model_has_a_sample_row() -> None:
    assert set(MODELS) == {kind for kind, _ in SAMPLES}


def test_old_rows_missing_fields_get_defaults_and_odd_values_never_raise() -> None:
    event = from_stored("abandoned", {"queue": "billing"})
    assert (event.queue, event.waited_s, event.short) == ("billing", 0, None)  # type: ignore[attr-defined]
    odd = from_stored("call_ended", {"by": "caller", "agent": "minsu", "talk_s": "long", "erased": True})
    assert odd.talk_s == 0 and odd.agent == "minsu" and to_stored(odd)[1] == {"by": "caller", "agent": "minsu", "erased": True}  # type: ignore[attr-defined]
    erased = from_stored("callback_requested", {"erased": True})
    assert erased.number == "" and to_stored(erased) == ("callback_requested", {"erased": True})  # type: ignore[attr-defined]
    assert from_stored("queued", None) == from_stored("queued", {})


def test_a_kind_this_version_does_not_know_decodes_to_unknown_and_back() -> None:
    event = from_stored("hold_started", {"agent": "minsu"})
    assert event == UnknownEvent(kind="hold_started", detail={"agent": "minsu"})
    assert to_stored(event) == ("hold_started", {"agent": "minsu"})


# -- (c) the engine's source: written kinds, models and read kinds agree --------------------------

WRITERS = {"record": 0, "_record": 0, "_keep": 0, "Journal": 0, "_save": 1, "save": 1, "add_event": 1, "add_event_for_channel": 1, "_miss": 1, "_step_answer": 2}
"""Calls that write a journey event, by the position of their kind argument."""
WRITER_FACTORIES = {"_record_after_hangup": 0}
"""Calls that return a writer: `factory(...)("kind", detail)`."""
CLOSERS = {"close": 4, "_close": 3, "close_call": 5}
"""Calls that close a call's journey: their kind is a keyword (or this position)."""
ROWS = ("JourneyEventRow",)
"""The table's row, made with a `kind=` keyword (the store writes `arrived` and the closings itself)."""
KIND_PARAMETERS = ("kind", "miss")
"""In a writer or closer itself, a literal default of a parameter with this name is a kind written
when the caller gives none."""
KINDISH = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
MODEL_NAMES = {model.__name__: model.KIND for model in MODELS.values()}


def _name(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _journey_names(tree: ast.Module) -> set[str]:
    """The names a file binds to engine.journey's models and modules."""
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    return {alias.asname or alias.name for n in imports for alias in n.names
            if ((n.module or "") if isinstance(n, ast.ImportFrom) else alias.name).startswith("engine.journey")}


def _is_model(node: ast.expr, journey_names: set[str]) -> bool:
    """`Queued` or `journey.Queued` naming a journey model in this file, not a fact of the same name
    (queued_call_facts.Queued): the name is imported from engine.journey, or read off a module of it."""
    if isinstance(node, ast.Name):
        return node.id in MODEL_NAMES and node.id in journey_names
    return isinstance(node, ast.Attribute) and node.attr in MODEL_NAMES and _name(node.value) in journey_names


def _sources() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(ENGINE.rglob("*.py")):
        if path.name != "events.py" or path.parent.name != "journey":
            yield str(path.relative_to(ENGINE.parent)), ast.parse(path.read_text(encoding="utf-8"))


def _constants() -> dict[str, str]:
    """Module-level NAME = "literal" of the whole engine (CALLBACK_REQUESTED)."""
    found = {}
    for _, tree in _sources():
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                found.update({target.id: node.value.value for target in node.targets if isinstance(target, ast.Name) and target.id.isupper()})
    return found


def _kind_of(node: ast.expr | None, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and KINDISH.match(node.value):
        return node.value
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if isinstance(node, ast.Attribute) and node.attr == "KIND" and _name(node.value) in MODEL_NAMES:
        return MODEL_NAMES[_name(node.value)]
    if isinstance(node, (ast.Name, ast.Attribute)) and _name(node) in MODEL_NAMES:
        return MODEL_NAMES[_name(node)]  # a model passed to a writer (the interpreter's `_miss(node, NoMatch)`)
    return None


def _strings(node: ast.AST) -> list[str]:
    """The kinds a node spells: its string literals and its `Model.KIND`s."""
    spelled = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return spelled + [MODEL_NAMES[_name(n.value)] for n in ast.walk(node) if isinstance(n, ast.Attribute) and n.attr == "KIND" and _name(n.value) in MODEL_NAMES]


def written_kinds() -> dict[str, str]:
    """kind -> the first file:line that writes it."""
    constants, written = _constants(), {}
    for where, tree in _sources():
        journey_names = _journey_names(tree)
        for node in ast.walk(tree):
            kinds: list[str | None] = []
            if isinstance(node, ast.Call):
                name = _name(node.func)
                position = WRITERS.get(name)
                if isinstance(node.func, ast.Call):
                    position = WRITER_FACTORIES.get(_name(node.func.func))
                elif name == "add" and _name(node.func.value if isinstance(node.func, ast.Attribute) else node.func) == "journey":
                    position = 0
                if position is not None and len(node.args) > position:
                    kinds.append(_kind_of(node.args[position], constants))
                if name in CLOSERS or name in ROWS:
                    kinds += [_kind_of(k.value, constants) for k in node.keywords if k.arg == "kind"]
                if name in CLOSERS:
                    kinds += [_kind_of(node.args[CLOSERS[name]], constants)] if len(node.args) > CLOSERS[name] else []
                if _is_model(node.func, journey_names):
                    kinds.append(MODEL_NAMES[name])
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (node.name in WRITERS or node.name in CLOSERS):
                arguments = node.args.args + node.args.kwonlyargs
                defaults = [None] * (len(node.args.args) - len(node.args.defaults)) + list(node.args.defaults) + list(node.args.kw_defaults)
                kinds += [_kind_of(default, constants) for argument, default in zip(arguments, defaults) if argument.arg in KIND_PARAMETERS]
            for kind in kinds:
                if kind is not None:
                    written.setdefault(kind, f"{where}:{getattr(node, 'lineno', 0)}")
    return written


def _folds_journey(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """`kind` is a parameter or loop variable of the function, and it reads a `detail`: a journey row."""
    targets = [n.target for n in ast.walk(function) if isinstance(n, (ast.For, ast.comprehension))]
    kind_given = any(a.arg == "kind" for a in function.args.args) or any(_name(n) == "kind" for t in targets for n in ast.walk(t))
    return kind_given and any(isinstance(n, (ast.Name, ast.Attribute)) and _name(n) == "detail" for n in ast.walk(function))


def read_kinds() -> dict[str, str]:
    """kind -> the first file:line that reads it: compared with a `.kind` or (where a detail is read)
    a `kind`, listed in a *_KINDS or *_MARKS constant, queried by kind, or named as a model."""
    read: dict[str, str] = {}

    def note(kinds: list[str], where: str, line: int) -> None:
        for kind in kinds:
            if KINDISH.match(kind):
                read.setdefault(kind, f"{where}:{line}")

    for where, tree in _sources():
        journey_names = _journey_names(tree)
        functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        journey_functions = {id(inner) for f in functions if _folds_journey(f) for inner in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                by_attribute = any(isinstance(s, ast.Attribute) and s.attr == "kind" and _name(s.value) != "self" for s in sides)
                by_name = any(isinstance(s, ast.Name) and s.id == "kind" for s in sides) and id(node) in journey_functions
                if by_attribute or by_name:
                    note([text for s in sides if not (isinstance(s, ast.Name) or (isinstance(s, ast.Attribute) and s.attr != "KIND")) for text in _strings(s)],
                         where, node.lineno)
            elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id.endswith(("_KINDS", "_MARKS")) for t in node.targets):
                value = node.value
                note(_strings(ast.Tuple([k for k in value.keys if k is not None], ast.Load()) if isinstance(value, ast.Dict) else value), where, node.lineno)
            elif isinstance(node, ast.Call) and node.args and (_name(node.func) == "events_of_kinds_since" or (
                _name(node.func) == "in_" and isinstance(node.func, ast.Attribute) and _name(node.func.value) == "kind")):
                note(_strings(node.args[0]), where, node.lineno)
            elif isinstance(node, ast.Call) and _name(node.func) in ("isinstance", "kinds"):
                note([MODEL_NAMES[_name(arg)] for arg in ast.walk(node) if isinstance(arg, (ast.Name, ast.Attribute)) and _is_model(arg, journey_names)], where, node.lineno)
    return read


def test_every_written_kind_has_a_model() -> None:
    missing = {kind: where for kind, where in written_kinds().items() if kind not in MODELS}
    assert not missing, f"kinds written without a model in engine/journey/events.py: {missing}"


def test_every_model_is_written_somewhere() -> None:
    written = written_kinds()
    assert not [kind for kind in MODELS if kind not in written], "models of kinds nothing writes: remove them or the writer is gone"


def test_every_kind_read_is_written() -> None:
    written = written_kinds()
    unwritten = {kind: where for kind, where in read_kinds().items() if kind not in written}
    assert not unwritten, f"kinds read that nothing writes (drift): {unwritten}"
