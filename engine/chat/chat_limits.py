"""How much strangers may ask of the public chat: sessions per client address per minute (IPv6 by
its /64, which one customer holds whole), messages per chat, and when a chat has held its slot long
enough. Pure: the caller passes the time."""

from __future__ import annotations

import ipaddress
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Literal

MAX_CLIENTS_TRACKED = 10_000
"""Addresses remembered for the per-minute count; the oldest are forgotten first (memory stays bounded)."""


@dataclass
class Openings:
    """New chat sessions per client address in any 60 s."""

    per_minute: int
    _recent: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def admit(self, client: str, now: float) -> bool:
        times = self._recent.pop(client, None) or deque()
        while times and times[0] <= now - 60.0:
            times.popleft()
        admitted = len(times) < self.per_minute
        if admitted:
            times.append(now)
        if times:
            self._recent[client] = times
        while len(self._recent) > MAX_CLIENTS_TRACKED:
            self._recent.popitem(last=False)
        return admitted


@dataclass
class Bucket:
    """A token bucket: `rate` messages a second on average, `burst` at once."""

    rate: float
    burst: int
    _tokens: float = -1.0
    _at: float = 0.0

    def take(self, now: float) -> bool:
        if self._tokens < 0:
            self._tokens, self._at = float(self.burst), now
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


def client_key(address: str) -> str:
    """What the per-address limit counts: an IPv4 address, or an IPv6 address's /64 (a home or a
    phone gets a whole /64, so counting single addresses would count nothing)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(frozen=True)
class ChatTimes:
    """One chat's times (monotonic seconds) and pages, as the sweep sees them."""

    opened: float
    last_seen: float
    """When a page last attached, detached or sent something (or was seen still attached)."""
    last_message: float
    """When the customer last sent something (or the chat began)."""
    pages: int
    ever_attached: bool
    ended: bool


@dataclass(frozen=True)
class SlotLimits:
    attach_within_s: float
    idle_timeout_s: float
    quiet_timeout_s: float
    max_lifetime_s: float


EndReason = Literal["engine", "unused", "lifetime", "idle", "quiet"]


def why_end(times: ChatTimes, now: float, limits: SlotLimits) -> EndReason | None:
    """Whether a chat gives its slot back now, and why: ended already, never opened by a page, too old,
    no page for too long, or a page open that sends nothing (its heartbeat alone keeps nothing alive)."""
    if times.ended:
        return "engine"
    if not times.ever_attached and times.pages == 0 and now - times.opened > limits.attach_within_s:
        return "unused"
    if now - times.opened > limits.max_lifetime_s:
        return "lifetime"
    if times.pages == 0 and now - times.last_seen > limits.idle_timeout_s:
        return "idle"
    if times.pages > 0 and now - times.last_message > limits.quiet_timeout_s:
        return "quiet"
    return None


@dataclass(frozen=True)
class ChatBounds:
    """What one chat holds: pages attached at once, and messages its customer may send."""

    max_pages: int = 4
    max_messages: int = 300
