"""Every page's text comes from its message catalogues, in Korean, Chinese and English.

The catalogues (engine/web/static/messages/*.json) must have the same keys and placeholders in all
three languages; every key a page's HTML or script names must exist; and no page may carry text
of its own outside data-i18n (apart from the product's name and the keypad's digits), so a new
label cannot silently stay English-only.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from engine.acd.monitoring import END_REASONS, Phase
from engine.web.page_language import PAGE_LANGUAGES, page_language

STATIC = Path(__file__).parents[3] / "engine" / "web" / "static"
CATALOGUES = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted((STATIC / "messages").glob("*.json"))}
PAGES = sorted(path for path in STATIC.glob("*.html"))
UNTRANSLATED = re.compile(r"^(Threadline|[0-9*#]|[\s·|/–—:…()→←]*)$")
"""Text a page may carry without a catalogue: the product's name, keypad digits, separators."""
PLACEHOLDER = re.compile(r"\{(\w+)\}")
SCRIPT_KEY = re.compile(r"""\bI18N\.t\(\s*["']([\w.]+)["']""")


class _Page(HTMLParser):
    """A page's catalogues (body data-messages), scripts, data-i18n keys and bare text."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []
        self.scripts: list[str] = []
        self.keys: list[str] = []
        self.bare: list[str] = []
        self._open: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "body":
            self.messages = values.get("data-messages", "").split()
        if tag == "script" and values.get("src", "").startswith("/static/") and "/vendor/" not in values["src"]:
            self.scripts.append(values["src"].removeprefix("/static/"))
        if "data-i18n" in values:
            self.keys.append(values["data-i18n"])
        for pair in values.get("data-i18n-attr", "").split(";"):
            if "=" in pair:
                self.keys.append(pair.split("=", 1)[1].strip())
        if tag not in {"meta", "link", "input", "br", "img", "hr", "source"}:
            self._open.append((tag, "data-i18n" in values or any(inside for _tag, inside in self._open)))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        text = data.strip()
        inside = any(translated for _tag, translated in self._open)
        tags = {tag for tag, _ in self._open}
        if text and not inside and not tags & {"script", "style"} and not UNTRANSLATED.match(text):
            self.bare.append(text)


def parsed(page: Path) -> _Page:
    reader = _Page()
    reader.feed(page.read_text(encoding="utf-8"))
    return reader


@pytest.mark.parametrize("name", sorted(CATALOGUES))
def test_each_catalogue_says_the_same_things_in_korean_chinese_and_english(name: str) -> None:
    catalogue = CATALOGUES[name]
    assert sorted(catalogue) == sorted(PAGE_LANGUAGES), f"{name}.json: needs exactly {PAGE_LANGUAGES}"
    english = catalogue["en"]
    for language in PAGE_LANGUAGES:
        messages = catalogue[language]
        assert set(messages) == set(english), f"{name}.json {language}: missing {set(english) - set(messages)}, extra {set(messages) - set(english)}"
        for key, text in messages.items():
            assert isinstance(text, str) and text.strip(), f"{name}.json {language} {key}: empty"
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(english[key])), f"{name}.json {language} {key}: placeholders differ from English"
            assert key.split(".")[0] in {name, "status"} or name == "common", f"{name}.json {key}: keys start with the catalogue's name"


def test_no_key_is_in_two_catalogues() -> None:
    seen: dict[str, str] = {}
    for name, catalogue in CATALOGUES.items():
        for key in catalogue["en"]:
            assert key not in seen, f"{key} is in both {seen[key]}.json and {name}.json"
            seen[key] = name


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_page_reads_from_its_catalogues_and_names_only_keys_they_have(page: Path) -> None:
    reader = parsed(page)
    assert "i18n.js" in reader.scripts, f"{page.name}: loads /static/i18n.js"
    assert reader.messages, f"{page.name}: <body data-messages=\"...\"> names its catalogue"
    known = set(CATALOGUES["common"]["en"])
    for name in reader.messages:
        assert name in CATALOGUES, f"{page.name}: no catalogue messages/{name}.json"
        known |= set(CATALOGUES[name]["en"])
    assert not reader.bare, f"{page.name}: text outside the catalogues (give it data-i18n): {reader.bare[:5]}"
    for key in reader.keys:
        assert key in known, f"{page.name}: data-i18n {key} is in none of its catalogues"
    for script in reader.scripts:
        for key in SCRIPT_KEY.findall((STATIC / script).read_text(encoding="utf-8")):
            assert key in known, f"{script} (on {page.name}): I18N.t({key!r}) is in none of the page's catalogues"


@pytest.mark.parametrize(
    ("picked", "setting", "header", "expected"),
    [
        ("zh", "ko", "en-US,en;q=0.9", "zh"),
        (None, "ko", "en-US,en;q=0.9", "ko"),
        (None, None, "en-US;q=0.3,zh-CN;q=0.8,ko;q=0.5", "zh"),
        (None, None, "fr-FR,ko-KR;q=0.7", "ko"),
        ("xx", None, "ZH-Hant-TW", "zh"),
        (None, None, "fr;q=bad,de", "en"),
        (None, None, None, "en"),
    ],
)
def test_the_pick_then_the_agent_setting_then_the_browser_choose_the_language(picked: str | None, setting: str | None, header: str | None, expected: str) -> None:
    assert page_language(picked, setting, header) == expected


LITERAL = re.compile(r'"([^"\\\n]*)"|\'([^\'\\\n]*)\'|`([^`\\$]*)`')
KEY_LIKE = re.compile(r"^(agent|qa|try|common|status|supervisor|reports|login|monitor|chat)\.[a-z_][\w.]*$")
TEMPLATE_KEY = re.compile(r"`((?:agent|qa|try|common|status|supervisor|reports|login|monitor|chat)\.[\w.]*)\$\{")


def _script(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


def _js_strings(script: str, const: str) -> list[str]:
    """The string literals of `const NAME = [...]`, `new Set([...])` or `{ key: ... }` (its keys)."""
    found = re.search(rf"const {const} = (?:new Set\()?([\[{{][^;]*?[\]}}])\)?;", _script(script))
    assert found, f"{script}: const {const} not found"
    body = found.group(1)
    if body.startswith("{"):
        return re.findall(r"(\w+):", body)
    return re.findall(r'"([^"]+)"', body)


def _statuses() -> list[str]:
    from typing import get_args

    from engine.web.desktop_protocol import AgentStatus

    return list(get_args(AgentStatus))


TEMPLATE_VALUES = {
    ("agent.js", "agent.field."): lambda: _js_strings("agent.js", "KNOWN_FIELDS"),
    ("agent.js", "status."): _statuses,
    ("agent.js", "agent.disposition."): lambda: _js_strings("agent.js", "KNOWN_DISPOSITIONS"),
    ("agent.js", "agent.idle."): _statuses,
    ("agent.js", "agent.previous.by_"): lambda: ["caller", "agent"],  # guarded by ["caller", "agent"].includes(call.ended_by)
    ("qa.js", "qa.check_"): lambda: _js_strings("qa.js", "CHECKS"),
    ("reports.js", "supervisor.formula."): lambda: _js_strings("reports.js", "FORMULAS"),
    ("supervisor.js", "supervisor.formula."): lambda: _js_strings("supervisor.js", "FORMULA_TITLES"),
    ("supervisor.js", "status."): _statuses,
    ("monitor.js", "monitor."): lambda: _js_strings("monitor.js", "MODES"),
    ("monitor.js", "monitor.phase."): lambda: [phase.value for phase in Phase],
    ("monitor.js", "monitor.reason."): lambda: list(END_REASONS),
    ("monitor.js", "monitor.ended."): lambda: list(END_REASONS),
}
"""Keys a script builds from a value (`agent.idle.${status}`): each with the values it is built from."""


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_key_like_string_in_a_pages_scripts_exists(page: Path) -> None:
    """Keys kept in tables (ERROR_KEYS, REASON_KEYS, SHORTCUTS...) or passed around before I18N.t
    are string literals too: each one that looks like a key must be in the page's catalogues."""
    reader = parsed(page)
    known = set(CATALOGUES["common"]["en"]).union(*(CATALOGUES[name]["en"] for name in reader.messages if name in CATALOGUES))
    for script in reader.scripts:
        for match in LITERAL.finditer(_script(script)):
            literal = next(group for group in match.groups() if group is not None)
            if KEY_LIKE.match(literal) and not literal.endswith((".js", ".json", ".html")):
                assert literal in known, f"{script} (on {page.name}): {literal!r} looks like a key and is in none of the page's catalogues"
        for prefix in TEMPLATE_KEY.findall(_script(script)):
            assert (script, prefix) in TEMPLATE_VALUES, f"{script}: `{prefix}${{...}}` is built from a value: list its values in TEMPLATE_VALUES"
            for value in TEMPLATE_VALUES[(script, prefix)]():
                assert f"{prefix}{value}" in known, f"{script} (on {page.name}): {prefix}{value} is in none of the page's catalogues"


