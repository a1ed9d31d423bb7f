"""Faults injected by the imitation end as their classification says.

429 storms and 5xx bursts are retried until they pass, a 423 lock after its 2 s; the daily cap
stops at once with `DailyLimitExhausted`; a rejected private-app token is an `AuthError`; an
expired OAuth token is refreshed once and the call retried.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.errors import AuthError, DailyLimitExhausted, RateLimited, TransientError
from connectors.http.budget import ApiBudget, hubspot_spec
from connectors.http.retry import RetryPolicy
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.settings import HubSpotSettings


@pytest.fixture(autouse=True)
def clean(served: Any) -> Iterator[None]:
    served.clear_faults()
    served.reset_stats()
    yield
    served.clear_faults()
    served.box.limits.enabled = False
    served.box.limits.reset()


def test_given_a_429_storm_then_calls_are_retried_and_succeed(served: Any) -> None:
    waits: list[float] = []
    hubspot = served.connector(sleep=waits.append)
    served.faults(next_rate_limit=4)
    records = hubspot.read_by_ids("contacts", ["1", "2"])
    assert len(records) == 2
    assert served.stats()["by_status"] == {"429": 4, "200": 1}
    assert len(waits) == 4
    assert all(w > 0 for w in waits)


def test_given_a_429_storm_on_search_then_it_is_searchs_secondly_limit_and_is_retried(
    served: Any,
) -> None:
    """An injected 429 on a search path reads as search's own (SECONDLY, no rate-limit
    headers): waited out at its one-second pace, not the burst window's ten."""
    waits: list[float] = []
    hubspot = served.connector(sleep=waits.append, policy=RetryPolicy(max_attempts=3))
    served.faults(next_rate_limit=1, path_prefix="/crm/v3/objects/contacts/search")
    until = served.box.clock.now_dt()
    changed = list(hubspot.read_changes("contacts", until - timedelta(days=3650), until))
    assert changed
    assert served.stats()["by_status"]["429"] == 1
    assert waits
    assert max(waits) < 10.0
    served.faults(next_rate_limit=5, path_prefix="/crm/v3/objects/contacts/search")
    with pytest.raises(RateLimited) as err:
        list(hubspot.read_changes("contacts", until - timedelta(days=3650), until))
    assert err.value.policy == "SECONDLY"


def test_given_a_429_storm_longer_than_the_policy_then_rate_limited_is_raised(
    served: Any,
) -> None:
    hubspot = served.connector(policy=RetryPolicy(max_attempts=3))
    served.faults(next_rate_limit=10)
    with pytest.raises(RateLimited) as err:
        hubspot.read_by_ids("contacts", ["1"])
    assert err.value.policy == "TEN_SECONDLY_ROLLING"
    assert served.stats()["by_status"] == {"429": 3}


def test_given_a_5xx_burst_then_calls_are_retried_and_succeed(served: Any) -> None:
    hubspot = served.connector()
    served.faults(next_server_error=3, server_error_status=502)
    assert len(list(hubspot.read_all("contacts"))) >= 1000
    assert served.stats()["by_status"]["502"] == 3


def test_given_a_5xx_on_a_create_then_it_is_not_resent(served: Any) -> None:
    from connectors.records import RecordKey, RecordPatch, System

    hubspot = served.connector()
    served.faults(next_server_error=1, path_prefix="/crm/v3/objects/contacts/batch/create")
    patch = RecordPatch(RecordKey(System.HUBSPOT, "contacts", ""), {"email": "c5xx@example.com"})
    with pytest.raises(TransientError):
        hubspot.write("contacts", [patch])
    assert served.stats()["requests"] == 1


def test_given_a_423_lock_then_the_write_waits_the_documented_2_s_and_succeeds(
    served: Any,
) -> None:
    # 423 Locked: "Locks will last for 2 seconds ... include a delay of at least 2 seconds"
    # (hubspot-api.md §4). HubSpot did not act on a locked request, so even a create (not
    # idempotent) is sent again.
    from connectors.records import RecordKey, RecordPatch, System

    waits: list[float] = []
    hubspot = served.connector(sleep=waits.append)
    served.faults(next_locked=1, path_prefix="/crm/v3/objects/contacts/batch/")
    patch = RecordPatch(RecordKey(System.HUBSPOT, "contacts", ""), {"email": "c423@example.com"})

    (outcome,) = hubspot.write("contacts", [patch])

    assert outcome.ok
    statuses = served.stats()["by_status"]  # (a slow test's abandoned request may land too)
    assert (statuses.get("423"), statuses.get("201")) == (1, 1)
    assert waits == [2.0]
    found = hubspot.read_by_ids("contacts", [outcome.id or ""])
    assert [r.get("email") for r in found] == ["c423@example.com"]


