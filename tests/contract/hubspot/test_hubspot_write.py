"""Writing through the real SDK: batch create/update/upsert outcomes, lifecycle, archive."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from baton.wiring import hubspot_properties
from connectors.hubspot.connector import HubSpotConnector
from connectors.records import PicklistOption, RecordKey, RecordPatch, System
from mappings.loader import load_default

BATON_PROPERTIES = hubspot_properties(load_default())


def _new(fields: dict[str, Any], match_on: str | None = None) -> RecordPatch:
    return RecordPatch(RecordKey(System.HUBSPOT, "contacts", ""), fields, match_on=match_on)


def _existing(ident: str, fields: dict[str, Any]) -> RecordPatch:
    return RecordPatch(RecordKey(System.HUBSPOT, "contacts", ident), fields)


@pytest.fixture(scope="module")
def ready(served: Any) -> Any:
    served.connector().ensure_properties("contacts", BATON_PROPERTIES)
    return served


def test_given_missing_properties_then_they_are_created_once(served: Any) -> None:
    hubspot = served.connector()
    hubspot.ensure_properties("contacts", BATON_PROPERTIES)  # whatever state the portal is in
    assert hubspot.ensure_properties("contacts", BATON_PROPERTIES) == []
    described = {f.name: f for f in hubspot.describe("contacts")}
    assert {"baton_id", "funnel_stage", "rejection_reason"} <= set(described)
    assert [o.value for o in described["funnel_stage"].options][:3] == [
        "Subscriber",
        "Inquiry",
        "MQL",
    ]
    with served.admin() as http:
        definition = http.get(
            "/crm/v3/properties/contacts/baton_id",
            headers={"Authorization": f"Bearer {served.box.options.access_token}"},
        ).json()
    assert definition["hasUniqueValue"] is True


def test_given_a_label_renamed_in_the_dictionary_then_its_option_is_added_to_ours(
    ready: Any,
) -> None:
    hubspot = ready.connector()
    url = "/crm/v3/properties/contacts/funnel_stage"
    with ready.admin() as http:  # the portal's admin described an option
        auth = {"Authorization": f"Bearer {ready.box.options.access_token}"}
        options = http.get(url, headers=auth).json()["options"]
        options[0]["description"] = "Signed up for the newsletter"
        http.patch(url, headers=auth, json={"options": options}).raise_for_status()
    before = {f.name: f for f in hubspot.describe("contacts")}["funnel_stage"].options
    renamed = tuple(
        replace(d, options=(*d.options, PicklistOption("Sales Accepted", "Sales Accepted")))
        if d.name == "funnel_stage"
        else d
        for d in BATON_PROPERTIES
    )
    assert hubspot.ensure_properties("contacts", renamed) == ["funnel_stage"]
    assert hubspot.ensure_properties("contacts", renamed) == []  # added once
    after = {f.name: f for f in hubspot.describe("contacts")}["funnel_stage"].options
    assert after == (*before, PicklistOption("Sales Accepted", "Sales Accepted"))
    with ready.admin() as http:  # the portal's own options are sent back as they were
        raw = http.get(url, headers=auth).json()["options"]
    assert raw[: len(options)] == options
    assert raw[-1]["displayOrder"] == max(o["displayOrder"] for o in options) + 1
    (made,) = hubspot.write("contacts", [_new({"email": "relabel@example.com"})])
    assert made.id is not None
    (done,) = hubspot.write("contacts", [_existing(made.id, {"funnel_stage": "Sales Accepted"})])
    assert done.ok, done


def test_given_picklists_then_options_come_in_display_order_with_custom_values(
    hubspot: HubSpotConnector,
) -> None:
    lists = hubspot.picklists("contacts", ["lifecyclestage", "hs_lead_status", "email"])
    assert set(lists) == {"lifecyclestage", "hs_lead_status"}
    stages = [o.value for o in lists["lifecyclestage"]]
    assert stages[:2] == ["subscriber", "lead"]
    assert "51439524" in stages  # the portal's custom stage (numeric internal value)
    assert "RECYCLED" in [o.value for o in lists["hs_lead_status"]]


def test_given_one_bad_record_in_a_create_batch_then_a_207_gives_one_rejection(
    ready: Any,
) -> None:
    hubspot = ready.connector()
    patches = [
        _new({"email": "w1-good@example.com", "firstname": "Good"}),
        _new({"email": "w1-bad@example.com", "hs_lead_status": "NOT_A_STATUS"}),
        _new({"email": "w1-also@example.com", "lifecyclestage": "lead"}),
    ]
    ready.reset_stats()
    outcomes = hubspot.write("contacts", patches)
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[0].created
    assert outcomes[0].id
    assert [o.patch for o in outcomes] == patches
    bad = outcomes[1]
    assert bad.error_code
    assert bad.error_message
    assert "hs_lead_status" in (bad.error_message or "") or "hs_lead_status" in bad.error_fields
    stats = ready.stats()
    assert stats["requests"] == 1
    assert stats["by_status"] == {"207": 1}
    read = hubspot.read_by_ids("contacts", [outcomes[0].id, outcomes[2].id])
    assert {r.fields["email"] for r in read} == {"w1-good@example.com", "w1-also@example.com"}


def test_given_upserts_refused_for_different_reasons_then_each_keeps_its_own_error(
    ready: Any,
) -> None:
    """One 207 for the batch (every input traced), each error on the input it is about."""
    hubspot = ready.connector()
    (holder,) = hubspot.write("contacts", [_new({"email": "u207-holder@example.com"})])
    assert holder.ok
    assert hubspot.write("contacts", [_existing(str(holder.id), {"baton_id": "u207-taken"})])[0].ok
    patches = [
        _new({"email": "u207-good@example.com", "firstname": "Good"}, "email"),
        _new({"email": "u207-option@example.com", "hs_lead_status": "NOT_A_STATUS"}, "email"),
        _new({"email": "u207-taken@example.com", "baton_id": "u207-taken"}, "email"),
        _new({"email": "u207-nope@example.com", "no_such_property": "x"}, "email"),
    ]
    ready.reset_stats()
    outcomes = hubspot.write("contacts", patches)
    assert [o.patch for o in outcomes] == patches
    assert outcomes[0].ok
    assert outcomes[0].created
    assert [(o.error_code, o.error_fields) for o in outcomes[1:]] == [
        ("INVALID_OPTION", ("hs_lead_status",)),
        ("CONFLICT", ()),
        ("PROPERTY_DOESNT_EXIST", ("no_such_property",)),
    ]
    assert f"Existing ID: {holder.id}" in (outcomes[2].error_message or "")
    assert ready.stats()["by_status"] == {"207": 1}  # one call, not a bisection


def test_given_an_unknown_id_in_an_update_batch_then_only_that_record_is_rejected(
    ready: Any,
) -> None:
    hubspot = ready.connector()
    outcomes = hubspot.write(
        "contacts",
        [_existing("5", {"jobtitle": "Chief Baton"}), _existing("987654321", {"jobtitle": "X"})],
    )
    assert outcomes[0].ok
    assert outcomes[0].id == "5"
    assert not outcomes[1].ok
    assert outcomes[1].error_code == "OBJECT_NOT_FOUND"
    assert hubspot.read_by_ids("contacts", ["5"])[0].fields["jobtitle"] == "Chief Baton"


def test_given_a_batch_the_api_refuses_whole_then_it_is_split_down_to_the_bad_record(
    ready: Any,
) -> None:
    hubspot = ready.connector()
    patches = [_existing(str(i), {"jobtitle": f"T{i}"}) for i in range(10, 18)]
    patches[5] = _existing("15", {"no_such_property": "x"})
    ready.reset_stats()
    outcomes = hubspot.write("contacts", patches)
    assert [o.ok for o in outcomes] == [True] * 5 + [False] + [True] * 2
    assert outcomes[5].error_code == "PROPERTY_DOESNT_EXIST"
    assert ready.stats()["requests"] <= 1 + 2 * 3  # a bisection, not one call per record


def test_given_an_upsert_by_baton_id_twice_then_one_record_exists(ready: Any) -> None:
    hubspot = ready.connector()
    patch = _new(
        {"baton_id": "b-42", "email": "upsert42@example.com", "firstname": "U"}, "baton_id"
    )
    first = hubspot.write("contacts", [patch])[0]
    again = hubspot.write("contacts", [patch])[0]
    assert first.ok
    assert first.created
    assert again.ok
    assert not again.created
    assert again.id == first.id
    changed = hubspot.write(
        "contacts", [_new({"baton_id": "b-42", "firstname": "Renamed"}, "baton_id")]
    )[0]
    assert changed.id == first.id
    assert hubspot.read_by_ids("contacts", [first.id])[0].fields["firstname"] == "Renamed"


def test_given_an_upsert_by_email_then_existing_contacts_are_updated_not_duplicated(
    ready: Any,
) -> None:
    hubspot = ready.connector()
    email = hubspot.read_by_ids("contacts", ["20"])[0].fields["email"]
    outcome = hubspot.write(
        "contacts", [_new({"email": str(email).upper(), "jobtitle": "By Email"}, "email")]
    )[0]
    assert outcome.ok
    assert outcome.id == "20"
    assert not outcome.created


def test_given_a_backward_lifecycle_move_then_it_is_cleared_first_and_lands(ready: Any) -> None:
    hubspot = ready.connector()
    created = hubspot.write(
        "contacts", [_new({"email": "lc@example.com", "lifecyclestage": "salesqualifiedlead"})]
    )[0]
    assert created.ok
    ready.reset_stats()
    moved = hubspot.write("contacts", [_existing(created.id, {"lifecyclestage": "lead"})])[0]
    assert moved.ok
    assert ready.stats()["requests"] == 3  # update (ignored), clear, set
    assert hubspot.read_by_ids("contacts", [created.id])[0].fields["lifecyclestage"] == "lead"
    ready.reset_stats()
    forward = hubspot.write("contacts", [_existing(created.id, {"lifecyclestage": "customer"})])
    assert forward[0].ok
    assert ready.stats()["requests"] == 1


def test_given_archived_and_merged_contacts_then_reads_show_deletion_and_merge(
    ready: Any,
) -> None:
    hubspot = ready.connector()
    made = hubspot.write(
        "contacts",
        [_new({"email": f"gone{i}@example.com"}) for i in range(3)],
    )
    a, b, c = (o.id for o in made)
    deleted = hubspot.delete("contacts", [a])
    assert [(o.id, o.ok) for o in deleted] == [(a, True)]
    archived = {r.key.id: r for r in hubspot.read_archived("contacts")}
    assert archived[a].deleted
    assert hubspot.read_by_ids("contacts", [a]) == []
    now = ready.box.clock.now_dt()
    recent = list(hubspot.read_changes("contacts", now - timedelta(minutes=1), now + timedelta(1)))
    assert [r.key.id for r in recent if r.deleted and r.merged_into is None] == [a]
    keys = [(r.modified_at, int(r.key.id)) for r in recent]
    assert keys == sorted(keys)
    ready.box.merge("contacts", b, c)  # a person merges c into b in the UI
    survivors = hubspot.read_by_ids("contacts", [c])  # the survivor, with the merged id's stub
    assert [(r.key.id, r.deleted, r.merged_into) for r in survivors] == [
        (b, False, None),
        (c, True, b),
    ]
    assert survivors[0].fields["hs_merged_object_ids"] == c
    window = list(
        hubspot.read_changes(
            "contacts",
            survivors[0].modified_at,
            survivors[0].modified_at + timedelta(milliseconds=1),
        )
    )
    stub = next(r for r in window if r.key.id == c)
    assert stub.deleted
    assert stub.merged_into == b
