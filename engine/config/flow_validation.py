"""Loads flow files and checks them the way an operator needs: every problem at its file:line:column.

Structure comes from the pydantic models (flow_model.py); this module adds what a model cannot
see: targets that do not exist, nodes no call can reach, loops no call can leave, variables never
set, conditions that do not parse, keys two answers share, prompt files that are missing.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from engine.config.conditions import ConditionInvalid, parse_condition
from engine.config.problems import FlowInvalid, FlowProblem
from engine.config.flow_model import (
    NODE_TYPES,
    AskNode,
    BranchNode,
    CollectNode,
    Flow,
    GotoNode,
    HangupNode,
    LookupNode,
    Node,
    Procedure,
    PromptFile,
    QueueNode,
    SayNode,
    SetNode,
    StepsNode,
)
from engine.language.intent_matching import words
from engine.language.vocabulary import known_form
from engine.config.yaml_source import PathKey, SourceMap, load_flow_file, load_flow_text

BUILT_IN_VARIABLES = frozenset({"caller_number", "caller_name", "dialed", "channel"})
"""Known for every call before the flow starts."""
STEPS_FOLDER = "steps"


@dataclass(frozen=True)
class LoadedProcedure:
    procedure: Procedure
    path: Path


@dataclass(frozen=True)
class LoadedFlow:
    flow: Flow
    source: SourceMap
    path: Path
    version: str
    """A hash of the file's content: the journey records which version a call ran."""


def load_flows(paths: Iterable[Path]) -> dict[str, LoadedFlow]:
    """Every flow file under `paths` (files or folders), checked as one set; raises FlowInvalid."""
    problems: list[FlowProblem] = []
    flows: dict[str, LoadedFlow] = {}
    for path in _flow_files(paths):
        try:
            loaded = _load_one(path)
        except FlowInvalid as invalid:
            problems.extend(invalid.problems)
            continue
        if loaded.flow.flow in flows:
            other = flows[loaded.flow.flow].path
            problems.append(loaded.source.at(("flow",), f"flow `{loaded.flow.flow}` is also defined in {other}; flow names must be unique"))
            continue
        flows[loaded.flow.flow] = loaded
    for loaded in flows.values():
        problems.extend(check_flow(loaded, set(flows)))
    if problems:
        raise FlowInvalid(problems)
    return flows


def _flow_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))
        else:
            yield path


def _load_one(path: Path) -> LoadedFlow:
    try:
        raw = path.read_bytes()  # read once: the version is the hash of exactly what was checked
    except OSError as exc:
        raise FlowInvalid([FlowProblem(str(path), 1, 1, f"cannot read the file: {exc.strerror or exc}")]) from None
    data, source = load_flow_text(raw, str(path))
    if not isinstance(data, dict):
        raise FlowInvalid([source.at((), "a flow file is a mapping with `flow:`, `start:` and `nodes:`")])
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        raise FlowInvalid([structure_problem(error, data, source) for error in exc.errors()]) from None
    version = hashlib.sha256(raw).hexdigest()[:16]
    return LoadedFlow(flow, source, path, version)


# -- structure errors in operator words ------------------------------------------------------


def structure_problem(error: ErrorDetails, data: dict[str, Any], source: SourceMap) -> FlowProblem:
    loc = tuple(error["loc"])
    if "[key]" in loc:  # a mapping key (a node, intent or variable name) that is not a plain name
        path = _source_path(loc[: loc.index("[key]")], data)
        return source.at(path, f"name `{path[-1]}`: use lower-case letters, digits and _ (at most 64)", key=True)
    path = _source_path(loc, data)
    kind = error["type"]
    field = str(path[-1]) if path else ""
    if kind == "extra_forbidden":
        return source.at(path, f"unknown field `{field}`{_in_node(path, data)}; check its spelling (see ivr_flows/README.md)", key=True)
    if kind == "missing":
        return source.at(path[:-1], f"`{field}` is missing{_in_node(path, data)}")
    if kind == "union_tag_invalid":
        given = error.get("input", {}).get("type") if isinstance(error.get("input"), dict) else None
        return source.at((*path, "type"), f"unknown node type `{given}`; use one of {', '.join(NODE_TYPES)}")
    if kind == "union_tag_not_found":
        return source.at(path, f"the node has no `type:`; use one of {', '.join(NODE_TYPES)}")
    message = str(error["msg"]).removeprefix("Value error, ")
    shown = error.get("input")
    value = f" (got {shown!r})" if isinstance(shown, (str, int, float, bool)) and len(repr(shown)) < 60 else ""
    return source.at(path, f"`{field}`: {message}{value}" if field else f"{message}{value}")


