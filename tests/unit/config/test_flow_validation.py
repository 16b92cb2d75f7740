"""A bank of broken flows: each must be refused with its exact file:line:column and a plain message."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from engine.cli import main
from engine.config.problems import FlowInvalid
from engine.config.flow_validation import load_flows

REPO = Path(__file__).resolve().parents[3]

GOOD = """\
flow: demo
start: hello
globals:
  agent: {phrases: [agent], keys: ["0"], queue: general}
nodes:
  hello:
    type: say
    prompt: Hello {caller_number}
    next: menu
  menu:
    type: ask
    prompt: Billing or sales?
    intents:
      billing: {phrases: [billing], keys: ["1"], next: done}
      sales: {phrases: [sales], keys: ["2"], next: done}
    fallback: done
  done:
    type: queue
    queue: general
"""

BROKEN = {
    "yaml_syntax": ("flow: demo\nstart: [hello\nnodes: {}\n", "3:6: YAML syntax: expected ',' or ']'"),
    "unknown_type": (GOOD.replace("    type: say", "    type: sya"), "7:11: unknown node type `sya`; use one of say, ask,"),
    "no_type": (GOOD.replace("    type: say\n", ""), "7:5: the node has no `type:`"),
    "unknown_field": (GOOD.replace("    next: menu", "    nxt: menu"), "9:5: unknown field `nxt` in say node `hello`"),
    "missing_field": (GOOD.replace("    next: menu\n", ""), "7:5: `next` is missing in say node `hello`"),
    "missing_target": (GOOD.replace("next: menu", "next: manu"), "9:11: node `hello` goes to `manu`, which is not defined"),
    "missing_intent_target": (GOOD.replace('keys: ["2"], next: done', 'keys: ["2"], next: dne'), "15:52: node `menu` goes to `dne`"),
    "missing_start": (GOOD.replace("start: hello", "start: hi"), "2:8: start node `hi` is not defined"),
    "unreachable": (GOOD + "  orphan:\n    type: hangup\n", "20:3: node `orphan` can never be reached from `hello`"),
    "loop_without_exit": (
        "flow: demo\nstart: a\nnodes:\n  a: {type: say, prompt: x, next: b}\n  b: {type: say, prompt: y, next: a}\n",
        "4:3: node `a` is in a loop with no exit",
    ),
    "undefined_variable": (GOOD.replace("Hello {caller_number}", "Hello {customer_name}"), "8:13: the prompt uses `customer_name`, which no node sets"),
    "bad_condition": (
        GOOD.replace("    next: menu", "    next: check") + "  check:\n    type: branch\n    when:\n      - {if: 'os.system(\"x\")', then: menu}\n    else: menu\n",
        "23:14: condition `os.system(\"x\")`: `os.system('x')` is not allowed",
    ),
    "condition_variable": (
        GOOD.replace("    next: menu", "    next: check") + "  check:\n    type: branch\n    when:\n      - {if: tries > 2, then: menu}\n    else: menu\n",
        "23:14: the condition uses `tries`",
    ),
    "shared_key": (GOOD.replace('keys: ["2"]', 'keys: ["1"]'), "15:40: key 1 of intent `sales` is also the key of intent `billing`"),
    "key_of_global": (GOOD.replace('keys: ["2"]', 'keys: ["0"]'), "15:40: key 0 of intent `sales` is also the key of the global `agent` handler"),
    "missing_prompt_file": (GOOD.replace("prompt: Hello {caller_number}", "prompt: {file: prompts/hello.wav}"), "8:13: prompt file prompts/hello.wav does not exist"),
    "missing_procedure": (
        GOOD.replace("next: done}\n      sales", "next: fix}\n      sales") + "  fix:\n    type: steps\n    procedure: modem\n    solved: done\n    unsolved: done\n",
        "22:16: procedure `modem` has no file",
    ),
    "alias": (GOOD + "x: &a [1]\ny: *a\n", "20:4: YAML syntax: anchors (&name) are not allowed"),
    "duplicate_key": (GOOD.replace("    queue: general\n", "    queue: general\n    queue: sales\n"), "20:5: `queue` appears twice"),
    "band_order": (GOOD.replace("    fallback: done\n  done", "    confidence: {accept: 0.4, confirm: 0.6}\n    fallback: done\n  done"), "16:17: `confidence`: confirm (0.6) must be below accept (0.4)"),
    "collect_kind": (
        GOOD.replace("    next: menu", "    next: acct") + "  acct:\n    type: collect\n    prompt: Key it\n    into: account\n    next: menu\n    fallback: done\n",
        "21:5: `acct`: set exactly one of `digits:` or `yes_no: true`",
    ),
    "node_name": (GOOD.replace("  done:\n", "  Done:\n").replace("next: done", "next: Done").replace("fallback: done", "fallback: Done"), "17:3: name `Done`: use lower-case letters, digits and _"),
    "not_a_mapping": ("- just\n- a list\n", "1:1: a flow file is a mapping"),
    "empty": ("", "1:1: the file is empty"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_broken_flow_is_refused_at_its_place(tmp_path: Path, case: str) -> None:
    text, expected = BROKEN[case]
    path = tmp_path / "demo.yaml"
    path.write_text(text)
    with pytest.raises(FlowInvalid) as refused:
        load_flows([path])
    report = str(refused.value)
    assert f"{path}:{expected}" in report, report


def test_the_good_flow_and_the_samples_are_valid(tmp_path: Path) -> None:
    (tmp_path / "demo.yaml").write_text(GOOD)
    assert set(load_flows([tmp_path])) == {"demo"}
    samples = load_flows([REPO / "ivr_flows"])
    assert set(samples) == {"support_ko", "support_en", "support_zh", "secure_card_ko", "survey_ko"}
    assert all(len(loaded.version) == 16 for loaded in samples.values())


def test_two_files_with_one_flow_name(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    with pytest.raises(FlowInvalid, match=r"b.yaml:1:7: flow `demo` is also defined in .*a.yaml"):
        load_flows([tmp_path])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"a: &a [" + b"*a," * 20 + b"]\n", r"anchors \(&name\) are not allowed"),
        (b"- " * 200_000 + b"x", "nested more than 32 levels"),
        (b"\x00\x01\x02binary", "binary data"),
        (b"a: " + b"x" * 600_000, "a flow may have at most"),
        (b"\xff\xfe broken", "not UTF-8"),
    ],
    ids=["alias_bomb", "deep_nesting", "binary", "huge", "not_utf8"],
)
def test_hostile_yaml_is_refused_quickly(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_bytes(content)
    started = time.monotonic()
    with pytest.raises(FlowInvalid, match=expected):
        load_flows([path])
    assert time.monotonic() - started < 2.0, "hostile input must be refused before it is expanded"


def test_validate_command_exit_codes_and_no_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_SPEECH__ENABLED", "false")  # English phrases in a Korean flow: not what this test is about
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    (good / "demo.yaml").write_text(GOOD)
    (bad / "demo.yaml").write_text(BROKEN["missing_target"][0])
    assert main(["validate", str(good)]) == 0
    assert "flow demo ok" in capsys.readouterr().out
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad / 'demo.yaml'}:9:11: node `hello` goes to `manu`" in err and "Traceback" not in err
    assert main(["validate", str(tmp_path / "nowhere")]) == 2


def test_schema_command_prints_the_flow_schema(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Flow" and "nodes" in schema["properties"]
    assert {"SayNode", "AskNode", "CollectNode", "BranchNode", "QueueNode"} <= set(schema["$defs"])


def test_dedent_helper_is_not_needed() -> None:
    assert textwrap.dedent(GOOD) == GOOD
