"""A HubSpot merge, then a Salesforce Lead for the merged-away address, through the real
connectors against both sandboxes: the survivor keeps that address among its additional
emails (and the HubSpot sandbox, as HubSpot, lands an upsert by it there), so the Lead pairs
with the survivor's person instead of getting a contact create that would overwrite it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.records import RecordKey, System
from sync.store.decisions import decisions_for
from sync.store.links import LinkReason, find_link
from tests.e2e.stack import Stack, open_stack

ALICE, BOB = "alice.merged@example.com", "bob.merged@example.com"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with open_stack(tmp_path, contacts=10, leads=5) as built:
        built.engine.backfill()
        built.later()
        yield built


def test_a_lead_for_a_merged_away_address_pairs_with_the_survivor(stack: Stack) -> None:
    alice = stack.hs_box.create(
        "contacts",
        {"email": ALICE, "firstname": "Alice", "lastname": "Adams", "lifecyclestage": "lead"},
    )
    stack.later()
    stack.engine.poll()  # Alice is synced: a contact, and no Lead (she is no MQL)
    bob = stack.hs_box.create("contacts", {"email": BOB, "firstname": "Bob"})
    stack.hs_box.merge("contacts", alice, bob)  # before Baton ever read Bob's contact
    lead = stack.sf_box.create(
        "Lead",
        {
            "Email": BOB,
            "FirstName": "Bob",
            "LastName": "Brown",
            "Company": "Beta",
            "Status": "Open - Not Contacted",
        },
    )
    contacts = len(stack.hs_box.find("contacts", limit=1000))
    stack.later()
    stack.engine.poll()  # the Lead (Salesforce first), the survivor, then the creates
    stack.later()
    stack.engine.poll()

    assert len(stack.hs_box.find("contacts", limit=1000)) == contacts  # no contact made
    [survivor] = stack.hs_box.find("contacts", equals={"hs_object_id": alice})
    assert survivor["email"] == ALICE  # not written over by an upsert on Bob's address
    assert BOB in (survivor["hs_additional_emails"] or "")
    [record] = stack.sf_box.find("Lead", equals={"Id": lead})
    assert record["Baton_Id__c"] == survivor["baton_id"]
    assert record["Email"] == BOB
    with stack.read() as conn:
        lead_link = find_link(conn, RecordKey(System.SALESFORCE, "Lead", lead))
        contact_link = find_link(conn, RecordKey(System.HUBSPOT, "contacts", alice))
        assert lead_link is not None
        assert contact_link is not None
        assert lead_link.active
        assert lead_link.person_id == contact_link.person_id
        assert lead_link.reason is LinkReason.ADDITIONAL_EMAIL
        rules = [d.rule for d in decisions_for(conn, lead_link.person_id, "identity")]
    assert "additional_email" in rules
    writes = stack.writes()
    stack.later()
    stack.engine.poll()
    assert stack.writes() == writes  # the pair agrees: nothing more to write