def _source_path(loc: tuple[Any, ...], data: dict[str, Any]) -> PathKey:
    """pydantic puts the node type into the location of a tagged union ('nodes', 'menu', 'ask', ...): drop it."""
    parts = [part for part in loc if part not in ("str", "PromptFile", "function-after[_ordered(), ConfidenceBand]")]
    if len(parts) >= 3 and parts[0] == "nodes" and parts[2] in NODE_TYPES:
        node = data.get("nodes", {}).get(parts[1]) if isinstance(data.get("nodes"), dict) else None
        if isinstance(node, dict) and node.get("type") == parts[2]:
            del parts[2]
    return tuple(str(part) if not isinstance(part, int) else part for part in parts)


def _in_node(path: PathKey, data: dict[str, Any]) -> str:
    if len(path) >= 2 and path[0] == "nodes":
        node = data.get("nodes", {}).get(path[1])
        if isinstance(node, dict):
            return f" in {node.get('type', '')} node `{path[1]}`"
    return ""


# -- meaning ---------------------------------------------------------------------------------


def check_flow(loaded: LoadedFlow, flow_names: set[str]) -> list[FlowProblem]:
    flow, source = loaded.flow, loaded.source
    problems: list[FlowProblem] = []
    edges: dict[str, list[str]] = {name: [] for name in flow.nodes}
    exits: set[str] = set()
    if flow.start not in flow.nodes:
        problems.append(source.at(("start",), f"start node `{flow.start}` is not defined; define it under `nodes:` or fix the name"))
    for name, node in flow.nodes.items():
        for path, target in _targets(name, node):
            if isinstance(node, GotoNode) and target not in flow.nodes:
                other_flow = target.split(".", 1)[0]
                if other_flow in flow_names:
                    exits.add(name)
                    continue
            if target in flow.nodes:
                edges[name].append(target)
            else:
                exits.add(name)  # reported here; not a second time as a loop without exit
                problems.append(source.at(path, f"node `{name}` goes to `{target}`, which is not defined. Add the node or fix the name."))
        if isinstance(node, (QueueNode, HangupNode)) or _agent_always_available(flow, node):
            exits.add(name)
    reachable = _reachable({flow.start}, edges) if flow.start in flow.nodes else set(flow.nodes)
    for name in flow.nodes:
        if name not in reachable:
            problems.append(source.at(("nodes", name), f"node `{name}` can never be reached from `{flow.start}`; remove it or go to it", key=True))
    leaving = _can_reach(exits, edges)
    for name in sorted(reachable - leaving):
        problems.append(source.at(("nodes", name), f"node `{name}` is in a loop with no exit: no path from it reaches a queue, a hangup or another flow", key=True))
    problems.extend(_variable_problems(flow, source))
    problems.extend(_key_problems(flow, source))
    problems.extend(_file_problems(flow, source, loaded.path.parent))
    return problems


def _targets(name: str, node: Node) -> Iterator[tuple[PathKey, str]]:
    base: PathKey = ("nodes", name)
    for field in ("next", "fallback", "on_failure", "solved", "unsolved", "target"):
        target = getattr(node, field, None)
        if isinstance(target, str):
            yield (*base, field), target
    if isinstance(node, AskNode):
        for intent_name, intent in node.intents.items():
            yield (*base, "intents", intent_name, "next"), intent.next
    if isinstance(node, BranchNode):
        for index, condition in enumerate(node.when):
            yield (*base, "when", index, "then"), condition.then
        yield (*base, "else"), node.otherwise


