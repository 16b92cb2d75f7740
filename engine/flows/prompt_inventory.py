"""Which texts a flow set will speak that can be rendered ahead of time (no {variables} in them)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from engine.config.flow_model import Flow, Step

PROMPT_FIELDS = frozenset({"prompt", "confirm_prompt", "hold_prompt", "question", "no_input", "no_match"})


def static_prompts(flows: Mapping[str, Flow], procedures: Mapping[str, tuple[Step, ...]]) -> list[tuple[str, str]]:
    """(text, language) pairs, each once, in flow order; templated texts are rendered per call instead."""
    found: list[tuple[str, str]] = []
    used_by: dict[str, str] = {}
    for flow in flows.values():
        found.extend((text, flow.language) for text in _texts(flow.model_dump(by_alias=True)))
        for node in flow.nodes.values():
            procedure = getattr(node, "procedure", None)
            if procedure:
                used_by.setdefault(procedure, flow.language)
    for name, steps in procedures.items():
        language = used_by.get(name, "ko")
        for step in steps:
            found.extend((text, language) for text in _texts(step.model_dump()))
    return [pair for pair in dict.fromkeys(found) if "{" not in pair[0]]


def _texts(value: Any, field: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _texts(inner, key if key in PROMPT_FIELDS else (field if key == "text" else ""))
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item, field)
    elif isinstance(value, str) and field:
        yield value
