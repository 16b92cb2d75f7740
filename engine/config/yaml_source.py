"""Reads a flow file into plain data and remembers where every value came from (line, column).

Operators' files are untrusted input: the reader refuses oversized files, binary data, aliases
(a YAML alias bomb expands a few lines into gigabytes), tags (`!!int 3s`, `!!python/object:...`)
and deep nesting before building anything, and turns every error, whatever raised it, into a
FlowProblem at its place, never a traceback: one typo in one file must never reach a running call.
Every loader of operator files (flows, steps, queues, agents, QA) reads through this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.config.problems import FlowInvalid, FlowProblem

MAX_FILE_BYTES = 512 * 1024
MAX_DEPTH = 32
MAX_NODES = 50_000

Position = tuple[int, int]
PathKey = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Where each value of a loaded file stands, by its path from the document root."""

    file: str
    positions: dict[PathKey, Position] = field(default_factory=dict)
    key_positions: dict[PathKey, Position] = field(default_factory=dict)
    """For a mapping entry: where its key stands (the place to report an unknown field)."""

    def at(self, path: PathKey, message: str, key: bool = False) -> FlowProblem:
        """A problem at `path`, or at the nearest enclosing value that has a position."""
        table = self.key_positions if key else self.positions
        probe = tuple(path)
        while probe not in table and probe:
            probe = probe[:-1]
            table = self.positions
        line, column = table.get(probe, (1, 1))
        return FlowProblem(self.file, line, column, message)


def load_flow_file(path: Path) -> tuple[Any, SourceMap]:
    """Plain data (dicts, lists, str, int, float, bool, None) and its source map; raises FlowInvalid."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FlowInvalid([FlowProblem(name, 1, 1, f"cannot read the file: {exc.strerror or exc}")]) from None
    return load_flow_text(raw, name)


def load_flow_text(raw: bytes, name: str) -> tuple[Any, SourceMap]:
    """As load_flow_file, from bytes already read; raises FlowInvalid and nothing else."""
    try:
        return _load_checked(raw, name)
    except FlowInvalid:
        raise
    except Exception as exc:  # a PyYAML corner nobody foresaw: still a problem at the file, never a traceback
        raise FlowInvalid([FlowProblem(name, 1, 1, f"the file cannot be read as YAML ({type(exc).__name__}: {exc}); check its syntax")]) from None


def _load_checked(raw: bytes, name: str) -> tuple[Any, SourceMap]:
    if len(raw) > MAX_FILE_BYTES:
        raise FlowInvalid([FlowProblem(name, 1, 1, f"the file is {len(raw)} bytes; a flow may have at most {MAX_FILE_BYTES}. Split it into subflows.")])
    if b"\x00" in raw:
        raise FlowInvalid([FlowProblem(name, 1, 1, "the file holds binary data (a NUL byte), not YAML text")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FlowInvalid([FlowProblem(name, line, 1, "the file is not UTF-8 text; save it as UTF-8")]) from None
    source = SourceMap(name)
    try:
        root = _compose_without_aliases(text, name)
    except yaml.MarkedYAMLError as exc:
        raise FlowInvalid([syntax_problem(exc, name)]) from None
    except yaml.reader.ReaderError as exc:  # a control character: placed by its offset in the text
        before = text[: exc.position]
        line, column = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
        raise FlowInvalid([FlowProblem(name, line, column, f"character #x{int(exc.character):04x} is not allowed in YAML text; delete it")]) from None
    except yaml.YAMLError as exc:
        raise FlowInvalid([FlowProblem(name, 1, 1, f"YAML syntax: {exc}")]) from None
    except RecursionError:
        raise FlowInvalid([FlowProblem(name, 1, 1, f"the flow is nested too deeply; keep it under {MAX_DEPTH} levels")]) from None
    if root is None:
        raise FlowInvalid([FlowProblem(name, 1, 1, "the file is empty; a flow needs at least `flow:`, `start:` and `nodes:`")])
    counter = [0]
    return _to_data(root, (), source, 0, counter), source


def syntax_problem(exc: yaml.MarkedYAMLError, name: str) -> FlowProblem:
    """Where to fix a YAML error. A scanner error (an unclosed quote or bracket) is placed where the
    construct began, PyYAML's context mark, with where the parser gave up in the message; a parser error
    is placed where it gave up (the unexpected token), with where the enclosing construct began."""
    problem, context = exc.problem_mark, exc.context_mark
    what = exc.problem or exc.context or "not valid YAML"
    if "'\\t'" in what:
        what += "; indent with spaces, not tabs"
    if problem is not None and context is not None and (context.line, context.column) != (problem.line, problem.column):
        construct = exc.context or "the construct"
        if isinstance(exc, yaml.scanner.ScannerError):
            gave_up = f"line {problem.line + 1}, column {problem.column + 1}"
            return FlowProblem(name, context.line + 1, context.column + 1, f"YAML syntax: {what} at {gave_up} ({construct} that starts here)")
        began = f"line {context.line + 1}, column {context.column + 1}"
        return FlowProblem(name, problem.line + 1, problem.column + 1, f"YAML syntax: {what} ({construct} at {began})")
    mark = problem or context
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return FlowProblem(name, line, column, f"YAML syntax: {what}")


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that stops at the first anchor, alias or tag instead of expanding or constructing it."""

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if getattr(event, "tag", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, f"YAML tags are not allowed ({_shown_tag(event.tag)}); remove the tag and write the plain value", event.start_mark
            )
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in flows; write the value out", event.start_mark  # type: ignore[arg-type]
            )
        if getattr(event, "anchor", None):
            raise yaml.composer.ComposerError(
                None, None, "anchors (&name) are not allowed in flows; write the value out", event.start_mark
            )
        depth = getattr(self, "_depth", 0)
        if depth >= MAX_DEPTH:  # checked while composing: PyYAML recurses, a deep file would overflow the stack
            raise yaml.composer.ComposerError(
                None, None, f"the flow is nested more than {MAX_DEPTH} levels deep; simplify it", event.start_mark
            )
        self._depth = depth + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth = depth


