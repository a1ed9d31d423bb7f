"""Faults injected by the sandbox end as their classification says, for both connectors.

429 storms (Salesforce: 403 REQUEST_LIMIT_EXCEEDED for concurrency) and 5xx bursts are retried
until they pass, and end as `RateLimited` / `TransientError` when they outlast the policy; a
response slower than the timeout is retried; an expired session is refreshed once and the call
repeated, and credentials refused again (or that cannot be refreshed) end it with a plain,
not retryable `AuthError`; the daily cap ends the call at once with `DailyLimitExhausted`,
never retried.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.errors import (
    AuthError,
    DailyLimitExhausted,
    RateLimited,
    TransientError,
)
from connectors.http.retry import RetryPolicy
from connectors.records import RecordKey, RecordPatch
from tests.contract.suite.sides import Side


@pytest.fixture(autouse=True)
def clean(side: Side) -> Iterator[None]:
    side.clear_faults()
    yield
    side.clear_faults()


@pytest.fixture(scope="module")
def ids(side: Side) -> list[str]:
    return [side.create(f"Fault{i}") for i in range(2)]


def _warm(side: Side, connector: Any, ids: list[str]) -> None:
    """One call first, so token grants are behind us and only data-API calls are counted."""
    assert len(connector.read_by_ids(side.person, ids)) == len(ids)
    side.reset_stats()


def test_given_a_429_storm_then_the_call_is_retried_and_succeeds(
    side: Side, ids: list[str]
) -> None:
    waits: list[float] = []
    connector = side.connector(sleep=waits.append)
    _warm(side, connector, ids)
    side.faults(next_rate_limit=3)

    assert len(connector.read_by_ids(side.person, ids)) == 2

    assert side.statuses() == {side.rate_limit_status: 3, 200: 1}
    assert len(waits) == 3
    floor = RetryPolicy().min_rate_limit_wait_s
    assert all(w >= floor for w in waits)  # a rate limit is never retried at once


def test_given_a_429_storm_that_never_ends_then_rate_limited_not_daily_exhausted(
    side: Side, ids: list[str]
) -> None:
    connector = side.connector(policy=RetryPolicy(max_attempts=3))
    _warm(side, connector, ids)
    side.faults(rate_limit_rate=1.0)

    with pytest.raises(RateLimited) as info:
        connector.read_by_ids(side.person, ids)

    assert not isinstance(info.value, DailyLimitExhausted)
    assert info.value.status == side.rate_limit_status
    assert side.calls() == 3  # the policy's attempts, no more


def test_given_a_5xx_burst_then_the_call_is_retried_and_succeeds(
    side: Side, ids: list[str]
) -> None:
    connector = side.connector()
    _warm(side, connector, ids)
    side.faults(next_server_error=3, server_error_status=502)

    assert len(connector.read_by_ids(side.person, ids)) == 2

    assert side.statuses() == {502: 3, 200: 1}


def test_given_persistent_5xx_then_transient_error_after_the_policy(
    side: Side, ids: list[str]
) -> None:
    connector = side.connector(policy=RetryPolicy(max_attempts=3))
    _warm(side, connector, ids)
    side.faults(server_error_rate=1.0)

    with pytest.raises(TransientError) as info:
        connector.read_by_ids(side.person, ids)

    assert info.value.status == 503
    assert side.calls() == 3


def test_given_a_response_slower_than_the_timeout_then_the_read_is_retried(
    side: Side, ids: list[str]
) -> None:
    waits: list[float] = []
    connector = side.connector(request_timeout_s=0.3, sleep=waits.append)
    _warm(side, connector, ids)
    side.faults(next_slow=1, slow_seconds=1.0)

    assert len(connector.read_by_ids(side.person, ids)) == 2

    assert len(waits) == 1  # one timeout, one retry
    assert side.settle(2) == 2  # the slow one, served after the client gave up, and the retry


def test_given_a_create_slower_than_the_timeout_then_it_is_not_resent(
    side: Side, connector: Any
) -> None:
    waits: list[float] = []
    slow = side.connector(request_timeout_s=0.3, sleep=waits.append)
    _warm(side, slow, [side.create("SlowWarm")])
    start = side.slot()
    side.faults(next_slow=1, slow_seconds=1.0)

    with pytest.raises(TransientError):
        slow.write(side.person, [_create(side, "SlowCreate")])

    assert waits == []  # the system may still make it: a create is never sent twice
    assert side.settle(1) == 1  # one request reached the system
    # The imitation drops a request whose client hung up; a real system may finish it. Either
    # way the person exists at most once.
    assert len(list(connector.read_changes(side.person, start, side.slot()))) <= 1


def test_given_an_expired_session_then_it_is_refreshed_once_and_the_call_succeeds(
    side: Side, ids: list[str]
) -> None:
    connector = side.refreshable()
    _warm(side, connector, ids)
    side.faults(next_expired_session=1)

    assert len(connector.read_by_ids(side.person, ids)) == 2

    assert side.calls(side.token_route) == 1  # one refresh
    assert side.statuses()[401] == 1
    assert side.calls() == 2  # the refused call, then the same call again


def test_given_sessions_that_keep_expiring_then_a_plain_auth_error_not_a_loop(
    side: Side, ids: list[str]
) -> None:
    connector = side.refreshable()
    _warm(side, connector, ids)
    side.faults(expired_session_rate=1.0)

    with pytest.raises(AuthError) as info:
        connector.read_by_ids(side.person, ids)

    assert side.calls(side.token_route) == 1
    assert side.calls() == 2
    assert type(info.value) is AuthError  # refused for good, not a session to renew again
    assert not info.value.retryable


def test_given_an_expired_session_on_a_write_then_it_is_refreshed_once_and_the_write_lands(
    side: Side, ids: list[str]
) -> None:
    connector = side.refreshable()
    _warm(side, connector, ids)
    side.faults(next_expired_session=1)

    (outcome,) = connector.write(side.person, [_create(side, "Renewed", side.external_id)])

    assert outcome.ok
    assert side.calls(side.token_route) == 1
    assert side.statuses()[401] == 1


def test_given_sessions_that_keep_expiring_on_a_write_then_a_plain_auth_error_ends_it(
    side: Side, ids: list[str]
) -> None:
    """Not `retryable`: the sync ends the run on it instead of holding the writes as
    "refused for now" and lettering them later."""
    connector = side.refreshable()
    _warm(side, connector, ids)
    side.faults(expired_session_rate=1.0)

    with pytest.raises(AuthError) as info:
        connector.write(side.person, [_create(side, "NeverRenewed", side.external_id)])

    assert side.calls(side.token_route) == 1
    assert side.calls() == 2
    assert type(info.value) is AuthError
    assert not info.value.retryable
    assert info.value.status == 401
    assert info.value.vendor_code


def test_given_the_daily_cap_is_spent_then_the_run_stops_loudly_without_retrying(
    side: Side,
) -> None:
    connector = side.connector()
    with side.daily_cap_spent():
        side.reset_stats()
        with pytest.raises(DailyLimitExhausted) as info:
            list(connector.read_changes(side.person, None, side.slot()))
        assert side.calls() == 1  # refused once, never retried
        with pytest.raises(DailyLimitExhausted):
            connector.read_by_ids(side.person, [side.missing_id()])
        assert side.calls() <= 2  # at most one request per call, never a retry

    assert "daily" in str(info.value).lower() or "24-hour" in str(info.value)


def _create(side: Side, tag: str, match_on: str | None = None) -> RecordPatch:
    fields = {**side.new_fields(tag), **({match_on: f"bt-{tag}"} if match_on else {})}
    return RecordPatch(RecordKey(side.system, side.person, ""), fields, match_on=match_on)


def test_given_a_5xx_on_a_create_then_it_is_not_resent(side: Side, connector: Any) -> None:
    start = side.slot()
    side.reset_stats()
    side.faults(next_server_error=1)

    with pytest.raises(TransientError):
        connector.write(side.person, [_create(side, "Create5xx")])

    assert side.calls() == 1  # the system may have acted: a create is never sent twice
    side.clear_faults()
    assert list(connector.read_changes(side.person, start, side.slot())) == []


def test_given_a_5xx_burst_on_an_upsert_then_it_is_retried_and_lands_once(
    side: Side, connector: Any
) -> None:
    start = side.slot()
    side.reset_stats()
    side.faults(next_server_error=2)

    (outcome,) = connector.write(side.person, [_create(side, "Upsert5xx", side.external_id)])

    assert outcome.ok
    assert outcome.created
    assert side.calls() == 3  # idempotent by external id, so safe to send again
    changed = list(connector.read_changes(side.person, start, side.slot()))
    assert [r.key.id for r in changed] == [outcome.id]


def test_given_a_rate_limit_on_a_create_then_it_is_resent_because_nothing_happened(
    side: Side, connector: Any
) -> None:
    start = side.slot()
    side.reset_stats()
    side.faults(next_rate_limit=1)

    (outcome,) = connector.write(side.person, [_create(side, "Create429")])

    assert outcome.ok
    assert side.calls() == 2
    changed = list(connector.read_changes(side.person, start, side.slot()))
    assert [r.key.id for r in changed] == [outcome.id]


def test_given_rejected_credentials_then_auth_error_at_once_and_no_secret_in_its_text(
    side: Side,
) -> None:
    overrides, secret = side.wrong_credentials()
    connector = side.connector(**overrides)
    side.reset_stats()

    with pytest.raises(AuthError) as info:
        connector.read_by_ids(side.person, [side.missing_id()])

    # HubSpot answers a bad private-app token like an expired one (401); with nothing to
    # refresh, the connector gives up at once either way.
    assert side.stats()["requests"] == 1  # refused once, not retried
    text = f"{info.value} {info.value!r} {info.value.vendor_message}"
    assert secret not in text


def test_given_rejected_credentials_on_a_write_then_a_plain_auth_error_at_once(
    side: Side,
) -> None:
    """A revoked HubSpot private-app token has nothing to renew: it ends the run (not
    `retryable`), with HubSpot's code, instead of passing for a failure to retry later."""
    overrides, _ = side.wrong_credentials()
    connector = side.connector(**overrides)
    side.reset_stats()

    with pytest.raises(AuthError) as info:
        connector.write(side.person, [_create(side, "WrongCredentials", side.external_id)])

    assert side.stats()["requests"] == 1
    assert type(info.value) is AuthError
    assert not info.value.retryable
    assert info.value.vendor_code


