"""Failed-login limits per agent id and per client address. Pure: the caller passes the clock.

An attempt reserves a slot in both buckets before the password is hashed, so a burst of
concurrent wrong logins gets at most LOGIN_FAILURES_PER_MINUTE hashes per id and per address; a
success gives its slot back. One address guessing cannot lock out other people's addresses, and
guessing one id from many addresses is still bounded by that id's bucket.

Memory stays bounded without letting a flood forget a real failure:
- ids the agents' files know are kept in `by_id`, never evicted (there are only as many as agents);
- made-up ids get the same limit (so a 429 reveals nothing about which ids exist) in `by_unknown_id`,
  and addresses in `by_address`; those two keep at most MAX_TRACKED buckets each, forgetting the
  least recently used bucket that blocks no one. A bucket that blocks (LOGIN_FAILURES_PER_MINUTE
  failures in the last minute) is never forgotten; if none of the EVICTION_SCAN least recently used
  may go, a new key is refused until one ages out (at most WINDOW_S later);
- an attempt that is refused creates no bucket;
- IPv6 clients are counted per /64 (one host usually owns a whole /64).
"""

from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass, field
from itertools import islice

LOGIN_FAILURES_PER_MINUTE = 10
WINDOW_S = 60.0
MAX_TRACKED = 10_000
"""Buckets kept for made-up ids and for addresses; beyond this the least recently used that blocks no one is forgotten."""
IPV6_PREFIX = 64
EVICTION_SCAN = 1_000
"""Least recently used buckets looked at for one that blocks no one. Blocking buckets are bounded by
the hashes the engine can do in a minute (HASH_CONCURRENCY argon2 checks at a time, a few thousand a
minute at most, so a few hundred buckets of 10), so finding none among the oldest 1,000 means an
attack; the new key is refused."""


@dataclass(frozen=True)
class Attempt:
    agent_id: str
    address: str
    """The address's bucket key (an IPv6 client's /64)."""
    at: float
    known: bool = True


def address_key(address: str) -> str:
    """The bucket of a client address: IPv4 as is, IPv6 by its /64, IPv4-mapped IPv6 as IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


@dataclass
class LoginLimiter:
    per_minute: int = LOGIN_FAILURES_PER_MINUTE
    max_tracked: int | None = None
    """Buckets kept for made-up ids and for addresses; None is MAX_TRACKED."""
    by_id: dict[str, deque[float]] = field(default_factory=dict)
    by_unknown_id: dict[str, deque[float]] = field(default_factory=dict)
    by_address: dict[str, deque[float]] = field(default_factory=dict)

    def reserve(self, agent_id: str, address: str, now: float, known: bool = True) -> Attempt | None:
        """A slot for one password check, or None: too many failures for this id or this address.
        `known`: the agents' files have this id (its bucket is never forgotten)."""
        key, place = agent_id.casefold()[:64], address_key(address)
        ids = self.by_id if known else self.by_unknown_id
        id_bucket, address_bucket = self._aged(ids, key, now), self._aged(self.by_address, place, now)
        if self._blocks(id_bucket) or self._blocks(address_bucket):
            return None
        if not known and not self._room_for(ids, key, now):
            return None
        if not self._room_for(self.by_address, place, now):
            return None
        ids.setdefault(key, deque()).append(now)
        self.by_address.setdefault(place, deque()).append(now)
        return Attempt(key, place, now, known)

    def succeeded(self, attempt: Attempt) -> None:
        """A right password: its slot is given back (failures before it still count)."""
        ids = self.by_id if attempt.known else self.by_unknown_id
        for buckets, key in ((ids, attempt.agent_id), (self.by_address, attempt.address)):
            bucket = buckets.get(key)
            if bucket is not None and attempt.at in bucket:
                bucket.remove(attempt.at)

    def _blocks(self, bucket: deque[float] | None) -> bool:
        return bucket is not None and len(bucket) >= self.per_minute

    @staticmethod
    def _aged(buckets: dict[str, deque[float]], key: str, now: float) -> deque[float] | None:
        """The key's bucket without its failures older than WINDOW_S, now the most recently used; None if untracked."""
        bucket = buckets.pop(key, None)
        if bucket is None:
            return None
        while bucket and bucket[0] <= now - WINDOW_S:
            bucket.popleft()
        buckets[key] = bucket
        return bucket

    def _room_for(self, buckets: dict[str, deque[float]], key: str, now: float) -> bool:
        """Whether `key` may be tracked: it already is, or there is room once the least recently used
        bucket that blocks no one (among the EVICTION_SCAN oldest) is forgotten."""
        cap = self.max_tracked if self.max_tracked is not None else MAX_TRACKED
        while key not in buckets and len(buckets) >= cap:
            idle = next((old for old, bucket in islice(buckets.items(), EVICTION_SCAN) if not self._blocks_now(bucket, now)), None)
            if idle is None:
                return False
            del buckets[idle]
        return True

    def _blocks_now(self, bucket: deque[float], now: float) -> bool:
        """per_minute failures within the last WINDOW_S (a bucket not touched lately still holds old ones)."""
        return len(bucket) >= self.per_minute and bucket[-self.per_minute] > now - WINDOW_S
