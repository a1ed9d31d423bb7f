"""Collections and Bulk 2.0 writes, per-record outcomes, describe, through simple-salesforce."""

from __future__ import annotations

import itertools
import re
import uuid
from typing import Any

import pytest

from connectors.errors import PermanentError
from connectors.records import RecordKey, RecordPatch, System
from connectors.salesforce.connector import SalesforceConnector
from sandbox.salesforce.bulk2 import IngestResult
from sandbox.salesforce.bulk2.ingest import IngestJobs
from sandbox.salesforce.bulk2.jobs import IngestJob
from sandbox.salesforce.bulkbackend import BulkBackend
from sandbox.salesforce.errors import SalesforceError
from tests.contract.salesforce.conftest import Served


def _new(obj: str, **fields: object) -> RecordPatch:
    return RecordPatch(RecordKey(System.SALESFORCE, obj, ""), fields)  # type: ignore[arg-type]


def _upsert(obj: str, baton_id: str, **fields: object) -> RecordPatch:
    values = {"Baton_Id__c": baton_id, **fields}
    return RecordPatch(RecordKey(System.SALESFORCE, obj, ""), values, match_on="Baton_Id__c")  # type: ignore[arg-type]


def test_given_mixed_good_and_bad_records_when_creating_then_outcomes_in_order(
    served: Served, salesforce: SalesforceConnector
) -> None:
    patches = [
        _new("Lead", LastName="Good1", Company="Acme", Phone="+1 555 010 0001"),
        _new("Lead", LastName="Junk", Company="Acme", Phone="n/a"),
        _new("Lead", LastName="NoCompany"),
        _new("Lead", LastName="Good2", Company="Acme"),
    ]
    served.reset_stats()

    outcomes = salesforce.write("Lead", patches)

    assert [o.patch for o in outcomes] == patches
    assert [o.ok for o in outcomes] == [True, False, False, True]
    assert outcomes[1].error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert outcomes[1].error_message == "Phone must be a valid phone number"
    assert outcomes[1].error_fields == ("Phone",)
    assert outcomes[2].error_code == "REQUIRED_FIELD_MISSING"
    assert outcomes[2].error_fields == ("Company",)
    assert not outcomes[1].retryable
    assert not outcomes[2].retryable
    assert all(o.id and o.id.startswith("00Q") for o in (outcomes[0], outcomes[3]))
    assert served.api_calls() == 1
    found = {r.key.id: r for r in salesforce.read_by_ids("Lead", [outcomes[0].id or ""])}
    assert found[outcomes[0].id or ""].get("LastName") == "Good1"


def test_given_upserts_by_baton_id_when_sent_twice_then_created_once_updated_once(
    served: Served, salesforce: SalesforceConnector
) -> None:
    keys = [f"bt-{uuid.uuid4()}" for _ in range(3)]
    first = salesforce.write("Contact", [_upsert("Contact", k, LastName="Up") for k in keys])
    again = salesforce.write(
        "Contact", [_upsert("Contact", k, LastName="Up", Title="Again") for k in keys]
    )

    assert all(o.ok and o.created for o in first)
    assert all(o.ok and not o.created for o in again)
    assert [o.id for o in first] == [o.id for o in again]
    titles = {
        r.get("Title") for r in salesforce.read_by_ids("Contact", [o.id or "" for o in again])
    }
    assert titles == {"Again"}


def test_given_updates_when_written_then_changed_and_unknown_fields_refused_locally(
    served: Served, salesforce: SalesforceConnector
) -> None:
    lead_id = served.box.create("Lead", {"LastName": "Upd", "Company": "Acme"})
    patch = RecordPatch(
        RecordKey(System.SALESFORCE, "Lead", lead_id), {"Status": "Working - Contacted"}
    )
    bad = RecordPatch(RecordKey(System.SALESFORCE, "Lead", lead_id), {"IsConverted": True})

    outcomes = salesforce.write("Lead", [patch, bad])

    assert outcomes[0].ok
    assert outcomes[0].id == lead_id
    assert outcomes[1].error_code == "BATON_FIELD_NOT_WRITABLE"
    assert salesforce.read_by_ids("Lead", [lead_id])[0].get("Status") == "Working - Contacted"


