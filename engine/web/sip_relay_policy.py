"""What a page may send through the engine's SIP relay to Asterisk. Pure; no I/O, no SIP stack.

Asterisk sees every relayed page as the relay's own address, so it cannot tell pages apart by
address; this filter makes sure a page speaks only as its own SIP user. It reads a frame's first
line, its From, To and Call-ID headers and its length, nothing else:

- a request that starts a dialog (no To tag: REGISTER, a new INVITE, CANCEL, OPTIONS...) must be
  From the session's own user (`web<extension>` for an agent, `try-caller` for /try). A request
  inside a dialog keeps the From of that dialog, which for a call Asterisk placed to the page is
  the page's random contact user, so its From is not checked; it cannot start a call (Asterisk
  answers 481 to a dialog it does not know);
- a REGISTER is From and To the session's own user;
- one frame is one message (RFC 7118), a response as much as a request (Asterisk's websocket is a
  stream transport that splits what it reads by Content-Length): CRLF line ends, exactly one
  Content-Length equal to the body, no folded header lines, at most one From, To and Call-ID
  (compact forms count as their long forms); so nothing unchecked can ride behind a checked message;
- From and To are read as name-addr: a `<` inside the quoted display name is not the URI;
- per relay, optionally: the methods allowed; one call in all (`one_call`: new INVITEs of one
  Call-ID and From tag); at most `new_invites_per_minute` INVITEs without a To tag in any 60 s (a
  call takes two: SIP.js re-sends its INVITE once with its credentials); the first such INVITE
  within `first_call_within_s` of opening; and at most `max_open_s` open.

Blank keep-alives pass; a response's framing is checked, its headers are not.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

TRY_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE", "PRACK"})
"""What the /try caller page may send: calls only; no REGISTER, SUBSCRIBE, PUBLISH, MESSAGE, REFER."""
AGENT_METHODS = TRY_METHODS | {"REGISTER", "NOTIFY"}
"""What an agent's browser phone (SIP.js SessionManager: register, answer, hold, DTMF) sends; NOTIFY
answers a REFER. No SUBSCRIBE, PUBLISH, MESSAGE or REFER: transfers go through the Desktop."""
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
    one_call: bool = False
    """The relay carries one call in all: new INVITEs of one Call-ID and From tag only."""


@dataclass(frozen=True)
class SipRequest:
    method: str
    from_user: str
    in_dialog: bool
    """The To header has a tag: the request belongs to a dialog that already exists."""
    call_id: str = ""
    from_tag: str = ""
    to_user: str = ""


class FrameRefused(Exception):
    """Why a frame is not relayed (never the message itself: it may carry a password digest)."""


def read_request(frame: str) -> SipRequest | None:
    """The request in a frame, or None for a response or a keep-alive; FrameRefused if malformed.
    A response is framed as strictly as a request: Asterisk's websocket is a stream transport, so
    anything after a message's Content-Length would be read as a next message."""
    if not frame.strip():
        return None
    head, separator, body = frame.partition("\r\n\r\n")
    if not separator:
        raise FrameRefused("a SIP message without the blank line after its headers")
    if "\n" in head.replace("\r\n", "") or "\r" in head.replace("\r\n", ""):
        raise FrameRefused("a line end other than CRLF in the headers")
    first, *headers = head.split("\r\n")
    response = first.startswith("SIP/2.0 ")
    parts = first.split(" ")
    if response and not _STATUS_LINE.fullmatch(first):
        raise FrameRefused("not a SIP status line")
    if not response and (len(parts) != 3 or parts[2] != "SIP/2.0" or not parts[0].isascii() or not parts[0].isalpha() or not parts[0].isupper()):
        raise FrameRefused("not a SIP request line")
    values = _headers(headers)
    lengths = values.get("content-length", [])
    if len(lengths) != 1 or not re.fullmatch(r"[0-9]{1,9}", lengths[0]) or int(lengths[0]) != len(body.encode()):
        raise FrameRefused("Content-Length missing, repeated or not the body's length (one message per frame)")
    if any(len(values.get(name, [])) > 1 for name in ("from", "to", "call-id")):
        raise FrameRefused("more than one From, To or Call-ID header")
    if response:
        return None
    if any(len(values.get(name, [])) != 1 for name in ("from", "to", "call-id")):
        raise FrameRefused("not exactly one From, To and Call-ID header")
    sender_uri, sender_params = name_addr(values["from"][0])
    recipient_uri, recipient_params = name_addr(values["to"][0])
    return SipRequest(parts[0], _uri_user(sender_uri), _param(recipient_params, "tag") is not None,
                      values["call-id"][0], _param(sender_params, "tag") or "", _uri_user(recipient_uri))


