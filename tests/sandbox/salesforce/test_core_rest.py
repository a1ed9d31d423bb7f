"""REST resources through the real simple-salesforce: paging, upsert, collections, composite,
describe, limits, replication, rules, conversion and merge."""

# ruff: noqa: S608 -- SOQL built from ids the tests just created.

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import partial
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)


def _lead(**fields: Any) -> dict[str, Any]:
    return {"LastName": "Tester", "Company": "Testing Inc", **fields}


def test_query_pages_to_the_end_with_batch_size(sf: Salesforce) -> None:
    first = sf.query(
        "SELECT Id, Email FROM Lead", headers={"Sforce-Query-Options": "batchSize=200"}
    )
    assert first["done"] is False
    assert len(first["records"]) == 200
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-200")
    seen = [r["Id"] for r in first["records"]]
    page = first
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
        seen += [r["Id"] for r in page["records"]]
    assert len(seen) == len(set(seen)) == first["totalSize"]
    assert len(sf.query_all("SELECT Id FROM Lead")["records"]) == first["totalSize"]


def test_query_all_sees_deleted_records(sf: Salesforce) -> None:
    lead_id = sf.Lead.create(_lead(LastName="Gone"))["id"]
    sf.Lead.delete(lead_id)
    soql = f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{lead_id}'"
    assert sf.query(soql)["totalSize"] == 0
    found = sf.query(soql, include_deleted=True)["records"]
    assert [r["IsDeleted"] for r in found] == [True]


def test_query_all_pages_continue_under_query_and_still_show_deleted_records(
    sf: Salesforce,
) -> None:
    # "nextRecordsUrl ... contains query instead of queryAll" (salesforce-api.md §3.1); the
    # locator is the cursor, so the deleted rows it matched are still served when followed.
    lead_id = sf.Lead.create(_lead(LastName="GoneLater"))["id"]
    sf.Lead.delete(lead_id)
    first = sf.query(
        "SELECT Id, IsDeleted FROM Lead",
        include_deleted=True,
        headers={"Sforce-Query-Options": "batchSize=200"},
    )
    link = first["nextRecordsUrl"]
    assert link.startswith("/services/data/v59.0/query/01g")
    rest = sf.query_more(link, identifier_is_url=True)
    legacy = sf.query_more(link.replace("/query/", "/queryAll/"), identifier_is_url=True)
    assert rest["records"] == legacy["records"]  # the queryAll form is still accepted
    ids = [r["Id"] for r in first["records"] + rest["records"]]
    assert lead_id in ids


def test_count_query_and_malformed_query(sf: Salesforce) -> None:
    counted = sf.query("SELECT COUNT() FROM Contact")
    assert counted["totalSize"] > 0
    assert counted["records"] == []
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT Nope__c FROM Lead")
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_count_of_a_field_is_one_aggregate_result(sf: Salesforce) -> None:
    """COUNT(field) without GROUP BY: one AggregateResult row, the count under expr0 (or the
    alias), of the rows where the field is not null."""
    every = sf.query("SELECT COUNT() FROM Lead")["totalSize"]
    counted = sf.query("SELECT COUNT(Id) FROM Lead")
    assert counted["totalSize"] == 1
    assert counted["records"] == [{"attributes": {"type": "AggregateResult"}, "expr0": every}]
    assert sf.Lead.create(_lead(FirstName="Una", Email=None))["success"]
    emails = sf.query("SELECT COUNT(Email) n FROM Lead")["records"][0]["n"]
    assert emails == sf.query("SELECT COUNT() FROM Lead WHERE Email != null")["totalSize"]
    assert emails <= every  # the Lead just made has none
    for bad, code in (
        ("SELECT COUNT(Id), Email FROM Lead", "MALFORMED_QUERY"),
        ("SELECT COUNT(Nope__c) FROM Lead", "INVALID_FIELD"),
    ):
        with pytest.raises(SalesforceMalformedRequest) as info:
            sf.query(bad)
        assert info.value.content[0]["errorCode"] == code, bad


