"""By-id reads pack as many ids into each query URL as Salesforce's URI limit allows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.objects import MAX_URI_BYTES, QUERY_URL_BUDGET
from connectors.salesforce.reader import Reader
from tests.contract.salesforce.conftest import Served

# What one more id adds to the encoded query: `%2C+%27` + 18 characters + `%27`.
ONE_ID_BYTES = len("%2C+%27") + 18 + len("%27")


@pytest.fixture
def targets(salesforce: SalesforceConnector) -> Iterator[list[str]]:
    """The request target (path and query string) of every request the connector sends."""
    seen: list[str] = []

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        seen.append(str(response.request.path_url))

    salesforce.sdk.session.hooks["response"].append(record)
    yield seen
    salesforce.sdk.session.hooks["response"].remove(record)


def test_given_1200_ids_when_reading_by_ids_then_three_calls_return_every_record(
    served: Served, salesforce: SalesforceConnector, targets: list[str]
) -> None:
    ids = [row["Id"] for row in served.box.find("Lead", limit=1_200)]
    assert len(ids) == 1_200
    salesforce.read_by_ids("Lead", ids[:1])  # the token grant, outside the count
    served.reset_stats()
    targets.clear()

    records = salesforce.read_by_ids("Lead", ids)

    assert served.api_calls() <= 3
    assert sorted(r.key.id for r in records) == sorted(ids)
    assert all(r.get("LastName") is not None for r in records)
    stats = served.stats()
    assert "414" not in stats["by_status"]
    assert "431" not in stats["by_status"]
    assert len(targets) == served.api_calls()
    assert all(t.startswith("/services/data/v59.0/queryAll/?q=") for t in targets)
    assert max(len(t) for t in targets) <= QUERY_URL_BUDGET < MAX_URI_BYTES
    # Packed tight: every full batch is within one id of the budget, as really sent.
    assert all(len(t) > QUERY_URL_BUDGET - ONE_ID_BYTES for t in targets[:-1])


def test_given_a_small_url_budget_when_reading_by_ids_then_batches_and_field_chunks_join(
    served: Served, salesforce: SalesforceConnector, targets: list[str]
) -> None:
    ids = [row["Id"] for row in served.box.find("Lead", limit=300)]
    whole = {r.key.id: dict(r.fields) for r in salesforce.read_by_ids("Lead", ids)}
    salesforce.reader = Reader(
        salesforce.sdk,
        bulk_threshold=10_000,
        field_types=salesforce.describer.types,
        url_budget=900,
    )
    targets.clear()

    chunked = {r.key.id: dict(r.fields) for r in salesforce.read_by_ids("Lead", ids)}

    assert chunked == whole
    assert len(whole) == len(ids)
    assert len(targets) > 2
    assert max(len(t) for t in targets) <= 900


def test_given_many_long_values_when_finding_by_a_field_then_each_query_fits_the_url(
    served: Served, salesforce: SalesforceConnector, targets: list[str]
) -> None:
    """`find_by` on a long key (emails): batches are cut by the URL budget, not only by count."""
    rows = served.box.find("Lead", limit=100)
    emails = [str(row["Email"]) for row in rows if row.get("Email")]
    padded = [*emails, *(f"{'x' * 150}{n}@nowhere.example" for n in range(60))]
    salesforce.read_by_ids("Lead", [rows[0]["Id"]])  # the token grant, outside the count
    targets.clear()

    found = salesforce.find_by("Lead", "Email", padded)

    assert {str(r.get("Email")).casefold() for r in found} == {e.casefold() for e in emails}
    assert "414" not in served.stats()["by_status"]
    queries = [t for t in targets if "+IN+" in t and "SELECT+Id+FROM" in t]
    assert len(queries) >= 2  # 160 values at up to ~180 bytes each: more than one URL's worth
    assert max(len(t) for t in targets) <= QUERY_URL_BUDGET
