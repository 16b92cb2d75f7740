"""A customer identity a company's site signs for its chat: who the customer is, verified. Pure.

The site's server signs `identity` (base64url of the JSON {"customer", "number", "name", "exp"})
with HMAC-SHA256 under chat.identity_secret and puts `identity` and `signature` (hex) on the
embedding page. Anyone can read an identity; without the secret nobody can make one. A refusal
names the field to fix and never echoes a secret or the identity back. An identity is short-lived
(`exp` at most chat.identity_max_s ahead): one copied from a page stops working soon.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_IDENTITY_CHARS = 2048
MAX_FIELD_CHARS = 80
SIGNATURE = re.compile(r"[0-9a-f]{64}")


class IdentityRefused(ValueError):
    """A signed identity that is not taken; `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Identity:
    customer: str
    number: str
    name: str
    expires_at: datetime


def sign(payload: dict[str, object], secret: str) -> tuple[str, str]:
    """(identity, signature) as a site's server makes them (tests and the README's example)."""
    identity = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
    return identity, hmac.new(secret.encode(), identity.encode(), hashlib.sha256).hexdigest()


def customer_key(who: Identity | None) -> str:
    """Which customer a chat was opened for, as its session keeps it (a hash; "" for anonymous): a
    page that brings another customer's identity gets a new chat, never this one."""
    if who is None:
        return ""
    return hashlib.sha256(f"{who.customer}\0{who.number}".encode()).hexdigest()[:32]


def verified_identity(identity: str, signature: str, secret: str | None, now: datetime, max_ahead_s: float = 3600.0) -> Identity:
    """The identity if its signature holds and it has not expired; raises IdentityRefused."""
    if secret is None:
        raise IdentityRefused("identity", "this engine takes no signed identities (chat.identity_secret is unset)")
    if not identity or len(identity) > MAX_IDENTITY_CHARS:
        raise IdentityRefused("identity", f"base64url JSON of at most {MAX_IDENTITY_CHARS} characters")
    signed = signature.strip().lower()
    if not SIGNATURE.fullmatch(signed):
        raise IdentityRefused("signature", "64 hexadecimal characters: the HMAC-SHA256 of the identity string under chat.identity_secret")
    expected = hmac.new(secret.encode(), identity.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signed):
        raise IdentityRefused("signature", "does not match the identity: sign the identity string with HMAC-SHA256 under chat.identity_secret, in hex")
    try:
        data = json.loads(base64.urlsafe_b64decode(identity + "=" * (-len(identity) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise IdentityRefused("identity", "not base64url of a JSON object") from None
    if not isinstance(data, dict):
        raise IdentityRefused("identity", "not a JSON object with customer, number, name and exp")
    for field in ("customer", "number", "name"):
        if not isinstance(data.get(field, ""), str) or len(data.get(field, "")) > MAX_FIELD_CHARS:
            raise IdentityRefused(f"identity.{field}", f"text of at most {MAX_FIELD_CHARS} characters")
    exp = data.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool) or not math.isfinite(exp):
        raise IdentityRefused("identity.exp", "the expiry, in seconds since 1970 (UTC)")
    if exp <= now.timestamp():
        raise IdentityRefused("identity.exp", "expired: sign a fresh identity when the page is served")
    if exp > now.timestamp() + max_ahead_s:
        raise IdentityRefused("identity.exp", f"at most {max_ahead_s:.0f} s ahead (chat.identity_max_s): sign a short-lived identity when the page is served")
    expires_at = datetime.fromtimestamp(exp, UTC)
    if not data.get("customer") and not data.get("number"):
        raise IdentityRefused("identity.customer", "give the customer's id, number or both")
    return Identity(str(data.get("customer", "")), str(data.get("number", "")), str(data.get("name", "")), expires_at)
