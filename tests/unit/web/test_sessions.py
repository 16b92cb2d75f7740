"""Session bookkeeping: per-person caps that never touch other people, expiry, and a sweep that ends
sessions whose agent record changed."""

from __future__ import annotations

from engine.web.login_limiter import LoginLimiter
from engine.web.sessions import MAX_SESSIONS_PER_PERSON, MAX_SOCKETS_PER_SESSION, SESSION_TTL_S, Sessions, SessionSockets


def test_a_sixth_login_ends_that_persons_oldest_session_only() -> None:
    sessions = Sessions(clock=lambda: 100.0)
    others = [sessions.open("jiyeon", frozenset({"agent"})) for _ in range(3)]
    mine = [sessions.open("minsu", frozenset({"agent"})) for _ in range(MAX_SESSIONS_PER_PERSON)]
    token, ended = sessions.open_session("minsu", frozenset({"agent"}))
    assert ended == [mine[0]] and sessions.get(mine[0]) is None and sessions.get(token) is not None
    assert all(sessions.get(t) is not None for t in [*others, *mine[1:]])


def test_sessions_expire_and_the_sweep_ends_changed_ones() -> None:
    now = [0.0]
    sessions = Sessions(clock=lambda: now[0])
    kept = sessions.open("minsu", frozenset({"agent"}), "v1")
    changed = sessions.open("sora", frozenset({"supervisor"}), "v1")
    assert sessions.sweep(lambda p: p.agent_id != "sora") == [changed]
    now[0] = SESSION_TTL_S + 1
    assert sessions.get(kept) is None
    assert len(sessions) == 0 or sessions.sweep(lambda p: True) == [kept]


def test_a_session_keeps_at_most_eight_pages_and_ended_sessions_hand_theirs_back() -> None:
    pages: SessionSockets[str] = SessionSockets()
    excess = [page for n in range(MAX_SOCKETS_PER_SESSION + 2) for page in pages.attach("t1", f"page{n}")]
    assert excess == ["page0", "page1"] and pages.count("t1") == MAX_SOCKETS_PER_SESSION
    pages.attach("t2", "other")
    pages.detach("t1", "page5")
    assert sorted(pages.pop(["t1"])) == sorted(f"page{n}" for n in (2, 3, 4, 6, 7, 8, 9)) and pages.count("t2") == 1


def test_login_slots_are_per_id_and_per_address_and_a_success_gives_its_slot_back() -> None:
    limiter = LoginLimiter(per_minute=3)
    for _ in range(3):
        assert limiter.reserve("minsu", "203.0.113.1", 0.0) is not None
    assert limiter.reserve("minsu", "198.51.100.1", 1.0) is None, "the id is locked from anywhere"
    assert limiter.reserve("jiyeon", "203.0.113.1", 1.0) is None, "the address is locked for any id"
    ok = limiter.reserve("jiyeon", "198.51.100.1", 1.0)
    assert ok is not None
    limiter.succeeded(ok)
    assert len(limiter.by_id["jiyeon"]) == 0
    assert limiter.reserve("MINSU", "198.51.100.2", 61.0) is not None, "a minute later the failures have aged out"


def test_junk_ids_from_many_addresses_never_evict_a_known_ids_failures() -> None:
    limiter = LoginLimiter(per_minute=3, max_tracked=50)
    for n in range(3):
        assert limiter.reserve("minsu", f"203.0.113.{n}", 0.0, known=True) is not None
    for n in range(500):
        limiter.reserve(f"junk-{n}", f"10.{n // 250}.{n % 250}.1", 1.0, known=False)
    assert limiter.reserve("minsu", "198.51.100.1", 2.0, known=True) is None, "minsu's failures are still counted"
    assert len(limiter.by_address) <= 50 and len(limiter.by_unknown_id) <= 50, "made-up ids and addresses cannot grow memory"


def test_an_unknown_id_is_limited_exactly_like_a_known_one() -> None:
    limiter = LoginLimiter(per_minute=3)
    for agent_id, known in (("minsu", True), ("nobody-here", False)):
        answers = [limiter.reserve(agent_id, f"198.51.100.{n}", 0.0, known=known) is not None for n in range(4)]
        assert answers == [True, True, True, False], agent_id
    assert "nobody-here" not in limiter.by_id


def test_an_eviction_never_frees_an_address_or_id_that_is_blocked() -> None:
    limiter = LoginLimiter(per_minute=3, max_tracked=5)
    for _ in range(3):
        limiter.reserve("nobody", "203.0.113.66", 0.0, known=False)
    for n in range(40):
        limiter.reserve(f"junk-{n}", f"198.51.100.{n}", 1.0, known=False)
    assert limiter.reserve("minsu", "203.0.113.66", 2.0, known=True) is None, "the guessing address stays blocked"
    assert limiter.reserve("nobody", "198.51.100.200", 2.0, known=False) is None, "so does the guessed unknown id"
    assert limiter.reserve("minsu", "203.0.113.66", 61.0, known=True) is not None, "until its failures age out"


def test_ipv6_addresses_share_a_bucket_per_64() -> None:
    limiter = LoginLimiter(per_minute=3)
    for n in range(3):
        assert limiter.reserve(f"junk-{n}", f"2001:db8:7:1::{n + 1:x}", 0.0, known=False) is not None
    assert limiter.reserve("minsu", "2001:db8:7:1:ffff:ffff:ffff:ffff", 1.0, known=True) is None, "the same /64"
    assert limiter.reserve("minsu", "2001:db8:7:2::1", 1.0, known=True) is not None, "another /64"
    assert limiter.reserve("minsu", "::ffff:203.0.113.9", 1.0, known=True) is not None
    assert limiter.reserve("jiyeon", "203.0.113.9", 1.0, known=True) is not None and len(limiter.by_address["203.0.113.9"]) == 2, "IPv4-mapped is IPv4"