def test_upsert_creates_then_updates(sf: Salesforce) -> None:
    assert sf.Lead.upsert("Baton_Id__c/hs-1001", _lead(FirstName="Una")) == 201
    assert sf.Lead.upsert("Baton_Id__c/hs-1001", {"FirstName": "Dua"}) == 200
    got = sf.Lead.get_by_custom_id("Baton_Id__c", "hs-1001")
    assert got["FirstName"] == "Dua"
    assert got["Baton_Id__c"] == "hs-1001"
    raw = sf.Lead.upsert("Baton_Id__c/hs-1001", {"Title": "CTO"}, raw_response=True)
    assert raw.json() == {"id": got["Id"], "success": True, "errors": [], "created": False}


@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("Baton_Id__c/body-1", {"Baton_Id__c": "body-2"}),  # another value than the URL's
        ("Baton_Id__c/body-1", {"Baton_Id__c": "body-1"}),  # the URL's own value
        ("Baton_Id__c/body-1", {"baton_id__c": "body-1"}),  # field names ignore case
        ("Baton_Id__c/body-1", {"Id": "00Q000000000001AAA"}),
        ("Email/body@example.com", {"Email": "body@example.com"}),  # an idLookup key
    ],
)
def test_an_upsert_naming_its_key_field_in_the_body_is_refused(
    sf: Salesforce, key: str, body: dict[str, Any]
) -> None:
    # "Do not specify Id or an external ID field in the request body or an error is generated"
    # (REST API guide, sObject Rows by External ID), answered as clients report it.
    field = "Id" if "Id" in body else key.split("/")[0]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Lead.upsert(key, _lead(LastName="Body key", **body))
    assert info.value.content == [
        {
            "message": f"The {field} field should not be specified in the sobject data.",
            "errorCode": "INVALID_FIELD",
        }
    ]
    assert sf.query("SELECT Id FROM Lead WHERE LastName = 'Body key'")["totalSize"] == 0


@pytest.mark.parametrize("write", ["create", "update-same-id", "update-other-id"])
@pytest.mark.parametrize("key", ["Id", "id"])
def test_a_create_or_update_naming_id_in_the_body_is_refused(
    sf: Salesforce, write: str, key: str
) -> None:
    # A record's id is the URL's (update) or Salesforce's to give (create): the REST guide's
    # "Create a Record" shows this answer for a body carrying Id; force-rest-api#69 reports it
    # for an update whose body repeats the URL's id. Field names ignore case.
    lead_id = sf.Lead.create(_lead(LastName="Id in body"))["id"]
    other_id = sf.Lead.create(_lead(LastName="Id in body"))["id"]
    body = {"Title": "Changed", key: other_id if write == "update-other-id" else lead_id}
    send = sf.Lead.create if write == "create" else partial(sf.Lead.update, lead_id)
    with pytest.raises(SalesforceMalformedRequest) as info:
        send(_lead(LastName="Id in body", **body))
    assert info.value.content == [
        {
            "message": "The Id field should not be specified in the sobject data.",
            "errorCode": "INVALID_FIELD",
        }
    ]
    found = sf.query("SELECT Id, Title FROM Lead WHERE LastName = 'Id in body'")["records"]
    assert sorted((r["Id"], r["Title"]) for r in found) == sorted(
        [(lead_id, None), (other_id, None)]
    )
    sf.Lead.delete(lead_id)
    sf.Lead.delete(other_id)


def test_collections_refuse_an_id_per_record_on_create_and_require_one_on_update(
    sf: Salesforce,
) -> None:
    # "don't set the id field for any object" (sObject Collections create); an update's records
    # "must contain an id field with a valid ID value" (sObject Collections update).
    lead_id = sf.Lead.create(_lead(LastName="Collections id"))["id"]
    fresh = {"attributes": {"type": "Lead"}, **_lead(LastName="Collections id")}
    created = sf.restful(
        "composite/sobjects", method="POST", json={"records": [{**fresh, "Id": lead_id}, fresh]}
    )
    assert created[0]["success"] is False
    assert created[0]["errors"][0]["fields"] == ["Id"]
    assert created[1]["success"] is True
    updated = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Lead"}, "Id": lead_id, "Title": "Kept"}]},
    )
    assert updated == [{"id": lead_id, "success": True, "errors": []}]
    assert sf.Lead.get(lead_id)["Title"] == "Kept"


def test_upsert_on_a_field_that_identifies_nothing_is_404(sf: Salesforce, served: Any) -> None:
    for field in ("Title", "Nope__c"):
        reply = served.session().patch(
            f"{served.url}/services/data/v59.0/sobjects/Lead/{field}/a@b.example",
            json={"LastName": "X"},
            headers={"Authorization": f"Bearer {sf.session_id}"},
        )
        assert reply.status_code == 404
        assert reply.json() == [
            {
                "message": f"Provided external ID field does not exist or is not accessible: "
                f"{field}",
                "errorCode": "NOT_FOUND",
            }
        ]


