"""Agents' secrets, never in the operator files: web password hashes, SIP digests and the browser
phones' secrets, in a 0600 file.

Web passwords are stored only as argon2 hashes. SIP secrets are generated, shown once, and stored
only as the MD5 digest PJSIP checks (`auth_type = md5`), so neither file holds a usable secret.
The one exception is the browser phone's secret: the agent page registers with it, so the engine
keeps it here (0600) and hands it only to the agent's own logged-in session; pjsip_agents.conf
still gets only its digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

SIP_REALM = "asterisk"
"""PJSIP's default realm: the digest is md5(user:realm:secret)."""
MIN_PASSWORD = 10


class SecretsError(Exception):
    pass


class AgentSecrets:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._hasher = PasswordHasher()
        self._data: dict[str, dict[str, str]] = self._read()

    def _read(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SecretsError(f"{self.path}: cannot read the agents' secrets ({exc}); restore it from a backup or delete it to issue new ones") from None
        if not isinstance(data, dict):
            raise SecretsError(f"{self.path}: not a JSON object")
        return {str(k): dict(v) for k, v in data.items() if isinstance(v, dict)}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump(self._data, out, indent=2, sort_keys=True)
        os.chmod(partial, 0o600)
        partial.replace(self.path)

    # -- SIP ------------------------------------------------------------------------------

    def sip_digest(self, agent_id: str) -> str | None:
        return self._data.get(agent_id, {}).get("sip_md5")

    def issue_sip_secret(self, agent_id: str, extension: str) -> str:
        """A new SIP secret for the agent's softphone; only its digest is kept. Call save() after."""
        secret = secrets.token_urlsafe(15)
        self._data.setdefault(agent_id, {}).update({"sip_md5": sip_digest(extension, secret), "sip_user": extension})
        return secret

    def sip_user(self, agent_id: str) -> str | None:
        return self._data.get(agent_id, {}).get("sip_user")

    # -- the browser phone ----------------------------------------------------------------

    def browser_phone(self, agent_id: str) -> tuple[str, str] | None:
        """(SIP user, secret) of the agent's browser phone, or None before one was issued."""
        return self._page_phone(agent_id, "web")

    def browser_phone_digest(self, agent_id: str) -> str | None:
        phone = self.browser_phone(agent_id)
        return sip_digest(*phone) if phone is not None else None

    def issue_browser_phone_secret(self, agent_id: str, user: str) -> None:
        """A new secret for the agent's browser phone (SIP user `user`). Call save() after."""
        self._issue_page_phone(agent_id, "web", user)

    # -- the supervisor page's phone (monitoring calls only) -------------------------------

    def monitor_phone(self, agent_id: str) -> tuple[str, str] | None:
        """(SIP user, secret) of the supervisor page's phone, or None before one was issued."""
        return self._page_phone(agent_id, "mon")

    def issue_monitor_phone_secret(self, agent_id: str, user: str) -> None:
        """A new secret for the supervisor page's phone (SIP user `user`). Call save() after."""
        self._issue_page_phone(agent_id, "mon", user)

    def _page_phone(self, agent_id: str, page: str) -> tuple[str, str] | None:
        entry = self._data.get(agent_id, {})
        user, secret = entry.get(f"{page}_sip_user"), entry.get(f"{page}_sip_secret")
        return (user, secret) if user and secret else None

    def _issue_page_phone(self, agent_id: str, page: str, user: str) -> None:
        self._data.setdefault(agent_id, {}).update({f"{page}_sip_user": user, f"{page}_sip_secret": secrets.token_urlsafe(18)})

    # -- web ------------------------------------------------------------------------------

    def set_web_password(self, agent_id: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise SecretsError(f"the password must have at least {MIN_PASSWORD} characters")
        self._data.setdefault(agent_id, {})["web_hash"] = self._hasher.hash(password)

    def web_password_versions(self) -> dict[str, str]:
        """Agent id -> a fingerprint of the stored hash (not the hash): a changed password changes it,
        so the web layer ends sessions opened with the old one."""
        return {agent_id: hashlib.sha256(entry["web_hash"].encode()).hexdigest()[:16] for agent_id, entry in self._data.items() if "web_hash" in entry}

    def has_web_password(self, agent_id: str) -> bool:
        return "web_hash" in self._data.get(agent_id, {})

    def check_web_password(self, agent_id: str, password: str) -> bool:
        stored = self._data.get(agent_id, {}).get("web_hash")
        if stored is None:
            self._hasher.hash(password)  # the same work as a real check: no timing hint that the agent has none
            return False
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False


def sip_digest(user: str, secret: str) -> str:
    """What PJSIP's `auth_type = md5` checks: md5(user:realm:secret)."""
    return hashlib.md5(f"{user}:{SIP_REALM}:{secret}".encode(), usedforsecurity=False).hexdigest()
