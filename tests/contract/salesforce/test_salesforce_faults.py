"""Fault injection: each failure ends as its classification says."""

from __future__ import annotations

import uuid

import pytest

from connectors.errors import AuthError, DailyLimitExhausted, RateLimited, TransientError
from connectors.http.retry import RetryPolicy
from connectors.records import RecordKey, RecordPatch, System
from connectors.salesforce.connector import SalesforceConnector
from tests.contract.salesforce.conftest import Served


def _count(salesforce: SalesforceConnector, served: Served) -> int:
    return len(salesforce.read_by_ids("Lead", [served.box.find("Lead", limit=1)[0]["Id"]]))


def test_given_concurrency_limit_errors_when_reading_then_waits_and_succeeds(
    served: Served, salesforce: SalesforceConnector
) -> None:
    served.faults(next_rate_limit=3, path_prefix="/services/data/")
    assert _count(salesforce, served) == 1
    assert served.stats()["by_status"].get("403", 0) >= 3


def test_given_a_5xx_burst_when_reading_then_retried(
    served: Served, salesforce: SalesforceConnector
) -> None:
    served.faults(next_server_error=2, server_error_status=500, path_prefix="/services/data/")
    assert _count(salesforce, served) == 1


def test_given_endless_5xx_when_reading_then_transient_error_after_the_cap(
    served: Served,
) -> None:
    connector = served.connector(policy=RetryPolicy(max_attempts=3))
    served.faults(server_error_rate=1.0, path_prefix="/services/data/")
    try:
        with pytest.raises(TransientError) as info:
            _count(connector, served)
    finally:
        served.clear_faults()
        connector.close()
    assert info.value.status == 503
    assert info.value.vendor_code == "SERVER_UNAVAILABLE"


def test_given_endless_rate_limits_when_reading_then_rate_limited_after_the_cap(
    served: Served,
) -> None:
    connector = served.connector(policy=RetryPolicy(max_attempts=2))
    served.faults(rate_limit_rate=1.0, path_prefix="/services/data/")
    try:
        with pytest.raises(RateLimited) as info:
            _count(connector, served)
    finally:
        served.clear_faults()
        connector.close()
    assert info.value.policy == "CONCURRENT"


def test_given_an_expired_session_when_reading_then_token_refreshed_and_call_succeeds(
    served: Served, salesforce: SalesforceConnector
) -> None:
    assert _count(salesforce, served) == 1  # a session exists
    served.reset_stats()
    served.faults(next_expired_session=1, path_prefix="/services/data/")

    assert _count(salesforce, served) == 1
    assert served.api_calls("/services/oauth2/token") == 1
    assert served.stats()["by_status"].get("401") == 1


def test_given_sessions_that_keep_expiring_when_reading_then_auth_error_not_a_loop(
    served: Served, salesforce: SalesforceConnector
) -> None:
    served.faults(expired_session_rate=1.0, path_prefix="/services/data/")
    try:
        with pytest.raises(AuthError) as info:
            _count(salesforce, served)
    finally:
        served.clear_faults()
    assert type(info.value) is AuthError  # refused for good: not a session to renew again
    assert info.value.vendor_code == "INVALID_SESSION_ID"
    assert served.api_calls("/services/oauth2/token") <= 3


def test_given_the_org_refuses_for_the_daily_cap_when_reading_then_run_ends_loudly(
    served: Served, salesforce: SalesforceConnector
) -> None:
    served.box.limits.enabled = True
    served.limits(daily_remaining=0)
    served.reset_stats()
    try:
        with pytest.raises(DailyLimitExhausted) as info:
            list(salesforce.read_changes("Lead", None, served.slot()))
        assert served.api_calls() == 1  # refused once, never retried
    finally:
        served.box.limits.enabled = False
        served.box.limits.reset()
    assert info.value.vendor_code == "REQUEST_LIMIT_EXCEEDED"
    assert info.value.status == 403
    assert "24-hour" in str(info.value)


