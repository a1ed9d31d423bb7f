"""The retry layer under a fake sleep: what is retried, how long it waits, when it stops."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from connectors.errors import (
    AuthError,
    ConnectorError,
    DailyLimitExhausted,
    PermanentError,
    RateLimited,
    SessionExpired,
    TransientError,
)
from connectors.http.classify import classify_response
from connectors.http.retry import Retrier, RetryPolicy, call_with_retry
from connectors.priority import retries_end_on
from connectors.records import System


class FakeSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Script:
    """A callable that raises or returns the next scripted outcome, counting calls."""

    def __init__(self, *outcomes: BaseException | str) -> None:
        self._outcomes: Iterator[BaseException | str] = iter(outcomes)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        outcome = next(self._outcomes)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class CountingBudget:
    def __init__(self, fail_with: BaseException | None = None) -> None:
        self.spent: list[str] = []
        self.fail_with = fail_with
        self.daily_refusals = 0

    def spend(self, kind: str = "default") -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.spent.append(kind)

    def mark_daily_exhausted(self) -> None:
        self.daily_refusals += 1


def transient() -> TransientError:
    return TransientError("server error", system=System.HUBSPOT, status=503)


def retrier(sleep: FakeSleep, **kwargs: object) -> Retrier:
    kwargs.setdefault("rng", random.Random(7))
    return Retrier(system=System.HUBSPOT, sleep=sleep, **kwargs)  # type: ignore[arg-type]


def test_given_transient_failures_when_called_then_retries_until_success() -> None:
    sleep = FakeSleep()
    fn = Script(transient(), transient(), "ok")

    assert retrier(sleep).call(fn, operation="contacts.list") == "ok"
    assert fn.calls == 3
    assert len(sleep.waits) == 2


def test_backoff_is_full_jitter_below_a_doubling_capped_ceiling() -> None:
    sleep = FakeSleep()
    policy = RetryPolicy(max_attempts=8, base_wait_s=1.0, max_wait_s=4.0, max_total_wait_s=100)
    fn = Script(*[transient()] * 7, "ok")

    retrier(sleep, policy=policy).call(fn, operation="op")

    ceilings = [1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert len(sleep.waits) == len(ceilings)
    for wait, ceiling in zip(sleep.waits, ceilings, strict=True):
        assert 0.0 <= wait <= ceiling
    assert len(set(sleep.waits)) > 1  # jittered, not a fixed schedule


def test_retry_after_is_honoured_exactly() -> None:
    sleep = FakeSleep()
    limited = RateLimited("burst", retry_after=7.5, policy="TEN_SECONDLY_ROLLING")
    fn = Script(limited, "ok")

    retrier(sleep).call(fn, operation="op")

    assert sleep.waits == [7.5]


def test_rate_limit_without_retry_after_waits_at_least_the_floor() -> None:
    sleep = FakeSleep()
    policy = RetryPolicy(base_wait_s=4.0, min_rate_limit_wait_s=1.0)
    fn = Script(*[RateLimited("burst")] * 5, "ok")

    retrier(sleep, policy=policy).call(fn, operation="op")

    assert all(wait >= 1.0 for wait in sleep.waits)


def test_attempts_are_capped_and_the_last_error_is_raised_with_a_note() -> None:
    sleep = FakeSleep()
    fn = Script(*[transient()] * 10)

    with pytest.raises(TransientError) as caught:
        retrier(sleep, policy=RetryPolicy(max_attempts=3)).call(fn, operation="op")

    assert fn.calls == 3
    assert len(sleep.waits) == 2
    assert any("gave up after 3 attempts" in note for note in caught.value.__notes__)


def test_a_retry_after_beyond_the_wait_budget_stops_instead_of_sleeping() -> None:
    sleep = FakeSleep()
    fn = Script(RateLimited("long", retry_after=600.0), "ok")

    with pytest.raises(RateLimited):
        retrier(sleep, policy=RetryPolicy(max_total_wait_s=60)).call(fn, operation="op")

    assert fn.calls == 1
    assert sleep.waits == []


def test_total_wait_is_capped() -> None:
    sleep = FakeSleep()
    fn = Script(*[RateLimited("burst", retry_after=10.0)] * 10)

    with pytest.raises(RateLimited):
        retrier(sleep, policy=RetryPolicy(max_attempts=10, max_total_wait_s=25)).call(
            fn, operation="op"
        )

    assert sleep.waits == [10.0, 10.0]
    assert fn.calls == 3


@pytest.mark.parametrize(
    "error",
    [
        DailyLimitExhausted("daily cap", limit=1000, remaining=0),
        PermanentError("bad query", status=400),
        AuthError("bad token", status=401),
    ],
)
def test_non_retryable_verdicts_raise_on_the_first_attempt(error: ConnectorError) -> None:
    sleep = FakeSleep()
    fn = Script(error, "ok")

    with pytest.raises(type(error)):
        retrier(sleep).call(fn, operation="op")

    assert fn.calls == 1
    assert sleep.waits == []


def test_daily_cap_from_the_budget_stops_before_any_call() -> None:
    sleep = FakeSleep()
    fn = Script("ok")
    budget = CountingBudget(fail_with=DailyLimitExhausted("floor reached", remaining=50))

    with pytest.raises(DailyLimitExhausted):
        retrier(sleep, budget=budget).call(fn, operation="op")

    assert fn.calls == 0


def test_a_daily_refusal_from_the_system_is_remembered_by_the_budget() -> None:
    """HubSpot search answers carry no limit headers: the refusal itself must stop the budget."""
    budget = CountingBudget()
    fn = Script(DailyLimitExhausted("daily cap", limit=1000, remaining=0), "ok")

    with pytest.raises(DailyLimitExhausted):
        retrier(FakeSleep(), budget=budget).call(fn, operation="search")

    assert budget.daily_refusals == 1


def test_budget_is_spent_once_per_attempt_with_the_call_kind() -> None:
    sleep = FakeSleep()
    budget = CountingBudget()
    fn = Script(transient(), "ok")

    retrier(sleep, budget=budget).call(fn, operation="contacts.search", kind="search")

    assert budget.spent == ["search", "search"]


def test_session_expiry_refreshes_once_then_retries_without_waiting() -> None:
    sleep = FakeSleep()
    refreshes: list[int] = []
    fn = Script(SessionExpired("expired", status=401), "ok")

    result = retrier(sleep, on_session_expired=lambda: refreshes.append(1)).call(fn, operation="op")

    assert result == "ok"
    assert refreshes == [1]
    assert sleep.waits == [0.0]


def _expired(message: str) -> SessionExpired:
    return SessionExpired(
        message,
        system=System.SALESFORCE,
        operation="Lead.update",
        vendor_code="INVALID_SESSION_ID",
        vendor_message="Session expired or invalid",
        status=401,
    )


def test_a_second_expiry_after_refresh_is_raised_as_a_plain_auth_error() -> None:
    """Not retryable, so a write path ends the run instead of waiting to retry later."""
    sleep = FakeSleep()
    refreshes: list[int] = []
    fn = Script(_expired("expired"), _expired("expired again"), "ok")

    with pytest.raises(AuthError) as info:
        retrier(sleep, on_session_expired=lambda: refreshes.append(1)).call(fn, operation="op")

    assert refreshes == [1]
    assert fn.calls == 2
    error = info.value
    assert type(error) is AuthError
    assert not error.retryable
    assert (error.system, error.operation, error.status) == (System.SALESFORCE, "Lead.update", 401)
    assert (error.vendor_code, error.vendor_message) == (
        "INVALID_SESSION_ID",
        "Session expired or invalid",
    )
    assert "still refused right after the credentials were renewed" in str(error)
    assert isinstance(error.__cause__, SessionExpired)


def test_session_expiry_without_a_refresher_is_not_retried_and_is_a_plain_auth_error() -> None:
    fn = Script(_expired("expired"), "ok")

    with pytest.raises(AuthError) as info:
        retrier(FakeSleep()).call(fn, operation="op")

    assert fn.calls == 1
    assert type(info.value) is AuthError
    assert not info.value.retryable
    assert info.value.vendor_code == "INVALID_SESSION_ID"
    assert "cannot be renewed" in str(info.value)


def test_a_failing_refresh_propagates_its_own_error() -> None:
    def refresh() -> None:
        raise AuthError("refresh token revoked")

    fn = Script(SessionExpired("expired"), "ok")

    with pytest.raises(AuthError, match="refresh token revoked"):
        retrier(FakeSleep(), on_session_expired=refresh).call(fn, operation="op")


def test_transport_exceptions_are_classified_and_retried() -> None:
    sleep = FakeSleep()
    fn = Script(httpx.ConnectError("refused"), "ok")

    assert retrier(sleep).call(fn, operation="op") == "ok"
    assert fn.calls == 2


def test_exhausted_transport_failures_surface_as_transient_errors_with_cause() -> None:
    fn = Script(*[httpx.ReadTimeout("slow")] * 3)

    with pytest.raises(TransientError) as caught:
        retrier(FakeSleep(), policy=RetryPolicy(max_attempts=3)).call(fn, operation="op")

    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


def test_programming_errors_propagate_unretried() -> None:
    fn = Script(KeyError("bug"), "ok")

    with pytest.raises(KeyError):
        retrier(FakeSleep()).call(fn, operation="op")

    assert fn.calls == 1


def test_every_retry_is_logged_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    secret_failure = TransientError(
        "upstream said: Authorization: Bearer pat-na1-11111111-2222-3333-4444-555555555555",
        vendor_message="token=abcdefghijkl",
    )
    fn: Callable[[], str] = Script(secret_failure, "ok")

    with caplog.at_level(logging.WARNING, logger="connectors.http.retry"):
        retrier(FakeSleep()).call(fn, operation="contacts.batch_update")

    assert len(caplog.records) == 1
    text = caplog.records[0].getMessage()
    assert "contacts.batch_update" in text
    assert "attempt 1/6" in text
    assert "pat-na1" not in text
    assert "abcdefghijkl" not in text


def test_call_with_retry_is_the_one_off_form() -> None:
    sleep = FakeSleep()
    fn = Script(transient(), "ok")

    result = call_with_retry(fn, system=System.SALESFORCE, operation="Lead.query", sleep=sleep)

    assert result == "ok"
    assert len(sleep.waits) == 1


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


def test_non_idempotent_calls_retry_only_what_the_system_did_not_act_on() -> None:
    sleep = FakeSleep()
    refused = classify_response(
        system=System.HUBSPOT, status=429, body='{"policyName":"TEN_SECONDLY_ROLLING"}'
    )
    locked = classify_response(
        system=System.SALESFORCE,
        status=400,
        body='[{"errorCode":"UNABLE_TO_LOCK_ROW","message":"locked"}]',
    )
    fn = Script(refused, locked, httpx.ConnectError("refused"), "created")

    assert retrier(sleep).call(fn, operation="contacts.create", idempotent=False) == "created"
    assert fn.calls == 4


@pytest.mark.parametrize(
    "failure",
    [
        TransientError("server error", status=500),
        httpx.ReadTimeout("no answer"),
    ],
)
def test_non_idempotent_calls_do_not_resend_after_an_ambiguous_failure(
    failure: BaseException,
) -> None:
    fn = Script(failure, "created twice")

    with pytest.raises(TransientError):
        retrier(FakeSleep()).call(fn, operation="contacts.create", idempotent=False)

    assert fn.calls == 1


def test_sdk_errors_raised_inside_the_call_are_classified_by_the_retrier() -> None:
    from simple_salesforce.exceptions import SalesforceExpiredSession

    expired = SalesforceExpiredSession(
        "https://x/services/data/v59.0/query/",
        401,
        "query",
        [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}],
    )
    refreshes: list[int] = []
    fn = Script(expired, "rows")

    result = Retrier(
        system=System.SALESFORCE, sleep=FakeSleep(), on_session_expired=lambda: refreshes.append(1)
    ).call(fn, operation="Lead.query")

    assert result == "rows"
    assert refreshes == [1]


def burst_limited() -> RateLimited:
    """HubSpot's ten-second 429: a documented 10 s wait, grown each attempt (10-60 s)."""
    return RateLimited(
        "ten-second burst limit reached",
        system=System.HUBSPOT,
        status=429,
        retry_after=10.0,
        documented_wait=True,
    )


