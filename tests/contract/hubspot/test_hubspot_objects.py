"""Every object in the table works end to end, and the connector is a `Connector`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from connectors.http.budget import ApiBudget, hubspot_spec
from connectors.hubspot.connector import HubSpotConnector
from connectors.protocol import Connector
from connectors.records import RecordKey, RecordPatch, System

FIELDS = {
    "companies": {"name": "Baton GmbH", "domain": "baton.example"},
    "deals": {"dealname": "Baton pilot", "amount": "1200"},
    "contacts": {"email": "objects@example.com", "firstname": "Obj"},
}


def test_the_connector_satisfies_the_protocol(hubspot: HubSpotConnector) -> None:
    assert isinstance(hubspot, Connector)
    assert hubspot.system is System.HUBSPOT


@pytest.mark.parametrize("object_name", ["companies", "deals", "contacts"])
def test_given_an_object_then_write_read_changes_and_read_by_ids_agree(
    served: Any, object_name: str
) -> None:
    hubspot = served.connector()
    before = served.box.clock.now_dt() - timedelta(seconds=1)
    patch = RecordPatch(RecordKey(System.HUBSPOT, object_name, ""), FIELDS[object_name])
    outcome = hubspot.write(object_name, [patch])[0]
    assert outcome.ok
    assert outcome.id
    changed = list(hubspot.read_changes(object_name, before, before + timedelta(minutes=5)))
    assert outcome.id in [r.key.id for r in changed]
    record = hubspot.read_by_ids(object_name, [outcome.id])[0]
    for name, value in FIELDS[object_name].items():
        assert record.fields[name] == value
    assert record.key == RecordKey(System.HUBSPOT, object_name, outcome.id)


def test_given_realistic_rate_limits_then_a_paced_read_earns_no_429(served: Any) -> None:
    served.box.limits.reset()
    served.box.limits.enabled = True
    try:
        hubspot = served.connector(budget=ApiBudget(hubspot_spec(fraction=0.95)))
        served.reset_stats()
        until = served.box.clock.now_dt() + timedelta(days=1)
        assert len(list(hubspot.read_changes("contacts", None, until))) >= 1000
        assert len(list(hubspot.read_all("contacts"))) >= 1000
        stats = served.stats()
        assert stats["by_status"].get("429", 0) == 0
    finally:
        served.box.limits.enabled = False
        served.box.limits.reset()