def test_upsert_and_get_by_an_id_lookup_field(sf: Salesforce) -> None:
    # Lead.Email is idLookup (describe says so), and Salesforce's REST guide upserts and reads
    # leads on `sobjects/Lead/Email/<address>`; matching ignores case, as for external ids.
    email = next(f for f in sf.Lead.describe()["fields"] if f["name"] == "Email")
    assert email["idLookup"] is True
    assert email["externalId"] is False
    assert sf.Lead.upsert("Email/ida.lookup@example.com", _lead(FirstName="Ida")) == 201
    assert sf.Lead.upsert("Email/IDA.Lookup@example.com", {"Title": "CFO"}) == 200
    got = sf.Lead.get_by_custom_id("Email", "ida.lookup@example.com")
    assert (got["Email"], got["FirstName"], got["Title"]) == (
        "ida.lookup@example.com",
        "Ida",
        "CFO",
    )
    found = sf.query("SELECT Id FROM Lead WHERE Email = 'ida.lookup@example.com'")
    assert [r["Id"] for r in found["records"]] == [got["Id"]]
    upserted = sf.restful(
        "composite/sobjects/Lead/Email",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [{"attributes": {"type": "Lead"}, "Email": "ida.lookup@example.com"}],
        },
    )
    assert upserted == [{"id": got["Id"], "success": True, "errors": [], "created": False}]


def test_duplicate_external_id_is_refused(sf: Salesforce) -> None:
    sf.Lead.create(_lead(Baton_Id__c="dup-1"))
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Lead.create(_lead(Baton_Id__c="DUP-1"))
    assert info.value.content[0]["errorCode"] == "DUPLICATE_VALUE"


