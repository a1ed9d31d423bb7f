"""The requests session under simple-salesforce: trust, timeouts, proxies, budget feed."""

from __future__ import annotations

import requests

from connectors.http.budget import ApiBudget, salesforce_spec
from connectors.salesforce.sdk import build_session


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
