"""Authentication, OAuth tokens, rate limits (burst, daily, search) and injected faults."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest

from sandbox.hubspot import HubSpotOptions, HubSpotSandbox
from sandbox.shared.server import Listener, serve_in_thread


@pytest.fixture(scope="module")
def limited() -> Iterator[tuple[HubSpotSandbox, str]]:
    box = HubSpotSandbox(
        HubSpotOptions(rate_limits=True, ten_second_limit=20, oauth_ten_second_limit=12)
    )
    box.seed(contacts=30, seed=3)
    listener = Listener(box.app)
    with serve_in_thread([listener]):
        yield box, listener.url


@pytest.fixture(autouse=True)
def fresh_limits(limited: tuple[HubSpotSandbox, str]) -> None:
    box, _ = limited
    box.limits.reset()
    box.limits.enabled = True
    box.faults.clear()


def _api(limited: tuple[HubSpotSandbox, str], token: str | None = None) -> Any:
    box, url = limited
    return HubSpot(access_token=token or box.options.access_token, host=url)


def test_missing_or_wrong_token_is_401(limited: Any) -> None:
    with pytest.raises(ApiException) as err:
        _api(limited, token="wrong").crm.contacts.basic_api.get_page()
    assert err.value.status == 401
    body = json.loads(err.value.body)
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found.")
    uuid.UUID(body["correlationId"])
    response = httpx.get(limited[1] + "/crm/v3/objects/contacts")
    assert response.status_code == 401


def test_headers_then_ten_secondly_429(limited: Any) -> None:
    box, _ = limited
    api = _api(limited)
    _data, status, headers = api.crm.contacts.basic_api.get_page_with_http_info(limit=1)
    assert status == 200
    assert headers["X-HubSpot-RateLimit-Max"] == "20"
    assert headers["X-HubSpot-RateLimit-Remaining"] == "19"
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert headers["X-HubSpot-RateLimit-Daily"] == "625000"
    assert "X-HubSpot-RateLimit-Secondly" in headers
    for _ in range(19):
        api.crm.contacts.basic_api.get_page(limit=1)
    with pytest.raises(ApiException) as err:
        api.crm.contacts.basic_api.get_page(limit=1)
    assert err.value.status == 429
    body = json.loads(err.value.body)
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["errorType"] == "RATE_LIMIT"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert err.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    box.clock.advance(10.5)
    assert api.crm.contacts.basic_api.get_page(limit=1).results


def test_search_limit_is_separate_and_headerless(limited: Any) -> None:
    box, _ = limited
    api = _api(limited)
    for _ in range(5):
        api.crm.contacts.search_api.do_search(PublicObjectSearchRequest())
    with pytest.raises(ApiException) as err:
        api.crm.contacts.search_api.do_search(PublicObjectSearchRequest())
    assert err.value.status == 429
    assert json.loads(err.value.body)["message"] == "You have reached your secondly limit."
    assert not [h for h in err.value.headers if h.lower().startswith("x-hubspot-ratelimit")]
    assert api.crm.contacts.basic_api.get_page(limit=1).results  # burst window untouched
    box.clock.advance(1.1)
    assert api.crm.contacts.search_api.do_search(PublicObjectSearchRequest()).total == 30


def test_daily_cap_via_admin(limited: Any) -> None:
    _box, url = limited
    assert httpx.put(url + "/_sandbox/limits", json={"daily_remaining": 2}).status_code == 200
    api = _api(limited)
    api.crm.contacts.basic_api.get_page(limit=1)
    _, _, headers = api.crm.contacts.basic_api.get_page_with_http_info(limit=1)
    assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    with pytest.raises(ApiException) as err:
        api.crm.contacts.basic_api.get_page(limit=1)
    body = json.loads(err.value.body)
    assert err.value.status == 429
    assert body["policyName"] == "DAILY"
    assert body["message"] == "You have reached your daily limit."
    httpx.put(url + "/_sandbox/limits", json={"enabled": False})
    assert api.crm.contacts.basic_api.get_page(limit=1).results


def test_oauth_grants_and_expiry(limited: Any) -> None:
    box, url = limited
    o = box.options
    api = _api(limited)
    tokens = api.oauth.tokens_api.create(
        grant_type="authorization_code",
        code="any-code",
        redirect_uri="http://localhost/cb",
        client_id=o.client_id,
        client_secret=o.client_secret,
    )
    assert tokens.expires_in == 1800
    assert tokens.token_type == "bearer"
    oauth_api = _api(limited, token=tokens.access_token)
    _, _, headers = oauth_api.crm.contacts.basic_api.get_page_with_http_info(limit=1)
    assert "X-HubSpot-RateLimit-Daily" not in headers
    refreshed = api.oauth.tokens_api.create(
        grant_type="refresh_token",
        refresh_token=tokens.refresh_token,
        client_id=o.client_id,
        client_secret=o.client_secret,
    )
    assert refreshed.access_token != tokens.access_token
    box.clock.advance(1801)
    with pytest.raises(ApiException) as err:
        oauth_api.crm.contacts.basic_api.get_page(limit=1)
    assert err.value.status == 401
    assert json.loads(err.value.body)["category"] == "EXPIRED_AUTHENTICATION"
    bad = httpx.post(
        url + "/oauth/v1/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "nope",
            "client_id": o.client_id,
            "client_secret": o.client_secret,
        },
    )
    assert bad.status_code == 400
    assert bad.json()["status"] == "BAD_REFRESH_TOKEN"
    assert bad.json()["error"] == "invalid_grant"
    wrong_secret = httpx.post(
        url + "/oauth/v1/token",
        data={
            "grant_type": "authorization_code",
            "code": "c",
            "redirect_uri": "http://x",
            "client_id": o.client_id,
            "client_secret": "nope",
        },
    )
    assert wrong_secret.status_code == 400


def test_faults_render_in_hubspot_words(limited: Any) -> None:
    _box, url = limited
    api = _api(limited)
    httpx.put(
        url + "/_sandbox/faults",
        json={
            "next_rate_limit": 1,
            "next_server_error": 1,
            "next_expired_session": 1,
            "server_error_status": 502,
        },
    )
    statuses = []
    for _ in range(3):
        with pytest.raises(ApiException) as err:
            api.crm.contacts.basic_api.get_page(limit=1)
        statuses.append((err.value.status, json.loads(err.value.body)))
    assert [s for s, _ in statuses] == [401, 429, 502]
    assert statuses[0][1]["category"] == "INVALID_AUTHENTICATION"
    assert statuses[1][1]["policyName"] == "TEN_SECONDLY_ROLLING"
    assert statuses[2][1]["status"] == "error"
    assert api.crm.contacts.basic_api.get_page(limit=1).results


def test_locked_fault_is_hubspots_423_and_hubspot_only(limited: Any) -> None:
    # 423 Locked: a high-volume write lock lasting 2 s (hubspot-api.md §4), in HubSpot's
    # error shape (§7); the next request, the lock gone, succeeds.
    box, url = limited
    api = _api(limited)
    assert httpx.put(url + "/_sandbox/faults", json={"next_locked": 1}).status_code == 200
    with pytest.raises(ApiException) as err:
        api.crm.contacts.batch_api.upsert(
            {"inputs": [{"id": "locked@example.com", "idProperty": "email", "properties": {}}]}
        )
    assert err.value.status == 423
    body = json.loads(err.value.body)
    assert (body["status"], body["category"]) == ("error", "LOCKED")
    assert "2 seconds" in body["message"]
    uuid.UUID(body["correlationId"])
    assert box.faults.injected["locked"] == 1
    assert api.crm.contacts.basic_api.get_page(limit=1).results

    refused = httpx.put(url + "/_sandbox/faults", json={"row_lock_rate": 0.5})
    assert refused.status_code == 400
    assert "row_lock" in refused.json()["message"]
    assert "locked" in refused.json()["message"]


def test_an_injected_rate_limit_on_a_search_path_is_searchs_own_429(limited: Any) -> None:
    """Search's 429 is the secondly one, without rate-limit headers (hubspot-api.md §5, §6),
    injected or real; elsewhere the injected 429 is the burst one, with its headers."""
    _box, url = limited
    api = _api(limited)
    httpx.put(url + "/_sandbox/faults", json={"next_rate_limit": 2})
    with pytest.raises(ApiException) as err:
        api.crm.contacts.search_api.do_search(PublicObjectSearchRequest())
    assert err.value.status == 429
    body = json.loads(err.value.body)
    assert (body["policyName"], body["message"]) == (
        "SECONDLY",
        "You have reached your secondly limit.",
    )
    assert not [h for h in err.value.headers if h.lower().startswith("x-hubspot-ratelimit")]
    with pytest.raises(ApiException) as err:
        api.crm.contacts.basic_api.get_page(limit=1)
    assert json.loads(err.value.body)["policyName"] == "TEN_SECONDLY_ROLLING"
    assert "X-HubSpot-RateLimit-Max" in err.value.headers


def _oauth_token(limited: tuple[HubSpotSandbox, str]) -> str:
    box, _ = limited
    tokens = _api(limited).oauth.tokens_api.create(
        grant_type="authorization_code",
        code="any-code",
        redirect_uri="http://localhost/cb",
        client_id=box.options.client_id,
        client_secret=box.options.client_secret,
    )
    return str(tokens.access_token)


def test_each_app_has_its_own_burst_window_and_the_day_is_shared(limited: Any) -> None:
    """The burst applies per app, the daily quota to the account (hubspot-api.md §6): the
    private app spending its window leaves the OAuth app's whole, and the OAuth app's window
    is its own limit (a marketplace app's 110 / 10 s by default), reported in its headers."""
    box, url = limited
    assert HubSpotOptions().oauth_ten_second_limit == 110
    private, oauth = _api(limited), _api(limited, token=_oauth_token(limited))
    for _ in range(20):
        private.crm.contacts.basic_api.get_page(limit=1)
    with pytest.raises(ApiException) as err:
        private.crm.contacts.basic_api.get_page(limit=1)
    assert err.value.status == 429
    _, status, headers = oauth.crm.contacts.basic_api.get_page_with_http_info(limit=1)
    assert status == 200
    assert (headers["X-HubSpot-RateLimit-Max"], headers["X-HubSpot-RateLimit-Remaining"]) == (
        "12",
        "11",
    )
    for _ in range(11):
        oauth.crm.contacts.basic_api.get_page(limit=1)
    with pytest.raises(ApiException) as err:
        oauth.crm.contacts.basic_api.get_page(limit=1)
    assert err.value.status == 429
    assert json.loads(err.value.body)["policyName"] == "TEN_SECONDLY_ROLLING"
    assert err.value.headers["X-HubSpot-RateLimit-Max"] == "12"
    assert "X-HubSpot-RateLimit-Daily" not in err.value.headers
    limits = httpx.get(url + "/_sandbox/limits").json()
    assert (limits["oauth_ten_second_limit"], limits["oauth_ten_second_remaining"]) == (12, 0)
    assert limits["daily_remaining"] == 625_000 - 32  # both apps spend the account's day
    box.clock.advance(10.5)
    assert oauth.crm.contacts.basic_api.get_page(limit=1).results
    assert private.crm.contacts.basic_api.get_page(limit=1).results
