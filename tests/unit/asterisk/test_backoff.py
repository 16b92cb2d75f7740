"""Backoff: the reconnect delays of the ARI and AMI adapters. Pure; no sleeping."""

from __future__ import annotations


from engine.asterisk.backoff import Backoff


def delays(backoff: Backoff, count: int) -> list[float]:
    return [backoff.next_delay() for _ in range(count)]


def test_grows_by_the_factor_from_first_s() -> None:
    backoff = Backoff(first_s=0.25, max_s=100.0, factor=2.0, jitter=0.0)

    assert delays(backoff, 5) == [0.25, 0.5, 1.0, 2.0, 4.0]


def test_stops_growing_at_max_s() -> None:
    backoff = Backoff(first_s=1.0, max_s=5.0, factor=2.0, jitter=0.0)

    assert delays(backoff, 6) == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_reset_starts_over_from_first_s() -> None:
    backoff = Backoff(first_s=0.5, max_s=10.0, factor=3.0, jitter=0.0)
    delays(backoff, 4)

    backoff.reset()

    assert delays(backoff, 2) == [0.5, 1.5]


def test_defaults_start_small_and_cap_at_ten_seconds() -> None:
    backoff = Backoff(jitter=0.0)

    assert backoff.next_delay() == 0.25
    assert delays(backoff, 20)[-1] == 10.0


def test_jitter_stays_within_its_fraction_of_the_nominal_delay() -> None:
    backoff = Backoff(first_s=1.0, max_s=1.0, factor=2.0, jitter=0.1)

    seen = delays(backoff, 500)

    assert all(0.9 <= delay <= 1.1 for delay in seen)
    assert len(set(seen)) > 1, "jitter should spread reconnect attempts"


def test_jittered_delays_still_grow() -> None:
    backoff = Backoff(first_s=1.0, max_s=64.0, factor=2.0, jitter=0.1)

    for nominal in (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 64.0):
        assert nominal * 0.9 <= backoff.next_delay() <= nominal * 1.1


def test_each_backoff_keeps_its_own_state() -> None:
    ari, ami = Backoff(jitter=0.0), Backoff(jitter=0.0)
    delays(ari, 5)

    assert ami.next_delay() == 0.25


def test_jittered_delay_never_exceeds_max_s() -> None:
    backoff = Backoff(first_s=10.0, max_s=10.0, jitter=0.1)

    assert max(delays(backoff, 200)) <= 10.0
