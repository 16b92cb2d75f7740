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

    @classmethod
    def generate(cls) -> AsteriskCredentials:
        return cls(
            ari_user="threadline",
            ari_password=secrets.token_urlsafe(24),
            ami_user="threadline",
            ami_secret=secrets.token_urlsafe(24),
            softphone_user="softphone",
            softphone_password=secrets.token_urlsafe(12),
        )


def load_credentials(path: Path) -> AsteriskCredentials:
    try:
        return AsteriskCredentials.model_validate_json(path.read_text())
    except FileNotFoundError:
        raise CredentialsError(
            f"{path}: no Asterisk credentials yet. Run `threadline asterisk up` (it generates them), "
            "or set asterisk.credentials_file to the file it wrote."
        ) from None
    except (ValidationError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"{path}: unreadable credentials ({type(exc).__name__}); delete it and run `threadline asterisk up` again.") from None


def load_or_create_credentials(path: Path) -> AsteriskCredentials:
    """Keep existing credentials so a running engine's login stays valid across `up`."""
    if path.exists():
        return load_credentials(path)
    credentials = AsteriskCredentials.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(credentials.model_dump(), handle, indent=2)
    return credentials
