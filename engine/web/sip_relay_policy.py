"""What a page may send through the engine's SIP relay to Asterisk. Pure; no I/O, no SIP stack.

Asterisk sees every relayed page as the relay's own address, so it cannot tell pages apart by
address; this filter makes sure a page speaks only as its own SIP user. It reads a frame's first
line, its From header and its length, nothing else:

- a request that starts a dialog (no To tag: REGISTER, a new INVITE, CANCEL, OPTIONS...) must be
  From the session's own user (`web<extension>` for an agent, `try-caller` for /try). A request
  inside a dialog keeps the From of that dialog, which for a call Asterisk placed to the page is
  the page's random contact user, so its From is not checked; it cannot start a call (Asterisk
  answers 481 to a dialog it does not know);
- one frame is one message (RFC 7118): CRLF line ends, Content-Length equal to the body, no folded
  header lines, one From header; so nothing unchecked can ride behind a checked message;
- per relay, optionally: the methods allowed; at most `new_invites_per_minute` INVITEs without a
  To tag in any 60 s (a call takes two: SIP.js re-sends its INVITE once with its credentials); the
  first such INVITE within `first_call_within_s` of opening; and at most `max_open_s` open.

Responses (frames starting "SIP/2.0") and blank keep-alives pass unread.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

TRY_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE", "PRACK"})
"""What the /try caller page may send: calls only; no REGISTER, SUBSCRIBE, PUBLISH, MESSAGE, REFER."""
CALL_WINDOW_S = 60.0


@dataclass(frozen=True)
class RelayRules:
    """What one relay lets its page send."""

    sip_user: str
    methods: frozenset[str] | None = None
    """None: any method."""
    new_invites_per_minute: int | None = None
    first_call_within_s: float | None = None
    max_open_s: float | None = None


@dataclass(frozen=True)
class SipRequest:
    method: str
    from_user: str
    in_dialog: bool
    """The To header has a tag: the request belongs to a dialog that already exists."""


class FrameRefused(Exception):
    """Why a frame is not relayed (never the message itself: it may carry a password digest)."""


def read_request(frame: str) -> SipRequest | None:
    """The request in a frame, or None for a response or a keep-alive; FrameRefused if malformed."""
    if not frame.strip() or frame.startswith("SIP/2.0 "):
        return None
    head, separator, body = frame.partition("\r\n\r\n")
    if not separator:
        raise FrameRefused("a SIP message without the blank line after its headers")
    if "\n" in head.replace("\r\n", "") or "\r" in head.replace("\r\n", ""):
        raise FrameRefused("a line end other than CRLF in the headers")
    first, *headers = head.split("\r\n")
    parts = first.split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0" or not parts[0].isalpha() or not parts[0].isupper():
        raise FrameRefused("not a SIP request line")
    values = _headers(headers)
    lengths = values.get("content-length", []) + values.get("l", [])
    if len(lengths) != 1 or not lengths[0].isdigit() or int(lengths[0]) != len(body.encode()):
        raise FrameRefused("Content-Length missing or not the body's length (one message per frame)")
    senders = values.get("from", []) + values.get("f", [])
    recipients = values.get("to", []) + values.get("t", [])
    if len(senders) != 1 or len(recipients) != 1:
        raise FrameRefused("not exactly one From and one To header")
    return SipRequest(parts[0], _uri_user(senders[0]), _has_tag(recipients[0]))


def _headers(lines: list[str]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in lines:
        if line[:1] in (" ", "\t"):
            raise FrameRefused("a folded header line")
        name, colon, value = line.partition(":")
        if not colon:
            raise FrameRefused("a header line without a colon")
        values.setdefault(name.strip().lower(), []).append(value.strip())
    return values


def _uri_user(value: str) -> str:
    """The user part of a From header's URI: `"Name" <sip:user@host>;tag=x` or `sip:user@host;tag=x`."""
    uri = value[value.index("<") + 1:value.index(">")] if "<" in value and ">" in value else value.split(";")[0]
    scheme, colon, rest = uri.strip().partition(":")
    if not colon or scheme.lower() not in ("sip", "sips") or "@" not in rest:
        return ""
    return rest.split("@")[0]


def _has_tag(value: str) -> bool:
    after_uri = value[value.index(">") + 1:] if ">" in value else value
    return any(param.strip().lower().startswith("tag=") for param in after_uri.split(";")[1:])


@dataclass
class RelayPolicy:
    """One relay's rules and what its page has sent so far; the adapter passes the clock in."""

    rules: RelayRules
    opened_at: float
    new_invites: deque[float] = field(default_factory=deque)
    called: bool = False

    def refusal(self, frame: str, now: float) -> str | None:
        """Why this frame from the page is refused, or None to relay it."""
        try:
            request = read_request(frame)
        except FrameRefused as exc:
            return str(exc)
        if request is None:
            return None
        if self.rules.methods is not None and request.method not in self.rules.methods:
            return f"{request.method} is not allowed here"
        if request.in_dialog:
            return None
        if request.from_user != self.rules.sip_user:
            return f"{request.method} From a user other than the page's own ({self.rules.sip_user})"
        if request.method == "INVITE":
            return self._new_invite(now)
        return None

    def _new_invite(self, now: float) -> str | None:
        limit = self.rules.new_invites_per_minute
        while self.new_invites and self.new_invites[0] <= now - CALL_WINDOW_S:
            self.new_invites.popleft()
        if limit is not None and len(self.new_invites) >= limit:
            return f"more than {limit} new INVITEs in {CALL_WINDOW_S:.0f} s"
        self.new_invites.append(now)
        self.called = True
        return None

    def deadline(self) -> tuple[float, str] | None:
        """When the relay is closed whatever its page sends, and why; None: never."""
        ends: list[tuple[float, str]] = []
        if self.rules.first_call_within_s is not None and not self.called:
            ends.append((self.opened_at + self.rules.first_call_within_s, f"no call started within {self.rules.first_call_within_s:.0f} s"))
        if self.rules.max_open_s is not None:
            ends.append((self.opened_at + self.rules.max_open_s, f"open for {self.rules.max_open_s / 60:.0f} minutes, the most a line stays open"))
        return min(ends) if ends else None
