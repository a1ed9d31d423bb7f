"""Opportunity contact roles, and the Leads converted with Opportunities, read through
simple-salesforce against the imitation: one query per batch of Opportunity ids, live rows
only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.reader import Reader
from tests.contract.salesforce.conftest import Served

ROLE = "OpportunityContactRole"


@pytest.fixture
def targets(salesforce: SalesforceConnector) -> Iterator[list[str]]:
    """The request target (path and query string) of every request the connector sends."""
    seen: list[str] = []

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        seen.append(str(response.request.path_url))

    salesforce.sdk.session.hooks["response"].append(record)
    yield seen
    salesforce.sdk.session.hooks["response"].remove(record)


def _opportunity(served: Served, name: str) -> str:
    return served.box.create(
        "Opportunity", {"Name": name, "StageName": "Prospecting", "CloseDate": "2026-06-30"}
    )


def _role(served: Served, opportunity: str, contact: str, *, primary: bool) -> str:
    return served.box.create(
        ROLE, {"OpportunityId": opportunity, "ContactId": contact, "IsPrimary": primary}
    )


def test_given_opportunities_when_reading_their_contact_roles_then_one_query_answers(
    served: Served, salesforce: SalesforceConnector, targets: list[str]
) -> None:
    served.slot()
    ann, bob, cy = (served.box.create("Contact", {"LastName": n}) for n in ("Ann", "Bob", "Cy"))
    deal, upsell, bare = (_opportunity(served, n) for n in ("Deal", "Upsell", "Bare"))
    primary = _role(served, deal, ann, primary=True)
    second = _role(served, deal, bob, primary=False)
    served.clock.advance(1)
    upsell_role = _role(served, upsell, cy, primary=False)
    gone = _role(served, upsell, bob, primary=True)
    served.box.org.delete(ROLE, gone)  # in the recycle bin: not a role any more
    salesforce.read_by_ids("Contact", [ann])  # the token grant, outside the count
    served.reset_stats()
    targets.clear()

    roles = salesforce.read_contact_roles([deal, upsell, bare, "not an id", deal])

    assert served.api_calls() == 1
    [target] = targets
    assert target.startswith("/services/data/v59.0/query/?q=")  # live rows only
    assert "+FROM+OpportunityContactRole+WHERE+OpportunityId+IN+" in target
    got = {(r.id, r.opportunity_id, r.contact_id, r.primary) for r in roles}
    assert got == {
        (primary, deal, ann, True),
        (second, deal, bob, False),
        (upsell_role, upsell, cy, False),
    }
    assert all(r.created_at is not None for r in roles)
    by_id = {r.id: r for r in roles}
    assert by_id[primary].created_at < by_id[upsell_role].created_at  # type: ignore[operator]
    assert salesforce.read_contact_roles([]) == []
    assert salesforce.read_contact_roles(["not an id"]) == []
    assert served.api_calls() == 1  # nothing worth asking: no call


def test_given_a_small_url_budget_when_reading_contact_roles_then_batches_fit_it(
    served: Served, salesforce: SalesforceConnector, targets: list[str]
) -> None:
    served.slot()
    contact = served.box.create("Contact", {"LastName": "Many"})
    deals = [_opportunity(served, f"Deal {n}") for n in range(40)]
    roles = {_role(served, deal, contact, primary=True) for deal in deals}
    salesforce.reader = Reader(
        salesforce.sdk,
        bulk_threshold=10_000,
        field_types=salesforce.describer.types,
        url_budget=900,
    )
    salesforce.read_by_ids("Contact", [contact])  # the token grant, outside the count
    targets.clear()

    found = salesforce.read_contact_roles(deals)

    assert {r.id for r in found} == roles
    assert len(targets) >= 2  # 40 ids do not fit one 900-byte URL
    assert max(len(t) for t in targets) <= 900


def test_given_converted_leads_when_reading_conversions_then_one_query_answers(
    served: Served, salesforce: SalesforceConnector, targets: list[str]
) -> None:
    served.slot()
    made, plain = (
        served.box.create("Lead", {"LastName": n, "Company": "Acme"}) for n in ("Made", "Plain")
    )
    deal = served.box.convert_lead(made)["opportunityId"]
    other = _opportunity(served, "Made on a Contact")
    salesforce.read_by_ids("Lead", [plain])  # the token grant, outside the count
    served.reset_stats()
    targets.clear()

    found = salesforce.read_conversions([deal, other, "not an id", deal])

    assert served.api_calls() == 1
    [target] = targets
    assert target.startswith("/services/data/v59.0/query/?q=")
    assert "+FROM+Lead+WHERE+ConvertedOpportunityId+IN+" in target
    assert [(c.lead_id, c.opportunity_id) for c in found] == [(made, deal)]
    assert salesforce.read_conversions([]) == []
    assert salesforce.read_conversions(["not an id"]) == []
    assert served.api_calls() == 1  # nothing worth asking: no call
