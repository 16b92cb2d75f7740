"""How webhook deliveries are signed and retried. Pure; no I/O, no clock (times are passed in).

Signature: `Threadline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, so
a receiver checks the body it got and refuses old replays (`verify` is what a receiver does).
Retries: exponential back-off from BASE_DELAY_S, doubled per failed attempt, capped, with full
jitter on the upper half so receivers coming back are not hit by every engine at once.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "Threadline-Signature"
EVENT_ID_HEADER = "Threadline-Event-Id"
BASE_DELAY_S = 1.0
TOLERANCE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value for this body at this time."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(header: str, secret: str, body: bytes, now: float, tolerance_s: float = TOLERANCE_S) -> bool:
    """A receiver's check: the signature matches this body and is not older (or newer) than the tolerance."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def retry_delay(attempts: int, cap_s: float, jitter: float) -> float:
    """Seconds before the next try after `attempts` failed ones; `jitter` in [0, 1) (random, from the adapter)."""
    ceiling = min(cap_s, BASE_DELAY_S * float(2 ** min(max(attempts - 1, 0), 40)))
    return ceiling / 2 + ceiling / 2 * min(max(jitter, 0.0), 1.0)


def next_try_in(attempts: int, max_attempts: int, cap_s: float, jitter: float) -> float | None:
    """After `attempts` failed tries: seconds until the next one, or None to give the delivery up."""
    return None if attempts >= max_attempts else retry_delay(attempts, cap_s, jitter)


def delivered(status: int) -> bool:
    """A 2xx is delivered; anything else (3xx too: a receiver's redirect is not followed) is retried."""
    return 200 <= status < 300
