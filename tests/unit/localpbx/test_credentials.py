"""Asterisk credentials: generated once, stored mode 0600, read back unchanged."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.localpbx.credentials import (
    AsteriskCredentials,
    CredentialsError,
    load_credentials,
    load_or_create_credentials,
)


def test_load_or_create_writes_a_0600_file(tmp_path: Path) -> None:
    path = tmp_path / "instances" / "default" / "credentials.json"

    credentials = load_or_create_credentials(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert AsteriskCredentials.model_validate(json.loads(path.read_text())) == credentials


def test_second_call_returns_the_same_credentials(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"

    first = load_or_create_credentials(path)
    second = load_or_create_credentials(path)

    assert second == first
    assert load_credentials(path) == first


def test_existing_file_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    load_or_create_credentials(path)
    before = path.read_text()

    load_or_create_credentials(path)

    assert path.read_text() == before


def test_two_generations_differ() -> None:
    first, second = AsteriskCredentials.generate(), AsteriskCredentials.generate()

    assert first.ari_password != second.ari_password
    assert first.ami_secret != second.ami_secret
    assert first.softphone_password != second.softphone_password


def test_generated_secrets_are_long_and_distinct() -> None:
    credentials = AsteriskCredentials.generate()
    secrets = [credentials.ari_password, credentials.ami_secret, credentials.softphone_password]

    assert len(set(secrets)) == 3
    assert all(len(secret) >= 16 for secret in secrets)
    assert all(secret.isascii() and " " not in secret and ";" not in secret for secret in secrets)


def test_credentials_are_frozen() -> None:
    credentials = AsteriskCredentials.generate()

    with pytest.raises(ValidationError):
        credentials.ari_password = "password"


def test_missing_file_says_to_run_asterisk_up(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"

    with pytest.raises(CredentialsError) as caught:
        load_credentials(path)

    message = str(caught.value)
    assert message.startswith(f"{path}:")
    assert "threadline asterisk up" in message
    assert "asterisk.credentials_file" in message


@pytest.mark.parametrize(
    "contents",
    [
        "not json at all",
        "",
        '{"ari_user": "threadline"',
        '{"ari_user": "threadline"}',
        '["threadline"]',
    ],
    ids=["text", "empty", "truncated", "fields_missing", "array"],
)
def test_corrupt_file_names_its_path(tmp_path: Path, contents: str) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(contents)

    with pytest.raises(CredentialsError) as caught:
        load_or_create_credentials(path)

    message = str(caught.value)
    assert message.startswith(f"{path}:")
    assert "threadline asterisk up" in message


def test_unknown_field_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    data = AsteriskCredentials.generate().model_dump() | {"sip_password": "x"}
    path.write_text(json.dumps(data))

    with pytest.raises(CredentialsError, match=str(path)):
        load_credentials(path)


def test_corrupt_file_is_left_for_the_operator(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text("not json")

    with pytest.raises(CredentialsError):
        load_or_create_credentials(path)

    assert path.read_text() == "not json"


def test_binary_garbage_is_a_credentials_error(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_bytes(b"\xff\xfe\x00\x9c garbage")

    with pytest.raises(CredentialsError, match=str(path)):
        load_credentials(path)


def test_a_file_from_before_the_events_websocket_gets_its_new_fields(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    old = AsteriskCredentials.generate().model_dump()
    del old["events_user"], old["events_password"], old["try_user"], old["try_password"]
    path.write_text(json.dumps(old))
    path.chmod(0o600)

    with pytest.raises(CredentialsError, match="Run `threadline asterisk up` once"):
        load_credentials(path)
    upgraded = load_or_create_credentials(path)

    assert upgraded.ari_password == old["ari_password"] and upgraded.ami_secret == old["ami_secret"]
    assert upgraded.events_user and len(upgraded.events_password) >= 24
    assert upgraded.try_user == "try-caller" and len(upgraded.try_password) >= 24
    assert load_credentials(path) == upgraded
    assert path.stat().st_mode & 0o777 == 0o600