def _agent_always_available(flow: Flow, node: Node) -> bool:
    """An ask or collect with the global agent handler on always has a way out: to a person."""
    return isinstance(node, (AskNode, CollectNode)) and node.globals and flow.globals.agent is not None


def _can_reach(exits: set[str], edges: dict[str, list[str]]) -> set[str]:
    reverse: dict[str, list[str]] = {name: [] for name in edges}
    for source_name, targets in edges.items():
        for target in targets:
            reverse[target].append(source_name)
    return _reachable(exits, reverse)


def _reachable(starts: set[str], edges: dict[str, list[str]]) -> set[str]:
    """Every node some start leads to, the starts included."""
    seen = set(starts)
    todo = list(starts)
    while todo:
        for target in edges.get(todo.pop(), []):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _variable_problems(flow: Flow, source: SourceMap) -> list[FlowProblem]:
    defined = set(BUILT_IN_VARIABLES)
    for node in flow.nodes.values():
        if isinstance(node, (AskNode, CollectNode, LookupNode)):
            defined.add(node.into)
        if isinstance(node, SetNode):
            defined.update(node.values)
    problems: list[FlowProblem] = []
    for path, used, where in _variable_uses(flow, source):
        for variable in sorted(used - defined):
            problems.append(source.at(path, f"{where} uses `{variable}`, which no node sets (collect/ask/lookup `into:` or `set:`) and is not built in ({', '.join(sorted(BUILT_IN_VARIABLES))})"))
    return problems


def _variable_uses(flow: Flow, source: SourceMap) -> Iterator[tuple[PathKey, set[str], str]]:
    for path, text in _texts(flow):
        try:
            used = {field.split(".", 1)[0].split("[", 1)[0] for _, field, _, _ in string.Formatter().parse(text) if field}
        except ValueError as exc:
            yield path, set(), ""
            raise FlowInvalid([source.at(path, f"prompt text: {exc}; write a literal brace as {{{{ or }}}}")]) from None
        if "" in used:
            raise FlowInvalid([source.at(path, "prompt text: `{}` needs a variable name inside, e.g. {account}")])
        if path[-1] == "confirm_prompt":
            used.discard("label")  # the intent being confirmed, filled in by the ask itself
        yield path, used, "the prompt"
    for name, node in flow.nodes.items():
        if isinstance(node, BranchNode):
            for index, condition in enumerate(node.when):
                where: PathKey = ("nodes", name, "when", index, "if")
                try:
                    parsed = parse_condition(condition.if_)
                except ConditionInvalid as exc:
                    raise FlowInvalid([source.at(where, f"condition `{condition.if_}`: {exc} (at character {exc.column})")]) from None
                yield where, set(parsed.variables), "the condition"


def _texts(flow: Flow) -> Iterator[tuple[PathKey, str]]:
    for name, node in flow.nodes.items():
        base: PathKey = ("nodes", name)
        for field in ("prompt", "confirm_prompt", "hold_prompt"):
            value = getattr(node, field, None)
            if isinstance(value, str):
                yield (*base, field), value
        if isinstance(node, (AskNode, CollectNode)):
            for kind in ("no_input", "no_match"):
                for index, prompt in enumerate(getattr(node.reprompts, kind)):
                    if isinstance(prompt, str):
                        yield (*base, "reprompts", kind, index), prompt
        if isinstance(node, SetNode):
            for key, value in node.values.items():
                if isinstance(value, str):
                    yield (*base, "values", key), value
        if isinstance(node, LookupNode):
            for key, value in node.params.items():
                yield (*base, "params", key), value
        if isinstance(node, StepsNode):
            for index, step in enumerate(node.steps):
                for field in ("prompt", "question"):
                    value = getattr(step, field)
                    if isinstance(value, str):
                        yield (*base, "steps", index, field), value


