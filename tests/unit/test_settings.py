"""load_settings: defaults < TOML file < THREADLINE_* environment, with errors that name what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.settings import Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def no_threadline_toml_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_settings falls back to ./threadline.toml; run each test where there is none."""
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "threadline.toml"
    path.write_text(text)
    return path


def test_defaults_without_file_or_environment() -> None:
    settings = load_settings(environ={})

    assert settings == Settings()
    assert settings.asterisk.host == "127.0.0.1"
    assert settings.asterisk.ari_port == 8088
    assert settings.asterisk.ami_port == 5038
    assert settings.asterisk.app_name == "threadline"
    assert settings.calls.greeting == "sound:hello-world"
    assert settings.database.url.startswith("sqlite+aiosqlite://")
    assert settings.log.format == "text"
    assert settings.credentials_path == Path(".cache/instances/default/credentials.json")


def test_unrelated_environment_is_ignored() -> None:
    settings = load_settings(environ={"HOME": "/root", "PATH": "/usr/bin", "ASTERISK__ARI_PORT": "1"})

    assert settings == Settings()


def test_file_values_override_defaults(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        """
        [asterisk]
        ari_port = 18088
        app_name = "tl_test"
        credentials_file = "/etc/threadline/credentials.json"

        [localpbx]
        instance = "pytest"

        [log]
        format = "json"
        level = "DEBUG"
        """,
    )

    settings = load_settings(path, environ={})

    assert settings.asterisk.ari_port == 18088
    assert settings.asterisk.ami_port == 5038
    assert settings.asterisk.app_name == "tl_test"
    assert settings.credentials_path == Path("/etc/threadline/credentials.json")
    assert settings.instance_dir == Path(".cache/instances/pytest")
    assert settings.log.format == "json"
    assert settings.log.level == "DEBUG"


def test_file_named_by_threadline_config(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[http]\nport = 9090\n")

    settings = load_settings(environ={"THREADLINE_CONFIG": str(path)})

    assert settings.http.port == 9090


def test_threadline_toml_in_the_working_directory_is_read() -> None:
    Path("threadline.toml").write_text("[http]\nport = 9191\n")

    assert load_settings(environ={}).http.port == 9191


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[asterisk]\nari_port = 18088\nami_port = 15038\n")

    settings = load_settings(path, environ={"THREADLINE_ASTERISK__ARI_PORT": "28088"})

    assert settings.asterisk.ari_port == 28088
    assert settings.asterisk.ami_port == 15038


def test_nested_environment_variable_without_file() -> None:
    settings = load_settings(
        environ={
            "THREADLINE_ASTERISK__ARI_PORT": "18088",
            "THREADLINE_CALLS__MAX_PROMPT_S": "2.5",
            "THREADLINE_LOG__FORMAT": "json",
        }
    )

    assert settings.asterisk.ari_port == 18088
    assert settings.calls.max_prompt_s == 2.5
    assert settings.log.format == "json"


def test_bad_environment_value_names_the_variable_and_field() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"THREADLINE_ASTERISK__ARI_PORT": "eighty"})

    message = str(caught.value)
    assert "THREADLINE_ASTERISK__ARI_PORT" in message
    assert "asterisk.ari_port" in message
    assert "'eighty'" in message


def test_out_of_range_port_names_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"THREADLINE_ASTERISK__SIP_PORT.*asterisk\.sip_port.*70000"):
        load_settings(environ={"THREADLINE_ASTERISK__SIP_PORT": "70000"})


