"""Faults in Salesforce's words, admin seeding, stats route templates, and Bulk 2.0 end to end."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)


def test_rate_limit_fault_is_concurrent_request_limit(sf: Salesforce, served: Any) -> None:
    served.admin("PUT", "/faults", json={"next_rate_limit": 1})
    with pytest.raises(SalesforceRefusedRequest) as info:
        sf.query("SELECT Id FROM Lead LIMIT 1")
    assert info.value.content == [
        {
            "message": "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
            "errorCode": "REQUEST_LIMIT_EXCEEDED",
        }
    ]


def test_server_error_fault_uses_plan_status(sf: Salesforce, served: Any) -> None:
    served.admin("PUT", "/faults", json={"next_server_error": 1, "server_error_status": 503})
    with pytest.raises(SalesforceGeneralError) as info:
        sf.query("SELECT Id FROM Lead LIMIT 1")
    assert info.value.status == 503
    assert info.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"


def test_stats_count_routes_by_template(sf: Salesforce, served: Any) -> None:
    served.admin("DELETE", "/stats")
    lead_id = sf.Lead.create({"LastName": "Stat", "Company": "Stats"})["id"]
    sf.Lead.get(lead_id)
    routes = served.admin("GET", "/stats").json()["by_route"]
    assert routes["POST /services/data/v{version}/sobjects/{sobject}/"] == 1
    assert routes["GET /services/data/v{version}/sobjects/{sobject}/{record_id}"] == 1


def test_admin_seed_adds_leads(sf: Salesforce, served: Any) -> None:
    before = sf.query("SELECT COUNT() FROM Lead")["totalSize"]
    reply = served.admin("POST", "/seed", json={"contacts": 0, "leads": 10, "seed": 99})
    assert reply.status_code == 204
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == before + 10


def test_bulk2_query_and_upsert(sf: Salesforce) -> None:
    records = [
        {"Baton_Id__c": f"bulk-{i}", "LastName": f"Bulk{i}", "Company": "Bulk Co"} for i in range(5)
    ] + [{"Baton_Id__c": "bulk-bad", "LastName": "NoCompany"}]
    outcome = sf.bulk2.Lead.upsert(records=records, external_id_field="Baton_Id__c", wait=0.01)
    assert outcome[0]["numberRecordsProcessed"] == 6
    assert outcome[0]["numberRecordsFailed"] == 1
    failed = sf.bulk2.Lead.get_failed_records(outcome[0]["job_id"])
    assert "REQUIRED_FIELD_MISSING" in failed
    pages = list(
        sf.bulk2.Lead.query(
            "SELECT Baton_Id__c, LastName FROM Lead WHERE Company = 'Bulk Co'", wait=0.01
        )
    )
    rows = [row for page in pages for row in csv.DictReader(io.StringIO(page))]
    assert sorted(r["Baton_Id__c"] for r in rows) == [f"bulk-{i}" for i in range(5)]


def test_bulk2_upsert_keys_on_id_lookup_fields_only(sf: Salesforce) -> None:
    # An ingest job's externalIdFieldName must identify records (Id, an External ID field or
    # an idLookup field such as Lead.Email); any other field fails the job's creation.
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.bulk2.Lead.upsert(
            records=[{"Title": "CEO", "LastName": "T", "Company": "C"}],
            external_id_field="Title",
            wait=0.01,
        )
    assert refused.value.content == [
        {
            "message": "InvalidJob : Field name provided, title does not match an External ID, "
            "Salesforce Id, or indexed field for Lead",
            "errorCode": "INVALIDJOB",
        }
    ]
    records = [{"Email": "bulk.key@example.com", "LastName": "Key", "Company": "Bulk"}]
    for _ in range(2):  # created, then matched by its email
        outcome = sf.bulk2.Lead.upsert(records=records, external_id_field="Email", wait=0.01)
        assert outcome[0]["numberRecordsFailed"] == 0
    found = sf.query("SELECT Id FROM Lead WHERE Email = 'bulk.key@example.com'")
    assert found["totalSize"] == 1


def test_bulk2_upsert_naming_one_external_id_twice_fails_both_rows(sf: Salesforce) -> None:
    # Salesforce applies a job's rows 200 at a time, and within those an external id named
    # twice (in any case) fails each of its rows: "Duplicate external id specified".
    records = [
        {"Baton_Id__c": "bulk-twice", "LastName": "One", "Company": "Twice Co"},
        {"Baton_Id__c": "bulk-once", "LastName": "Other", "Company": "Twice Co"},
        {"Baton_Id__c": "BULK-TWICE", "LastName": "Two", "Company": "Twice Co"},
    ]
    outcome = sf.bulk2.Lead.upsert(records=records, external_id_field="Baton_Id__c", wait=0.01)
    assert outcome[0]["numberRecordsFailed"] == 2
    failed = list(
        csv.DictReader(io.StringIO(sf.bulk2.Lead.get_failed_records(outcome[0]["job_id"])))
    )
    assert sorted((r["Baton_Id__c"], r["sf__Error"]) for r in failed) == [
        (
            "BULK-TWICE",
            "DUPLICATE_VALUE:Duplicate external id specified: BULK-TWICE:Baton_Id__c --",
        ),
        (
            "bulk-twice",
            "DUPLICATE_VALUE:Duplicate external id specified: bulk-twice:Baton_Id__c --",
        ),
    ]
    written = sf.query("SELECT Baton_Id__c FROM Lead WHERE Company = 'Twice Co'")["records"]
    assert [r["Baton_Id__c"] for r in written] == ["bulk-once"]


def test_unknown_rest_path_is_a_salesforce_404(sf: Salesforce, served: Any) -> None:
    reply = served.session().get(
        f"{served.url}/services/data/v59.0/nothing/here",
        headers={"Authorization": f"Bearer {sf.session_id}"},
    )
    assert reply.status_code == 404
    assert reply.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]


def test_faults_on_the_token_endpoint_answer_oauth_style(served: Any) -> None:
    served.admin("PUT", "/faults", json={"next_server_error": 1})
    reply = served.session().post(
        f"{served.url}/services/oauth2/token", data={"grant_type": "client_credentials"}
    )
    assert reply.status_code == 503
    assert reply.json()["error"] == "unknown_error"


def test_bulk2_results_under_another_api_version_than_the_job_are_409(
    sf: Salesforce, served: Any
) -> None:
    # "Use the same API version as the create call (else 409)" (salesforce-api.md §9).
    http = served.session()
    http.headers["Authorization"] = f"Bearer {sf.session_id}"
    jobs = f"{served.url}/services/data/v59.0/jobs/query"
    job = http.post(jobs, json={"operation": "query", "query": "SELECT Id FROM Lead LIMIT 3"})
    job_id = job.json()["id"]
    states = [http.get(f"{jobs}/{job_id}").json()["state"] for _ in range(3)]
    assert states[-1] == "JobComplete"

    other = http.get(f"{served.url}/services/data/v58.0/jobs/query/{job_id}/results")
    same = http.get(f"{jobs}/{job_id}/results")

    assert other.status_code == 409
    (error,) = other.json()
    assert error["errorCode"] == "INVALIDJOB"
    assert "v59.0" in error["message"]
    assert same.status_code == 200
    assert int(same.headers["Sforce-NumberOfRecords"]) == 3


def _locked(record_id: str) -> dict[str, Any]:
    message = f"unable to obtain exclusive access to this record or 1 records: {record_id}"
    return {"statusCode": "UNABLE_TO_LOCK_ROW", "message": message, "fields": []}


def test_row_lock_fault_refuses_the_chosen_records_of_a_collections_write(
    sf: Salesforce, served: Any
) -> None:
    # Per record, inside the 200 answer (salesforce-api.md §3.3, §4); the others are written.
    account = sf.Account.create({"Name": "Locked Parent"})["id"]
    contacts = [
        {"attributes": {"type": "Contact"}, "LastName": f"Lock{i}", "AccountId": account}
        for i in range(5)
    ]
    served.admin("PUT", "/faults", json={"next_row_lock": 2})
    results = sf.restful("composite/sobjects", method="POST", json={"records": contacts})

    assert results[:2] == [{"success": False, "errors": [_locked(account)]}] * 2
    assert [r["success"] for r in results[2:]] == [True] * 3
    assert served.admin("GET", "/faults").json()["injected"]["row_lock"] == 2
    written = served.box.find("Contact", equals={"AccountId": account})
    assert sorted(r["LastName"] for r in written) == ["Lock2", "Lock3", "Lock4"]
    again = sf.restful("composite/sobjects", method="POST", json={"records": contacts[:2]})
    assert [r["success"] for r in again] == [True, True]  # the count is spent: the lock cleared

    ids = [r["id"] for r in results[2:]]
    served.admin("PUT", "/faults", json={"row_lock_rate": 1.0})
    updated = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={"records": [{"attributes": {"type": "Contact"}, "id": ids[0], "Title": "X"}]},
    )
    deleted = sf.restful(f"composite/sobjects?ids={ids[1]}", method="DELETE")
    served.admin("DELETE", "/faults")

    assert updated == [{"success": False, "errors": [_locked(ids[0])]}]
    assert deleted == [{"id": ids[1], "success": False, "errors": [_locked(ids[1])]}]
    assert sf.Contact.get(ids[0])["Title"] is None


def test_row_lock_fault_honours_path_prefix_and_is_salesforce_only(
    sf: Salesforce, served: Any
) -> None:
    upsert = "/services/data/v59.0/composite/sobjects/Lead/Baton_Id__c"
    served.admin("PUT", "/faults", json={"row_lock_rate": 1.0, "path_prefix": upsert})
    lead = {"attributes": {"type": "Lead"}, "LastName": "Prefixed", "Company": "P"}
    try:
        created = sf.restful("composite/sobjects", method="POST", json={"records": [lead]})
        upserted = sf.restful(
            "composite/sobjects/Lead/Baton_Id__c",
            method="PATCH",
            json={"records": [{**lead, "Baton_Id__c": "prefixed-1"}]},
        )
    finally:
        served.admin("DELETE", "/faults")
    assert created[0]["success"] is True
    assert upserted[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"

    refused = served.admin("PUT", "/faults", json={"next_locked": 1})
    assert refused.status_code == 400
    assert "locked" in refused.json()["detail"]
    assert "row_lock" in refused.json()["detail"]