_STATUS_LINE = re.compile(r"SIP/2\.0 [1-6][0-9]{2} [^\x00-\x08\x0a-\x1f\x7f]*")
COMPACT_FORMS = {"f": "from", "t": "to", "i": "call-id", "l": "content-length", "v": "via", "m": "contact", "c": "content-type", "e": "content-encoding", "k": "supported", "s": "subject", "o": "event", "r": "refer-to", "b": "referred-by", "u": "allow-events", "x": "session-expires"}
"""RFC 3261 20 and later RFCs: a header's one-letter name means its long form."""


def _headers(lines: list[str]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in lines:
        if line[:1] in (" ", "\t"):
            raise FrameRefused("a folded header line")
        name, colon, value = line.partition(":")
        if not colon:
            raise FrameRefused("a header line without a colon")
        key = name.strip().lower()
        values.setdefault(COMPACT_FORMS.get(key, key), []).append(value.strip())
    return values


def name_addr(value: str) -> tuple[str, str]:
    """A From/To value's URI and the parameters after it: `"Name" <uri>;tag=x`, `Name <uri>;tag=x`
    or `uri;tag=x` (RFC 3261 20.20). A `<` or `>` inside the quoted display name is part of the name."""
    at, quoted = 0, False
    while at < len(value):
        char = value[at]
        if char == '"':
            quoted, at = True, at + 1
            while at < len(value) and value[at] != '"':
                at += 2 if value[at] == "\\" else 1
            if at >= len(value):
                raise FrameRefused("a From or To display name without its closing quote")
        elif char == "<":
            end = value.find(">", at)
            if end < 0:
                raise FrameRefused("a From or To URI without its closing >")
            params = value[end + 1:].strip()
            if params and not params.startswith(";"):
                raise FrameRefused("something other than parameters after a From or To URI")
            return value[at + 1:end].strip(), params
        elif char in ">,":
            raise FrameRefused("a From or To header that is not one address")
        at += 1
    if quoted:
        raise FrameRefused("a From or To display name without <URI>")
    uri, semicolon, params = value.partition(";")
    return uri.strip(), semicolon + params


def _uri_user(uri: str) -> str:
    """The user part of a SIP URI, or "" when it has none."""
    scheme, colon, rest = uri.partition(":")
    if not colon or scheme.lower() not in ("sip", "sips") or "@" not in rest:
        return ""
    return rest.split("@")[0]


def _param(params: str, name: str) -> str | None:
    """A header parameter's value ("" for one without a value), or None when it is absent."""
    for param in params.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == name:
            return value.strip()
    return None


@dataclass
class RelayPolicy:
    """One relay's rules and what its page has sent so far; the adapter passes the clock in."""

    rules: RelayRules
    opened_at: float
    new_invites: deque[float] = field(default_factory=deque)
    call: tuple[str, str] | None = None
    """The Call-ID and From tag of the first call the page started: its INVITE re-sent with
    credentials keeps both (RFC 3261 22.2), a second call has others."""

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
        if request.method == "REGISTER" and (request.from_user, request.to_user) != (self.rules.sip_user, self.rules.sip_user):
            return f"a REGISTER for a user other than the page's own ({self.rules.sip_user})"
        if request.in_dialog:
            return None
        if request.from_user != self.rules.sip_user:
            return f"{request.method} From a user other than the page's own ({self.rules.sip_user})"
        if request.method == "INVITE":
            return self._new_invite(request, now)
        return None

    def _new_invite(self, request: SipRequest, now: float) -> str | None:
        call = (request.call_id, request.from_tag)
        if self.rules.one_call and self.call is not None and call != self.call:
            return "a second call on this line (a line carries one call)"
        limit = self.rules.new_invites_per_minute
        while self.new_invites and self.new_invites[0] <= now - CALL_WINDOW_S:
            self.new_invites.popleft()
        if limit is not None and len(self.new_invites) >= limit:
            return f"more than {limit} new INVITEs in {CALL_WINDOW_S:.0f} s"
        self.new_invites.append(now)
        self.call = call
        return None

    def deadline(self) -> tuple[float, str] | None:
        """When the relay is closed whatever its page sends, and why; None: never."""
        ends: list[tuple[float, str]] = []
        if self.rules.first_call_within_s is not None and self.call is None:
            ends.append((self.opened_at + self.rules.first_call_within_s, f"no call started within {self.rules.first_call_within_s:.0f} s"))
        if self.rules.max_open_s is not None:
            ends.append((self.opened_at + self.rules.max_open_s, f"open for {self.rules.max_open_s / 60:.0f} minutes, the most a line stays open"))
        return min(ends) if ends else None