def test_collections_all_or_none(sf: Salesforce) -> None:
    good = {"attributes": {"type": "Lead"}, **_lead(LastName="Good")}
    bad = {"attributes": {"type": "Lead"}, "LastName": "NoCompany"}
    results = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": True, "records": [good, bad]}
    )
    assert results[0]["success"] is False
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert sf.query("SELECT Id FROM Lead WHERE LastName = 'Good'")["totalSize"] == 0
    results = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": False, "records": [good, bad]}
    )
    assert [r["success"] for r in results] == [True, False]
    updated = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [
                {"attributes": {"type": "Lead"}, "id": results[0]["id"], "Title": "Boss"},
                {"attributes": {"type": "Lead"}, "id": results[0]["id"], "Status": "Bogus"},
            ]
        },
    )
    assert updated[0] == {"id": results[0]["id"], "success": True, "errors": []}
    assert updated[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    upserted = sf.restful(
        "composite/sobjects/Lead/Baton_Id__c",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Lead"}, **_lead(Baton_Id__c="col-1")}]},
    )
    assert upserted[0]["created"] is True


def test_collections_upsert_naming_one_external_id_twice_refuses_both(sf: Salesforce) -> None:
    # Salesforce's upsert matches each key once per call: a key given twice (in any case, the
    # field being case-insensitive) is "Duplicate external id specified", neither written.
    records = [
        {"attributes": {"type": "Lead"}, **_lead(LastName="One", Baton_Id__c="twice-1")},
        {"attributes": {"type": "Lead"}, **_lead(LastName="Other", Baton_Id__c="once-1")},
        {"attributes": {"type": "Lead"}, **_lead(LastName="Two", Baton_Id__c="TWICE-1")},
    ]
    results = sf.restful(
        "composite/sobjects/Lead/Baton_Id__c",
        method="PATCH",
        json={"allOrNone": False, "records": records},
    )
    refused = {
        "success": False,
        "errors": [
            {
                "statusCode": "DUPLICATE_VALUE",
                "message": "Duplicate external id specified: twice-1",
                "fields": ["Baton_Id__c"],
            }
        ],
    }
    assert results[0] == refused
    assert results[2] == {
        **refused,
        "errors": [{**refused["errors"][0], "message": "Duplicate external id specified: TWICE-1"}],
    }
    assert (results[1]["success"], results[1]["created"]) == (True, True)
    found = sf.query("SELECT Baton_Id__c FROM Lead WHERE Baton_Id__c IN ('twice-1', 'once-1')")
    assert [r["Baton_Id__c"] for r in found["records"]] == ["once-1"]


def test_collections_take_mixed_types_up_to_ten_chunks_and_refuse_more(sf: Salesforce) -> None:
    """Mixed types are written in chunks, one per run of one type, at most 10 a request
    (salesforce-api.md §3.3); 22 alternating Leads and Accounts are 22 chunks."""

    def record(i: int, company: str) -> dict[str, Any]:
        if i % 2 == 0:
            return {"attributes": {"type": "Lead"}, **_lead(LastName=f"Chunk{i}", Company=company)}
        return {"attributes": {"type": "Account"}, "Name": f"{company} {i}"}

    refusal = [
        {
            "message": "Cannot have more than 10 chunks in a single operation. Please "
            "rearrange the data to reduce chunking.",
            "errorCode": "EXCEEDED_MAX_TYPES_LIMIT",
        }
    ]
    alternating = [record(i, "Chunky") for i in range(22)]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("composite/sobjects", method="POST", json={"records": alternating})
    assert info.value.content == refusal
    assert sf.query("SELECT COUNT() FROM Lead WHERE Company = 'Chunky'")["totalSize"] == 0

    ten = [record(i, "Chunked") for i in range(10)]  # 10 chunks
    grouped = sorted(alternating, key=lambda r: r["attributes"]["type"])  # 2 chunks
    for records in (ten, grouped):
        results = sf.restful("composite/sobjects", method="POST", json={"records": records})
        assert [r["success"] for r in results] == [True] * len(records)
    updates = [
        {"attributes": r["attributes"], "id": saved["id"], "Description": "Chunked again"}
        for r, saved in zip(grouped, results, strict=True)
    ]
    by_type = {"Lead": updates[:11], "Account": updates[11:]}
    interleaved = [
        u for pair in zip(by_type["Lead"], by_type["Account"], strict=True) for u in pair
    ]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("composite/sobjects", method="PATCH", json={"records": interleaved})
    assert info.value.content == refusal


def test_collections_refuse_the_whole_call_for_a_value_that_does_not_parse(
    sf: Salesforce,
) -> None:
    """The body is deserialized before any record is written: a string for a number is a
    whole-request 400, as a single-record call's is."""
    good = {"attributes": {"type": "Lead"}, **_lead(LastName="ParseGood")}
    bad = {"attributes": {"type": "Lead"}, **_lead(LastName="ParseBad", AnnualRevenue="abc")}
    for path, method in (
        ("composite/sobjects", "POST"),
        ("composite/sobjects/Lead/Baton_Id__c", "PATCH"),
    ):
        records = [{**good, "Baton_Id__c": "parse-1"}, {**bad, "Baton_Id__c": "parse-2"}]
        with pytest.raises(SalesforceMalformedRequest) as info:
            sf.restful(path, method=method, json={"allOrNone": False, "records": records})
        assert info.value.content == [
            {
                "message": "Cannot deserialize instance of double from VALUE_STRING value abc "
                "or request may be missing a required field",
                "errorCode": "JSON_PARSER_ERROR",
            }
        ]
    found = sf.query("SELECT Id FROM Lead WHERE LastName IN ('ParseGood', 'ParseBad')")
    assert found["totalSize"] == 0


def test_collections_retrieve_by_get_and_by_request_body(sf: Salesforce) -> None:
    """Both documented forms of the read by ids: the query string, and a JSON body for lists a
    URL cannot carry (up to 2,000 ids); a missing id reads as null in its place."""
    lead_id = sf.Lead.create(_lead(LastName="Fetched", Title="Buyer"))["id"]
    missing = lead_id[:-6] + "ZZZZZZ"
    by_get = sf.restful(f"composite/sobjects/Lead?ids={lead_id},{missing}&fields=Id,Title")
    by_body = sf.restful(
        "composite/sobjects/Lead",
        method="POST",
        json={"ids": [lead_id, missing], "fields": ["Id", "Title"]},
    )
    assert by_body == by_get
    assert by_body[0]["Title"] == "Buyer"
    assert by_body[1] is None
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("composite/sobjects/Lead", method="POST", json={"ids": [lead_id]})
    assert info.value.content[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_composite_references(sf: Salesforce) -> None:
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Account",
                "referenceId": "acct",
                "body": {"Name": "Composite Co"},
            },
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Contact",
                "referenceId": "person",
                "body": {"LastName": "Ref", "AccountId": "@{acct.id}"},
            },
            {
                "method": "GET",
                "url": "/services/data/v59.0/sobjects/Contact/@{person.id}?fields=AccountId",
                "referenceId": "check",
            },
        ],
    }
    out = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    assert [r["httpStatusCode"] for r in out] == [201, 201, 200]
    assert out[2]["body"]["AccountId"] == out[0]["body"]["id"]


