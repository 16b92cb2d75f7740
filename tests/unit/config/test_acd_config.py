"""Queue and agent files checked like flows: each broken file reports its exact file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config.acd_config import callback_phrase_problems, flow_queue_uses, load_acd
from engine.config.problems import FlowInvalid
from engine.config.flow_validation import load_flows

REPO = Path(__file__).resolve().parents[3]

AGENTS = """\
agents:
  minsu:
    name: Minsu
    extension: "2001"
    skills: {billing: 5}
"""

BROKEN_QUEUES = {
    "unknown_field": ("queues:\n  billing:\n    skills: {billing: 2}\n    prority: 3\n", 4, "unknown field `prority`"),
    "proficiency_out_of_range": ("queues:\n  billing:\n    skills: {billing: 7}\n", 3, "less than or equal to 5"),
    "overflow_two_targets": ("queues:\n  billing:\n    skills: {billing: 1}\n    max_wait:\n      overflow: {queue: billing, callback: true}\n", 5, "choose exactly one of queue, callback, message or flow"),
    "overflow_to_missing_queue": ("queues:\n  billing:\n    skills: {billing: 1}\n    max_wait:\n      overflow: {queue: sales}\n", 5, "overflow queue `sales` is not defined"),
    "relax_without_rule": ("queues:\n  billing:\n    skills: {billing: 1}\n    relax:\n      - {after_s: 60}\n", 5, "give either `lower_by: N` or `any: true`"),
    "no_agent_can_serve": ("queues:\n  billing:\n    skills: {billing: 1}\n  sales:\n    skills: {sales: 1}\n", 5, "no agent has every skill queue `sales` needs"),
    "callback_pattern_broken": ("queues:\n  billing:\n    skills: {billing: 1}\n    callback:\n      numbers:\n        pattern: \"0[0-9{8,10}\"\n", 6, "`pattern`: not a regular expression"),
    "callback_pattern_empty_match": ("queues:\n  billing:\n    skills: {billing: 1}\n    callback:\n      numbers: {pattern: \"[0-9]*\"}\n", 5, "matches an empty number"),
    "callback_deny_not_digits": ("queues:\n  billing:\n    skills: {billing: 1}\n    callback:\n      numbers:\n        deny: [\"00\", \"06O\"]\n", 6, "`deny`: prefix '06O' is not a number prefix"),
    "callback_allow_not_digits": ("queues:\n  billing:\n    skills: {billing: 1}\n    callback:\n      numbers:\n        allow:\n          - \"PJSIP/\"\n", 7, "`allow`: prefix 'PJSIP/' is not a number prefix"),
    "callback_per_hour_zero": ("queues:\n  billing:\n    skills: {billing: 1}\n    callback:\n      numbers: {per_hour: 0}\n", 5, "`per_hour`"),
    "overflow_callback_without_offer": (
        "queues:\n  billing:\n    skills: {billing: 1}\n    max_wait:\n      seconds: 60\n      overflow: {callback: true}\n", 6,
        "overflow `callback: true` needs queue `billing`'s `callback:` offer",
    ),
    "callback_deny_plus_with_country_code": (
        "queues:\n  billing:\n    skills: {billing: 1}\n    callback:\n      numbers:\n        deny: [\"00\", \"+882\"]\n", 6,
        "`deny` prefix '+882' can never match: with country_code '82' numbers are compared in national form",
    ),
    "callback_allow_plus_own_country": (
        "queues:\n  billing:\n    skills: {billing: 1}\n    callback:\n      numbers: {allow: [\"+8210\"]}\n", 5,
        "`allow` prefix '+8210' can never match",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_QUEUES))
def test_each_broken_queue_file_is_reported_at_its_line(tmp_path: Path, case: str) -> None:
    text, line, message = BROKEN_QUEUES[case]
    (tmp_path / "queues").mkdir()
    (tmp_path / "agents").mkdir()
    (tmp_path / "queues" / "q.yaml").write_text(text)
    (tmp_path / "agents" / "a.yaml").write_text(AGENTS)
    with pytest.raises(FlowInvalid) as invalid:
        load_acd(tmp_path)
    found = [str(p) for p in invalid.value.problems]
    assert any(p.startswith(f"{tmp_path / 'queues' / 'q.yaml'}:{line}:") and message in p for p in found), found


def test_two_agents_with_one_extension_are_refused(tmp_path: Path) -> None:
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "a.yaml").write_text(AGENTS + "  jiyeon:\n    name: Jiyeon\n    extension: \"2001\"\n")
    with pytest.raises(FlowInvalid, match=r"a.yaml:8:\d+: extension 2001 is also agent `minsu`'s"):
        load_acd(tmp_path)


def test_the_samples_validate_and_a_flow_naming_a_missing_queue_is_reported_at_its_line(tmp_path: Path) -> None:
    flows = load_flows([REPO / "ivr_flows"])
    config = load_acd(REPO / "ivr_flows", flow_queue_uses(flows))
    assert set(config.queues) == {"billing", "technical", "sales", "general"} and "minsu" in config.agents
    (tmp_path / "queues").mkdir()
    (tmp_path / "queues" / "q.yaml").write_text("queues:\n  billing:\n    skills: {billing: 1}\n")
    with pytest.raises(FlowInvalid) as invalid:
        load_acd(tmp_path, flow_queue_uses(flows))
    assert any("support_ko.yaml" in str(p) and "queue `technical` is not defined" in str(p) for p in invalid.value.problems)


def test_an_overflow_into_a_flow_must_name_an_existing_flow_and_node(tmp_path: Path) -> None:
    flows = load_flows([REPO / "ivr_flows"])
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "a.yaml").write_text(AGENTS)
    (tmp_path / "queues").mkdir()
    queue = "queues:\n  billing:\n    skills: {billing: 1}\n    max_wait:\n      seconds: 60\n      overflow: {flow: %s}\n"
    (tmp_path / "queues" / "q.yaml").write_text(queue % "support_ko.goodbye")
    assert load_acd(tmp_path, (), flows).queues["billing"].max_wait is not None
    (tmp_path / "queues" / "q.yaml").write_text(queue % "support_ko.nowhere")
    with pytest.raises(FlowInvalid, match=r"q.yaml:6:\d+: node `nowhere` in flow `support_ko` does not exist"):
        load_acd(tmp_path, (), flows)


def test_callback_phrases_the_speech_model_does_not_know_are_reported_at_their_line(tmp_path: Path) -> None:
    flows = load_flows([REPO / "ivr_flows"])
    config = load_acd(REPO / "ivr_flows", flow_queue_uses(flows), flows)
    assert callback_phrase_problems(config, flows, {"ko": frozenset({"전화", "주세요", "다시", "전화해", "콜백"})}) == []
    problems = callback_phrase_problems(config, flows, {"ko": frozenset({"전화", "주세요"})})
    assert problems and all("support.yaml" in str(p) and "callback" not in str(p).split(":")[0] for p in problems)
    assert any("`콜백`" in str(p) for p in problems)


@pytest.mark.parametrize("name", ["Minsu\n[2001](agent-defaults)", "Minsu\rx", "Min\x00su", "Min\u2028su", "Min\u202esu"])
def test_an_agent_name_that_could_break_a_config_line_is_refused_at_its_line(tmp_path: Path, name: str) -> None:
    (tmp_path / "agents").mkdir()
    quoted = name.encode("unicode_escape").decode().replace('"', '\\"')
    (tmp_path / "agents" / "a.yaml").write_text(f'agents:\n  minsu:\n    name: "{quoted}"\n    extension: "2001"\n')
    with pytest.raises(FlowInvalid) as invalid:
        load_acd(tmp_path)
    (problem,) = [str(p) for p in invalid.value.problems]
    assert problem.startswith(f"{tmp_path / 'agents' / 'a.yaml'}:3:") and "`name`: contains the character U+" in problem, problem


def test_a_prefix_that_is_not_a_number_is_told_to_use_the_national_form_with_a_country_code(tmp_path: Path) -> None:
    (tmp_path / "queues").mkdir()
    (tmp_path / "queues" / "q.yaml").write_text("queues:\n  billing:\n    skills: {billing: 1}\n    callback:\n      numbers: {allow: [\"01O\"]}\n")
    with pytest.raises(FlowInvalid) as invalid:
        load_acd(tmp_path)
    (problem,) = [str(p) for p in invalid.value.problems]
    assert "national form when `country_code` is set" in problem and "only when `country_code` is empty" in problem, problem


def test_an_allow_prefix_of_the_own_country_is_told_its_national_form(tmp_path: Path) -> None:
    (tmp_path / "queues").mkdir()
    (tmp_path / "queues" / "q.yaml").write_text("queues:\n  billing:\n    skills: {billing: 1}\n    callback:\n      numbers: {allow: [\"+8210\"]}\n")
    with pytest.raises(FlowInvalid) as invalid:
        load_acd(tmp_path)
    (problem,) = [str(p) for p in invalid.value.problems]
    assert "write '010'" in problem, problem


def test_plus_prefixes_are_accepted_when_numbers_keep_their_plus_and_a_callback_overflow_with_its_offer(tmp_path: Path) -> None:
    (tmp_path / "queues").mkdir()
    (tmp_path / "queues" / "q.yaml").write_text(
        "queues:\n  billing:\n    skills: {billing: 1}\n    max_wait: {seconds: 60, overflow: {callback: true}}\n"
        "    callback:\n      numbers: {pattern: \"\\\\+[1-9][0-9]{7,14}\", country_code: \"\", deny: [\"+882\", \"+883\"]}\n"
    )
    numbers = load_acd(tmp_path).queues["billing"].callback
    assert numbers is not None and numbers.numbers.deny == ["+882", "+883"]
