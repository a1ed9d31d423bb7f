"""The budget against a limit it does not have to itself: late arrivals and other clients.

HubSpot's search limit (5 / s per account, a rolling window, no rate-limit headers) is counted
where requests arrive, and other clients of the account spend it too. Two claims, under a fake
clock: calls paced by the budget stay within the limit even when one of them arrives late
(after an idle spell, a new connection's TLS handshake), and a 429 caused by another client
slows every caller of the budget, so Baton's share of refused calls stays small (HubSpot asks
that errors stay under 5 % of requests).
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.errors import RateLimited
from connectors.http.budget import SEARCH_KIND, ApiBudget, BudgetSpec, Pace, hubspot_spec
from connectors.http.classify import classify_response
from connectors.http.retry import Retrier, RetryPolicy
from connectors.records import System
from tests.unit.connectors.test_http_budget import FakeClock, budget, max_in_any_window

SEARCH_429 = (
    '{"status":"error","message":"You have reached your secondly limit.",'
    '"errorType":"RATE_LIMIT","policyName":"SECONDLY"}'
)


class RollingLimit:
    """The vendor's side: at most `limit` accepted requests in any `window_s` (arrival times)."""

    def __init__(self, limit: int = 5, window_s: float = 1.0) -> None:
        self.limit, self.window_s = limit, window_s
        self.accepted: deque[float] = deque()

    def admit(self, at: float) -> bool:
        while self.accepted and self.accepted[0] <= at - self.window_s:
            self.accepted.popleft()
        if len(self.accepted) >= self.limit:
            return False
        self.accepted.append(at)
        return True


# --- late arrivals -------------------------------------------------------------------------


def test_search_stays_within_5_per_second_when_the_first_call_after_idle_arrives_late() -> None:
    """The hunt's probe: first search delayed 150 ms drew a 429 at 4.75 / s with a 1-call
    burst (6 arrivals within one second); the pace must leave room for a late call."""
    api, clock = budget(hubspot_spec(fraction=0.95))
    sent = []
    for _ in range(12):
        api.spend(SEARCH_KIND)
        sent.append(clock.now)
    arrived = [sent[0] + 0.2, *sent[1:]]  # the first one waited on a handshake

    assert max_in_any_window(sorted(arrived), 1.0) <= 5
    # ... at a pace no lower than the margin requires: 5 per 1.25 s.
    assert sent[-1] - sent[0] == pytest.approx(11 / 4.0)


def test_the_default_bucket_keeps_its_rate_and_fits_the_margin_with_a_smaller_burst() -> None:
    api, clock = budget(hubspot_spec(fraction=0.95))
    sent = []
    for _ in range(600):
        api.spend()
        sent.append(clock.now)
    arrived = sorted([sent[0] + 0.25, *sent[1:]])

    assert max_in_any_window(arrived, 10.0) <= 190
    assert api.snapshot().buckets["default"].rate == pytest.approx(18.05)


@settings(max_examples=80, deadline=None)
@given(
    gaps=st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=300),
    delays=st.lists(st.floats(min_value=0, max_value=0.24), min_size=300, max_size=300),
    limit=st.integers(min_value=1, max_value=200),
    window=st.sampled_from([1.0, 10.0]),
    fraction=st.floats(min_value=0.5, max_value=1.0),
)
def test_property_no_window_sees_more_than_the_limit_when_calls_arrive_up_to_the_margin_late(
    gaps: list[float], delays: list[float], limit: int, window: float, fraction: float
) -> None:
    spec = BudgetSpec(system="hubspot", buckets={"default": Pace(limit, window, fraction)})
    api, clock = budget(spec)
    arrived = []
    for gap, delay in zip(gaps, delays, strict=False):
        clock.now += gap
        api.spend()
        arrived.append(clock.now + delay)

    assert max_in_any_window(sorted(arrived), window) <= limit


def test_a_margin_must_be_shorter_than_the_window() -> None:
    with pytest.raises(ValueError, match="invalid pace"):
        Pace(5, 1.0, margin_s=1.0)


# --- penalize ------------------------------------------------------------------------------


def test_a_penalty_holds_every_caller_off_then_halves_the_pace_which_recovers_slowly() -> None:
    api, clock = budget(hubspot_spec(fraction=0.95))
    api.spend(SEARCH_KIND)
    clock.now += 5.0

    api.penalize(SEARCH_KIND, 1.0)
    start = clock.now
    sent = []
    for _ in range(5):
        api.spend(SEARCH_KIND)
        sent.append(clock.now)

    assert sent[0] - start >= 1.0  # held off, whoever spends next
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    # half of 4 / s after the hold, then slowly faster (the pace regains 1/60 a second)
    assert all(0.45 <= g <= 0.5 for g in gaps)
    assert gaps == sorted(gaps, reverse=True)
    assert api.snapshot().buckets[SEARCH_KIND].rate < 4.0
    assert api.snapshot().buckets["default"].rate == pytest.approx(18.05)  # not its limit

    clock.now += 120.0
    assert api.snapshot().buckets[SEARCH_KIND].rate == pytest.approx(4.0)