def _key_problems(flow: Flow, source: SourceMap) -> list[FlowProblem]:
    problems: list[FlowProblem] = []
    global_keys: dict[str, str] = {}
    for handler_name in ("agent", "repeat", "help"):
        handler = getattr(flow.globals, handler_name)
        for key in handler.keys if handler else []:
            if key in global_keys:
                problems.append(source.at(("globals", handler_name, "keys"), f"key {key} is used by both global handlers `{global_keys[key]}` and `{handler_name}`"))
            global_keys.setdefault(key, handler_name)
    for name, node in flow.nodes.items():
        if not isinstance(node, AskNode):
            continue
        taken = dict(global_keys) if node.globals else {}
        for intent_name, intent in node.intents.items():
            for index, key in enumerate(intent.keys):
                if key in taken:
                    owner = taken[key]
                    what = f"the global `{owner}` handler" if owner in global_keys.values() and owner not in node.intents else f"intent `{owner}`"
                    problems.append(source.at(("nodes", name, "intents", intent_name, "keys", index), f"key {key} of intent `{intent_name}` is also the key of {what}; give each answer its own key"))
                taken.setdefault(key, intent_name)
    return problems


def _file_problems(flow: Flow, source: SourceMap, folder: Path) -> list[FlowProblem]:
    problems: list[FlowProblem] = []
    for path, prompt in _prompt_files(flow):
        if not (folder / prompt.file).is_file():
            problems.append(source.at(path, f"prompt file {prompt.file} does not exist (looked in {folder}); record it or use text"))
    for name, node in flow.nodes.items():
        if isinstance(node, StepsNode) and node.procedure is not None:
            shared = folder / STEPS_FOLDER / f"{node.procedure}.yaml"
            if not shared.is_file():
                problems.append(source.at(("nodes", name, "procedure"), f"procedure `{node.procedure}` has no file {shared}; create it or fix the name"))
                continue
            try:
                load_procedure(shared, node.procedure)
            except FlowInvalid as invalid:
                problems.extend(invalid.problems)
    return problems


def load_procedure(path: Path, expected_name: str) -> LoadedProcedure:
    """One shared procedure file, checked like a flow: every problem at its line."""
    data, source = load_flow_file(path)
    if not isinstance(data, dict):
        raise FlowInvalid([source.at((), "a procedure file is a mapping with `procedure:` and `steps:`")])
    try:
        procedure = Procedure.model_validate(data)
    except ValidationError as exc:
        raise FlowInvalid([structure_problem(error, data, source) for error in exc.errors()]) from None
    if procedure.procedure != expected_name:
        raise FlowInvalid([source.at(("procedure",), f"the file says procedure `{procedure.procedure}`; its file name says `{expected_name}`: make them the same")])
    problems = []
    seen: set[str] = set()
    for index, step in enumerate(procedure.steps):
        if step.id in seen:
            problems.append(source.at(("steps", index, "id"), f"step id `{step.id}` is used twice; the journey and the agent page tell steps apart by id"))
        seen.add(step.id)
    if problems:
        raise FlowInvalid(problems)
    return LoadedProcedure(procedure, path)


def _prompt_files(flow: Flow) -> Iterator[tuple[PathKey, PromptFile]]:
    for name, node in flow.nodes.items():
        for field in ("prompt", "confirm_prompt", "hold_prompt"):
            value = getattr(node, field, None)
            if isinstance(value, PromptFile):
                yield ("nodes", name, field), value


def chat_text_problems(flows: Mapping[str, LoadedFlow], procedures: Mapping[str, LoadedProcedure]) -> list[FlowProblem]:
    """Recorded prompts the web chat cannot show: a file prompt there needs its words as `text:`."""
    problems: list[FlowProblem] = []
    fix = "the web chat cannot play a recording: add `text:` beside `file:` with what it says"
    for loaded in flows.values():
        for path, prompt in _every_prompt(loaded.flow):
            if isinstance(prompt, PromptFile) and prompt.text is None:
                problems.append(loaded.source.at(path, f"prompt file {prompt.file}: {fix}"))
    for shared in procedures.values():
        for index, step in enumerate(shared.procedure.steps):
            for field in ("prompt", "question"):
                prompt = getattr(step, field)
                if isinstance(prompt, PromptFile) and prompt.text is None:
                    source = load_flow_file(shared.path)[1]
                    problems.append(source.at(("steps", index, field), f"prompt file {prompt.file}: {fix}"))
    return problems


