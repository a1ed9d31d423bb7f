"""API budget pacing under a fake clock, and corrections from the vendors' headers."""

from __future__ import annotations

import threading
import time
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.errors import DailyLimitExhausted, RateLimited
from connectors.http.budget import (
    ApiBudget,
    BudgetSpec,
    Pace,
    hubspot_spec,
    salesforce_spec,
)
from connectors.priority import background_calls, retries_end_on
from connectors.records import System


class FakeClock:
    """Monotonic time that only moves when the budget sleeps (or the test advances it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def budget(spec: BudgetSpec) -> tuple[ApiBudget, FakeClock]:
    clock = FakeClock()
    return ApiBudget(spec, clock=clock, sleep=clock.sleep), clock


def max_in_any_window(times: list[float], window: float) -> int:
    best, recent = 0, deque[float]()
    for t in times:
        recent.append(t)
        while recent[0] <= t - window:
            recent.popleft()
        best = max(best, len(recent))
    return best


BURST = 191 - 17.1 * 10.25  # hubspot_spec(): within 190 / 10 s even 0.25 s late


def test_pace_derives_rate_and_burst_below_the_published_limit() -> None:
    pace = Pace(190, 10.0, 0.9)

    assert pace.rate == pytest.approx(17.1)
    # burst + rate * (window + margin) <= limit + 1: fewer than that many calls in any span
    assert pace.burst == pytest.approx(BURST) == pytest.approx(15.725)
    assert Pace(5, 1.0, 0.9).burst == 1.0
    # The default bucket keeps its 95 % (the backfill's throughput); only its burst shrinks.
    assert Pace(190, 10.0, 0.95).rate == pytest.approx(18.05)
    assert Pace(190, 10.0, 0.95).burst == pytest.approx(191 - 18.05 * 10.25)


def test_given_hubspot_pace_when_spending_fast_then_no_10s_window_exceeds_190() -> None:
    api, clock = budget(hubspot_spec())
    times = []
    for _ in range(1000):
        api.spend()
        times.append(clock.now)

    assert max_in_any_window(times, 10.0) <= 190
    # Long-run throughput is the paced 90 % of the limit.
    assert (times[-1] - times[0]) == pytest.approx((1000 - BURST) / 17.1, rel=1e-6)


def test_search_has_its_own_lower_pace() -> None:
    api, clock = budget(hubspot_spec())
    times = []
    for _ in range(50):
        api.spend("search")
        times.append(clock.now)

    assert max_in_any_window(times, 1.0) <= 5
    assert api.snapshot().buckets["default"].tokens == pytest.approx(BURST)


def test_unknown_kinds_share_the_default_bucket() -> None:
    api, _ = budget(hubspot_spec())
    api.spend("batch_read")

    snap = api.snapshot()
    assert snap.buckets["default"].tokens == pytest.approx(BURST - 1)
    assert snap.spent == {"batch_read": 1}


def test_burst_is_served_without_waiting_then_paced() -> None:
    api, clock = budget(hubspot_spec())
    for _ in range(15):
        api.spend()
    assert clock.sleeps == []

    api.spend()
    assert clock.sleeps == [pytest.approx((1 - (BURST - 15)) / 17.1)]
    api.spend()
    assert clock.sleeps[-1] == pytest.approx(1 / 17.1)


def test_hubspot_remaining_header_pulls_the_bucket_down() -> None:
    api, clock = budget(hubspot_spec())

    # Another client of the same app used most of the window: 4 left of 190.
    api.observe_headers(
        {
            "X-HubSpot-RateLimit-Max": "190",
            "X-HubSpot-RateLimit-Remaining": "4",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        }
    )
    api.spend()

    # Tokens clamp to 4 - 19 = -15, so the next call waits for 16 permits.
    assert clock.sleeps == [pytest.approx(16 / 17.1)]


def test_hubspot_max_header_repaces_a_lower_tier() -> None:
    api, _ = budget(hubspot_spec())

    api.observe_headers(
        {"x-hubspot-ratelimit-max": "100", "x-hubspot-ratelimit-interval-milliseconds": "10000"}
    )

    bucket = api.snapshot().buckets["default"]
    assert (bucket.limit, bucket.window_s) == (100, 10.0)
    assert bucket.rate == pytest.approx(9.0)
    assert bucket.capacity == pytest.approx(101 - 9.0 * 10.25)
    assert bucket.tokens <= bucket.capacity


def test_hubspot_daily_headers_set_the_daily_count() -> None:
    api, _ = budget(hubspot_spec())

    api.observe_headers(
        {"X-HubSpot-RateLimit-Daily": "250000", "X-HubSpot-RateLimit-Daily-Remaining": "1200"}
    )
    api.spend()

    snap = api.snapshot()
    assert (snap.daily_limit, snap.daily_remaining) == (250000, 1199)


def test_salesforce_limit_info_header_sets_the_daily_count() -> None:
    api, _ = budget(salesforce_spec())

    api.observe_headers({"Sforce-Limit-Info": "api-usage=18/5000"})

    snap = api.snapshot()
    assert (snap.daily_limit, snap.daily_remaining) == (5000, 4982)


def test_salesforce_limit_info_with_per_app_usage_is_parsed() -> None:
    api, _ = budget(salesforce_spec())

    api.observe_headers(
        {"sforce-limit-info": "api-usage=25/15000; per-app-api-usage=17/250(appName=baton)"}
    )

    assert api.snapshot().daily_remaining == 14975


def test_headers_without_limits_change_nothing() -> None:
    api, _ = budget(hubspot_spec(daily_limit=10))
    before = api.snapshot()

    api.observe_headers({"Content-Type": "application/json"})

    assert api.snapshot() == before


def test_daily_floor_raises_before_spending_and_names_system_limit_and_reset() -> None:
    api, _ = budget(salesforce_spec(daily_floor=100))
    api.observe_headers({"Sforce-Limit-Info": "api-usage=4898/5000"})
    api.spend()
    api.spend()

    with pytest.raises(DailyLimitExhausted) as caught:
        api.spend()

    error = caught.value
    assert not isinstance(error, RateLimited)
    assert (error.limit, error.remaining) == (5000, 100)
    assert error.system == System.SALESFORCE
    assert "rolling 24-hour" in str(error)
    assert "salesforce" in str(error)
    assert api.snapshot().spent == {"default": 2}


def test_a_daily_refusal_without_headers_stops_the_next_spend() -> None:
    api, _ = budget(hubspot_spec())
    api.spend()

    api.mark_daily_exhausted()

    with pytest.raises(DailyLimitExhausted):
        api.spend()
    assert api.snapshot().spent == {"default": 1}


def test_a_configured_daily_limit_counts_down_without_headers() -> None:
    api, _ = budget(hubspot_spec(daily_limit=3))
    for _ in range(3):
        api.spend()

    with pytest.raises(DailyLimitExhausted, match="midnight"):
        api.spend()


def test_after_the_recheck_delay_one_probe_is_allowed() -> None:
    spec = BudgetSpec(system=System.SALESFORCE, daily_limit=1, daily_recheck_s=600)
    api, clock = budget(spec)
    api.spend()
    with pytest.raises(DailyLimitExhausted):
        api.spend()

    clock.now += 601
    api.spend()  # the probe
    api.observe_headers({"Sforce-Limit-Info": "api-usage=5000/5000"})

    with pytest.raises(DailyLimitExhausted):
        api.spend()


def test_headers_showing_the_allocation_back_reopen_the_budget() -> None:
    spec = BudgetSpec(system=System.SALESFORCE, daily_limit=1)
    api, _ = budget(spec)
    api.spend()
    with pytest.raises(DailyLimitExhausted):
        api.spend()

    api.observe_headers({"Sforce-Limit-Info": "api-usage=10/5000"})
    api.spend()

    assert api.snapshot().daily_remaining == 4989


def test_spending_is_thread_safe() -> None:
    api, clock = budget(hubspot_spec(daily_limit=10_000))
    threads = [threading.Thread(target=lambda: [api.spend() for _ in range(50)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    snap = api.snapshot()
    assert snap.spent == {"default": 200}
    assert snap.daily_remaining == 9800
    # Every permit beyond the burst was waited for, in total exactly once each.
    assert snap.waited_s == pytest.approx(sum(clock.sleeps))


def test_invalid_paces_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid pace"):
        Pace(0, 10.0)


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=400),
    limit=st.integers(min_value=2, max_value=200),
    fraction=st.floats(min_value=0.5, max_value=0.99),
)
def test_property_no_window_ever_exceeds_the_published_limit(
    gaps: list[float], limit: int, fraction: float
) -> None:
    spec = BudgetSpec(system="hubspot", buckets={"default": Pace(limit, 10.0, fraction)})
    api, clock = budget(spec)
    times = []
    for gap in gaps:
        clock.now += gap
        api.spend()
        times.append(clock.now)

    assert max_in_any_window(times, 10.0) <= limit


def test_a_background_call_takes_a_free_permit_or_waits_for_one_without_reserving() -> None:
    api, clock = budget(hubspot_spec(daily_limit=100))
    with background_calls():
        api.spend()
    assert clock.sleeps == []
    for _ in range(14):
        api.spend()  # the rest of the burst's whole permits
    with background_calls():
        api.spend()
    owed = (1 - (BURST - 15)) / 17.1
    assert clock.sleeps == [pytest.approx(owed)]  # until a whole permit is free, then taken
    snap = api.snapshot()
    assert snap.spent == {"default": 16}
    assert snap.daily_remaining == 84
    # The wait is the read-ahead's, kept apart from what the sync's own calls waited.
    assert snap.waited_ahead_s == pytest.approx(owed)
    assert snap.waited_s == 0.0


def test_a_background_caller_yields_the_budget_to_a_foreground_one() -> None:
    """A read-ahead thread spending beside a thread the caller waits on takes only the
    permits that thread leaves free: while the foreground spends, it gets (almost) none."""
    api = ApiBudget(BudgetSpec(system="hubspot", buckets={"default": Pace(20, 1.0, 1.0)}))
    foreground_done = threading.Event()
    during = 0

    def background() -> None:
        nonlocal during
        with background_calls():
            while not foreground_done.is_set():
                api.spend()
                during += not foreground_done.is_set()

    def foreground() -> None:
        for _ in range(20):
            api.spend()
        foreground_done.set()

    threads = [threading.Thread(target=background), threading.Thread(target=foreground)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    # Taking turns would give the background about half of the ~1 s; it gets a few at most
    # (a foreground thread descheduled between calls leaves a permit free).
    assert during <= 5


def test_a_stop_ends_a_wait_for_the_budget_held_after_a_429() -> None:
    """A 429's hold (HubSpot's burst: 10 s, a `Retry-After` as long as it says) would keep
    each call of the batch in hand waiting after a SIGTERM; once the stop is asked for, the
    call is made at once (and its refusal not retried, see `connectors.http.retry`)."""
    limiter = ApiBudget(hubspot_spec())
    limiter.penalize("default", 60.0)
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    began = time.monotonic()

    with retries_end_on(stop):
        limiter.spend("default")

    assert time.monotonic() - began < 5
    assert limiter.snapshot().spent == {"default": 1}


def test_a_stop_does_not_make_a_read_ahead_spin_for_a_free_permit() -> None:
    """A read ahead takes only a free permit and waits for one; the stop, which cuts the
    sync's own waits, left it spinning (its wait returned at once, again and again), a CPU
    busy and `baton_api_budget_wait_seconds_total` inflated until the permit came."""
    limiter = ApiBudget(hubspot_spec())
    limiter.penalize("default", 0.3)
    stop = threading.Event()
    stop.set()

    with retries_end_on(stop), background_calls():
        limiter.spend("default")

    assert limiter.snapshot().waited_ahead_s < 1.0  # one wait of 0.3 s, not thousands
