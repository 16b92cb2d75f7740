"""Which numbers the engine may call back: the guard against toll fraud through callbacks. Pure.

A callback number comes from the caller: its caller ID (the SIP From user, or what a carrier
asserted) or the digits it keyed. Neither is trustworthy. A caller whose From user is an agent's
extension would make the engine ring that agent; `/`, `@`, `&` or `,` would let it pick another
channel technology, trunk or dialplan context in the dial string; keyed digits may be a premium or
international number. So every number is checked here, at every place one enters (the caller ID
offered, keyed digits, the automatic callback of a queue's overflow, a number typed in the web
chat, a callback restored after a restart), against the queue's dialling rules:

- only ASCII digits, with one leading `+`; anything else (letters, `/`, `&`, `２`, `٣`, spaces) is
  refused, never escaped or stripped;
- anonymous or withheld caller IDs never get a callback to the caller ID;
- a `+CC…` number of the queue's own country is dialled in national form (`+8210…` -> `010…`);
  any other `+` number is international and refused;
- the number must match the queue's `pattern` (whole number), start with one of `allow` (if any),
  and start with none of `deny`;
- at most `per_hour` callbacks to one number in any hour.

The dial string is built only from a number that passed (`dial_string`). No I/O, clock or logging.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from engine.config.acd_config import DiallingRules

MAX_NUMBER_LENGTH = 20
"""Longer than any E.164 number (15 digits) with a national prefix: a longer one is refused unread."""
SHOWN_LENGTH = 32
"""At most this much of a refused raw number is kept in the journey, escaped to ASCII."""
WITHHELD_CALLER_IDS = frozenset({"", "anonymous", "unknown", "restricted", "private", "withheld", "unavailable", "anonymous.invalid", "none", "null"})
"""Caller IDs that say the number was withheld (compared case-insensitively)."""
HOUR_S = 3600.0
_DIGITS = re.compile(r"\+?[0-9]+", re.ASCII)


class NumberSource(StrEnum):
    """Where a callback number entered."""

    CALLER_ID = "caller_id"
    KEYED = "keyed"
    OVERFLOW = "overflow"
    """The queue's max_wait overflow called back the caller ID by itself."""
    RESTORED = "restored"
    """An owed callback read back from the journey after a restart (checked against today's rules)."""
    CHAT = "chat"
    """A number the customer typed (or confirmed) in the web chat, asking to be called back."""


class RefusalReason(StrEnum):
    WITHHELD = "withheld"
    """Anonymous, withheld or unknown caller ID."""
    NOT_DIGITS = "not_digits"
    """A character other than ASCII digits and one leading `+`."""
    TOO_LONG = "too_long"
    INTERNATIONAL = "international"
    """A `+` number of another country than the queue's."""
    PATTERN = "pattern"
    """Not in the queue's number format."""
    DENIED_PREFIX = "denied_prefix"
    NOT_ALLOWED_PREFIX = "not_allowed_prefix"
    RATE_LIMITED = "rate_limited"
    NO_CALLBACKS = "no_callbacks"
    """The queue offers no callbacks (any more: a reload removed its offer)."""


@dataclass(frozen=True)
class CallbackRequest:
    raw: str
    source: NumberSource
    rules: DiallingRules
    recent: tuple[float, ...] = ()
    """When earlier callbacks to this number were requested (seconds, same clock as `now`); give
    them for the normalized number, see `recent_for`."""
    now: float = 0.0


@dataclass(frozen=True)
class CallbackAllowed:
    number: str
    """ASCII digits (with a leading `+` only where the rules keep one): safe in a dial string."""


@dataclass(frozen=True)
class CallbackRefused:
    reason: RefusalReason
    shown: str
    """The raw number, bounded and escaped to ASCII: what the journey and the log may hold."""
    detail: str = ""
    """The prefix denied, the limit reached: for the operator, never said to the caller."""


Verdict = CallbackAllowed | CallbackRefused


