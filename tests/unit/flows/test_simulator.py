"""`threadline simulate` on the sample flows, from script files: the same interpreter as live calls."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from engine.cli import main
from engine.flows.simulator import load_simulation, simulate

REPO = Path(__file__).resolve().parents[3]
FLOWS = REPO / "ivr_flows"


def run(flow: str, lines: list[str], lookups: dict[str, object] | None = None) -> tuple[str, object]:
    out = io.StringIO()
    result = simulate(load_simulation(flow, FLOWS), flow, iter(lines), out, lookups)
    return out.getvalue(), result


def kinds(result: object) -> list[str]:
    return [event.kind for event in result.journey]  # type: ignore[attr-defined]


def test_english_sample_keyed_account_then_three_failed_steps_reach_technical(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "caller.txt"
    script.write_text("#123456#\nmy internet is down\n\n#2\n#2\n#2\n")
    assert main(["simulate", "support_en", "--flows", str(FLOWS), "--script", str(script)]) == 0
    out = capsys.readouterr().out
    assert "TRANSFER to queue technical skills=['internet', 'english'] priority=6" in out
    assert '"account": "123456"' in out and '"intent": "technical"' in out
    assert out.count("step_done") == 3 and "steps_unsolved" in out
    assert "no_match" not in out, "the # after a full account number must not reach the menu"


def test_korean_sample_known_caller_speaks_a_whole_sentence_to_billing() -> None:
    out, result = run("support_ko", ["이번 달 요금이 너무 많이 나왔어요"], {"crm": {"found": True, "name": "김민수", "plan": "gold"}})
    assert result.transfer is not None and result.transfer.queue == "billing"  # type: ignore[attr-defined]
    assert kinds(result)[:6] == ["flow_started", "node_entered", "node_entered", "lookup", "node_entered", "branch_taken"]
    assert "ask_account" not in out, "a caller the CRM knows is not asked for the account number"
    assert result.transfer.context["customer"]["name"] == "김민수"  # type: ignore[attr-defined]


def test_korean_sample_misunderstood_caller_still_reaches_the_right_queue() -> None:
    """Unsure recognition: confirmation is refused, then the key works."""
    _, result = run("support_ko", ["인터넷 ~0.6", "아니요", "#1"], {"crm": {"found": True}})
    assert "recognised" in kinds(result) and result.transfer.queue == "billing"  # type: ignore[attr-defined]


def test_korean_sample_agent_by_voice_from_the_menu() -> None:
    _, result = run("support_ko", ["상담원 연결해 주세요"], {"crm": {"found": True}})
    assert result.transfer.queue == "general" and result.transfer.context["customer"] == {"found": True}  # type: ignore[attr-defined]


def test_a_caller_who_hangs_up_ends_the_simulation() -> None:
    out, result = run("support_en", ["hangup"])
    assert result.ended_by == "caller" and "caller hung up" in out  # type: ignore[attr-defined]


def test_unknown_flow_and_bad_lookup_file_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "nope", "--flows", str(FLOWS)]) == 2
    assert "no flow `nope`" in capsys.readouterr().err
    bad = tmp_path / "lookups.json"
    bad.write_text("{not json")
    assert main(["simulate", "support_en", "--flows", str(FLOWS), "--lookups", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("threadline simulate: ") and "Traceback" not in err