def test_given_more_than_200_records_when_writing_then_one_call_per_200(
    served: Served, salesforce: SalesforceConnector
) -> None:
    patches = [
        _upsert("Lead", f"bt-{uuid.uuid4()}", LastName=f"N{i}", Company="C") for i in range(450)
    ]
    served.reset_stats()

    outcomes = salesforce.write("Lead", patches)

    assert all(o.ok for o in outcomes)
    assert len(outcomes) == 450
    assert served.api_calls() == 3


def test_given_one_value_the_org_cannot_parse_when_creating_then_only_its_record_is_refused(
    served: Served, salesforce: SalesforceConnector
) -> None:
    # Salesforce reads a collections body whole before writing: a string for a number refuses
    # the call (400 JSON_PARSER_ERROR), so the writer halves it down to the record it is about.
    company = f"Parse-{uuid.uuid4()}"
    patches = [_new("Lead", LastName=f"Fine{i}", Company=company) for i in range(4)]
    patches.append(_new("Lead", LastName="Bad", Company=company, Marketing_Score__c="abc"))
    served.reset_stats()

    outcomes = salesforce.write("Lead", patches)

    assert [o.patch for o in outcomes] == patches
    assert [o.ok for o in outcomes] == [True, True, True, True, False]
    bad = outcomes[4]
    assert (bad.error_code, bad.retryable) == ("JSON_PARSER_ERROR", False)
    assert (bad.error_message or "").startswith(
        "Cannot deserialize instance of double from VALUE_STRING value abc"
    )
    made = served.box.find("Lead", equals={"Company": company})
    assert sorted(r["LastName"] for r in made) == ["Fine0", "Fine1", "Fine2", "Fine3"]
    assert sorted(r["Id"] for r in made) == sorted(o.id or "" for o in outcomes[:4])
    # 5 refused; 2 written and 3 refused; 1 written and 2 refused; 1 written and 1 refused
    assert served.api_calls() == 7


def test_given_a_small_bulk_threshold_when_upserting_then_bulk_job_outcomes_match_inputs(
    served: Served,
) -> None:
    connector = served.connector(bulk_threshold=5)
    keys = [f"bt-{uuid.uuid4()}" for _ in range(8)]
    patches = [_upsert("Lead", k, LastName=f"B{i}", Company="Bulk") for i, k in enumerate(keys)]
    patches[3] = _upsert("Lead", keys[3], LastName="B3", Company="Bulk", Phone="n/a")
    try:
        served.reset_stats()
        outcomes = connector.write("Lead", patches)
        routes = served.stats()["by_route"]
        again = connector.write("Lead", patches)
    finally:
        connector.close()

    assert any("jobs/ingest" in route for route in routes)
    assert [o.patch for o in outcomes] == patches
    assert [o.ok for o in outcomes] == [True, True, True, False, True, True, True, True]
    assert outcomes[3].error_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert "Phone" in (outcomes[3].error_message or "") or outcomes[3].error_fields == ("Phone",)
    assert all(o.created for i, o in enumerate(outcomes) if i != 3)
    assert [o.id for i, o in enumerate(again) if i != 3] == [
        o.id for i, o in enumerate(outcomes) if i != 3
    ]
    assert not any(o.created for o in again)


def test_given_bulk_values_with_line_breaks_quotes_and_commas_then_the_org_stores_them_as_sent(
    served: Served,
) -> None:
    """The org's CSV parser ends a row at a bare CR as at a LF: a value holding one must be
    quoted, or its row splits (refused, or written cut short)."""
    connector = served.connector(bulk_threshold=5)
    titles = ["VP\rSales", "Head\nof Ops", "CR LF\r\nhere", 'The "Boss"', "CEO, CTO", "ends\r"]
    keys = [f"bt-{uuid.uuid4()}" for _ in titles]
    patches = [
        _upsert("Lead", k, LastName=f"Q{i}", Company="Quote", Title=t)
        for i, (k, t) in enumerate(zip(keys, titles, strict=True))
    ]
    try:
        served.reset_stats()
        outcomes = connector.write("Lead", patches)
        routes = served.stats()["by_route"]
        written = connector.read_by_ids("Lead", [o.id or "" for o in outcomes])
    finally:
        connector.close()

    assert any("jobs/ingest" in route for route in routes)
    assert [(o.ok, o.error_code) for o in outcomes] == [(True, None)] * len(titles)
    by_key = {r.get("Baton_Id__c"): r for r in written}
    assert [by_key[k].get("Title") for k in keys] == titles
    assert [by_key[k].get("LastName") for k in keys] == [f"Q{i}" for i in range(len(titles))]


