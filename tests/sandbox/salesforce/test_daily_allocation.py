"""The org's daily API allocation, which Salesforce counts over a rolling 24 hours."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from simple_salesforce.exceptions import SalesforceRefusedRequest

from sandbox.salesforce import SalesforceOptions, SalesforceSandbox
from tests.sandbox.salesforce.conftest import Served, serve

QUERY = "SELECT Id FROM Lead LIMIT 1"


@pytest.fixture
def org(tmp_path: Path) -> Iterator[Served]:
    """An org of its own: the test moves its clock a day on (sessions expire meanwhile)."""
    box = SalesforceSandbox(SalesforceOptions(rate_limits=True, daily_limit=1_000))
    box.seed(contacts=0, leads=5, seed=1)
    yield from serve(box, tmp_path)


def _later(org: Served, seconds: float) -> None:
    org.admin("POST", "/clock/advance", json={"seconds": seconds}).raise_for_status()


def test_a_spent_allocation_comes_back_as_its_calls_turn_a_day_old(org: Served) -> None:
    """Not refilled at midnight: the calls that spent it must age out of the 24 hours."""
    org.admin("PUT", "/limits", json={"daily_remaining": 0}).raise_for_status()
    _later(org, 23 * 3600)  # a midnight has passed, whatever the hour now
    with pytest.raises(SalesforceRefusedRequest) as refused:
        org.client().query(QUERY)
    assert refused.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    _later(org, 3600 + 60)
    sf = org.client()
    sf.query(QUERY)
    assert sf.api_usage["api-usage"] == (1, 1_000)  # the day-old calls have aged out


def test_calls_age_out_one_by_one_not_all_at_once(org: Served) -> None:
    sf = org.client()
    sf.query(QUERY)
    _later(org, 12 * 3600)
    sf = org.client()
    sf.query(QUERY)
    assert sf.api_usage["api-usage"][0] == 2
    _later(org, 12 * 3600 + 60)  # the first call is a day old, the second half a day
    sf = org.client()
    sf.query(QUERY)
    assert sf.api_usage["api-usage"][0] == 2