def shown_number(raw: str) -> str:
    """A raw number as the journey may keep it: at most SHOWN_LENGTH characters, ASCII-escaped, marked if cut."""
    cut = raw[:SHOWN_LENGTH]
    escaped = ascii(cut)[1:-1]
    return escaped + ("..." if len(raw) > SHOWN_LENGTH else "")


def is_withheld(raw: str) -> bool:
    return raw.strip().lower() in WITHHELD_CALLER_IDS


def is_plain_number(raw: str) -> bool:
    """ASCII digits with at most a leading `+`: a caller ID worth looking up in history (not a proof of identity)."""
    return len(raw) <= MAX_NUMBER_LENGTH and _DIGITS.fullmatch(raw) is not None


def normalize(raw: str, source: NumberSource, rules: DiallingRules) -> Verdict:
    """The number in the form to dial, or why it cannot be called back (before the rate limit)."""
    shown = shown_number(raw)
    if source in (NumberSource.CALLER_ID, NumberSource.OVERFLOW) and is_withheld(raw):
        return CallbackRefused(RefusalReason.WITHHELD, shown)
    if len(raw) > MAX_NUMBER_LENGTH:
        return CallbackRefused(RefusalReason.TOO_LONG, shown, f"more than {MAX_NUMBER_LENGTH} characters")
    if _DIGITS.fullmatch(raw) is None:
        return CallbackRefused(RefusalReason.NOT_DIGITS, shown)
    number = raw
    if rules.country_code and number.startswith("+"):
        if not number.startswith("+" + rules.country_code):
            return CallbackRefused(RefusalReason.INTERNATIONAL, shown, f"not +{rules.country_code}")
        number = rules.national_prefix + number[1 + len(rules.country_code):]
    denied = next((prefix for prefix in rules.deny if number.startswith(prefix)), None)
    if denied is not None:
        return CallbackRefused(RefusalReason.DENIED_PREFIX, shown, denied)
    if rules.pattern.fullmatch(number) is None:
        return CallbackRefused(RefusalReason.PATTERN, shown, rules.pattern.pattern)
    if rules.allow and not any(number.startswith(prefix) for prefix in rules.allow):
        return CallbackRefused(RefusalReason.NOT_ALLOWED_PREFIX, shown)
    return CallbackAllowed(number)


def check_callback(request: CallbackRequest) -> Verdict:
    """The whole check: format, prefixes, then at most `per_hour` callbacks to one number in an hour."""
    verdict = normalize(request.raw, request.source, request.rules)
    if isinstance(verdict, CallbackRefused) or request.source is NumberSource.RESTORED:
        return verdict  # a restored callback was counted when it was requested
    within = sum(1 for at in request.recent if request.now - HOUR_S < at <= request.now)
    if within >= request.rules.per_hour:
        return CallbackRefused(RefusalReason.RATE_LIMITED, shown_number(request.raw), f"{within} in the last hour (limit {request.rules.per_hour})")
    return verdict


def recent_for(number: str, requests: Iterable[tuple[str, str, float]]) -> tuple[float, ...]:
    """When callbacks to `number` were requested, one time per call: `requests` are (call id,
    number, at) from the journey and from this engine, possibly both for one call."""
    seen: dict[str, float] = {}
    for call_id, asked, at in requests:
        if asked == number:
            seen.setdefault(call_id, at)
    return tuple(seen.values())


def dial_string(template: str, number: str) -> str:
    """The queue's dial string with `{number}` replaced; refuses anything but a checked number."""
    if len(number) > MAX_NUMBER_LENGTH or _DIGITS.fullmatch(number) is None:
        raise ValueError(f"refusing to dial {shown_number(number)!r}: only checked numbers are dialled")
    return template.replace("{number}", number)


def display_number(raw: str) -> str:
    """A caller number safe to put in a caller ID string ("name" <number>): the number if it is
    plain, otherwise "unknown"."""
    return raw if is_plain_number(raw) else "unknown"