def test_429s_from_calls_already_in_flight_extend_the_hold_but_do_not_slow_again() -> None:
    api, clock = budget(hubspot_spec(fraction=0.95))
    api.penalize(SEARCH_KIND, 1.0)
    clock.now += 0.2
    api.penalize(SEARCH_KIND, 1.0)  # answered to a call sent before the first 429 came back
    assert api.snapshot().buckets[SEARCH_KIND].rate == pytest.approx(2.0)

    clock.now += 5.0
    api.penalize(SEARCH_KIND, 1.0)  # a new episode: halved again from where it had recovered
    recovered = 0.5 + (5.2 - 1.2) / 60  # from the end of the extended hold
    assert api.snapshot().buckets[SEARCH_KIND].rate == pytest.approx(4.0 * recovered / 2)


def test_a_penalty_spends_nothing_and_a_kind_without_a_bucket_is_ignored() -> None:
    api, _ = budget(BudgetSpec(system="salesforce", daily_limit=100))
    api.penalize("default", 5.0)
    api.spend()

    assert api.snapshot().spent == {"default": 1}
    assert api.snapshot().daily_remaining == 99


# --- the retry layer and the budget together -------------------------------------------------


def search_429() -> RateLimited:
    error = classify_response(system=System.HUBSPOT, status=429, body=SEARCH_429)
    assert isinstance(error, RateLimited)
    return error


def test_a_documented_secondly_wait_grows_with_the_attempt_and_is_jittered() -> None:
    waits: list[float] = []
    outcomes: Iterator[BaseException | str] = iter([search_429(), search_429(), search_429(), "ok"])

    def fn() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    retrier = Retrier(system=System.HUBSPOT, sleep=waits.append, rng=random.Random(3))
    assert retrier.call(fn, operation="contacts.search", kind=SEARCH_KIND) == "ok"

    assert len(waits) == 3
    for attempt, wait in enumerate(waits, start=1):
        assert attempt * 1.0 <= wait <= (attempt + 1) * 1.0
    assert waits != [1.0, 2.0, 3.0]  # jittered, not a fixed schedule


def test_a_servers_retry_after_is_still_honoured_exactly() -> None:
    waits: list[float] = []
    error = classify_response(
        system=System.HUBSPOT, status=429, headers={"Retry-After": "3"}, body=SEARCH_429
    )
    outcomes: Iterator[BaseException | str] = iter([error, error, "ok"])

    def fn() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    Retrier(system=System.HUBSPOT, sleep=waits.append).call(fn, operation="op")
    assert waits == [3.0, 3.0]


def run_against_a_competitor(competitor_per_s: float, searches: int) -> tuple[int, int]:
    """Baton's searches, one after another, while another client of the account searches at
    a steady `competitor_per_s`; returns (Baton's requests, Baton's 429s)."""
    clock = FakeClock()
    api = ApiBudget(hubspot_spec(fraction=0.95), clock=clock, sleep=clock.sleep)
    retrier = Retrier(
        system=System.HUBSPOT,
        budget=api,
        policy=RetryPolicy(max_attempts=10),
        sleep=clock.sleep,
        rng=random.Random(5),
    )
    limit = RollingLimit()
    other = clock.now + 0.1
    requests = refused = 0

    def search() -> str:
        nonlocal other, requests, refused
        while other <= clock.now:
            limit.admit(other)
            other += 1 / competitor_per_s
        requests += 1
        admitted = limit.admit(clock.now)
        clock.now += 0.08  # the response's way back
        if not admitted:
            refused += 1
            raise search_429()
        return "ok"

    for _ in range(searches):
        retrier.call(search, operation="contacts.search", kind=SEARCH_KIND)
    return requests, refused


def test_another_client_at_2_per_second_leaves_baton_under_5_percent_429s() -> None:
    """The hunt's measure: 9 of 30 searches drew 429s (23 %) while the budget kept its pace."""
    requests, refused = run_against_a_competitor(2.0, searches=100)

    assert refused / requests < 0.05


def test_another_client_at_4_per_second_leaves_baton_the_rest_without_a_429_storm() -> None:
    """29 of 30 searches drew a 429 before; now Baton backs off to what is left."""
    requests, refused = run_against_a_competitor(4.0, searches=60)

    assert refused / requests < 0.2