def test_every_engine_error_code_and_pause_reason_has_words_on_the_pages() -> None:
    """The codes the engine puts on its refusals (engine/acd/refusal.py, desktop_protocol.error) and
    the pause reasons it sets: i18n.js maps each to a key, so no page shows an English code."""
    from engine.web.desktop_protocol import ERROR_CODES

    engine = Path(__file__).parents[3] / "engine"
    sources = "\n".join(path.read_text(encoding="utf-8") for path in engine.rglob("*.py"))
    codes = set(re.findall(r'Refusal\("(\w+)"', sources)) | set(re.findall(r'"code": "(\w+)"', sources))
    assert codes <= ERROR_CODES, f"codes not in desktop_protocol.ERROR_CODES: {codes - ERROR_CODES}"
    mapped = set(_js_strings("i18n.js", "ERROR_KEYS"))
    generic = {"error", "invalid_message", "wrap_up_refused", "extend_wrap_up_refused", "transfer_refused", "secure_entry_refused", "set_state_refused"}
    assert ERROR_CODES - generic <= mapped, f"i18n.js ERROR_KEYS lacks {ERROR_CODES - generic - mapped}"
    reasons = set(re.findall(r'reason="([\w-]+)"', sources)) | set(re.findall(r'RING_FAIL_REASONS = \{([^}]*)\}', sources)[0].replace('"', "").replace(" ", "").split(","))
    reasons |= {"break", "lunch", "training", "meeting", "supervisor"}
    assert {reason.replace("-", "_") for reason in reasons} <= set(_js_strings("i18n.js", "REASON_KEYS"))
