"""OAuth 2 token refresh over httpx, checked with respx (exact routes, every route called)."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import SecretStr

from connectors.errors import AuthError, TransientError
from connectors.http.redaction import redact
from connectors.http.retry import Retrier, RetryPolicy
from connectors.hubspot.auth import OAuthTokens, PrivateAppToken
from connectors.records import System

BASE = "https://api.hubapi.test"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _tokens(clock: Clock, retrier: Retrier | None = None) -> OAuthTokens:
    return OAuthTokens(
        http=httpx.Client(base_url=BASE),
        client_id="client-1",
        client_secret=SecretStr("client-secret-abcdef"),
        refresh_token=SecretStr("refresh-token-000001"),
        retrier=retrier,
        margin_s=60,
        clock=clock,
    )


def _grant(access: str, refresh: str = "refresh-token-000001", expires_in: int = 1800) -> dict:
    return {
        "token_type": "bearer",
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": expires_in,
    }


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_given_a_refresh_token_then_the_form_grant_is_posted_once_and_cached(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(f"{BASE}/oauth/v1/token").mock(
        return_value=httpx.Response(200, json=_grant("access-one-123456"))
    )
    clock = Clock()
    tokens = _tokens(clock)
    assert tokens.token() == "access-one-123456"
    assert tokens.token() == "access-one-123456"
    assert route.call_count == 1
    request = route.calls[0].request
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["refresh_token"],
        "client_id": ["client-1"],
        "client_secret": ["client-secret-abcdef"],
        "refresh_token": ["refresh-token-000001"],
    }


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_given_expiry_is_near_then_the_token_is_refreshed_before_it_lapses(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(f"{BASE}/oauth/v1/token").mock(
        side_effect=[
            httpx.Response(200, json=_grant("access-one-123456", expires_in=1800)),
            httpx.Response(200, json=_grant("access-two-123456", refresh="refresh-rotated-0002")),
        ]
    )
    clock = Clock()
    tokens = _tokens(clock)
    assert tokens.token() == "access-one-123456"
    clock.now += 1800 - 61  # still 61 s left: more than the 60 s margin
    assert tokens.token() == "access-one-123456"
    clock.now += 2  # 59 s left: inside the margin, refresh before expiry
    assert tokens.token() == "access-two-123456"
    assert route.call_count == 2
    # the rotated refresh token is used next time
    respx_mock.post(f"{BASE}/oauth/v1/token").mock(
        return_value=httpx.Response(200, json=_grant("access-three-1234"))
    )
    tokens.refresh()
    assert "refresh-rotated-0002" in route.calls[-1].request.content.decode()


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_given_a_revoked_refresh_token_then_auth_error_with_hubspot_code(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(f"{BASE}/oauth/v1/token").mock(
        return_value=httpx.Response(
            400,
            json={
                "error": "invalid_grant",
                "error_description": "refresh token is invalid, expired or revoked",
                "status": "BAD_REFRESH_TOKEN",
                "message": "missing or unknown refresh token",
            },
        )
    )
    with pytest.raises(AuthError) as err:
        _tokens(Clock()).token()
    assert err.value.vendor_code == "invalid_grant"
    assert "refresh-token-000001" not in str(err.value)


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_given_a_5xx_from_the_token_endpoint_then_the_retry_layer_retries(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(f"{BASE}/oauth/v1/token").mock(
        side_effect=[
            httpx.Response(503, json={"status": "error", "message": "down"}),
            httpx.Response(200, json=_grant("access-after-503x")),
        ]
    )
    retrier = Retrier(system=System.HUBSPOT, sleep=lambda _s: None)
    assert _tokens(Clock(), retrier).token() == "access-after-503x"
    assert route.call_count == 2


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_given_the_token_endpoint_keeps_failing_then_transient_error(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(f"{BASE}/oauth/v1/token").mock(return_value=httpx.Response(502))
    retrier = Retrier(
        system=System.HUBSPOT, policy=RetryPolicy(max_attempts=2), sleep=lambda _s: None
    )
    with pytest.raises(TransientError):
        _tokens(Clock(), retrier).token()


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_given_a_token_answer_without_access_token_then_auth_error(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(f"{BASE}/oauth/v1/token").mock(return_value=httpx.Response(200, json={}))
    with pytest.raises(AuthError, match="no access_token"):
        _tokens(Clock()).token()


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_given_tokens_then_they_are_registered_for_redaction(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(f"{BASE}/oauth/v1/token").mock(
        return_value=httpx.Response(200, json=_grant("opaque-access-value-77"))
    )
    _tokens(Clock()).token()
    assert "opaque-access-value-77" not in redact("sent opaque-access-value-77 to HubSpot")
    assert "client-secret-abcdef" not in redact("secret client-secret-abcdef")


def test_given_a_private_app_token_then_it_is_served_and_cannot_refresh() -> None:
    token = PrivateAppToken(SecretStr("pat-na1-11111111-2222-3333-4444-555555555555"))
    assert token.token().startswith("pat-na1-")
    assert token.refreshable is False
    with pytest.raises(AuthError):
        token.refresh()
