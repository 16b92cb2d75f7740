"""Asterisk credentials: generated once per instance, stored mode 0600, never a fixed password."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError


class CredentialsError(Exception):
    pass


class AsteriskCredentials(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ari_user: str
    ari_password: str
    ami_user: str
    ami_secret: str
    softphone_user: str
    softphone_password: str
    events_user: str
    events_password: str
    """Asterisk logs in with these when it opens the outbound ARI websocket to the engine."""
    try_user: str
    try_password: str
    """The browser caller (/try) registers with these: a WebRTC caller that runs the flows."""

    @classmethod
    def generate(cls) -> AsteriskCredentials:
        return cls.model_validate(_generated_fields())


ADDED_LATER = ("events_user", "events_password", "try_user", "try_password")
"""Fields newer than the first credentials files; `up` adds them to an existing file."""


def _generated_fields() -> dict[str, str]:
    return {
        "ari_user": "threadline",
        "ari_password": secrets.token_urlsafe(24),
        "ami_user": "threadline",
        "ami_secret": secrets.token_urlsafe(24),
        "softphone_user": "softphone",
        "softphone_password": secrets.token_urlsafe(12),
        "events_user": "asterisk",
        "events_password": secrets.token_urlsafe(24),
        "try_user": "try-caller",
        "try_password": secrets.token_urlsafe(18),
    }


def load_credentials(path: Path) -> AsteriskCredentials:
    try:
        return AsteriskCredentials.model_validate_json(path.read_text())
    except FileNotFoundError:
        raise CredentialsError(
            f"{path}: no Asterisk credentials yet. Run `threadline asterisk up` (it generates them), "
            "or set asterisk.credentials_file to the file it wrote."
        ) from None
    except ValidationError as exc:
        if any(error["type"] == "missing" for error in exc.errors()):
            raise CredentialsError(
                f"{path}: written by an older Threadline (no {', '.join(str(e['loc'][0]) for e in exc.errors())}). "
                "Run `threadline asterisk up` once: it adds them and restarts Asterisk."
            ) from None
        raise CredentialsError(f"{path}: unreadable credentials ({type(exc).__name__}); delete it and run `threadline asterisk up` again.") from None
    except UnicodeDecodeError as exc:
        raise CredentialsError(f"{path}: unreadable credentials ({type(exc).__name__}); delete it and run `threadline asterisk up` again.") from None


def load_or_create_credentials(path: Path) -> AsteriskCredentials:
    """Keep existing credentials so a running engine's login stays valid across `up`.

    A file from an older Threadline lacks newer fields: they are generated and added, and the
    existing ones kept.
    """
    if not path.exists():
        credentials = AsteriskCredentials.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(path, credentials, exclusive=True)
        return credentials
    try:
        stored = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        return load_credentials(path)  # raises the operator-facing error
    missing = {k: v for k, v in _generated_fields().items() if k in ADDED_LATER and isinstance(stored, dict) and k not in stored}
    if missing:
        credentials = load_credentials_from({**stored, **missing}, path)
        _write_private(path, credentials, exclusive=False)
        return credentials
    return load_credentials(path)


def load_credentials_from(values: dict[str, object], path: Path) -> AsteriskCredentials:
    try:
        return AsteriskCredentials.model_validate(values)
    except ValidationError as exc:
        raise CredentialsError(f"{path}: unreadable credentials ({type(exc).__name__}); delete it and run `threadline asterisk up` again.") from None


def _write_private(path: Path, credentials: AsteriskCredentials, exclusive: bool) -> None:
    """Mode 0600 from the first byte: the file holds every Asterisk secret."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    descriptor = os.open(path, flags, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(credentials.model_dump(), handle, indent=2)
