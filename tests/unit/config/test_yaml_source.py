"""A bank of hostile operator files: whatever is in a flow, steps, queue, agent or QA file, the reader
answers with problems at file:line:column and `threadline validate` never prints a traceback."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from engine.cli import main
from engine.config.problems import FlowInvalid
from engine.config.yaml_source import load_flow_text

HOSTILE: dict[str, bytes] = {
    "int_tag": b"flow: demo\nstart: a\ntimeout_s: !!int 3s\n",
    "custom_tag": b"flow: demo\nprompt: !foo x\n",
    "python_object": b"flow: !!python/object/apply:os.system ['echo owned']\n",
    "python_name": b"queues: !!python/name:os.system\n",
    "bare_tag": b"flow: ! demo\n",
    "tag_directive": b"%TAG !e! tag:example.com,2000:\n---\nflow: !e!thing demo\n",
    "binary_tag": b"flow: !!binary aGVsbG8=\n",
    "unclosed_quote": b"flow: demo\nstart: a\nnodes:\n  a: {type: say, prompt: \"hello, next: b}\n  b: {type: hangup}\n\n\n",
    "unclosed_bracket": b"flow: demo\nstart: [a\nnodes: {}\n",
    "tabs": b"flow: demo\nnodes:\n\ta: {type: hangup}\n",
    "duplicate_keys": b"flow: demo\nflow: other\n",
    "binary_garbage": bytes(range(256)) * 4,
    "not_utf8": b"flow: caf\xe9\n",
    "control_character": b"flow: demo\x07\n",
    "huge": b"a: " + b"x" * 600_000 + b"\n",
    "deep_block": b"- " * 5000 + b"x\n",
    "deep_flow_style": b"[" * 5000 + b"]" * 5000 + b"\n",
    "billion_laughs": b"a: &a [lol, lol, lol]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\nd: [*c, *c, *c]\n",
    "merge_key": b"base: &base {x: 1}\nflow:\n  <<: *base\n",
    "empty": b"",
    "only_comments": b"# nothing here\n",
    "top_level_list": b"- flow\n- demo\n",
    "top_level_scalar": b"just words\n",
    "two_documents": b"flow: demo\n---\nflow: again\n",
    "complex_key": b"? {a: 1}\n: value\n",
    "bad_date": b"flow: demo\nstarted: 2024-13-45\n",
    "huge_integer": b"flow: demo\nsize: " + b"9" * 5000 + b"\n",
    "wrong_shapes": b"flow: [1, 2]\nstart: {a: b}\nnodes: 7\nqueues: [x]\nagents: yes\nscorecards: 1\nlanguage: [ko]\nchecks: ~\n",
}

PLACE = re.compile(r":(\d+):(\d+): ")


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_every_hostile_text_is_a_problem_never_an_exception(case: str) -> None:
    started = time.monotonic()
    try:
        load_flow_text(HOSTILE[case], "hostile.yaml")
    except FlowInvalid as refused:
        assert refused.problems and all(str(p).startswith("hostile.yaml:") for p in refused.problems)
    assert time.monotonic() - started < 2.0, "hostile input must be refused before it is expanded"


@pytest.mark.parametrize(
    ("case", "place", "words"),
    [
        ("int_tag", "3:12", "YAML tags are not allowed (!!int)"),
        ("custom_tag", "2:9", "YAML tags are not allowed (!foo)"),
        ("python_object", "1:7", "YAML tags are not allowed (!!python/object/apply:os.system)"),
        ("bare_tag", "1:7", "YAML tags are not allowed (!)"),
        ("binary_tag", "1:7", "YAML tags are not allowed (!!binary)"),
        ("tabs", "3:1", "YAML syntax: found character '\\t' that cannot start any token"),
        ("duplicate_keys", "2:1", "`flow` appears twice"),
        ("billion_laughs", "1:4", "anchors (&name) are not allowed"),
        ("control_character", "1:11", "character #x0007 is not allowed"),
        ("not_utf8", "1:1", "not UTF-8"),
    ],
)
def test_the_problem_names_the_place_and_the_fix(case: str, place: str, words: str) -> None:
    with pytest.raises(FlowInvalid) as refused:
        load_flow_text(HOSTILE[case], "hostile.yaml")
    report = str(refused.value)
    assert f"hostile.yaml:{place}: " in report and words in report, report


def test_an_unclosed_quote_is_reported_where_it_opened_and_where_the_parser_gave_up() -> None:
    text = b'flow: demo\nstart: a\nnodes:\n  a: {type: say, prompt: "hello, next: b}\n  b: {type: hangup}\n  c: {type: hangup}\n\n'
    with pytest.raises(FlowInvalid) as refused:
        load_flow_text(text, "quote.yaml")
    (problem,) = refused.value.problems
    assert (problem.line, problem.column) == (4, 26), problem
    assert "at line 8, column 1" in problem.message and "quoted scalar that starts here" in problem.message, problem


def test_a_date_that_is_no_date_stays_text() -> None:
    data, _ = load_flow_text(HOSTILE["bad_date"], "date.yaml")
    assert data == {"flow": "demo", "started": "2024-13-45"}


GOOD_FLOW = "flow: demo\nlanguage: en\nstart: bye\nnodes:\n  bye: {type: hangup}\n"
KINDS = {"flow": "demo.yaml", "steps": "steps/modem.yaml", "queues": "queues/q.yaml", "agents": "agents/a.yaml", "qa": "qa/quality.yaml"}


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_validate_never_prints_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, kind: str, case: str
) -> None:
    monkeypatch.setenv("THREADLINE_SPEECH__ENABLED", "false")
    folder = tmp_path / "flows"
    for sub in ("steps", "queues", "agents", "qa"):
        (folder / sub).mkdir(parents=True)
    if kind == "steps":  # a flow uses the procedure, so its file is read
        (folder / "demo.yaml").write_text(
            "flow: demo\nlanguage: en\nstart: fix\nnodes:\n  fix: {type: steps, procedure: modem, solved: bye, unsolved: bye}\n  bye: {type: hangup}\n"
        )
    elif kind != "flow":
        (folder / "demo.yaml").write_text(GOOD_FLOW)
    hostile = folder / KINDS[kind]
    hostile.write_bytes(HOSTILE[case])
    code = main(["validate", str(folder)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code == 1, (out, err)
    places = [line for line in err.splitlines() if line.startswith(f"{hostile}:") and PLACE.search(line.removeprefix(str(hostile)))]
    assert places, err
