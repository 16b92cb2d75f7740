"""The small, safe expression language of `branch` conditions. Pure; no eval, no attribute access.

    account_status == "active" and tries < 3
    intent in ["billing", "sales"] or not verified
    account.plan != "basic"

Allowed: variables (and dotted paths into lookup results), string/number/true/false/null literals,
lists of literals, == != < <= > >= in, not in, and, or, not. Anything else is refused when the flow
is validated, with the column of the offending part.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 500
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda left, right: left in right,
    ast.NotIn: lambda left, right: left not in right,
}
_WORDS = {"true": True, "false": False, "null": None}


class ConditionInvalid(ValueError):
    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.column = column
        """1-based position in the condition text."""


@dataclass(frozen=True)
class ConditionExpr:
    text: str
    tree: ast.expr
    variables: frozenset[str]
    """The root names it reads (`account` for `account.plan`): each must be defined by the flow."""

    def evaluate(self, values: Mapping[str, Any]) -> bool:
        """True or False; a missing variable is null, and a comparison of unlike types is False."""
        return bool(_evaluate(self.tree, values))


def parse_condition(text: str) -> ConditionExpr:
    if len(text) > MAX_LENGTH:
        raise ConditionInvalid(f"the condition is longer than {MAX_LENGTH} characters", 1)
    prepared = _words_to_python(text)
    try:
        tree = ast.parse(prepared, mode="eval").body
    except SyntaxError as exc:
        raise ConditionInvalid(f"cannot read the condition: {exc.msg}", exc.offset or 1) from None
    names: set[str] = set()
    _check(tree, names)
    return ConditionExpr(text, tree, frozenset(names))


def _words_to_python(text: str) -> str:
    """Operators write true/false/null as in YAML; same length, so columns stay right."""
    out = []
    for token in _split_keep(text):
        out.append({"true": "True", "false": "False", "null": "None"}.get(token, token))
    joined = "".join(out)
    return joined if len(joined) == len(text) else text  # only when no length changed


def _split_keep(text: str) -> list[str]:
    tokens: list[str] = []
    word = ""
    quote = ""
    for ch in text:
        if quote:
            word += ch
            if ch == quote:
                tokens.append(word)
                word, quote = "", ""
        elif ch in "\"'":
            if word:
                tokens.append(word)
            word, quote = ch, ch
        elif ch.isalnum() or ch == "_":
            word += ch
        else:
            if word:
                tokens.append(word)
                word = ""
            tokens.append(ch)
    if word:
        tokens.append(word)
    return tokens


def _check(node: ast.AST, names: set[str]) -> None:
    column = getattr(node, "col_offset", 0) + 1
    if isinstance(node, ast.BoolOp) and isinstance(node.op, (ast.And, ast.Or)):
        for value in node.values:
            _check(value, names)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check(node.operand, names)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        _check(node.operand, names)
    elif isinstance(node, ast.Compare):
        if not all(type(op) in _COMPARE for op in node.ops):
            raise ConditionInvalid("only == != < <= > >= in and not in compare values", column)
        for part in (node.left, *node.comparators):
            _check(part, names)
    elif isinstance(node, ast.Name):
        names.add(node.id)
    elif isinstance(node, ast.Attribute):
        root = _dotted_root(node)
        if root is None:
            raise ConditionInvalid("a dotted name must be variable.field", column)
        names.add(root)
    elif isinstance(node, ast.Constant):
        if not isinstance(node.value, (str, int, float, bool)) and node.value is not None:
            raise ConditionInvalid("literals are strings, numbers, true, false or null", column)
    elif isinstance(node, (ast.List, ast.Tuple)):
        for item in node.elts:
            if not isinstance(item, ast.Constant):
                raise ConditionInvalid("a list may hold only literal values", getattr(item, "col_offset", 0) + 1)
            _check(item, names)
    else:
        raise ConditionInvalid(f"`{ast.unparse(node)}` is not allowed in a condition (no calls, arithmetic or indexing)", column)


def _dotted_root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _evaluate(node: ast.expr, values: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.BoolOp):
        results = (_evaluate(value, values) for value in node.values)
        return all(results) if isinstance(node.op, ast.And) else any(results)
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, values)
        return (not operand) if isinstance(node.op, ast.Not) else -operand
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, values)
        for op, comparator in zip(node.ops, node.comparators):
            right = _evaluate(comparator, values)
            try:
                if not _COMPARE[type(op)](left, right):
                    return False
            except TypeError:
                return False
            left = right
        return True
    if isinstance(node, ast.Name):
        return values.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _evaluate(node.value, values)
        return base.get(node.attr) if isinstance(base, Mapping) else None
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_evaluate(item, values) for item in node.elts]
    raise ConditionInvalid("not allowed", 1)  # unreachable after _check
