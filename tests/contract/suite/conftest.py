"""The contract suite's one fixture: a `Side` per system, served over real sockets.

`side` is parametrized over HubSpot and Salesforce, so every test in the suite runs once against
each connector, through the real SDK, against a freshly seeded imitation (one per test module):
HubSpot over HTTP, Salesforce over HTTPS trusting the sandbox's CA file. Each side also serves a
webhook receiver, and runs the imitation's background delivery loop, so webhooks and Outbound
Messages are really pushed over the wire.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from baton.wiring import hubspot_properties
from connectors.records import System
from mappings.loader import load_default
from sandbox.hubspot import HubSpotOptions, HubSpotSandbox
from sandbox.salesforce import SalesforceOptions, SalesforceSandbox
from sandbox.shared.clock import FrozenClock
from sandbox.shared.server import Listener, serve_in_thread
from sandbox.shared.tls import ensure_tls_files
from tests.contract.suite.sides import (
    START,
    HubSpotSide,
    Receiver,
    SalesforceSide,
    Side,
)

HUBSPOT_CONTACTS = 450  # three search pages of 200
SALESFORCE_LEADS = 2_100  # two query pages of 2,000
SALESFORCE_CONTACTS = 50


def _hubspot(clock: FrozenClock) -> tuple[Any, Listener, dict[str, Any]]:
    box = HubSpotSandbox(HubSpotOptions(rate_limits=False), clock=clock)
    box.seed(contacts=HUBSPOT_CONTACTS, seed=3)
    words = {
        "name": "hubspot",
        "system": System.HUBSPOT,
        "person": "contacts",
        "writable": "jobtitle",
        "external_id": "baton_id",
        "status": "hs_lead_status",
        "bad_status": "NOT_A_STATUS",
        "reject_code": "INVALID_OPTION",
        "duplicate_code": "CONFLICT",
        "rate_limit_status": 429,
        "api_prefix": "/crm/",
        "token_route": "/oauth/",
        "check_fields": (("contacts", "lifecyclestage"), ("contacts", "hs_lead_status")),
        "read_batch": 100,
        "write_batch": 100,
        "objects": {
            "companies": {"name": "Baton GmbH", "domain": "baton.example"},
            "deals": {"dealname": "Baton pilot", "amount": "1200"},
        },
    }
    return box, Listener(box.app), words


def _salesforce(
    clock: FrozenClock, tmp: pytest.TempPathFactory
) -> tuple[Any, Listener, dict[str, Any]]:
    tls = ensure_tls_files(tmp.mktemp("salesforce-tls"))
    box = SalesforceSandbox(SalesforceOptions(rate_limits=False), clock=clock)
    box.seed(contacts=SALESFORCE_CONTACTS, leads=SALESFORCE_LEADS, seed=11)
    words = {
        "name": "salesforce",
        "system": System.SALESFORCE,
        "person": "Lead",
        "writable": "Title",
        "external_id": "Baton_Id__c",
        "status": "Status",
        "bad_status": "Not A Status",
        "reject_code": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "duplicate_code": "DUPLICATE_VALUE",
        "rate_limit_status": 403,
        "api_prefix": "/services/data/",
        "token_route": "/services/oauth2/token",
        "check_fields": (("Lead", "Status"), ("Opportunity", "StageName")),
        "read_batch": 500,  # as many ids as the query URL holds: ~500 beside the default fields
        "write_batch": 200,
        "objects": {
            "Contact": {"LastName": "Objects", "Email": "objects@example.com"},
            "Account": {"Name": "Baton GmbH", "Website": "https://baton.example"},
            "Opportunity": {
                "Name": "Baton pilot",
                "StageName": "Prospecting",
                "CloseDate": "2026-06-30",
            },
            "Campaign": {"Name": "Spring launch"},
            "Task": {"Subject": "Call back"},
        },
        "ca_file": tls.ca_cert,
    }
    return box, Listener(box.app, tls=tls), words


@pytest.fixture(scope="module", params=["hubspot", "salesforce"])
def side(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Side]:
    clock = FrozenClock(START)
    receiver = Receiver()
    hooks = Listener(receiver.app())
    if request.param == "hubspot":
        box, listener, words = _hubspot(clock)
        kind: type[Side] = HubSpotSide
    else:
        box, listener, words = _salesforce(clock, tmp_path_factory)
        kind = SalesforceSide
    with serve_in_thread([listener, hooks], background=[box.background]):
        made = kind(
            box=box,
            url=listener.url,
            clock=clock,
            receiver=receiver,
            receiver_url=hooks.url,
            **words,
        )
        if isinstance(made, HubSpotSide):
            # What Baton does once per portal: create its properties (baton_id is unique).
            made.connector().ensure_properties("contacts", hubspot_properties(load_default()))
        try:
            yield made
        finally:
            made.close()


@pytest.fixture
def connector(side: Side) -> Iterator[Any]:
    """A fresh connector for one test; faults a test set are cleared afterwards."""
    made = side.connector()
    yield made
    side.clear_faults()
