"""Unique-property lookups are indexed, as HubSpot's are (a scan per write made a 100k-contact
backfill wait on the imitation, not on the rate limits)."""

from __future__ import annotations

from sandbox.hubspot.store import Store


def test_a_unique_property_lookup_uses_an_expression_index() -> None:
    store = Store(None)
    store.insert("contacts", {"email": "a@example.com", "baton_id": "p-1"}, 1, 1)
    store.insert("contacts", {"email": "b@example.com", "baton_id": "p-2"}, 1, 1)

    found = store.by_property("contacts", "baton_id", "p-2")

    assert found is not None
    assert found.props["email"] == "b@example.com"
    plan = " ".join(
        str(row)
        for row in store.db.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM contacts "
            "WHERE json_extract(props, '$.\"baton_id\"') = ?",
            ("p-2",),
        )
    )
    assert "ix_contacts_prop_baton_id" in plan


def test_an_odd_property_name_still_finds_its_record_without_an_index() -> None:
    store = Store(None)
    store.insert("contacts", {"Weird Name": "x"}, 1, 1)

    found = store.by_property("contacts", "Weird Name", "x")

    assert found is not None
