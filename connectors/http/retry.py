"""The one retry layer. Every call to HubSpot or Salesforce goes through `Retrier.call`.

Order of events for each attempt: spend one unit of API budget (which may wait, or refuse with
`DailyLimitExhausted`), make the call, and if it fails, classify the failure (the SDK wrappers
raise classified `ConnectorError`s; transport exceptions are classified here). Then:

- retryable (`RateLimited`, `TransientError`): wait and try again. The wait is the server's
  `Retry-After` when there is one (honoured exactly); a rate limit's documented wait from the
  classification table (HubSpot search: 1 s) grows with the attempt, with up to one more of it
  in jitter, so clients refused together do not come back together; otherwise capped
  exponential backoff with full jitter (at least `min_rate_limit_wait_s` for rate limits, so
  a 429 never comes back within milliseconds);
- a `RateLimited` is also reported to the budget (`penalize`), so every thread spending that
  limit holds off and the pace slows, not only the call that was refused;
- `SessionExpired`: refresh the credentials once (the connector's callback), retry at once;
  a second expiry in the same call, or one that cannot be refreshed (a HubSpot private-app
  token), is raised as a plain `AuthError` with the vendor's code and message: not retryable,
  so it ends the run instead of passing for a failure to retry later;
- everything else, notably `DailyLimitExhausted`, `AuthError`, `PermanentError`: raised at once.

A read-ahead thread whose caller went away (`connectors.priority`) makes no further attempt: its
wait ends at once and its failure is raised as it is, unlogged (nobody wants that page now).
A thread whose work was asked to stop (`connectors.priority.retries_end_on`, the daemon on
SIGTERM) makes no further attempt either: a wait under way ends at once and the failure it was
for is raised, so the stop is not kept waiting on the vendor's back-off.

Attempts and the total time spent waiting are both capped; a `Retry-After` that would exceed the
wait budget ends the call instead of sleeping uselessly. The SDKs' own retries must be off
(hubspot-api-client `retry=None`, no urllib3 Retry on simple-salesforce's session), so attempts
never multiply.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import tenacity

from connectors.errors import (
    AuthError,
    ConnectorError,
    DailyLimitExhausted,
    RateLimited,
    SessionExpired,
)
from connectors.http.classify import classify_exception
from connectors.priority import abandoned, check_abandoned, pause, stop_requested
from connectors.records import System

T = TypeVar("T")

log = logging.getLogger(__name__)


class Budget(Protocol):
    """What the retrier needs from `connectors.http.budget.ApiBudget`."""

    def spend(self, kind: str = ...) -> None: ...

    def mark_daily_exhausted(self) -> None: ...

    def penalize(self, kind: str, wait_s: float) -> None: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Limits on one call's retries.

    Args:
        max_attempts: attempts in total, the first included.
        max_total_wait_s: the most time one call may spend sleeping between attempts.
        base_wait_s: the first backoff ceiling; it doubles per attempt.
        max_wait_s: the cap on one backoff wait (server `Retry-After` values are not capped,
            only bounded by `max_total_wait_s`).
        min_rate_limit_wait_s: the floor for a rate-limit wait when the server gave none.
    """

    max_attempts: int = 6
    max_total_wait_s: float = 300.0
    base_wait_s: float = 0.5
    max_wait_s: float = 60.0
    min_rate_limit_wait_s: float = 1.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.max_total_wait_s, self.base_wait_s, self.max_wait_s) < 0:
            raise ValueError("waits must not be negative")


