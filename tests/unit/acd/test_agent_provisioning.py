"""Agents' secrets and generated endpoints: only hashes and digests are stored, and provisioning is idempotent."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from engine.config.acd_config import AgentSettings, unsafe_name_character
from engine.acd.agent_provisioning import AGENTS_CONF, config_safe_name, provision_agents
from engine.acd.agent_phones import PhoneRegistrations, dial_target
from engine.acd.agent_secrets import AgentSecrets, SecretsError

AGENTS = {"minsu": AgentSettings(name="김민수", extension="2001", skills={"billing": 5}), "alex": AgentSettings(name='Alex "AP" Park', extension="2003")}


def test_web_passwords_are_argon2_hashes_and_checked(tmp_path: Path) -> None:
    secrets = AgentSecrets(tmp_path / "agents.json")
    with pytest.raises(SecretsError, match="at least 10 characters"):
        secrets.set_web_password("minsu", "short")
    secrets.set_web_password("minsu", "correct horse battery")
    secrets.save()
    stored = (tmp_path / "agents.json").read_text()
    assert "correct horse" not in stored and "$argon2id$" in stored
    assert (tmp_path / "agents.json").stat().st_mode & 0o777 == 0o600
    again = AgentSecrets(tmp_path / "agents.json")
    assert again.check_web_password("minsu", "correct horse battery")
    assert not again.check_web_password("minsu", "wrong horse battery") and not again.check_web_password("nobody", "correct horse battery")


def test_provisioning_issues_secrets_once_and_writes_digests_only(tmp_path: Path) -> None:
    secrets = AgentSecrets(tmp_path / "agents.json")
    first = provision_agents(AGENTS, secrets, tmp_path / "etc")
    assert first.changed and set(first.new_secrets) == {"minsu", "alex"}
    conf = (tmp_path / "etc" / AGENTS_CONF).read_text()
    secret = first.new_secrets["minsu"]
    assert secret not in conf and secret not in (tmp_path / "agents.json").read_text()
    assert f"md5_cred = {hashlib.md5(f'2001:asterisk:{secret}'.encode()).hexdigest()}" in conf
    assert 'callerid = "Alex \'AP\' Park" <2003>' in conf and "set_var = THREADLINE_AGENT=minsu" in conf
    second = provision_agents(AGENTS, AgentSecrets(tmp_path / "agents.json"), tmp_path / "etc")
    assert not second.changed and not second.new_secrets, "nothing changes, no new secret, no reload"
    moved = {**AGENTS, "alex": AgentSettings(name="Alex Park", extension="2033")}
    third = provision_agents(moved, AgentSecrets(tmp_path / "agents.json"), tmp_path / "etc")
    assert third.changed and set(third.new_secrets) == {"alex"}, "a new extension needs a new digest"


def test_every_agent_gets_a_browser_phone_whose_secret_only_the_secrets_file_holds(tmp_path: Path) -> None:
    secrets = AgentSecrets(tmp_path / "agents.json")
    first = provision_agents(AGENTS, secrets, tmp_path / "etc")
    conf = (tmp_path / "etc" / AGENTS_CONF).read_text()
    phone = AgentSecrets(tmp_path / "agents.json").browser_phone("minsu")
    assert phone is not None and phone[0] == "web2001"
    user, secret = phone
    assert "[web2001](agent-web-defaults)" in conf and "username = web2001" in conf and "aors = web2001" in conf
    assert f"md5_cred = {hashlib.md5(f'web2001:asterisk:{secret}'.encode()).hexdigest()}" in conf and secret not in conf
    assert secret in (tmp_path / "agents.json").read_text() and (tmp_path / "agents.json").stat().st_mode & 0o777 == 0o600
    assert set(first.new_secrets) == {"minsu", "alex"}, "only softphone secrets are shown; the page fetches its own"
    again = provision_agents(AGENTS, AgentSecrets(tmp_path / "agents.json"), tmp_path / "etc")
    assert not again.changed and AgentSecrets(tmp_path / "agents.json").browser_phone("minsu") == (user, secret)
    moved = provision_agents({**AGENTS, "minsu": AgentSettings(name="김민수", extension="2011")}, AgentSecrets(tmp_path / "agents.json"), tmp_path / "etc")
    assert moved.changed and "[web2011](agent-web-defaults)" in (tmp_path / "etc" / AGENTS_CONF).read_text()
    assert AgentSecrets(tmp_path / "agents.json").browser_phone("minsu") not in (None, (user, secret)), "a new extension, a new secret"


def test_the_browser_phone_rings_while_registered_else_the_softphone() -> None:
    assert dial_target("2001", frozenset()) == "PJSIP/2001"
    assert dial_target("2001", frozenset({"2001"})) == "PJSIP/2001"
    assert dial_target("2001", frozenset({"2001", "web2001"})) == "PJSIP/web2001"
    assert dial_target("2001", frozenset({"web2002"})) == "PJSIP/2001", "another agent's browser phone is not this agent's"
    phones = PhoneRegistrations()
    assert phones.changed("web2001", "online", "minsu", "2001") is True
    assert phones.any_online("2001") and phones.dial_target("2001") == "PJSIP/web2001"
    assert phones.changed("2001", "online", "minsu", "2001") is None, "already registered"
    assert phones.changed("web2001", "offline", "minsu", "2001") is None, "one of two phones went: the agent is still registered"
    assert phones.any_online("2001") and phones.dial_target("2001") == "PJSIP/2001"
    assert phones.changed("2001", "offline", "minsu", "2001") is False
    assert not phones.any_online("2001")
    assert phones.changed("2001", "unknown", "minsu", "2001") is None
    assert not phones.any_online("2001"), "only online counts"


def test_the_first_state_of_an_agent_is_passed_on_and_removed_agents_are_forgotten() -> None:
    phones = PhoneRegistrations()
    assert phones.changed("2001", "offline", "minsu", "2001") is False, "the ledger learns the agent is not registered"
    phones.changed("web2002", "online", "jisu", "2002")
    assert phones.keep_only({"minsu": "2001"}) == {}
    assert phones.online == set() and "jisu" not in phones.passed_on
    assert phones.changed("web2002", "online", "jisu", "2002") is True, "an agent added again starts afresh"


def test_the_writer_never_lets_a_name_start_a_new_config_line(tmp_path: Path) -> None:
    """Validation refuses such names at their file:line; names that came another way are escaped."""
    hostile = AgentSettings.model_construct(name='Evil\n[2009](agent-defaults)\npassword = x; "q" \\', extension="2002", skills={}, roles=["agent"])
    secrets = AgentSecrets(tmp_path / "agents.json")
    provision_agents({"evil": hostile}, secrets, tmp_path / "etc")
    conf = (tmp_path / "etc" / AGENTS_CONF).read_text()
    assert "\n[2009]" not in conf and "\npassword" not in conf
    assert 'callerid = "Evil?[2009](agent-defaults)?password = x\\; \'q\' /" <2002>' in conf, conf
    sections = [line for line in conf.splitlines() if line.startswith("[")]
    assert sections == ["[2002](agent-defaults)", "[2002]", "[2002]", "[web2002](agent-web-defaults)", "[web2002]", "[web2002]"], \
        "per phone one endpoint, auth and aor section, nothing more"


@pytest.mark.parametrize("char", ["\n", "\r", "\x00", "\x85", "\u2028", "\u2029", "\u202e", "\ufeff", "\ue000", "\u0378", "\t"])
def test_validation_and_the_writer_agree_on_every_unsafe_character(char: str) -> None:
    """One list of unsafe categories: what validation refuses is exactly what the writer replaces."""
    name = f"Min{char}su"
    assert unsafe_name_character(name) == f"the character U+{ord(char):04X}"
    assert config_safe_name(name) == "Min?su"


def test_safe_names_pass_both_unchanged() -> None:
    name = "김민수 (Minsu) Park-Lee"
    assert unsafe_name_character(name) is None and config_safe_name(name) == name


def test_a_supervisor_gets_a_supervisor_page_phone_that_is_no_agent_phone(tmp_path: Path) -> None:
    agents = {**AGENTS, "sora": AgentSettings(name="Sora", extension="2009", roles=["agent", "supervisor"])}
    provision_agents(agents, AgentSecrets(tmp_path / "agents.json"), tmp_path / "etc")
    conf = (tmp_path / "etc" / AGENTS_CONF).read_text()
    stored = AgentSecrets(tmp_path / "agents.json")
    phone = stored.monitor_phone("sora")
    assert phone is not None and phone[0] == "mon2009" and stored.monitor_phone("minsu") is None
    assert "[mon2009](agent-web-defaults)" in conf and "set_var = THREADLINE_SUPERVISOR=sora" in conf and "mon2001" not in conf
    assert f"md5_cred = {hashlib.md5(f'mon2009:asterisk:{phone[1]}'.encode()).hexdigest()}" in conf and phone[1] not in conf
    assert not provision_agents(agents, AgentSecrets(tmp_path / "agents.json"), tmp_path / "etc").changed
    registrations = PhoneRegistrations()
    assert registrations.changed("mon2009", "online", "sora", "2009") is False and dial_target("2009", frozenset({"mon2009"})) == "PJSIP/2009"
