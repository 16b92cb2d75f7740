"""Webhook signatures and retry timing (pure)."""

from __future__ import annotations

from engine.api.webhook_policy import delivered, next_try_in, retry_delay, signature, verify

SECRET = "whsec-0123456789abcdef"
BODY = b'{"id":"evt_ct_x","type":"contact.created"}'


def test_a_receiver_accepts_the_signed_body_and_refuses_changes_wrong_secrets_and_old_replays() -> None:
    header = signature(SECRET, 1_800_000_000, BODY)
    assert header.startswith("t=1800000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify(header, SECRET, BODY, now=1_800_000_010)
    assert not verify(header, SECRET, BODY + b" ", now=1_800_000_010), "a changed body"
    assert not verify(header, "another-secret-0000", BODY, now=1_800_000_010)
    assert not verify(header, SECRET, BODY, now=1_800_000_000 + 301), "a replay after the tolerance"
    assert not verify("t=abc,v1=00", SECRET, BODY, now=0) and not verify("", SECRET, BODY, now=0)


def test_the_delay_doubles_from_one_second_up_to_the_cap_with_jitter_in_its_upper_half() -> None:
    assert [retry_delay(n, 3600, 1.0) for n in (1, 2, 3, 4, 10)] == [1, 2, 4, 8, 512]
    assert retry_delay(20, 3600, 1.0) == 3600 and retry_delay(200, 3600, 0.0) == 1800, "capped, also for huge counts"
    assert retry_delay(4, 3600, 0.0) == 4 and retry_delay(4, 3600, 0.5) == 6
    assert next_try_in(19, 20, 3600, 0.5) is not None and next_try_in(20, 20, 3600, 0.5) is None, "given up after the last attempt"


def test_only_2xx_counts_as_delivered() -> None:
    assert [delivered(s) for s in (200, 204, 299, 301, 404, 500)] == [True, True, True, False, False, False]