def test_given_limit_headers_show_the_allocation_spent_then_no_further_call_is_made(
    served: Served, salesforce: SalesforceConnector
) -> None:
    served.limits(daily_remaining=0)  # refusal is off: only Sforce-Limit-Info says so
    served.reset_stats()
    try:
        with pytest.raises(DailyLimitExhausted) as info:
            list(salesforce.read_changes("Lead", None, served.slot()))  # needs two pages
        assert served.api_calls() == 1  # the first page told the budget; page two not sent
        with pytest.raises(DailyLimitExhausted):
            _count(salesforce, served)
        assert served.api_calls() == 1
    finally:
        served.box.limits.reset()
    assert info.value.remaining == 0
    assert info.value.limit == served.box.options.daily_limit


def test_given_a_slow_response_when_reading_then_the_timeout_retries_and_succeeds(
    served: Served,
) -> None:
    connector = served.connector(request_timeout_s=0.3)
    try:
        assert _count(connector, served) == 1  # token and session first
        served.faults(next_slow=1, slow_seconds=1.0, path_prefix="/services/data/")
        assert _count(connector, served) == 1
    finally:
        connector.close()


def test_connector_satisfies_the_protocol(salesforce: SalesforceConnector) -> None:
    from connectors.protocol import Connector

    assert isinstance(salesforce, Connector)


def test_given_a_refused_session_then_the_error_text_holds_no_secret(served: Served) -> None:
    connector = served.connector()
    secret = served.box.options.client_secret
    served.faults(expired_session_rate=1.0, path_prefix="/services/data/")
    try:
        with pytest.raises(AuthError) as info:
            _count(connector, served)
        session_id = connector.sdk.sf.session_id  # the last one granted (no call made here)
    finally:
        served.clear_faults()
        connector.close()
    text = f"{info.value} {info.value!r} {getattr(info.value, '__notes__', '')}"
    assert secret not in text
    assert session_id not in text


def _lead(company: str, i: int, *, baton_id: str | None = None) -> RecordPatch:
    fields = {"LastName": f"Locked{i}", "Company": company}
    if baton_id is None:
        return RecordPatch(RecordKey(System.SALESFORCE, "Lead", ""), fields)
    fields["Baton_Id__c"] = baton_id
    return RecordPatch(RecordKey(System.SALESFORCE, "Lead", ""), fields, match_on="Baton_Id__c")


def test_given_records_refused_for_a_row_lock_then_only_they_are_sent_again_and_written(
    served: Served,
) -> None:
    # UNABLE_TO_LOCK_ROW per record inside the collections answer: "transient, retry"
    # (salesforce-api.md §4); the rest of the call was written and is not sent again.
    waits: list[float] = []
    connector = served.connector(sleep=waits.append)
    company = f"RowLock-{uuid.uuid4()}"
    patches = [_lead(company, i) for i in range(5)]
    served.faults(next_row_lock=2)
    served.reset_stats()
    try:
        outcomes = connector.write("Lead", patches)
    finally:
        connector.close()

    assert [o.ok for o in outcomes] == [True] * 5
    assert [o.patch for o in outcomes] == patches
    assert served.api_calls("composite/sobjects") == 2  # the call, then the 2 locked records
    assert len(waits) == 1
    made = served.box.find("Lead", equals={"Company": company})
    assert sorted(r["Id"] for r in made) == sorted(o.id or "" for o in outcomes)  # no twins


def test_given_a_row_lock_that_never_clears_then_retry_later_after_the_writers_attempts(
    served: Served,
) -> None:
    waits: list[float] = []
    connector = served.connector(sleep=waits.append)
    company = f"StuckLock-{uuid.uuid4()}"
    patches = [_lead(company, i, baton_id=f"lock-{uuid.uuid4()}") for i in range(2)]
    served.faults(row_lock_rate=1.0)
    served.reset_stats()
    try:
        outcomes = connector.write("Lead", patches)
    finally:
        served.clear_faults()
        connector.close()

    assert [(o.error_code, o.retryable) for o in outcomes] == [("UNABLE_TO_LOCK_ROW", True)] * 2
    assert all(
        (o.error_message or "").startswith("unable to obtain exclusive access to this record")
        for o in outcomes
    )
    assert served.api_calls("composite/sobjects") == 4  # sent once, then 3 more times
    assert len(waits) == 3
    assert waits == sorted(waits)  # backing off between sends
    assert served.box.find("Lead", equals={"Company": company}) == []