def test_a_stop_asked_during_a_retry_wait_ends_it_and_raises_the_failure_it_was_for() -> None:
    """The daemon on SIGTERM: five waits of 10-60 s each would keep it minutes, past the
    grace an orchestrator gives before SIGKILL."""
    stop = threading.Event()
    fn = Script(*[burst_limited() for _ in range(6)])
    threading.Timer(0.2, stop.set).start()
    began = time.monotonic()

    with retries_end_on(stop), pytest.raises(RateLimited, match="burst"):
        retrier(FakeSleep()).call(fn, operation="contacts.batch_read")

    assert time.monotonic() - began < 5
    assert fn.calls == 1  # no attempt after the stop


def test_once_a_stop_was_asked_a_call_is_made_but_a_refusal_is_not_retried() -> None:
    """The batch in hand still sends its writes; one refused for now waits for the next run."""
    stop = threading.Event()
    stop.set()
    sleep = FakeSleep()

    with retries_end_on(stop):
        assert retrier(sleep).call(Script("ok"), operation="contacts.batch_update") == "ok"
        refused = Script(transient(), "ok")
        with pytest.raises(TransientError):
            retrier(sleep).call(refused, operation="contacts.batch_update")

    assert refused.calls == 1
    assert sleep.waits == []
    assert retrier(sleep).call(Script(transient(), "ok"), operation="x") == "ok"  # outside