def test_given_a_literal_bulk_null_marker_in_a_bulk_sized_batch_then_the_text_is_kept(
    served: Served,
) -> None:
    # "#N/A" (a spreadsheet's failed lookup, imported into HubSpot) is Bulk API 2.0's null
    # marker: in a Bulk job's CSV it clears the field. Its record goes by sObject Collections.
    connector = served.connector(bulk_threshold=2)
    keys = [f"na-{uuid.uuid4()}" for _ in range(4)]
    patches = [_upsert("Lead", k, LastName=f"N{i}", Company="Bulk") for i, k in enumerate(keys)]
    patches[1] = _upsert("Lead", keys[1], LastName="N1", Company="Bulk", Title="#N/A")
    patches[2] = _upsert("Lead", keys[2], LastName="N2", Company="Bulk", Title=None)
    try:
        served.reset_stats()
        outcomes = connector.write("Lead", patches)
        routes = served.stats()["by_route"]
    finally:
        connector.close()

    assert [o.patch for o in outcomes] == patches
    assert all(o.ok and o.created for o in outcomes)
    assert any("jobs/ingest" in route for route in routes)  # the others still went by Bulk
    titles = {
        r["Baton_Id__c"]: r["Title"]
        for k in keys
        for r in served.box.find("Lead", equals={"Baton_Id__c": k})
    }
    assert titles == {keys[0]: None, keys[1]: "#N/A", keys[2]: None, keys[3]: None}


@pytest.mark.parametrize("ended", ["Failed", "Aborted"])
def test_given_a_bulk_job_that_stops_part_way_then_its_results_still_decide_each_row(
    served: Served, monkeypatch: pytest.MonkeyPatch, ended: str
) -> None:
    # The org applies the job in batches of 3 and its second batch never runs: the job ends
    # Failed ("remaining job data isn't processed"), or an admin aborts it right then.
    monkeypatch.setattr("sandbox.salesforce.bulk2.ingest.INGEST_CHUNK", 3)
    batches = itertools.count()
    applied = BulkBackend.ingest

    def second_batch_stops(self: BulkBackend, *args: Any) -> list[IngestResult]:
        if next(batches) == 1:
            raise SalesforceError(500, "UNKNOWN_EXCEPTION", "batch timed out after 20 retries")
        return applied(self, *args)

    monkeypatch.setattr(BulkBackend, "ingest", second_batch_stops)
    if ended == "Aborted":
        close = IngestJobs.close

        def then_abort(self: IngestJobs, job: IngestJob, state: str) -> None:
            close(self, job, state)
            if state == "UploadComplete":
                close(self, job, "Aborted")

        monkeypatch.setattr(IngestJobs, "close", then_abort)
    connector = served.connector(bulk_threshold=5)
    keys = [f"bt-{uuid.uuid4()}" for _ in range(8)]
    patches = [_upsert("Lead", k, LastName=f"P{i}", Company="Part") for i, k in enumerate(keys)]
    patches[1] = _upsert("Lead", keys[1], LastName="P1", Company="Part", Phone="n/a")
    try:
        outcomes = connector.write("Lead", patches)
        written = connector.read_by_ids("Lead", [o.id or "" for o in outcomes if o.ok])
    finally:
        connector.close()

    assert [o.patch for o in outcomes] == patches
    assert [o.ok for o in outcomes] == [True, False, True, False, False, False, False, False]
    assert sorted(r.get("Baton_Id__c") for r in written) == sorted([keys[0], keys[2]])
    assert all(o.created and o.id for o in (outcomes[0], outcomes[2]))
    refused = outcomes[1]
    assert (refused.error_code, refused.retryable) == ("FIELD_CUSTOM_VALIDATION_EXCEPTION", False)
    left = outcomes[3:]
    assert all(o.retryable and not o.id for o in left)
    if ended == "Failed":
        assert {(o.error_code, o.error_message) for o in left} == {
            ("BULK_JOB_FAILED", "InvalidBatch : batch timed out after 20 retries")
        }
    else:
        (message,) = {o.error_message or "" for o in left}
        assert {o.error_code for o in left} == {"BULK_JOB_ABORTED"}
        assert re.fullmatch(r"Bulk API 2\.0 job 750\w+ was aborted", message)


