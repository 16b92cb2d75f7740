"""The demo's pure parts and its one-time credentials: the CRM's answers, the banner, the settings
preset under the operator's own values, and passwords issued once, hashed, through the agents' secrets file,
and kept in a 0600 file a later start names."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from engine.acd.agent_secrets import AgentSecrets
from engine.cli import main
from engine.demo.demo_crm import CUSTOMERS, DEMO_MARK, demo_answer
from engine.demo.demo_mode import (DEMO_AGENT, DEMO_SUPERVISOR, DemoCredentials, DemoLogin, announce, banner, credentials_file, demo_preset, issue_credentials,
                                   new_password, settings_warning)
from engine.log_format import JsonLineFormatter
from engine.settings import LookupEndpoint, Settings, SettingsError, load_settings

SAMPLE_FLOWS = Path(__file__).resolve().parents[3] / "ivr_flows"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.model_validate({"flows": {"folder": str(SAMPLE_FLOWS)}, "acd": {"secrets_file": str(tmp_path / "agents.json")}})


def test_a_known_number_gets_its_customer_and_every_answer_says_it_is_demo_data() -> None:
    known = CUSTOMERS[1]
    answer = demo_answer(known.phone)
    assert answer["found"] is True and answer["name"] == known.name and answer["customer_id"] == known.customer_id
    assert answer["matched_by"] == "phone" and answer["demo"] == DEMO_MARK


def test_any_other_number_is_answered_as_the_first_sample_customer_so_every_demo_caller_gets_a_pop() -> None:
    for number in ("caller", "", "softphone"):
        answer = demo_answer(number)
        assert answer["name"] == CUSTOMERS[0].name and answer["found"] is True
        assert "demo default" in str(answer["matched_by"]) and answer["demo"] == DEMO_MARK


def test_the_preset_turns_the_demo_on_but_the_operators_environment_still_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./threadline.toml
    assert load_settings(environ={}).flows.inbound is None, "the demo is never the default"
    demo = load_settings(environ={"THREADLINE_HTTP__PORT": "18123", "THREADLINE_RECORDING__ENABLED": "false"}, preset=demo_preset())
    assert demo.flows.inbound == "support_ko" and demo.transcripts.enabled
    assert demo.http.port == 18123 and demo.recording.enabled is False
    settings_file = tmp_path / "mine.toml"
    settings_file.write_text('[flows]\ninbound = "support_en"\n')
    assert load_settings(settings_file, environ={}, preset=demo_preset()).flows.inbound == "support_en"


def test_passwords_are_issued_once_stored_hashed_and_work(settings: Settings) -> None:
    first = issue_credentials(settings, fresh=False)
    assert first.agent.agent_id == DEMO_AGENT and first.supervisor.agent_id == DEMO_SUPERVISOR
    assert first.agent.password and first.supervisor.password and first.sip_secret and first.sip_user == "2001"
    stored = settings.agent_secrets_path.read_text()
    assert first.agent.password not in stored and first.sip_secret not in stored and "$argon2id$" in stored
    secrets = AgentSecrets(settings.agent_secrets_path)
    assert secrets.check_web_password(DEMO_AGENT, first.agent.password)
    assert secrets.check_web_password(DEMO_SUPERVISOR, first.supervisor.password)
    assert settings.agent_secrets_path.stat().st_mode & 0o777 == 0o600

    again = issue_credentials(settings, fresh=False)
    assert (again.agent.password, again.supervisor.password, again.sip_secret) == (None, None, None), "a later start reprints nothing"
    assert AgentSecrets(settings.agent_secrets_path).check_web_password(DEMO_AGENT, first.agent.password), "and changes nothing"

    kept = credentials_file(settings)
    assert again.kept_in == kept == settings.agent_secrets_path.with_name("demo-credentials.txt") and kept.stat().st_mode & 0o777 == 0o600
    text = kept.read_text()
    assert f"minsu password: {first.agent.password}" in text and f"sora password: {first.supervisor.password}" in text
    assert f"minsu softphone: user 2001, secret {first.sip_secret}" in text

    fresh = issue_credentials(settings, fresh=True)
    assert fresh.agent.password and fresh.agent.password != first.agent.password and fresh.sip_secret
    secrets = AgentSecrets(settings.agent_secrets_path)
    assert secrets.check_web_password(DEMO_AGENT, fresh.agent.password) and not secrets.check_web_password(DEMO_AGENT, first.agent.password)


def test_a_startup_that_fails_before_the_banner_loses_nothing_the_file_keeps_what_was_issued(settings: Settings) -> None:
    first = issue_credentials(settings, fresh=False)  # then the engine failed to listen: nothing printed
    stored = json.loads(settings.agent_secrets_path.read_text())
    del stored[DEMO_SUPERVISOR]  # so only the supervisor's is issued at the next start
    settings.agent_secrets_path.write_text(json.dumps(stored))
    again = issue_credentials(settings, fresh=False)
    assert again.agent.password is None and again.supervisor.password and again.supervisor.password != first.supervisor.password
    text = credentials_file(settings).read_text()
    assert f"minsu password: {first.agent.password}" in text and f"sora password: {again.supervisor.password}" in text, "the rest is kept"
    assert text.count("sora password") == 1 and first.supervisor.password not in text


def test_a_changed_extension_gets_a_new_sip_secret_as_provisioning_would_issue_one(settings: Settings) -> None:
    first = issue_credentials(settings, fresh=False)
    store = AgentSecrets(settings.agent_secrets_path)
    store.issue_sip_secret(DEMO_AGENT, "2999")  # the agent's extension was 2999 when issued
    store.save()
    again = issue_credentials(settings, fresh=False)
    assert again.sip_secret and again.sip_secret != first.sip_secret and AgentSecrets(settings.agent_secrets_path).sip_user(DEMO_AGENT) == "2001"
    assert f"secret {again.sip_secret}" in credentials_file(settings).read_text()


def test_a_flow_folder_without_the_sample_agents_is_refused_by_name(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    shutil.copytree(SAMPLE_FLOWS, folder)
    team = folder / "agents" / "team.yaml"
    team.write_text(team.read_text().split("  sora:")[0])
    with pytest.raises(SettingsError, match="agents has no sora"):
        issue_credentials(settings.model_copy(update={"flows": settings.flows.model_copy(update={"folder": folder})}), fresh=False)


def test_new_passwords_are_long_enough_and_readable() -> None:
    passwords = {new_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(len(p) == 14 and p.count("-") == 2 and not set(p) & set("0O1lI") for p in passwords)


def test_the_banner_lists_pages_logins_and_addresses_aligned() -> None:
    credentials = DemoCredentials(DemoLogin("minsu", "김민수", "abcd-efgh-jkmn"), DemoLogin("sora", "박소라", "pqrs-tuvw-xyz2"), "2001", "s3cret")
    text = banner("http://0.0.0.0:8080", 5060, credentials, "http://127.0.0.1:40000/customers")
    assert "http://127.0.0.1:8080/agent" in text and "http://127.0.0.1:8080/supervisor" in text and "http://127.0.0.1:8080/try" in text
    assert "minsu / abcd-efgh-jkmn" in text and "sora  / pqrs-tuvw-xyz2" in text
    assert "sip:1588@127.0.0.1:5060" in text and "user 2001, secret s3cret" in text and "Not for real deployments" in text
    rows = [line for line in text.splitlines() if line.startswith("  ")]
    column = 2 + len("minsu's softphone") + 2  # the longest label, then two spaces
    assert len(rows) == 8 and all(line[column - 2:column] == "  " and line[column] != " " for line in rows), "values start in one column"


def test_a_later_start_says_the_passwords_were_shown_before_and_where_they_are_kept() -> None:
    kept = Path("/var/lib/threadline/demo-credentials.txt")
    credentials = DemoCredentials(DemoLogin("minsu", "김민수", None), DemoLogin("sora", "박소라", None), "2001", None, kept)
    text = banner("http://127.0.0.1:18080", 15060, credentials, "crm")
    assert text.count(f"not shown again; see {kept}") == 3 and f"kept in {kept}" in text and "--new-passwords" in text
    gone = banner("http://127.0.0.1:18080", 15060, DemoCredentials(credentials.agent, credentials.supervisor, "2001", None), "crm")
    assert gone.count("not shown again") == 3 and "see " not in gone and "kept in" not in gone


def test_with_json_logs_the_banner_is_one_log_line_naming_the_file_not_the_secrets(settings: Settings, capsys: pytest.CaptureFixture[str],
                                                                                  caplog: pytest.LogCaptureFixture) -> None:
    credentials = DemoCredentials(DemoLogin("minsu", "김민수", "abcd-efgh-jkmn"), DemoLogin("sora", "박소라", "pqrs-tuvw-xyz2"), "2001", "s3cret",
                                  Path("/srv/demo-credentials.txt"))
    text = banner("http://0.0.0.0:8080", 5060, credentials, "crm")
    with caplog.at_level(logging.INFO, logger="engine.demo.demo_mode"):
        announce(settings.model_copy(update={"log": settings.log.model_copy(update={"format": "json"})}), "http://0.0.0.0:8080", text, credentials)
    assert capsys.readouterr().out == "", "nothing printed into the JSON stream"
    (record,) = caplog.records
    line = json.loads(JsonLineFormatter().format(record))
    assert line["demo"]["credentials_file"] == "/srv/demo-credentials.txt" and line["demo"]["agent_page"] == "http://127.0.0.1:8080/agent"
    assert "/srv/demo-credentials.txt" in line["msg"] and not {"abcd-efgh-jkmn", "pqrs-tuvw-xyz2", "s3cret"} & set(json.dumps(line).replace('"', " ").split())
    announce(settings, "http://0.0.0.0:8080", text, credentials)
    assert capsys.readouterr().out == text + "\n", "text logs: the banner as it is"


def test_the_operators_own_inbound_flow_or_lookups_get_one_warning(settings: Settings) -> None:
    demo = settings.model_copy(update={"flows": settings.flows.model_copy(update={"inbound": "support_ko"})})
    assert settings_warning(demo) is None
    own = demo.model_copy(update={"flows": demo.flows.model_copy(update={"inbound": "support_en"}), "lookups": {"crm": LookupEndpoint(url="http://crm.example/x")}})
    warning = settings_warning(own)
    assert warning is not None and "\n" not in warning
    assert "flows.inbound = support_en" in warning and "lookups.crm" in warning and "only where lookups.crm is unset" in warning
    assert "not for real deployments" in warning


def test_new_passwords_needs_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--new-passwords"])
    assert exited.value.code == 2 and "use it with --demo" in capsys.readouterr().err