def _shown_tag(tag: str) -> str:
    """The tag as the operator wrote it (`!!int`, not `tag:yaml.org,2002:int`), cut short if long."""
    shown = "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _compose_without_aliases(text: str, name: str) -> Node | None:
    loader = _NoAliasLoader(text)
    loader.name = name
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _to_data(node: Node, path: PathKey, source: SourceMap, depth: int, counter: list[int]) -> Any:
    counter[0] += 1
    if depth > MAX_DEPTH or counter[0] > MAX_NODES:
        limit = f"nested more than {MAX_DEPTH} levels deep" if depth > MAX_DEPTH else f"more than {MAX_NODES} values"
        mark = node.start_mark
        raise FlowInvalid([FlowProblem(source.file, mark.line + 1, mark.column + 1, f"the flow is {limit}; simplify it")])
    source.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar_key(key_node, source)
            if key in result:
                mark = key_node.start_mark
                raise FlowInvalid([FlowProblem(source.file, mark.line + 1, mark.column + 1, f"`{key}` appears twice in the same mapping")])
            source.key_positions[(*path, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = _to_data(value_node, (*path, key), source, depth + 1, counter)
        return result
    if isinstance(node, SequenceNode):
        return [_to_data(item, (*path, index), source, depth + 1, counter) for index, item in enumerate(node.value)]
    assert isinstance(node, ScalarNode)
    if node.tag not in _BUILT_TAGS:  # a date, a timestamp: kept as the text written (2024-13-45 must not raise)
        return str(node.value)
    try:
        # the tag's own constructor, not construct_object: that one keeps every node (and, through its
        # marks, the whole file's text) in a cache for the constructor's lifetime
        value = _SCALARS.yaml_constructors[node.tag](_SCALARS, node)
    except (ValueError, OverflowError, yaml.YAMLError):
        return str(node.value)
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(node.value)


_SCALARS = yaml.constructor.SafeConstructor()
"""Turns one resolved scalar (int, float, bool, null, string) into its value; nothing else is built."""
_BUILT_TAGS = frozenset(f"tag:yaml.org,2002:{kind}" for kind in ("str", "int", "float", "bool", "null"))


def _scalar_key(node: Node, source: SourceMap) -> str:
    if not isinstance(node, ScalarNode):
        mark = node.start_mark
        raise FlowInvalid([FlowProblem(source.file, mark.line + 1, mark.column + 1, "a key must be a plain word, not a list or mapping")])
    return str(node.value)