def test_given_the_daily_cap_is_spent_then_the_run_stops_loudly_without_retrying(
    served: Any,
) -> None:
    with served.admin() as http:
        http.put("/_sandbox/limits", json={"enabled": True, "daily_remaining": 0})
    served.reset_stats()
    hubspot = served.connector()
    with pytest.raises(DailyLimitExhausted) as err:
        hubspot.read_by_ids("contacts", ["1"])
    assert served.stats()["requests"] == 1
    assert "daily" in str(err.value).lower()
    assert "midnight" in str(err.value)


def test_given_the_budget_knows_the_daily_floor_then_no_call_is_made(served: Any) -> None:
    with served.admin() as http:
        http.put("/_sandbox/limits", json={"enabled": True, "daily_remaining": 5})
    budget = ApiBudget(hubspot_spec(daily_floor=3), sleep=lambda _s: None)
    hubspot = served.connector(budget=budget)
    served.reset_stats()
    hubspot.read_by_ids("contacts", ["1"])  # learns "5 remaining" from the headers
    hubspot.read_by_ids("contacts", ["1"])
    with pytest.raises(DailyLimitExhausted):
        hubspot.read_by_ids("contacts", ["1"])
    assert served.stats()["requests"] == 2


def test_given_a_rejected_private_app_token_then_auth_error_without_retry(served: Any) -> None:
    hubspot = served.connector()
    served.faults(next_expired_session=1)
    with pytest.raises(AuthError):
        hubspot.read_by_ids("contacts", ["1"])
    assert served.stats()["requests"] == 1


def _oauth(served: Any, refresh_token: str) -> HubSpotConnector:
    settings = HubSpotSettings(
        base_url=served.url,
        client_id=served.box.options.client_id,
        client_secret=SecretStr(served.box.options.client_secret),
        refresh_token=SecretStr(refresh_token),
    )
    budget = ApiBudget(hubspot_spec(), sleep=lambda _s: None)
    return HubSpotConnector(settings, budget=budget, sleep=lambda _s: None)


def test_given_oauth_then_the_token_is_fetched_once_and_refreshed_after_a_401(
    served: Any,
) -> None:
    grant = served.box.tokens.issue()
    hubspot = _oauth(served, grant["refresh_token"])
    assert len(hubspot.read_by_ids("contacts", ["1"])) == 1
    assert len(hubspot.read_by_ids("contacts", ["2"])) == 1
    routes = served.stats()["by_route"]
    assert sum(v for k, v in routes.items() if "oauth" in k) == 1
    served.faults(next_expired_session=1)
    assert len(hubspot.read_by_ids("contacts", ["3"])) == 1
    routes = served.stats()["by_route"]
    assert sum(v for k, v in routes.items() if "oauth" in k) == 2


def test_given_a_revoked_refresh_token_then_auth_error(served: Any) -> None:
    hubspot = _oauth(served, "na1-revoked-token-0000")
    with pytest.raises(AuthError) as err:
        hubspot.read_by_ids("contacts", ["1"])
    assert err.value.vendor_code in ("invalid_grant", "BAD_REFRESH_TOKEN")


def test_given_a_response_slower_than_the_timeout_then_the_read_is_retried(served: Any) -> None:
    settings = HubSpotSettings(
        base_url=served.url,
        access_token=served.box.options.access_token,
        request_timeout_s=0.3,
    )
    budget = ApiBudget(hubspot_spec(), sleep=lambda _s: None)
    hubspot = HubSpotConnector(settings, budget=budget, sleep=lambda _s: None)
    served.faults(next_slow=1, slow_seconds=1.0)
    assert len(hubspot.read_by_ids("contacts", ["1", "2"])) == 2
    assert budget.snapshot().spent == {"default": 2}


def test_given_a_slow_create_then_it_is_not_resent(served: Any) -> None:
    from connectors.records import RecordKey, RecordPatch, System

    settings = HubSpotSettings(
        base_url=served.url,
        access_token=served.box.options.access_token,
        request_timeout_s=0.3,
    )
    budget = ApiBudget(hubspot_spec(), sleep=lambda _s: None)
    hubspot = HubSpotConnector(settings, budget=budget, sleep=lambda _s: None)
    served.faults(next_slow=1, slow_seconds=1.0)
    patch = RecordPatch(RecordKey(System.HUBSPOT, "contacts", ""), {"email": "slow@example.com"})
    with pytest.raises(TransientError):
        hubspot.write("contacts", [patch])
    assert budget.snapshot().spent == {"default": 1}
