"""The requests session under simple-salesforce: trust, timeouts, proxies, budget feed."""

from __future__ import annotations

import httpx
import pytest
import requests

from connectors.errors import TransientError
from connectors.http.budget import ApiBudget, salesforce_spec
from connectors.http.retry import RetryPolicy
from connectors.salesforce.auth import TokenClient
from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.sdk import build_session
from connectors.salesforce.settings import SalesforceSettings


def test_session_trusts_only_the_configured_ca_and_proxy() -> None:
    session = build_session(
        ca_file="/etc/baton/ca.pem", timeout=(1.0, 2.0), budget=None, proxy_url="http://p:3128"
    )
    assert session.trust_env is False
    assert session.verify == "/etc/baton/ca.pem"
    assert session.proxies == {"https": "http://p:3128", "http": "http://p:3128"}
    adapter = session.get_adapter("https://x.my.salesforce.com")
    assert adapter.max_retries.total == 0  # type: ignore[attr-defined]


def test_every_response_feeds_sforce_limit_info_to_the_budget() -> None:
    budget = ApiBudget(salesforce_spec())
    session = build_session(ca_file=None, timeout=(1.0, 2.0), budget=budget)
    response = requests.Response()
    response.status_code = 200
    response.headers["Sforce-Limit-Info"] = "api-usage=4990/5000"

    for hook in session.hooks["response"]:
        hook(response)

    snapshot = budget.snapshot()
    assert snapshot.daily_limit == 5000
    assert snapshot.daily_remaining == 10


# Port 9 (discard) on 127.0.0.1: nothing listens, the connection is refused at once.
PROXY = "http://puser:proxypass99@127.0.0.1:9"


def _settings() -> SalesforceSettings:
    return SalesforceSettings(
        _env_file=None,  # type: ignore[call-arg]
        login_url="https://login.example.invalid",
        client_id="cid",
        client_secret="csecret-value",
        proxy_url=PROXY,
    )


def _names_the_proxy(error: TransientError) -> None:
    assert "to the proxy 127.0.0.1:9" in error.message
    assert "BATON_SALESFORCE_PROXY_URL" in error.message
    assert "example.invalid" not in error.message
    assert "puser" not in str(error)
    assert "proxypass99" not in str(error)


def test_a_token_grant_through_a_proxy_never_reached_names_the_proxy() -> None:
    with pytest.raises(TransientError) as info:
        TokenClient(_settings()).grant()
    _names_the_proxy(info.value)


def test_an_api_call_through_a_proxy_never_reached_names_the_proxy() -> None:
    """The token comes (an injected transport); the REST call then cannot reach the proxy."""
    granted = httpx.MockTransport(
        lambda request: httpx.Response(
            200, json={"access_token": "tok", "instance_url": "https://inst.example.invalid"}
        )
    )
    connector = SalesforceConnector(
        _settings(), token_transport=granted, policy=RetryPolicy(max_attempts=1)
    )
    with pytest.raises(TransientError) as info:
        connector.read_by_ids("Contact", ["003000000000001AAA"])
    _names_the_proxy(info.value)