def test_given_headers_show_the_daily_floor_then_the_budget_stops_before_calling(
    side: Side, ids: list[str]
) -> None:
    side.limits(daily_remaining=2)  # said in headers only: the refusals stay off
    connector = side.connector(budget=side.budget(daily_floor=2))
    side.reset_stats()
    try:
        assert len(connector.read_by_ids(side.person, ids)) == 2  # learns "2 remaining"
        with pytest.raises(DailyLimitExhausted) as info:
            connector.read_by_ids(side.person, ids)
    finally:
        side.box.limits.reset()

    assert side.calls() == 1  # the second call was never made
    assert info.value.remaining is not None
    assert info.value.remaining <= 2


def test_given_faults_between_pages_then_the_read_completes_unchanged(side: Side) -> None:
    connector = side.refreshable()
    until = side.slot()
    clean = [r.key for r in connector.read_changes(side.person, None, until)]

    stream = connector.read_changes(side.person, None, until)
    first = next(stream)
    side.reset_stats()
    side.faults(next_expired_session=1, next_rate_limit=2, next_server_error=2)
    rest = [r.key for r in stream]

    assert [first.key, *rest] == clean
    statuses = side.statuses()
    assert statuses[401] == 1
    assert statuses[side.rate_limit_status] == 2
    assert statuses[503] == 2
    assert side.calls(side.token_route) == 1
