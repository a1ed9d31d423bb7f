"""Lifecycle rules, merges, properties API, associations and the actor API."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hubspot.crm.associations.v4 import ApiException as AssocException
from hubspot.crm.associations.v4.schema import ApiException as SchemaException
from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyCreate
from hubspot.crm.contacts import (
    ApiException,
    PublicMergeInput,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
)
from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactCreate
from hubspot.crm.properties import ApiException as PropertyException
from hubspot.crm.properties import PropertyCreate, PropertyUpdate


def _contact(api: Any, **props: str) -> Any:
    return api.crm.contacts.basic_api.create(ContactCreate(properties=props))


def _stage(api: Any, contact_id: str) -> str | None:
    got = api.crm.contacts.basic_api.get_by_id(contact_id, properties=["lifecyclestage"])
    return got.properties["lifecyclestage"]


def _set(api: Any, contact_id: str, **props: str) -> Any:
    return api.crm.contacts.basic_api.update(contact_id, SimplePublicObjectInput(properties=props))


def test_lifecycle_forward_only_backward_ignored_unless_cleared(api: Any) -> None:
    c = _contact(api, email="stage@example.com", lifecyclestage="lead")
    _set(api, c.id, lifecyclestage="salesqualifiedlead")
    assert _stage(api, c.id) == "salesqualifiedlead"
    answer = _set(api, c.id, lifecyclestage="subscriber")  # backward: succeeds, ignored
    assert answer.properties["lifecyclestage"] == "salesqualifiedlead"
    assert _stage(api, c.id) == "salesqualifiedlead"
    _set(api, c.id, lifecyclestage="")
    assert _stage(api, c.id) is None
    _set(api, c.id, lifecyclestage="subscriber")
    assert _stage(api, c.id) == "subscriber"


def test_seeded_custom_picklist_values_are_in_use(api: Any) -> None:
    prop = api.crm.properties.core_api.get_by_name("contacts", "lifecyclestage")
    values = [o.value for o in sorted(prop.options, key=lambda o: o.display_order)]
    assert values[:3] == ["subscriber", "lead", "51439524"]
    assert len(values) == 9
    found = api.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[
                {
                    "filters": [
                        {"propertyName": "lifecyclestage", "operator": "EQ", "value": "51439524"}
                    ]
                }
            ]
        )
    )
    assert found.total > 0
    status = api.crm.properties.core_api.get_by_name("contacts", "hs_lead_status")
    assert {"RECYCLED", "NURTURE", "NEW"} <= {o.value for o in status.options}


def test_merge(api: Any, served: Any) -> None:
    a = _contact(api, email="keep@example.com", firstname="Keep")
    b = _contact(api, email="lose@example.com", jobtitle="Boss")
    writes = served.box.stats.writes
    survivor = api.crm.contacts.basic_api.merge(
        PublicMergeInput(primary_object_id=a.id, object_id_to_merge=b.id)
    )
    assert served.box.stats.writes == writes + 1
    assert survivor.id == a.id
    full = api.crm.contacts.basic_api.get_by_id(
        b.id, properties=["hs_merged_object_ids", "jobtitle", "email", "hs_additional_emails"]
    )
    assert full.id == a.id
    assert full.properties["hs_merged_object_ids"].split(";") == [b.id]
    assert full.properties["jobtitle"] == "Boss"
    assert full.properties["hs_additional_emails"] == "lose@example.com"
    found = api.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[
                {
                    "filters": [
                        {"propertyName": "hs_object_id", "operator": "IN", "values": [a.id, b.id]}
                    ]
                }
            ]
        )
    )
    assert [r.id for r in found.results] == [a.id]
    everyone = {c.id for c in api.crm.contacts.get_all()}
    assert a.id in everyone
    assert b.id not in everyone
    with pytest.raises(ApiException) as err:
        api.crm.contacts.basic_api.merge(
            PublicMergeInput(primary_object_id=a.id, object_id_to_merge="77777777")
        )
    assert err.value.status == 404


def test_property_create_update_then_validation_sees_option(api: Any) -> None:
    created = api.crm.properties.core_api.create(
        "contacts",
        PropertyCreate(
            name="baton_funnel_stage",
            label="Funnel stage",
            type="enumeration",
            field_type="select",
            group_name="contactinformation",
            options=[{"label": "MQL", "value": "mql", "hidden": False, "displayOrder": 0}],
        ),
    )
    assert created.name == "baton_funnel_stage"
    assert created.options[0].value == "mql"
    with pytest.raises(Exception) as err:
        api.crm.properties.core_api.create(
            "contacts",
            PropertyCreate(
                name="baton_funnel_stage",
                label="x",
                type="string",
                field_type="text",
                group_name="contactinformation",
            ),
        )
    assert err.value.status == 409
    with pytest.raises(ApiException) as bad:
        _contact(api, baton_funnel_stage="sql")
    assert "INVALID_OPTION" in bad.value.body
    api.crm.properties.core_api.update(
        "contacts",
        "baton_funnel_stage",
        PropertyUpdate(
            options=[
                {"label": "MQL", "value": "mql", "hidden": False, "displayOrder": 0},
                {"label": "SQL", "value": "sql", "hidden": False, "displayOrder": 1},
            ]
        ),
    )
    c = _contact(api, baton_funnel_stage="sql")
    got = api.crm.contacts.basic_api.get_by_id(c.id, properties=["baton_funnel_stage"])
    assert got.properties["baton_funnel_stage"] == "sql"
    listed = api.crm.properties.core_api.get_all("contacts")
    assert "baton_funnel_stage" in {p.name for p in listed.results}


@pytest.mark.parametrize(
    ("type_", "field_type", "accepted"),
    [
        # Pairs from the Properties API guide's "Property type and fieldType values" table.
        ("string", "phonenumber", True),
        ("enumeration", "radio", True),
        ("bool", "calculation_equation", True),
        ("string", "select", False),
        ("number", "text", False),
        ("datetime", "text", False),
        ("bool", "checkbox", False),
    ],
)
def test_property_type_and_field_type_must_be_a_documented_pair(
    api: Any, type_: str, field_type: str, accepted: bool
) -> None:
    name = f"pair_{type_}_{field_type}"
    create = PropertyCreate(
        name=name,
        label=name,
        type=type_,
        field_type=field_type,
        group_name="contactinformation",
    )
    if accepted:
        assert api.crm.properties.core_api.create("contacts", create).field_type == field_type
        return
    with pytest.raises(PropertyException) as refused:
        api.crm.properties.core_api.create("contacts", create)
    assert refused.value.status == 400
    body = orjson.loads(refused.value.body)
    assert body["category"] == "VALIDATION_ERROR"
    assert field_type in body["message"]
    assert type_ in body["message"]
    with pytest.raises(PropertyException) as missing:
        api.crm.properties.core_api.get_by_name("contacts", name)
    assert missing.value.status == 404


def test_a_property_update_to_an_undocumented_pair_is_refused_unapplied(api: Any) -> None:
    api.crm.properties.core_api.create(
        "contacts",
        PropertyCreate(
            name="pair_update",
            label="Pair update",
            type="string",
            field_type="text",
            group_name="contactinformation",
        ),
    )
    with pytest.raises(PropertyException) as refused:
        api.crm.properties.core_api.update(
            "contacts", "pair_update", PropertyUpdate(field_type="select", label="Changed")
        )
    assert refused.value.status == 400
    kept = api.crm.properties.core_api.get_by_name("contacts", "pair_update")
    assert (kept.type, kept.field_type, kept.label) == ("string", "text", "Pair update")
    changed = api.crm.properties.core_api.update(
        "contacts", "pair_update", PropertyUpdate(field_type="textarea")
    )
    assert changed.field_type == "textarea"


def test_associations_v4(api: Any) -> None:
    from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyCreate

    contact = _contact(api, email="assoc@example.com")
    company = api.crm.companies.basic_api.create(CompanyCreate(properties={"name": "Co"}))
    v4 = api.crm.associations.v4
    v4.basic_api.create_default("contacts", contact.id, "companies", company.id)
    listed = v4.basic_api.get_page("contacts", contact.id, "companies")
    assert listed.results[0].to_object_id == company.id
    assert listed.results[0].association_types[0].type_id == 279
    assert listed.results[0].association_types[0].category == "HUBSPOT_DEFINED"
    back = v4.basic_api.get_page("companies", company.id, "contacts")
    assert back.results[0].to_object_id == contact.id
    assert back.results[0].association_types[0].type_id == 280
    labelled = v4.basic_api.create(
        "contacts",
        contact.id,
        "companies",
        company.id,
        [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
    )
    assert labelled.labels == ["Primary"]
    batch = v4.batch_api.get_page(
        "contacts", "companies", {"inputs": [{"id": contact.id}, {"id": "424242"}]}
    )
    assert batch.results[0].to[0].to_object_id == company.id
    assert {t.type_id for t in batch.results[0].to[0].association_types} == {1, 279}
    assert batch.num_errors == 1
    v4.basic_api.archive("contacts", contact.id, "companies", company.id)
    assert v4.basic_api.get_page("contacts", contact.id, "companies").results == []
    with pytest.raises(AssocException) as err:
        v4.basic_api.create_default("contacts", "99999999", "companies", company.id)
    assert err.value.status == 404


def test_the_unlabeled_association_type_carries_a_null_label_on_the_wire(
    api: Any, served: Any
) -> None:
    """HubSpot's v4 guides: the unlabeled type "will always be returned in responses with a
    `label` value of `null`" (the SDK reads a missing key as None too, so only the raw body shows
    the difference)."""
    contact = _contact(api, email="null.label@example.com")
    company = api.crm.companies.basic_api.create(CompanyCreate(properties={"name": "Nul"}))
    v4 = api.crm.associations.v4
    v4.basic_api.create(
        "contacts",
        contact.id,
        "companies",
        company.id,
        [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
    )
    unlabeled = {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None}
    primary = {"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"}
    with served.http() as http:
        read = http.get(f"/crm/v4/objects/contacts/{contact.id}/associations/companies").json()
        batch = http.post(
            "/crm/v4/associations/contacts/companies/batch/read",
            json={"inputs": [{"id": contact.id}]},
        ).json()
        labels = http.get("/crm/v4/associations/contacts/companies/labels").json()
    types = read["results"][0]["associationTypes"]
    assert sorted(types, key=lambda t: t["typeId"]) == [primary, unlabeled]
    assert sorted(batch["results"][0]["to"][0]["associationTypes"], key=lambda t: t["typeId"]) == [
        primary,
        unlabeled,
    ]
    assert labels["results"] == [unlabeled, primary]


def test_actor_calls_do_not_count_as_writes(served: Any, api: Any) -> None:
    writes = served.box.stats.writes
    new_id = served.box.create("contacts", {"email": "actor@example.com", "lifecyclestage": "lead"})
    served.box.update("contacts", new_id, {"lifecyclestage": "marketingqualifiedlead"})
    found = served.box.find("contacts", equals={"email": "actor@example.com"})
    assert found[0]["lifecyclestage"] == "marketingqualifiedlead"
    assert found[0]["hs_object_id"] == new_id
    assert served.box.stats.writes == writes
    _set(api, new_id, jobtitle="Writer")
    assert served.box.stats.writes == writes + 1


def test_actor_restore_brings_archived_back(served: Any, api: Any) -> None:
    c = _contact(api, email="restore@example.com")
    api.crm.contacts.basic_api.archive(c.id)
    served.box.restore("contacts", c.id)
    assert api.crm.contacts.basic_api.get_by_id(c.id).archived is False


def test_simulated_marketing_team_drives_the_actor_api(served: Any) -> None:
    from sandbox.simulate import Simulator

    class NoSalesforce:
        def find(self, *_: Any, **__: Any) -> list[Any]:
            return []

    box = served.box
    writes = box.stats.writes
    simulator = Simulator(hubspot=box, salesforce=NoSalesforce(), today=lambda: "2026-01-01")  # type: ignore[arg-type]
    for _ in range(10):
        assert simulator.score_contact()
    assert simulator.new_inquiry()
    assert simulator.failures == {}
    assert box.stats.writes == writes
    scored = box.find("contacts", equals={"lifecyclestage": "marketingqualifiedlead"}, limit=500)
    assert scored


def test_property_groups_and_batch_create(api: Any) -> None:
    from hubspot.crm.properties import BatchInputPropertyCreate, PropertyGroupCreate

    group = api.crm.properties.groups_api.create(
        "contacts", PropertyGroupCreate(name="baton", label="Baton")
    )
    assert group.name == "baton"
    assert "baton" in {g.name for g in api.crm.properties.groups_api.get_all("contacts").results}
    made = api.crm.properties.batch_api.create(
        "contacts",
        BatchInputPropertyCreate(
            inputs=[
                {
                    "name": "baton_sync_id",
                    "label": "Sync id",
                    "type": "string",
                    "fieldType": "text",
                    "groupName": "baton",
                    "hasUniqueValue": True,
                },
                {
                    "name": "baton_bad",
                    "label": "Bad",
                    "type": "string",
                    "fieldType": "text",
                    "groupName": "no_such_group",
                },
            ]
        ),
    )
    assert [p.name for p in made.results] == ["baton_sync_id"]
    assert made.num_errors == 1
    c = _contact(api, email="unique@example.com", baton_sync_id="sf-001")
    got = api.crm.contacts.basic_api.get_by_id("sf-001", id_property="baton_sync_id")
    assert got.id == c.id


def test_property_history_newest_first_with_sources(served: Any, api: Any) -> None:
    seeded = served.box.find("contacts", equals={"hs_object_id": "40"})[0]
    _set(api, "40", jobtitle="Chief Tester")
    served.box.update("contacts", "40", {"jobtitle": "Chief Clicker"})
    got = api.crm.contacts.basic_api.get_by_id(
        "40", properties=["jobtitle"], properties_with_history=["jobtitle", "nosuch"]
    )
    history = got.properties_with_history["jobtitle"]
    assert [h.value for h in history] == ["Chief Clicker", "Chief Tester", seeded["jobtitle"]]
    assert [h.source_type for h in history] == ["CRM_UI", "API", "IMPORT"]
    assert "nosuch" not in got.properties_with_history
    pages = api.crm.contacts.basic_api.get_page(properties_with_history=["email"], limit=100)
    assert len(pages.results) == 50
    batch = api.crm.contacts.batch_api.read(
        {"inputs": [{"id": "40"}], "properties": [], "propertiesWithHistory": ["jobtitle"]}
    )
    assert batch.results[0].properties_with_history["jobtitle"][0].value == "Chief Clicker"


def test_unique_custom_property_values_conflict(api: Any) -> None:
    from hubspot.crm.properties import PropertyCreate

    api.crm.properties.core_api.create(
        "contacts",
        PropertyCreate(
            name="external_key",
            label="Key",
            type="string",
            field_type="text",
            group_name="contactinformation",
            has_unique_value=True,
        ),
    )
    first = _contact(api, external_key="k-1")
    with pytest.raises(ApiException) as err:
        _contact(api, external_key="k-1")
    assert err.value.status == 409
    assert f"Existing ID: {first.id}" in err.value.body
    _set(api, first.id, external_key="k-1")  # its own value is no conflict


def test_entering_a_lifecycle_stage_sets_its_became_date_once(api: Any, served: Any) -> None:
    dates = [
        "hs_lifecyclestage_lead_date",
        "hs_lifecyclestage_marketingqualifiedlead_date",
        "hs_lifecyclestage_salesqualifiedlead_date",
    ]
    c = _contact(api, email="became@example.com", lifecyclestage="lead")
    _set(api, c.id, lifecyclestage="marketingqualifiedlead")
    first = api.crm.contacts.basic_api.get_by_id(c.id, properties=dates).properties
    assert first["hs_lifecyclestage_lead_date"] is not None
    assert first["hs_lifecyclestage_marketingqualifiedlead_date"] is not None
    assert first["hs_lifecyclestage_salesqualifiedlead_date"] is None

    served.box.clock.advance(3600)
    _set(api, c.id, lifecyclestage="")  # cleared and entered again: the first date stays
    _set(api, c.id, lifecyclestage="marketingqualifiedlead")
    again = api.crm.contacts.basic_api.get_by_id(c.id, properties=dates).properties
    assert (
        again["hs_lifecyclestage_marketingqualifiedlead_date"]
        == (first["hs_lifecyclestage_marketingqualifiedlead_date"])
    )

    with pytest.raises(ApiException) as refused:  # read-only, as in HubSpot
        _set(api, c.id, hs_lifecyclestage_lead_date="2020-01-01T00:00:00.000Z")
    assert refused.value.status == 400


def _company(api: Any, name: str) -> Any:
    from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyCreate

    return api.crm.companies.basic_api.create(CompanyCreate(properties={"name": name}))


def _spec(type_id: int, category: str = "HUBSPOT_DEFINED") -> dict[str, Any]:
    return {"associationCategory": category, "associationTypeId": type_id}


def _type_ids(api: Any, contact_id: str) -> set[int]:
    page = api.crm.associations.v4.basic_api.get_page("contacts", contact_id, "companies")
    return {t.type_id for r in page.results for t in r.association_types}


def test_association_batch_create_reports_failed_inputs_in_a_207(api: Any) -> None:
    contact = _contact(api, email="batch-assoc@example.com")
    company = _company(api, "Batch Co")
    answer = api.crm.associations.v4.batch_api.create(
        "contacts",
        "companies",
        {
            "inputs": [
                {"from": {"id": "98765432"}, "to": {"id": company.id}, "types": [_spec(279)]},
                {"from": {"id": contact.id}, "to": {"id": company.id}, "types": [_spec(280)]},
                {"from": {"id": contact.id}, "to": {"id": company.id}, "types": [_spec(279)]},
            ]
        },
    )
    assert type(answer).__name__ == "BatchResponseLabelsBetweenObjectPairWithErrors"
    assert [(r.from_object_id, r.to_object_id) for r in answer.results] == [
        (contact.id, company.id)
    ]
    assert answer.num_errors == 2
    assert [e.category for e in answer.errors] == ["OBJECT_NOT_FOUND", "VALIDATION_ERROR"]
    assert answer.errors[0].context == {"ids": ["98765432"]}
    assert _type_ids(api, contact.id) == {279}  # the valid input applied, the bad one did not

    defaults = api.crm.associations.v4.batch_api.create_default(
        "contacts",
        "companies",
        {"inputs": [{"from": {"id": "98765432"}, "to": {"id": company.id}}]},
    )
    assert defaults.results == []
    assert defaults.num_errors == 1


def test_association_type_ids_are_checked_per_direction(api: Any, served: Any) -> None:
    contact = _contact(api, email="typed-assoc@example.com")
    company = _company(api, "Typed Co")
    v4 = api.crm.associations.v4.basic_api
    for spec in (_spec(280), _spec(3), _spec(9999), _spec(279, "USER_DEFINED")):
        with pytest.raises(AssocException) as err:
            v4.create("contacts", contact.id, "companies", company.id, [spec])
        assert err.value.status == 400
        body = orjson.loads(err.value.body)
        assert body["category"] == "VALIDATION_ERROR"
        assert body["context"] == {"associationTypeId": [str(spec["associationTypeId"])]}
    assert _type_ids(api, contact.id) == set()
    assert v4.create("companies", company.id, "contacts", contact.id, [_spec(2)]).labels == [
        "Primary"
    ]

    before = served.box.store.count("contacts")
    with pytest.raises(ApiException) as refused:
        api.crm.contacts.basic_api.create(
            ContactCreate(
                properties={"email": "never-made@example.com"},
                associations=[{"to": {"id": company.id}, "types": [_spec(279), _spec(2)]}],
            )
        )
    assert refused.value.status == 400
    assert served.box.store.count("contacts") == before  # checked before the record is written


def test_association_labels_schema_and_label_archive(api: Any) -> None:
    v4 = api.crm.associations.v4
    defined = v4.schema.definitions_api.get_all("contacts", "companies")
    assert [(d.category, d.type_id, d.label) for d in defined.results] == [
        ("HUBSPOT_DEFINED", 279, None),
        ("HUBSPOT_DEFINED", 1, "Primary"),
    ]
    back = v4.schema.definitions_api.get_all("deals", "contacts")
    assert [(d.type_id, d.label) for d in back.results] == [(3, None)]
    with pytest.raises(SchemaException) as fixed:
        v4.schema.definitions_api.remove("contacts", "companies", 1)
    assert fixed.value.status == 400
    with pytest.raises(SchemaException) as unknown:
        v4.schema.definitions_api.remove("contacts", "companies", 4242)
    assert unknown.value.status == 404

    contact = _contact(api, email="labels@example.com")
    company = _company(api, "Label Co")
    v4.basic_api.create("contacts", contact.id, "companies", company.id, [_spec(279), _spec(1)])
    pair = {"from": {"id": contact.id}, "to": {"id": company.id}}
    v4.batch_api.archive_labels(
        "contacts", "companies", {"inputs": [{**pair, "types": [_spec(1)]}]}
    )
    assert _type_ids(api, contact.id) == {279}
    back_ids = v4.basic_api.get_page("companies", company.id, "contacts").results
    assert {t.type_id for t in back_ids[0].association_types} == {280}
    v4.basic_api.create("contacts", contact.id, "companies", company.id, [_spec(1)])
    v4.batch_api.archive_labels(
        "contacts", "companies", {"inputs": [{**pair, "types": [_spec(279)]}]}
    )  # the unlabeled type takes every label with it
    assert _type_ids(api, contact.id) == set()


def test_property_batch_archive_and_archived_read(api: Any) -> None:
    from hubspot.crm.properties import ApiException as PropertyException
    from hubspot.crm.properties import BatchInputPropertyName

    core, batch = api.crm.properties.core_api, api.crm.properties.batch_api
    core.create(
        "contacts",
        PropertyCreate(
            name="baton_to_archive",
            label="Doomed",
            type="string",
            field_type="text",
            group_name="contactinformation",
        ),
    )
    names = BatchInputPropertyName(inputs=[{"name": "baton_to_archive"}, {"name": "no_such"}])
    assert batch.archive("contacts", names) is None  # 204, the missing name included
    assert batch.archive("contacts", names) is None  # already archived: 204 again
    with pytest.raises(PropertyException) as gone:
        core.get_by_name("contacts", "baton_to_archive")
    assert gone.value.status == 404
    archived = core.get_by_name("contacts", "baton_to_archive", archived=True)
    assert archived.name == "baton_to_archive"
    assert archived.archived is True
    with pytest.raises(PropertyException) as live_only:
        core.get_by_name("contacts", "email", archived=True)
    assert live_only.value.status == 404
    read = batch.read("contacts", {"archived": True, "inputs": [{"name": "baton_to_archive"}]})
    assert [p.name for p in read.results] == ["baton_to_archive"]

    with pytest.raises(PropertyException) as defined:
        batch.archive("contacts", BatchInputPropertyName(inputs=[{"name": "email"}]))
    assert defined.value.status == 400
    assert core.get_by_name("contacts", "email").archived is False