def test_composite_all_or_none_rolls_back(sf: Salesforce) -> None:
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Account",
                "referenceId": "a",
                "body": {"Name": "Rolled Back Co"},
            },
            {
                "method": "POST",
                "url": "/services/data/v59.0/sobjects/Lead",
                "referenceId": "b",
                "body": {"LastName": "NoCompany"},
            },
        ],
    }
    out = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    assert out[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert out[1]["httpStatusCode"] == 400
    assert sf.query("SELECT Id FROM Account WHERE Name = 'Rolled Back Co'")["totalSize"] == 0


def test_describe_picklists(sf: Salesforce) -> None:
    fields = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    status = fields["Status"]
    assert status["type"] == "picklist"
    assert status["restrictedPicklist"] is True
    values = [v["value"] for v in status["picklistValues"]]
    assert "Closed - Converted" in values
    assert [v["value"] for v in status["picklistValues"] if v["defaultValue"]] == [
        "Open - Not Contacted"
    ]
    assert "Partner Portal" in [v["value"] for v in fields["LeadSource"]["picklistValues"]]
    assert fields["Baton_Id__c"]["externalId"] is True
    assert fields["Baton_Id__c"]["custom"]
    names = {s["name"] for s in sf.describe()["sobjects"]}
    assert {"Lead", "Contact", "Opportunity", "CampaignMember"} <= names


def test_limits_and_api_usage(sf: Salesforce) -> None:
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 100_000
    used, cap = sf.api_usage["api-usage"]
    assert cap == 100_000
    assert used >= 1


def test_daily_cap_refuses_with_403(sf: Salesforce, served: Any) -> None:
    served.admin("PUT", "/limits", json={"enabled": True, "daily_remaining": 0})
    try:
        with pytest.raises(SalesforceRefusedRequest) as info:
            sf.query("SELECT Id FROM Lead LIMIT 1")
        assert info.value.content == [
            {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
        ]
    finally:
        served.admin("PUT", "/limits", json={"enabled": False, "daily_remaining": 100_000})


def test_updated_and_deleted(sf: Salesforce, served: Any) -> None:
    lead_id = sf.Lead.create(_lead(LastName="Replicated"))["id"]
    sf.Lead.delete(sf.Lead.create(_lead(LastName="Removed"))["id"])
    served.box.clock.advance(120)
    now = datetime.now(UTC) + timedelta(seconds=120)
    updated = sf.Lead.updated(now - timedelta(minutes=10), now)
    assert lead_id in updated["ids"]
    assert updated["latestDateCovered"].endswith(":00.000+0000")
    deleted = sf.Lead.deleted(now - timedelta(minutes=10), now)
    assert deleted["deletedRecords"]
    assert "earliestDateAvailable" in deleted
    with pytest.raises(SalesforceMalformedRequest):
        sf.Lead.updated(datetime(2026, 1, 1), datetime(2026, 1, 2))  # naive: dangling colon


def test_validation_rule_rejects_junk_phone(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Lead.create(_lead(Phone="n/a"))
    assert info.value.content == [
        {
            "message": "Phone must be a valid phone number",
            "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "fields": ["Phone"],
        }
    ]


def test_conversion_and_converted_lead_lock(sf: Salesforce, served: Any) -> None:
    lead_id = sf.Lead.create(_lead(Company="Convertible Ltd", LeadSource="Web"))["id"]
    task = sf.Task.create({"WhoId": lead_id, "Subject": "Intro call"})["id"]
    result = served.admin("POST", f"/leads/{lead_id}/convert", json={}).json()
    assert sf.Task.get(task)["WhoId"] == result["contactId"]
    assert result["success"] is True
    assert result["leadId"] == lead_id
    lead = sf.Lead.get(lead_id)
    assert lead["IsConverted"] is True
    assert lead["Status"] == "Closed - Converted"
    assert lead["ConvertedOpportunityId"] == result["opportunityId"]
    opportunity = sf.Opportunity.get(result["opportunityId"])
    assert opportunity["Name"] == "Convertible Ltd-"
    assert opportunity["StageName"] == "Prospecting"
    assert opportunity["Probability"] == 10
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Lead.update(lead_id, {"Title": "Too late"})
    assert info.value.content[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"


def test_opportunity_stage_drives_flags(sf: Salesforce) -> None:
    opp_id = sf.Opportunity.create(
        {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31"}
    )["id"]
    sf.Opportunity.update(opp_id, {"StageName": "Closed Won"})
    opp = sf.Opportunity.get(opp_id)
    assert (opp["IsClosed"], opp["IsWon"], opp["Probability"]) == (True, True, 100)
    assert opp["ForecastCategoryName"] == "Closed"


def test_merge_admin_route(sf: Salesforce, served: Any) -> None:
    master = sf.Lead.create(_lead(LastName="Keeper"))["id"]
    loser = sf.Lead.create(_lead(LastName="Loser", Title="Dup"))["id"]
    task = sf.Task.create({"WhoId": loser, "Subject": "Call"})["id"]
    reply = served.admin(
        "POST", "/merge", json={"sobject": "Lead", "masterId": master, "duplicateId": loser}
    )
    assert reply.status_code == 200
    assert reply.json()["mergedRecordIds"] == [loser]
    assert reply.json()["updatedRelatedIds"] == [task]
    assert sf.Task.get(task)["WhoId"] == master
    rows = sf.query_all(
        f"SELECT Id, IsDeleted, MasterRecordId FROM Lead WHERE Id = '{loser}'",
        include_deleted=True,
    )["records"]
    assert rows[0]["IsDeleted"] is True
    assert rows[0]["MasterRecordId"] == master
    assert sf.Lead.get(master)["Title"] == "Dup"


def test_writes_count_api_only(sf: Salesforce, served: Any) -> None:
    before = served.admin("GET", "/stats").json()["writes"]
    lead_id = served.box.create("Lead", _lead(LastName="Actor"))
    served.box.update("Lead", lead_id, {"Title": "Actor title"})
    assert served.admin("GET", "/stats").json()["writes"] == before
    sf.Lead.update(lead_id, {"Title": "Api title"})
    assert served.admin("GET", "/stats").json()["writes"] == before + 1


def test_expired_session_fault_invalidates_token(served: Any) -> None:
    token = served.token()
    sf = served.client(token)
    served.admin("PUT", "/faults", json={"next_expired_session": 1})
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Lead LIMIT 1")
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Lead LIMIT 1")
    assert served.client().query("SELECT Id FROM Lead LIMIT 1")["totalSize"] == 1


def _token(served: Any, **form: str) -> Any:
    return served.session().post(f"{served.url}/services/oauth2/token", data=form)


def test_password_and_refresh_grants(served: Any) -> None:
    o = served.box.options
    reply = _token(
        served,
        grant_type="password",
        client_id=o.client_id,
        client_secret=o.client_secret,
        username=o.username,
        password=o.password + "SECURITYTOKEN",
    )
    assert reply.status_code == 200
    refreshed = _token(
        served,
        grant_type="refresh_token",
        client_id=o.client_id,
        refresh_token=reply.json()["refresh_token"],
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["access_token"]
    bad = _token(
        served,
        grant_type="password",
        client_id=o.client_id,
        client_secret=o.client_secret,
        username=o.username,
        password="wrong",
    )
    assert bad.json() == {"error": "invalid_grant", "error_description": "authentication failure"}
    assert _token(served, grant_type="magic").json()["error"] == "unsupported_grant_type"


def test_jwt_bearer_grant_with_string_exp(served: Any) -> None:
    o = served.box.options
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    claims = {
        "iss": o.client_id,
        "sub": o.username,
        "aud": "https://login.salesforce.com",
        "exp": str(int(time.time()) + 180),  # a string, as simple-salesforce sends it
    }
    assertion = jwt.encode(claims, pem, algorithm="RS256")
    reply = _token(
        served, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=assertion
    )
    assert reply.status_code == 200
    assert reply.json()["scope"]
    claims["iss"] = "someone-else"
    reply = _token(
        served,
        grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer",
        assertion=jwt.encode(claims, pem, algorithm="RS256"),
    )
    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_client_id"


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        (
            {"Rejection_Reason__c": "Too Expensive"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "Rejection_Reason__c",
        ),
        ({"Company": "x" * 256}, "STRING_TOO_LONG", "Company"),
        ({"IsConverted": True}, "INVALID_FIELD_FOR_INSERT_UPDATE", "IsConverted"),
        ({"Email": "not-an-address"}, "INVALID_EMAIL_ADDRESS", "Email"),
        ({"OwnerId": "00Q000000000000"}, "INVALID_CROSS_REFERENCE_KEY", "OwnerId"),
    ],
)
def test_field_level_refusals(
    sf: Salesforce, fields: dict[str, Any], code: str, field: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Lead.create(_lead(**fields))
    assert info.value.content[0]["errorCode"] == code
    assert info.value.content[0]["fields"] == [field]


def test_unknown_field_is_invalid_field(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Lead.create(_lead(Shoe_Size__c=44))
    assert info.value.content == [
        {
            "message": "No such column 'Shoe_Size__c' on sobject of type Lead",
            "errorCode": "INVALID_FIELD",
        }
    ]


def test_lead_status_metadata_is_queryable(sf: Salesforce) -> None:
    rows = sf.query("SELECT ApiName FROM LeadStatus WHERE IsConverted = true")["records"]
    assert [r["ApiName"] for r in rows] == ["Closed - Converted"]


def test_composite_batch_halts_on_error(sf: Salesforce) -> None:
    body = {
        "haltOnError": True,
        "batchRequests": [
            {"method": "POST", "url": "v59.0/sobjects/Lead", "richInput": _lead(LastName="B1")},
            {"method": "POST", "url": "v59.0/sobjects/Lead", "richInput": {"LastName": "B2"}},
            {"method": "GET", "url": "v59.0/limits"},
        ],
    }
    sf.limits()
    used_before = sf.api_usage["api-usage"].used
    out = sf.restful("composite/batch", method="POST", json=body)
    assert out["hasErrors"] is True
    assert [r["statusCode"] for r in out["results"]] == [201, 400, 412]
    # Each subrequest that ran counts; the halted one does not.
    assert sf.api_usage["api-usage"].used - used_before == 2


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def test_conditional_get_on_record_304_and_412(sf: Salesforce, served: Any) -> None:
    lead_id = sf.Lead.create(_lead(LastName="Conditional"))["id"]
    stamp = datetime.strptime(sf.Lead.get(lead_id)["LastModifiedDate"], "%Y-%m-%dT%H:%M:%S.%f%z")
    with pytest.raises(SalesforceGeneralError) as unchanged:
        sf.Lead.get(lead_id, headers={"If-Modified-Since": _http_date(stamp)})
    assert unchanged.value.status == 304
    assert unchanged.value.content == ""
    older = _http_date(stamp - timedelta(hours=1))
    assert sf.Lead.get(lead_id, headers={"If-Modified-Since": older})["Id"] == lead_id
    with pytest.raises(SalesforceGeneralError) as changed:
        sf.Lead.get(lead_id, headers={"If-Unmodified-Since": older})
    assert changed.value.status == 412
    assert changed.value.content[0]["errorCode"] == "PRECONDITION_FAILED"
    assert sf.Lead.get(lead_id, headers={"If-Unmodified-Since": _http_date(stamp)})["Id"]
    assert sf.Lead.get(lead_id, headers={"If-Modified-Since": "not a date"})["Id"] == lead_id

    served.box.clock.advance(5)
    sf.Lead.update(lead_id, {"FirstName": "Changed"})  # modified after the date the client holds
    assert sf.Lead.get(lead_id, headers={"If-Modified-Since": _http_date(stamp)})["FirstName"]


def test_conditional_describe_is_304_until_the_schema_changes(sf: Salesforce) -> None:
    with pytest.raises(SalesforceGeneralError) as unchanged:
        sf.Lead.describe(headers={"If-Modified-Since": _http_date(datetime.now(UTC))})
    assert unchanged.value.status == 304
    long_ago = _http_date(datetime(2000, 1, 1, tzinfo=UTC))
    assert sf.Lead.describe(headers={"If-Modified-Since": long_ago})["name"] == "Lead"
    with pytest.raises(SalesforceGeneralError) as changed:
        sf.Lead.describe(headers={"If-Unmodified-Since": long_ago})
    assert changed.value.status == 412