def _every_prompt(flow: Flow) -> Iterator[tuple[PathKey, object]]:
    """Every prompt of a flow where it is written: nodes, reprompts, steps, the help handler."""
    if flow.globals.help is not None:
        yield ("globals", "help", "prompt"), flow.globals.help.prompt
    for name, node in flow.nodes.items():
        for field in ("prompt", "confirm_prompt", "hold_prompt"):
            yield ("nodes", name, field), getattr(node, field, None)
        reprompts = getattr(node, "reprompts", None)
        for kind in ("no_input", "no_match"):
            for index, prompt in enumerate(getattr(reprompts, kind, ())):
                yield ("nodes", name, "reprompts", kind, index), prompt
        for index, step in enumerate(node.steps if isinstance(node, StepsNode) else ()):
            yield ("nodes", name, "steps", index, "prompt"), step.prompt
            yield ("nodes", name, "steps", index, "question"), step.question


def load_flow_set(paths: Iterable[Path]) -> tuple[dict[str, LoadedFlow], dict[str, LoadedProcedure]]:
    """The flows and every procedure they use; raises FlowInvalid if anything is wrong."""
    flows = load_flows(paths)
    procedures: dict[str, LoadedProcedure] = {}
    for loaded in flows.values():
        for node in loaded.flow.nodes.values():
            if isinstance(node, StepsNode) and node.procedure is not None and node.procedure not in procedures:
                procedures[node.procedure] = load_procedure(loaded.path.parent / STEPS_FOLDER / f"{node.procedure}.yaml", node.procedure)
    return flows, procedures


def vocabulary_problems(
    flows: Mapping[str, LoadedFlow], procedures: Mapping[str, LoadedProcedure], vocabularies: Mapping[str, frozenset[str]]
) -> list[FlowProblem]:
    """Phrase words the flow language's speech model does not know: Vosk would silently drop them."""
    problems: list[FlowProblem] = []
    for loaded in flows.values():
        vocabulary = vocabularies.get(loaded.flow.language)
        if vocabulary is None:
            continue
        for path, phrase in _phrases(loaded.flow):
            for word in words(phrase):
                if word not in vocabulary:
                    problems.append(loaded.source.at(path, unknown_word(word, phrase, loaded.flow.language, vocabulary)))
    return problems


def _phrases(flow: Flow) -> Iterator[tuple[PathKey, str]]:
    for handler_name in ("agent", "repeat", "help"):
        handler = getattr(flow.globals, handler_name)
        for index, phrase in enumerate(handler.phrases if handler else []):
            yield ("globals", handler_name, "phrases", index), phrase
    for name, node in flow.nodes.items():
        if isinstance(node, AskNode):
            for intent_name, intent in node.intents.items():
                for index, phrase in enumerate(intent.phrases):
                    yield ("nodes", name, "intents", intent_name, "phrases", index), phrase


def unknown_word(word: str, phrase: str, language: str, vocabulary: frozenset[str]) -> str:
    stem = known_form(word, vocabulary)
    similar = [stem] if stem else []
    similar += sorted((known for known in vocabulary if known.startswith(word[:2]) and known not in (word, stem)), key=lambda w: (abs(len(w) - len(word)), w))[: 4 - len(similar)]
    hint = f"; words it knows that start alike: {', '.join(similar)}" if similar else ""
    return f"`{word}` (in the phrase `{phrase}`) is not a word the {language} speech model knows, so the recogniser would drop it; rephrase with known words{hint}"


__all__ = ["LoadedFlow", "LoadedProcedure", "load_flows", "load_flow_set", "load_procedure", "check_flow", "chat_text_problems", "vocabulary_problems", "unknown_word", "BUILT_IN_VARIABLES", "SayNode"]