def test_given_a_bulk_upload_whose_answer_is_lost_then_the_retry_finds_it_landed(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The org kept the CSV but the answer never came back (a 503 from the path in between):
    # sending it again is refused, since a job takes one upload, yet the job has its data.
    uploads = itertools.count()
    upload = IngestJobs.upload

    async def kept_then_lost(self: IngestJobs, job: IngestJob, chunks: Any) -> None:
        first = next(uploads) == 0
        await upload(self, job, chunks)
        if first:
            raise SalesforceError(503, "SERVER_UNAVAILABLE", "Service Unavailable")

    monkeypatch.setattr(IngestJobs, "upload", kept_then_lost)
    connector = served.connector(bulk_threshold=2)
    keys = [f"lost-{uuid.uuid4()}" for _ in range(3)]
    patches = [_upsert("Lead", k, LastName=f"L{i}", Company="Lost") for i, k in enumerate(keys)]
    try:
        served.reset_stats()
        outcomes = connector.write("Lead", patches)
        uploaded = served.stats()["by_route"]
    finally:
        connector.close()

    assert next(uploads) == 2  # sent, then sent again after the 503
    assert sum(n for route, n in uploaded.items() if route.endswith("/batches")) == 2
    assert [(o.ok, o.created) for o in outcomes] == [(True, True)] * 3
    stored = served.box.find("Lead", equals={"Company": "Lost"})
    assert sorted(r["Baton_Id__c"] for r in stored) == sorted(keys)


def test_given_lead_when_describing_then_picklists_and_lengths_come_back(
    salesforce: SalesforceConnector,
) -> None:
    fields = {f.name: f for f in salesforce.describe("Lead")}
    picklists = salesforce.picklists("Lead", ["Status", "LeadSource", "LastName", "Nope"])

    assert fields["LastName"].length == 80
    assert not fields["LastName"].nillable
    assert fields["IsConverted"].updateable is False
    assert set(picklists) == {"Status", "LeadSource"}
    status = {o.value: o for o in picklists["Status"]}
    assert "Closed - Converted" in status
    assert status["Open - Not Contacted"].default


def test_given_a_refused_and_a_malformed_id_when_deleting_then_outcomes_say_why_in_order(
    served: Served, salesforce: SalesforceConnector
) -> None:
    lead_id = served.box.create("Lead", {"LastName": "Del", "Company": "Acme"})
    status_id = served.box.find("LeadStatus", limit=1)[0]["Id"]  # org metadata: not deletable
    served.reset_stats()

    outcomes = salesforce.delete("Lead", [status_id, "not-an-id", lead_id])

    assert served.api_calls() == 1  # the malformed id never left Baton
    assert [o.patch.key.id for o in outcomes] == [status_id, "not-an-id", lead_id]
    assert [o.ok for o in outcomes] == [False, False, True]
    assert outcomes[0].error_code == "INVALID_TYPE_FOR_OPERATION"
    assert outcomes[0].error_message == "entity type cannot be deleted: Lead Status"
    assert not outcomes[0].retryable
    assert (outcomes[1].error_code, outcomes[1].error_fields) == ("MALFORMED_ID", ("Id",))
    (gone,) = salesforce.read_by_ids("Lead", [lead_id])
    assert gone.deleted
    again = salesforce.delete("Lead", [lead_id])  # ENTITY_IS_DELETED: already done
    assert (again[0].ok, again[0].id) == (True, lead_id)


def test_given_a_bulk_upload_refused_for_good_then_its_job_is_aborted_not_left_open(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An upload refused for good (a 400) leaves the job Open in the org unless Baton aborts
    # it: the write still fails as it did, its job no longer lingers.
    states: dict[str, str] = {}
    close = IngestJobs.close

    async def refused(self: IngestJobs, job: IngestJob, chunks: Any) -> None:
        raise SalesforceError(400, "INVALIDJOB", "the upload was refused")

    def watched(self: IngestJobs, job: IngestJob, state: str) -> None:
        close(self, job, state)
        states[job.id] = job.state

    monkeypatch.setattr(IngestJobs, "upload", refused)
    monkeypatch.setattr(IngestJobs, "close", watched)
    connector = served.connector(bulk_threshold=2)
    patches = [_upsert("Lead", f"open-{uuid.uuid4()}", LastName="O", Company="Open") for _ in "abc"]
    try:
        with pytest.raises(PermanentError, match="INVALIDJOB"):
            connector.write("Lead", patches)
    finally:
        connector.close()

    assert list(states.values()) == ["Aborted"]
