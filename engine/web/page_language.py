"""Which language a page is shown in, and the pages' message catalogues.

Every page's text comes from a catalogue in engine/web/static/messages/PAGE.json, one object per
language (ko, zh, en) with the same keys. The reader's language is, in order: what they picked on a
page (the `tl_lang` cookie, kept a year in that browser), their setting in the agents' file
(`language:`), then the browser's Accept-Language; English when none of those is one we have.
"""

from __future__ import annotations

from typing import Final

PAGE_LANGUAGES: Final = ("ko", "zh", "en")
"""The languages every page's catalogue has; the flows speak the same three."""
DEFAULT_LANGUAGE: Final = "en"
LANGUAGE_COOKIE: Final = "tl_lang"
LANGUAGE_NAMES: Final = {"ko": "한국어", "zh": "中文", "en": "English"}
"""Each language in its own script, as the picker shows it: a reader finds theirs whatever the page is in."""


def page_language(picked: str | None, agent_setting: str | None, accept_language: str | None) -> str:
    """The language to show: the reader's pick, else their agent setting, else their browser's."""
    for candidate in (picked, agent_setting):
        language = _known(candidate)
        if language is not None:
            return language
    for tag, _quality in _by_preference(accept_language or ""):
        language = _known(tag)
        if language is not None:
            return language
    return DEFAULT_LANGUAGE


def _known(tag: str | None) -> str | None:
    """A language tag (ko-KR, zh-Hans-CN, en-GB, ZH) as one of ours, or None."""
    if not tag:
        return None
    primary = tag.strip().lower().split("-")[0].split("_")[0]
    return primary if primary in PAGE_LANGUAGES else None


def _by_preference(header: str) -> list[tuple[str, float]]:
    """Accept-Language's tags, most wanted first (a malformed weight counts as 0, never an error)."""
    tags: list[tuple[str, float]] = []
    for part in header.split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            tags.append((tag, quality))
    return sorted(tags, key=lambda item: -item[1])