class Retrier:
    """Runs calls for one system under one `RetryPolicy`, spending `budget` per attempt.

    Args:
        system: the system called (for classification and messages).
        policy: attempt and wait limits.
        budget: spent once per attempt before the call; None for calls outside the budget.
        on_session_expired: refreshes credentials; None when they cannot be refreshed (then a
            `SessionExpired` is raised to the caller as the plain `AuthError` it is).
        sleep: injectable for tests; the retrier never sleeps any other way.
        rng: source of jitter; injectable for tests.
        proxy: the proxy URL the calls go through (None: direct), so a failure to reach it
            names it rather than the address it was to reach.
    """

    def __init__(
        self,
        *,
        system: System | str,
        policy: RetryPolicy | None = None,
        budget: Budget | None = None,
        on_session_expired: Callable[[], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        logger: logging.Logger | None = None,
        proxy: str | None = None,
    ) -> None:
        self.system = system
        self.proxy = proxy
        self.policy = policy or RetryPolicy()
        self.budget = budget
        self.on_session_expired = on_session_expired
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._log = logger or log

    def call(
        self,
        fn: Callable[[], T],
        *,
        operation: str,
        kind: str = "default",
        idempotent: bool = True,
    ) -> T:
        """Call `fn` until it succeeds or its failure's classification says stop.

        With `idempotent=False` (a create without an external id or trace id), only failures
        the system certainly did not act on are retried (`ConnectorError.unprocessed`: rate
        limits, locks, connections never made); a 5xx or a read timeout is raised, because
        the write may have happened.
        """
        policy = self.policy
        refreshed = False
        waiting_for: BaseException | None = None  # the failure the wait under way is for

        def attempt() -> T:
            check_abandoned()
            if self.budget is not None:
                self.budget.spend(kind)
            try:
                return fn()
            except Exception as exc:
                error = (
                    exc
                    if isinstance(exc, ConnectorError)
                    else classify_exception(
                        exc, system=self.system, operation=operation, proxy=self.proxy
                    )
                )
                if error is None:
                    raise
                if isinstance(error, DailyLimitExhausted) and self.budget is not None:
                    # Some answers carry no limit headers (HubSpot search): remember the refusal.
                    self.budget.mark_daily_exhausted()
                if isinstance(error, RateLimited) and self.budget is not None:
                    # Another client spends the same limit: slow every caller, not just this one.
                    hold = error.retry_after
                    self.budget.penalize(
                        kind, policy.min_rate_limit_wait_s if hold is None else hold
                    )
                if error is exc:
                    raise
                raise error from exc

        def should_retry(exc: BaseException) -> bool:
            if abandoned():
                return False
            if not idempotent and not (isinstance(exc, ConnectorError) and exc.unprocessed):
                return False
            if isinstance(exc, SessionExpired):
                return self.on_session_expired is not None and not refreshed
            if stop_requested():
                return False
            return isinstance(exc, ConnectorError) and exc.retryable

        def wait(state: tenacity.RetryCallState) -> float:
            exc = _exception(state)
            if isinstance(exc, SessionExpired):
                return 0.0
            hinted = getattr(exc, "retry_after", None)
            if isinstance(exc, RateLimited) and exc.documented_wait and exc.retry_after:
                # The vendor's documented wait, not its instruction: grow it and jitter it.
                n = state.attempt_number
                return exc.retry_after * self._rng.uniform(n, n + 1)
            if isinstance(hinted, int | float):
                return float(hinted)
            ceiling = min(policy.max_wait_s, policy.base_wait_s * 2 ** (state.attempt_number - 1))
            if isinstance(exc, RateLimited):  # never hammer a limiter sooner than the floor
                floor = policy.min_rate_limit_wait_s
                return self._rng.uniform(floor, max(ceiling, floor))
            return self._rng.uniform(0.0, ceiling)

        def stop(state: tenacity.RetryCallState) -> bool:
            return (
                state.attempt_number >= policy.max_attempts
                or state.idle_for + (state.upcoming_sleep or 0.0) > policy.max_total_wait_s
            )

        def before_sleep(state: tenacity.RetryCallState) -> None:
            nonlocal refreshed, waiting_for
            exc = waiting_for = _exception(state)
            self._log.warning(
                "retrying %s after attempt %d/%d in %.2fs: %s",
                operation,
                state.attempt_number,
                policy.max_attempts,
                state.upcoming_sleep,
                exc,
            )
            if isinstance(exc, SessionExpired) and self.on_session_expired is not None:
                refreshed = True
                self.on_session_expired()

        def wait_out(seconds: float) -> None:
            pause(seconds, self._sleep, stoppable=True)
            if seconds > 0 and stop_requested() and waiting_for is not None:
                raise waiting_for  # asked to stop during the wait: no retry follows

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(should_retry),
            wait=wait,
            stop=stop,
            sleep=wait_out,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except ConnectorError as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            if attempts > 1:
                exc.add_note(
                    f"gave up after {attempts} attempts and "
                    f"{retrying.statistics.get('idle_for', 0.0):.1f}s of waiting"
                )
            if isinstance(exc, SessionExpired):
                renewable = self.on_session_expired is not None
                raise _refused(exc, renewed=refreshed, renewable=renewable) from exc
            raise


def _refused(exc: SessionExpired, *, renewed: bool, renewable: bool) -> AuthError:
    """The credentials refused for good: refused again once renewed, or not renewable."""
    if renewed:
        message = f"{exc.message}; still refused right after the credentials were renewed"
    elif not renewable:
        message = f"{exc.message}; these credentials cannot be renewed"
    else:  # a write that may have happened is not sent again, even with new credentials
        message = exc.message
    error = AuthError(
        message,
        system=exc.system,
        operation=exc.operation,
        vendor_code=exc.vendor_code,
        vendor_message=exc.vendor_message,
        status=exc.status,
    )
    for note in getattr(exc, "__notes__", ()):
        error.add_note(note)
    return error


def _exception(state: tenacity.RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome is not None else None


def call_with_retry(
    fn: Callable[[], T],
    *,
    system: System | str,
    operation: str,
    policy: RetryPolicy | None = None,
    budget: Budget | None = None,
    on_session_expired: Callable[[], None] | None = None,
    kind: str = "default",
    idempotent: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """One-off form of `Retrier(...).call(...)`; connectors keep a `Retrier` instead."""
    retrier = Retrier(
        system=system,
        policy=policy,
        budget=budget,
        on_session_expired=on_session_expired,
        sleep=sleep,
    )
    return retrier.call(fn, operation=operation, kind=kind, idempotent=idempotent)
