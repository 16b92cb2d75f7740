"""The branch condition language: what it allows, what it refuses, how it evaluates. Pure."""

from __future__ import annotations

import pytest

from engine.config.conditions import ConditionInvalid, parse_condition


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ('status == "active" and tries < 3', {"status": "active", "tries": 2}, True),
        ('status == "active" and tries < 3', {"status": "active", "tries": 3}, False),
        ('intent in ["billing", "sales"]', {"intent": "sales"}, True),
        ("not verified", {}, True),
        ("customer.found == true", {"customer": {"found": True}}, True),
        ("customer.found == true", {"customer": "not a mapping"}, False),
        ("tries > 2", {"tries": "many"}, False),
        ("balance <= -10", {"balance": -20}, True),
        ('note == "true"', {"note": "true"}, True),
        ("x == null", {}, True),
        ("1 < n < 5", {"n": 3}, True),
    ],
)
def test_evaluates_without_raising(text: str, values: dict[str, object], expected: bool) -> None:
    assert parse_condition(text).evaluate(values) is expected


def test_reports_the_variables_it_reads() -> None:
    assert parse_condition('a == 1 or b.c in ["x"] and not d').variables == {"a", "b", "d"}


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ('__import__("os").system("x")', 1),
        ("x + 1 > 2", 1),
        ("items[0] == 1", 1),
        ("x is null", 1),
        ("f(x)", 1),
        ("x == [y]", 7),
        ("x ==", 1),
        ("'a' * 1000000", 1),
        ("x" * 501, 1),
    ],
)
def test_refuses_anything_but_comparisons(text: str, column: int) -> None:
    with pytest.raises(ConditionInvalid) as refused:
        parse_condition(text)
    assert refused.value.column == column