def test_bad_file_value_names_the_file_and_field(tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[asterisk]\nari_port = "eighty"\n')

    with pytest.raises(SettingsError) as caught:
        load_settings(path, environ={})

    message = str(caught.value)
    assert message.startswith(f"{path}: asterisk.ari_port:")
    assert "'eighty'" in message
    assert "THREADLINE_" not in message


def test_bad_file_value_is_blamed_on_the_file_even_when_env_sets_other_fields(tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[log]\nlevel = "LOUD"\n')

    with pytest.raises(SettingsError) as caught:
        load_settings(path, environ={"THREADLINE_LOG__FORMAT": "json"})

    assert str(caught.value).startswith(f"{path}: log.level:")


def test_every_bad_value_is_reported(tmp_path: Path) -> None:
    path = write_toml(tmp_path, '[http]\nport = -1\n[log]\nformat = "xml"\n')

    with pytest.raises(SettingsError) as caught:
        load_settings(path, environ={"THREADLINE_ASTERISK__AMI_PORT": "0"})

    lines = str(caught.value).splitlines()
    assert len(lines) == 3
    assert any(line.startswith(f"{path}: http.port:") for line in lines)
    assert any(line.startswith(f"{path}: log.format:") for line in lines)
    assert any(line.startswith("environment THREADLINE_ASTERISK__AMI_PORT: asterisk.ami_port:") for line in lines)


def test_unknown_field_in_file_is_rejected_by_name(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[asterisk]\nari_prot = 18088\n")

    with pytest.raises(SettingsError, match=r"asterisk\.ari_prot: Extra inputs are not permitted") as caught:
        load_settings(path, environ={})

    assert str(path) in str(caught.value)


def test_unknown_section_in_file_is_rejected_by_name(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[asterix]\nari_port = 18088\n")

    with pytest.raises(SettingsError, match=r"asterix"):
        load_settings(path, environ={})


def test_unknown_environment_field_is_rejected_by_variable_name() -> None:
    with pytest.raises(SettingsError, match=r"environment THREADLINE_ASTERISK__ARI_PROT: asterisk\.ari_prot"):
        load_settings(environ={"THREADLINE_ASTERISK__ARI_PROT": "18088"})


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[asterisk\nari_port = 18088\n")

    with pytest.raises(SettingsError) as caught:
        load_settings(path, environ={})

    message = str(caught.value)
    assert message.startswith(f"{path}: not valid TOML")
    assert "line 1" in message


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"

    with pytest.raises(SettingsError) as caught:
        load_settings(path, environ={})

    assert str(caught.value).startswith(f"{path}: settings file not found")


def test_missing_file_from_threadline_config_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"

    with pytest.raises(SettingsError, match="THREADLINE_CONFIG") as caught:
        load_settings(environ={"THREADLINE_CONFIG": str(path)})

    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:///data/threadline.sqlite3",
        "sqlite+aiosqlite:///:memory:",
        "postgresql+asyncpg://threadline@db.example/threadline",
    ],
)
def test_async_database_urls_are_accepted(url: str) -> None:
    assert load_settings(environ={"THREADLINE_DATABASE__URL": url}).database.url == url


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("sqlite:///data/threadline.sqlite3", "sqlite"),
        ("postgresql://threadline@db.example/threadline", "postgresql"),
        ("postgresql+psycopg2://threadline@db.example/threadline", "postgresql+psycopg2"),
    ],
)
def test_non_async_database_driver_is_rejected(url: str, scheme: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"THREADLINE_DATABASE__URL": url})

    message = str(caught.value)
    assert "THREADLINE_DATABASE__URL" in message
    assert "database.url" in message
    assert "sqlite+aiosqlite" in message and "postgresql+asyncpg" in message
    assert repr(scheme) in message


def test_rejected_database_url_does_not_print_its_password() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"THREADLINE_DATABASE__URL": "postgresql://threadline:hunter2@db.example/tl"})

    assert "hunter2" not in str(caught.value)


def test_bad_instance_name_is_rejected() -> None:
    with pytest.raises(SettingsError, match=r"localpbx\.instance"):
        load_settings(environ={"THREADLINE_LOCALPBX__INSTANCE": "../etc"})


def test_settings_are_frozen() -> None:
    settings = load_settings(environ={})

    with pytest.raises(ValidationError):
        settings.asterisk = settings.asterisk
    with pytest.raises(ValidationError):
        settings.asterisk.ari_port = 1
    with pytest.raises(ValidationError):
        settings.database.url = "sqlite+aiosqlite:///other"


def test_unknown_variable_is_named_without_its_value() -> None:
    from engine.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as caught:
        load_settings(None, environ={"THREADLINE_DATABASE_URL": "postgresql+asyncpg://u:hunter2@h/db"})
    message = str(caught.value)
    assert "THREADLINE_DATABASE_URL: not a Threadline setting" in message
    assert "Did you mean THREADLINE_DATABASE__URL?" in message
    assert "hunter2" not in message


def test_compose_and_test_variables_are_not_settings() -> None:
    from engine.settings import load_settings

    settings = load_settings(None, environ={"THREADLINE_POSTGRES_PASSWORD": "pw", "THREADLINE_TEST_POSTGRES": "x"})
    assert settings.http.port == 8080


def test_section_level_error_blames_the_environment() -> None:
    from engine.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="environment THREADLINE_ASTERISK__RTP_START: asterisk: .*rtp_start"):
        load_settings(None, environ={"THREADLINE_ASTERISK__RTP_START": "30000"})
