"""CRM v3 object routes through the real SDK: list/paging, get, create, update, archive."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyCreate
from hubspot.crm.contacts import ApiException, SimplePublicObjectInput
from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactCreate
from hubspot.crm.objects import SimplePublicObjectInputForCreate as ObjectCreate

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_get_page_shape_and_default_properties(api: Any) -> None:
    page = api.crm.contacts.basic_api.get_page(limit=5)
    assert len(page.results) == 5
    first = page.results[0]
    assert set(first.properties) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    assert first.properties["hs_object_id"] == first.id
    assert page.paging.next.after == str(int(page.results[-1].id) + 1)


def test_requested_properties_come_with_the_creation_date_id_and_modification_date(
    api: Any,
) -> None:
    """HubSpot adds these three to whatever `properties` names, on reads and searches alike."""
    [contact] = api.crm.contacts.basic_api.get_page(limit=1, properties=["firstname"]).results
    assert set(contact.properties) == {
        "firstname",
        "createdate",
        "hs_object_id",
        "lastmodifieddate",
    }
    found = api.crm.contacts.search_api.do_search(
        {"filterGroups": [], "properties": ["email"], "limit": 1}
    ).results[0]
    assert set(found.properties) == {"email", "createdate", "hs_object_id", "lastmodifieddate"}
    made = api.crm.companies.basic_api.create(CompanyCreate(properties={"name": "Initech"}))
    company = api.crm.companies.basic_api.get_by_id(made.id, properties=["name"])
    assert set(company.properties) == {"name", "createdate", "hs_object_id", "hs_lastmodifieddate"}


def test_get_all_pages_to_the_end(api: Any, served: Any) -> None:
    everyone = api.crm.contacts.get_all(properties=["email", "lifecyclestage"])
    assert len(everyone) == served.box.store.count("contacts")
    assert len({c.id for c in everyone}) == len(everyone)
    assert {"email", "lifecyclestage"} <= set(everyone[0].properties)


def test_last_page_has_no_paging_and_comma_properties(served: Any) -> None:
    with served.http() as http:
        total = served.box.store.count("contacts")
        body = http.get(
            "/crm/v3/objects/contacts",
            params={"limit": 100, "after": "0", "properties": "email,nosuchprop,hubspotscore"},
        ).json()
        assert set(body["results"][0]["properties"]) >= {"email", "hubspotscore"}
        assert "nosuchprop" not in body["results"][0]["properties"]
        last_id = max(
            int(r["id"])
            for r in http.get(
                "/crm/v3/objects/contacts", params={"limit": 100, "after": str(total - 50)}
            ).json()["results"]
        )
        tail = http.get(
            "/crm/v3/objects/contacts", params={"limit": 100, "after": str(last_id)}
        ).json()
        assert "paging" not in tail


def test_create_get_update_archive(api: Any, served: Any) -> None:
    created = api.crm.contacts.basic_api.create(
        ContactCreate(properties={"email": "New.Person@Example.com", "firstname": "New"})
    )
    assert created.properties["email"] == "new.person@example.com"
    assert ISO_MS.match(created.properties["createdate"])
    got = api.crm.contacts.basic_api.get_by_id(
        created.id, properties=["email", "firstname", "phone"]
    )
    assert got.properties["phone"] is None
    by_email = api.crm.contacts.basic_api.get_by_id("new.person@example.com", id_property="email")
    assert by_email.id == created.id
    updated = api.crm.contacts.basic_api.update(
        created.id, SimplePublicObjectInput(properties={"lastname": "Person"})
    )
    assert updated.properties["lastname"] == "Person"
    assert updated.updated_at > created.updated_at
    api.crm.contacts.basic_api.archive(created.id)
    with pytest.raises(ApiException) as err:
        api.crm.contacts.basic_api.get_by_id(created.id)
    assert err.value.status == 404
    archived = api.crm.contacts.basic_api.get_by_id(created.id, archived=True)
    assert archived.archived is True
    assert archived.archived_at is not None
    page = api.crm.contacts.basic_api.get_page(archived=True, limit=100)
    assert created.id in {r.id for r in page.results}


@pytest.mark.parametrize("object_id", ["abc", "999999999"])
def test_an_id_naming_no_record_is_hubspots_404_naming_the_id(api: Any, object_id: str) -> None:
    # HubSpot's answer as quoted in SDK issues and clients' tests (hubspot-api-nodejs#669).
    calls = (
        lambda: api.crm.contacts.basic_api.get_by_id(object_id),
        lambda: api.crm.contacts.basic_api.update(
            object_id, SimplePublicObjectInput(properties={"lastname": "X"})
        ),
    )
    for call in calls:
        with pytest.raises(ApiException) as err:
            call()
        assert err.value.status == 404
        body = json.loads(err.value.body)
        uuid.UUID(body.pop("correlationId"))
        assert body == {
            "status": "error",
            "message": "Object not found.  objectId are usually numeric.",
            "context": {"id": [object_id]},
            "category": "OBJECT_NOT_FOUND",
        }


def test_unknown_property_on_write_is_400(api: Any) -> None:
    with pytest.raises(ApiException) as err:
        api.crm.contacts.basic_api.create(ContactCreate(properties={"favourite_colour": "x"}))
    assert err.value.status == 400
    assert '"category":"VALIDATION_ERROR"' in err.value.body.replace(" ", "")
    assert "PROPERTY_DOESNT_EXIST" in err.value.body


def test_duplicate_email_is_409(api: Any) -> None:
    first = api.crm.contacts.basic_api.create(
        ContactCreate(properties={"email": "twice@example.com"})
    )
    with pytest.raises(ApiException) as err:
        api.crm.contacts.basic_api.create(ContactCreate(properties={"email": "TWICE@example.com"}))
    assert err.value.status == 409
    assert f"Contact already exists. Existing ID: {first.id}" in err.value.body


def test_invalid_option_is_400(api: Any) -> None:
    with pytest.raises(ApiException) as err:
        api.crm.contacts.basic_api.create(
            ContactCreate(properties={"lifecyclestage": "not-a-stage"})
        )
    assert err.value.status == 400
    assert "INVALID_OPTION" in err.value.body


def test_companies_deals_and_generic_ids(api: Any) -> None:
    company = api.crm.companies.basic_api.create(
        CompanyCreate(properties={"name": "Acme", "domain": "acme.example"})
    )
    assert set(company.properties) >= {"name", "domain", "hs_lastmodifieddate", "hs_object_id"}
    deal = api.crm.objects.basic_api.create(
        "0-3",
        ObjectCreate(properties={"dealname": "Big", "amount": "10", "dealstage": "closedwon"}),
    )
    same = api.crm.deals.basic_api.get_by_id(deal.id)
    assert same.properties["dealname"] == "Big"
    assert same.properties["dealstage"] == "closedwon"
    generic = api.crm.objects.basic_api.get_by_id("0-2", company.id)
    assert generic.properties["name"] == "Acme"


def test_gdpr_delete_is_permanent(api: Any, served: Any) -> None:
    from hubspot.crm.contacts import PublicGdprDeleteInput

    c = api.crm.contacts.basic_api.create(ContactCreate(properties={"email": "gdpr@example.com"}))
    api.crm.contacts.basic_api.purge(
        PublicGdprDeleteInput(object_id="gdpr@example.com", id_property="email")
    )
    with pytest.raises(ApiException) as err:
        api.crm.contacts.basic_api.get_by_id(c.id, archived=True)
    assert err.value.status == 404


def test_v3_associations_on_read(api: Any) -> None:
    contact = api.crm.contacts.basic_api.create(ContactCreate(properties={"email": "v3@x.io"}))
    company = api.crm.companies.basic_api.create(CompanyCreate(properties={"name": "V3"}))
    api.crm.associations.v4.basic_api.create_default(
        "contacts", contact.id, "companies", company.id
    )
    got = api.crm.contacts.basic_api.get_by_id(contact.id, associations=["companies"])
    linked = got.associations["companies"].results
    assert [(a.id, a.type) for a in linked] == [(company.id, "contact_to_company_unlabeled")]


def test_v3_reads_list_a_primary_company_once_per_type(api: Any) -> None:
    # HubSpot's v3 reads repeat a primary company: once as `contact_to_company` (Primary), once
    # as `contact_to_company_unlabeled`, which every associated pair has (labels are listed
    # "alongside the unlabeled association type", even when the link was made with a label).
    contact = api.crm.contacts.basic_api.create(ContactCreate(properties={"email": "v3p@x.io"}))
    company = api.crm.companies.basic_api.create(CompanyCreate(properties={"name": "V3P"}))
    primary = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]
    v4 = api.crm.associations.v4.basic_api
    v4.create("contacts", contact.id, "companies", company.id, primary)
    got = api.crm.contacts.basic_api.get_by_id(contact.id, associations=["companies"])
    assert sorted((a.id, a.type) for a in got.associations["companies"].results) == [
        (company.id, "contact_to_company"),
        (company.id, "contact_to_company_unlabeled"),
    ]
    page = v4.get_page("contacts", contact.id, "companies")
    assert {(t.type_id, t.label) for t in page.results[0].association_types} == {
        (1, "Primary"),
        (279, None),
    }
    back = api.crm.companies.basic_api.get_by_id(company.id, associations=["contacts"])
    assert sorted(a.type for a in back.associations["contacts"].results) == [
        "company_to_contact",
        "company_to_contact_unlabeled",
    ]
    deal = api.crm.deals.basic_api.create({"properties": {"dealname": "V3 deal"}})
    v4.create_default("deals", deal.id, "contacts", contact.id)
    got_deal = api.crm.deals.basic_api.get_by_id(deal.id, associations=["contacts"])
    assert [a.type for a in got_deal.associations["contacts"].results] == ["deal_to_contact"]


def test_create_with_associations(api: Any) -> None:
    company = api.crm.companies.basic_api.create(CompanyCreate(properties={"name": "Inline"}))
    contact = api.crm.contacts.basic_api.create(
        ContactCreate(
            properties={"email": "inline@x.io"},
            associations=[
                {
                    "to": {"id": company.id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
                }
            ],
        )
    )
    back = api.crm.associations.v4.basic_api.get_page("companies", company.id, "contacts")
    assert [r.to_object_id for r in back.results] == [contact.id]
