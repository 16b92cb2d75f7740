"""Timings from SIPp's message trace (-trace_msg), for the benches.

Why not SIPp's own response-time file (-trace_rtt): SIPp 3.6.1 reads its clock once per pass of its
event loop, so every figure in that file is a multiple of about 4 ms (0, 4, 8 ...): a burst whose calls
were answered in 1.7 to 40 ms came out as p50 = p95 = max = 4.0 ms. The message trace stamps each
message with the wall clock in microseconds, which agrees with the engine's own journey timestamps.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

_TRACE_HEAD = re.compile(r"^-{10,} (\d{4}-\d\d-\d\d)\s+(\d\d:\d\d:\d\d\.\d+)", re.M)


def trace_messages(path: Path) -> list[tuple[float, bool, str]]:
    """(wall-clock epoch seconds, received?, message text) for every message in a -trace_msg file."""
    if not path.exists():
        return []
    text = path.read_text(errors="replace")
    heads = list(_TRACE_HEAD.finditer(text))
    messages = []
    for index, head in enumerate(heads):
        end = heads[index + 1].start() if index + 1 < len(heads) else len(text)
        body = text[head.end():end]
        at = datetime.strptime(f"{head.group(1)} {head.group(2)}", "%Y-%m-%d %H:%M:%S.%f").timestamp()
        direction = body.lstrip("\n").split("\n", 1)[0]
        messages.append((at, "received" in direction, body))
    return messages


def header(message: str, name: str) -> str | None:
    found = re.search(rf"^{name}:\s*(.*)$", message, re.M | re.I)
    return found.group(1).strip() if found else None


def from_number(message: str) -> str | None:
    """The user part of the From header when it is a number (the benches' callers are numbered)."""
    found = re.search(r"^From:[^<\n]*<sip:(\d+)@", message, re.M | re.I)
    return found.group(1) if found else None


def is_request(message: str, method: str) -> bool:
    return re.search(rf"^\s*{method} sip:", message, re.M) is not None


def is_invite_ok(message: str) -> bool:
    return re.search(r"^\s*SIP/2.0 200", message, re.M) is not None and re.search(r"^CSeq:\s*\d+ INVITE", message, re.M | re.I) is not None


def answer_times_ms(path: Path) -> dict[str, float]:
    """Call-ID -> INVITE sent to its 200 OK received, in ms, from a caller's (UAC) trace."""
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}
    for at, received, message in trace_messages(path):
        call_id = header(message, "Call-ID")
        if call_id is None:
            continue
        if not received and is_request(message, "INVITE"):
            sent.setdefault(call_id, at)
        elif received and is_invite_ok(message):
            answered.setdefault(call_id, at)
    return {call_id: 1000 * (at - sent[call_id]) for call_id, at in answered.items() if call_id in sent}


def answered_at_by_number(path: Path) -> dict[str, float]:
    """Caller number -> when its 200 OK arrived (wall clock), from a caller's (UAC) trace."""
    answered: dict[str, float] = {}
    for at, received, message in trace_messages(path):
        number = from_number(message)
        if received and number is not None and is_invite_ok(message):
            answered.setdefault(number, at)
    return answered


def invited_at_by_number(path: Path, since: float) -> dict[str, float]:
    """Caller number -> when an INVITE for that caller first reached an agent's phone (UAS trace), after `since`."""
    rung: dict[str, float] = {}
    for at, received, message in trace_messages(path):
        number = from_number(message)
        if at >= since and received and number is not None and is_request(message, "INVITE"):
            rung.setdefault(number, at)
    return rung
