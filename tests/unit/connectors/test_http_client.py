"""The httpx client factory: hooks feed the budget, failures come back classified (respx)."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
import respx

from connectors.errors import AuthError, ConfigError, RateLimited, TransientError
from connectors.http.budget import ApiBudget, hubspot_spec, salesforce_spec
from connectors.http.classify import classify_exception
from connectors.http.client import USER_AGENT, build_client, raise_for_status
from connectors.http.retry import Retrier
from connectors.records import System

SF_BASE = "https://sandbox.my.salesforce.test"
HS_BASE = "https://api.hubapi.test"


def fake_clock_budget(spec_budget: ApiBudget | None = None) -> ApiBudget:
    return spec_budget or ApiBudget(salesforce_spec(), clock=lambda: 0.0, sleep=lambda s: None)


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_response_hook_feeds_salesforce_limit_info_to_the_budget(
    respx_mock: respx.MockRouter,
) -> None:
    budget = fake_clock_budget()
    respx_mock.post(f"{SF_BASE}/services/oauth2/token").mock(
        return_value=httpx.Response(
            200,
            json={"access_token": "00Dabc!tok", "instance_url": SF_BASE},
            headers={"Sforce-Limit-Info": "api-usage=120/15000"},
        )
    )

    with build_client(base_url=SF_BASE, budget=budget) as client:
        response = client.post("/services/oauth2/token", data={"grant_type": "client_credentials"})

    assert response.status_code == 200
    assert budget.snapshot().daily_remaining == 14880


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_response_hook_feeds_hubspot_rate_headers_to_the_budget(
    respx_mock: respx.MockRouter,
) -> None:
    budget = ApiBudget(hubspot_spec(), clock=lambda: 0.0, sleep=lambda s: None)
    respx_mock.post(f"{HS_BASE}/oauth/v1/token").mock(
        return_value=httpx.Response(
            200,
            json={"access_token": "a", "refresh_token": "r", "expires_in": 1800},
            headers={
                "X-HubSpot-RateLimit-Max": "100",
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                "X-HubSpot-RateLimit-Daily": "250000",
                "X-HubSpot-RateLimit-Daily-Remaining": "249000",
            },
        )
    )

    with build_client(base_url=HS_BASE, budget=budget) as client:
        client.post("/oauth/v1/token", data={"grant_type": "refresh_token"})

    snap = budget.snapshot()
    assert snap.buckets["default"].limit == 100
    assert (snap.daily_limit, snap.daily_remaining) == (250000, 249000)


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_requests_carry_the_user_agent_and_extra_headers(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{HS_BASE}/ping").mock(return_value=httpx.Response(204))

    with build_client(base_url=HS_BASE, headers={"X-Trace": "1"}) as client:
        client.get("/ping")

    sent = route.calls.last.request
    assert sent.headers["user-agent"] == USER_AGENT
    assert sent.headers["x-trace"] == "1"


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_failed_token_grant_raises_a_classified_auth_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{SF_BASE}/services/oauth2/token").mock(
        return_value=httpx.Response(
            400, json={"error": "invalid_grant", "error_description": "authentication failure"}
        )
    )

    with build_client(base_url=SF_BASE) as client:
        response = client.post("/services/oauth2/token", data={"grant_type": "password"})
        with pytest.raises(AuthError) as caught:
            raise_for_status(response, system=System.SALESFORCE, operation="oauth.token")

    assert caught.value.vendor_code == "invalid_grant"
    assert caught.value.vendor_message == "authentication failure"


def test_raise_for_status_passes_success() -> None:
    response = httpx.Response(200, request=httpx.Request("GET", "https://x.test/"))

    raise_for_status(response, system="hubspot", operation="get")


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_client_under_the_retrier_recovers_from_a_429_then_a_503(
    respx_mock: respx.MockRouter,
) -> None:
    sleeps: list[float] = []
    route = respx_mock.post(f"{HS_BASE}/oauth/v1/token").mock(
        side_effect=[
            httpx.Response(
                429,
                json={"status": "error", "policyName": "TEN_SECONDLY_ROLLING", "message": "m"},
                headers={"Retry-After": "2"},
            ),
            httpx.Response(503, text="unavailable"),
            httpx.Response(200, json={"access_token": "a"}),
        ]
    )
    retrier = Retrier(system=System.HUBSPOT, sleep=sleeps.append)

    with build_client(base_url=HS_BASE) as client:

        def call() -> httpx.Response:
            response = client.post("/oauth/v1/token", data={"grant_type": "refresh_token"})
            raise_for_status(response, system=System.HUBSPOT, operation="oauth.token")
            return response

        result = retrier.call(call, operation="oauth.token")

    assert result.json() == {"access_token": "a"}
    assert route.call_count == 3
    assert sleeps[0] == 2.0


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_connection_errors_surface_as_transient_after_retries(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{SF_BASE}/services/oauth2/token").mock(
        side_effect=httpx.ConnectError("refused")
    )
    retrier = Retrier(system=System.SALESFORCE, sleep=lambda s: None)

    with build_client(base_url=SF_BASE) as client, pytest.raises(TransientError):
        retrier.call(lambda: client.post("/services/oauth2/token"), operation="oauth.token")


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_rate_limit_is_classified_from_the_response(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{HS_BASE}/crm/v3/objects/contacts").mock(
        return_value=httpx.Response(429, json={"policyName": "SECONDLY", "message": "m"})
    )

    with build_client(base_url=HS_BASE) as client:
        response = client.get("/crm/v3/objects/contacts")
    with pytest.raises(RateLimited) as caught:
        raise_for_status(response, system=System.HUBSPOT, operation="contacts.list")

    assert caught.value.policy == "SECONDLY"


@respx.mock(assert_all_called=True, assert_all_mocked=True)
def test_debug_logs_never_show_query_secrets(
    respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    respx_mock.get(f"{HS_BASE}/oauth/v1/access-tokens/x").mock(return_value=httpx.Response(200))

    with (
        caplog.at_level(logging.DEBUG, logger="connectors.http.client"),
        build_client(base_url=HS_BASE) as client,
    ):
        client.get("/oauth/v1/access-tokens/x", params={"access_token": "live-token-123456"})

    assert "oauth/v1/access-tokens" in caplog.text
    assert "live-token-123456" not in caplog.text


def test_a_missing_ca_file_is_a_config_error_naming_the_setting(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"

    with pytest.raises(ConfigError, match="ca_file"):
        build_client(base_url=SF_BASE, ca_file=missing)


def test_over_real_tls_the_ca_file_is_trusted_and_its_absence_is_a_config_error(
    tmp_path: Path,
) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from sandbox.shared.server import Listener, serve_in_thread
    from sandbox.shared.tls import ensure_tls_files

    async def token(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True}, headers={"Sforce-Limit-Info": "api-usage=7/100"})

    tls = ensure_tls_files(tmp_path)
    app = Starlette(routes=[Route("/services/oauth2/token", token, methods=["POST"])])
    budget = fake_clock_budget()

    with serve_in_thread([Listener(app, tls=tls)]) as (listener,):
        with build_client(base_url=listener.url, ca_file=tls.ca_cert, budget=budget) as client:
            assert client.post("/services/oauth2/token").json() == {"ok": True}
        with (
            build_client(base_url=listener.url, trust_env=False) as untrusting,
            pytest.raises(httpx.ConnectError) as caught,
        ):
            untrusting.post("/services/oauth2/token")

    assert budget.snapshot().daily_remaining == 93
    verdict = classify_exception(caught.value, system=System.SALESFORCE, operation="oauth.token")
    assert isinstance(verdict, ConfigError)
    assert verdict.setting == "ca_file"
