"""Failed webhook verifications per sender: the guard's counts, windows and bounds."""

from __future__ import annotations

import pytest

from baton.service.guard import VerificationGuard, sender

HUBSPOT_LIKE, OTHER = "34.120.0.1", "35.190.0.2"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def guard(clock: Clock, **kwargs: int) -> VerificationGuard:
    return VerificationGuard(limit=3, window_s=60, block_s=300, clock=clock, **kwargs)


def test_the_limit_th_failure_makes_that_sender_wait_and_no_other() -> None:
    clock = Clock()
    g = guard(clock)
    assert [g.failed(HUBSPOT_LIKE) for _ in range(3)] == [False, False, True]
    assert g.retry_after(HUBSPOT_LIKE) == 300
    assert g.retry_after(OTHER) is None
    assert g.waiting() == 1
    clock.now += 299.5
    assert g.retry_after(HUBSPOT_LIKE) == 1  # whole seconds, rounded up
    clock.now += 0.5
    assert g.retry_after(HUBSPOT_LIKE) is None
    assert g.waiting() == 0
    assert not g.failed(HUBSPOT_LIKE)  # counting starts again


def test_failures_further_apart_than_the_window_do_not_add_up() -> None:
    clock = Clock()
    g = guard(clock)
    for _ in range(5):
        assert not g.failed(HUBSPOT_LIKE)
        clock.now += 31  # two in any minute, never three
        assert not g.failed(HUBSPOT_LIKE)
        clock.now += 61
    assert g.retry_after(HUBSPOT_LIKE) is None


def test_the_table_stays_within_its_cap_forgetting_the_sender_heard_from_least_recently() -> None:
    clock = Clock()
    g = guard(clock, max_addresses=3)
    g.failed("34.0.0.1")
    g.failed("34.0.0.2")
    g.failed("34.0.0.1")  # heard from again: now the most recent
    for n in range(3, 200):
        g.failed(f"34.0.0.{n % 250}")
    assert len(g._entries) == 3
    assert list(g._entries) == ["34.0.0.197", "34.0.0.198", "34.0.0.199"]


def test_a_delivery_without_a_public_sender_is_never_counted() -> None:
    g = guard(Clock())
    assert not any(g.failed(None) for _ in range(10))
    assert g.retry_after(None) is None
    assert g.waiting() == 0


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("34.120.0.1", "34.120.0.1"),
        ("2600:1f18:1234:5678:9abc::1", "2600:1f18:1234:5678::/64"),  # a host holds its /64
        ("::ffff:34.120.0.1", "34.120.0.1"),
        # a reverse proxy's address on this network: every delivery would share it
        ("127.0.0.1", None),
        ("10.0.3.7", None),
        ("172.17.0.1", None),
        ("192.168.1.20", None),
        ("::1", None),
        ("fd00::5", None),
        ("testclient", None),
        (None, None),
    ],
)
def test_senders_are_public_addresses_ipv6_by_its_64(host: str | None, key: str | None) -> None:
    assert sender(host) == key
