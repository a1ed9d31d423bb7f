"""Bulk API 2.0 routes, served over HTTPS and driven by the real simple-salesforce client."""

# ruff: noqa: S608  -- SOQL text is assembled on purpose: it is the input under test.

from __future__ import annotations

import csv
import io
import itertools
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
from fastapi import FastAPI
from simple_salesforce import Salesforce
from simple_salesforce.bulk2 import ColumnDelimiter, LineEnding
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceOperationError

from sandbox.salesforce.bulk2 import IngestResult, bulk2_router
from sandbox.salesforce.errors import SalesforceError
from sandbox.salesforce.soql import compile_soql
from sandbox.salesforce.soql.values import to_18_char_id
from sandbox.shared.clock import Clock
from sandbox.shared.server import Listener, serve_in_thread
from sandbox.shared.tls import ensure_tls_files

FIELDS = {
    "Id": "id",
    "IsDeleted": "boolean",
    "FirstName": "string",
    "LastName": "string",
    "Company": "string",
    "Email": "email",
    "IsConverted": "boolean",
    "NumberOfEmployees": "int",
    "CreatedDate": "datetime",
    "Baton_Id__c": "string",
}
WRITABLE = ("FirstName", "LastName", "Company", "Email", "NumberOfEmployees", "Baton_Id__c")
CREATED = "2024-01-31T10:00:00.000+0000"


class SqliteBackend:
    """A minimal Lead store: SOQL through compile_soql, rows applied one by one."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        columns = ", ".join(f'"{name}"' for name in FIELDS)
        self.db.execute(f'CREATE TABLE "Lead" ({columns})')
        self.ids = itertools.count(1)

    def field_types(self, name: str) -> Mapping[str, str] | None:
        return FIELDS if name.lower() == "lead" else None

    def new_id(self) -> str:
        value = to_18_char_id(f"00Q{next(self.ids):012d}")
        assert value is not None
        return value

    def seed(self, count: int) -> list[str]:
        ids = []
        for n in range(count):
            lead_id = self.new_id()
            email = None if n % 5 == 0 else f"lead{n:03d}@example.com"
            self.insert(
                {
                    "Id": lead_id,
                    "IsDeleted": 0,
                    "FirstName": f"First, {n}",
                    "LastName": f"Last{n:03d}",
                    "Company": 'Quote "Co"\nLine 2',
                    "Email": email,
                    "IsConverted": int(n % 2 == 0),
                    "NumberOfEmployees": n,
                    "CreatedDate": CREATED,
                    "Baton_Id__c": f"seed-{n}",
                }
            )
            ids.append(lead_id)
        return ids

    def insert(self, row: dict[str, object]) -> None:
        names = ", ".join(f'"{k}"' for k in row)
        marks = ", ".join("?" for _ in row)
        with self.lock:
            self.db.execute(f'INSERT INTO "Lead" ({names}) VALUES ({marks})', list(row.values()))

    def query_pages(
        self, soql: str, *, include_deleted: bool
    ) -> tuple[list[str], Iterator[dict[str, Any]]]:
        query = compile_soql(
            soql,
            field_types=self.field_types,
            include_deleted=include_deleted,
            now=self.clock.now_dt(),
        )
        sql, params = query.sql, list(query.params)
        if query.limit is not None:
            sql += " LIMIT ?"
            params.append(query.limit)

        def rows() -> Iterator[dict[str, Any]]:
            with self.lock:
                fetched = self.db.execute(sql, params).fetchall()
            for values in fetched:
                row = dict(zip(query.fields, values, strict=True))
                yield {
                    k: bool(v) if FIELDS[k] == "boolean" and v is not None else v
                    for k, v in row.items()
                }

        return query.fields, rows()

    def identifies(self, sobject: str, field: str) -> bool:
        return field in ("Id", "Email", "Baton_Id__c")

    def ingest(
        self,
        sobject: str,
        operation: str,
        external_id_field: str | None,
        rows: list[dict[str, str]],
    ) -> list[IngestResult]:
        assert sobject == "Lead"
        return [self.apply(operation, external_id_field, row) for row in rows]

    def apply(self, operation: str, external_id: str | None, row: dict[str, str]) -> IngestResult:
        values = {k: (v or None) for k, v in row.items() if k in WRITABLE}
        existing = None
        if operation == "upsert" and external_id:
            with self.lock:
                found = self.db.execute(
                    f'SELECT "Id" FROM "Lead" WHERE "{external_id}" = ?', [row[external_id]]
                ).fetchone()
            existing = found[0] if found else None
        if operation in ("insert", "upsert") and existing is None:
            missing = [f for f in ("LastName", "Company") if not values.get(f)]
            if missing:
                joined = ",".join(missing)
                return IngestResult(
                    None,
                    False,
                    f"REQUIRED_FIELD_MISSING:Required fields are missing: [{joined}]:{joined} --",
                )
            lead_id = self.new_id()
            self.insert({"Id": lead_id, "IsDeleted": 0, "IsConverted": 0, **values})
            return IngestResult(lead_id, True, None)
        target = existing or row.get("Id")
        sets = ", ".join(f'"{k}" = ?' for k in values)
        with self.lock:
            self.db.execute(f'UPDATE "Lead" SET {sets} WHERE "Id" = ?', [*values.values(), target])
        return IngestResult(target, False, None)


@pytest.fixture(scope="module")
def backend() -> SqliteBackend:
    return SqliteBackend(Clock())


@pytest.fixture(scope="module")
def server(
    backend: SqliteBackend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    backend.seed(23)
    app = FastAPI()
    app.include_router(bulk2_router(backend, backend.clock), prefix="/services/data/v59.0")
    tls = ensure_tls_files(tmp_path_factory.mktemp("tls"))
    listener = Listener(app, tls=tls)
    with serve_in_thread([listener]):
        yield listener.url, tls.ca_cert


@pytest.fixture
def session(server: tuple[str, Path]) -> Iterator[requests.Session]:
    s = requests.Session()
    s.verify = str(server[1])
    s.trust_env = False
    # A kept-alive connection (seen after POSTs) holds uvicorn's shutdown for its 30 s
    # keep-alive timeout, so every request here uses its own connection.
    s.headers["Connection"] = "close"
    yield s
    s.close()


@pytest.fixture
def sf(server: tuple[str, Path], session: requests.Session) -> Salesforce:
    return Salesforce(instance_url=server[0], session_id="x", session=session, version="59.0")


def jobs_url(server: tuple[str, Path]) -> str:
    return f"{server[0]}/services/data/v59.0/jobs"


def parse_csv(text: str, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def test_query_pages_through_every_row(sf: Salesforce) -> None:
    soql = "SELECT Id, LastName, Email, IsConverted, Company FROM Lead ORDER BY LastName"
    pages = list(sf.bulk2.Lead.query(soql, max_records=10, wait=0.01))
    assert len(pages) == 3
    rows: list[list[str]] = []
    for page in pages:
        header, *body = parse_csv(page)
        assert header == ["Id", "LastName", "Email", "IsConverted", "Company"]
        rows.extend(body)
    assert [len(parse_csv(p)) - 1 for p in pages] == [10, 10, 3]
    assert [r[1] for r in rows] == [f"Last{n:03d}" for n in range(23)]
    assert rows[0][2] == ""  # null renders as an empty value
    assert rows[1][2] == "lead001@example.com"
    assert [r[3] for r in rows[:2]] == ["true", "false"]
    assert rows[0][4] == 'Quote "Co"\nLine 2'
    assert pages[0].startswith('"Id","LastName","Email","IsConverted","Company"\n')


def test_locators_chain_and_end_with_null(
    server: tuple[str, Path], session: requests.Session
) -> None:
    url = jobs_url(server)
    created = session.post(
        f"{url}/query", json={"operation": "query", "query": "SELECT LastName FROM Lead"}
    )
    assert created.status_code == 200
    job = created.json()
    assert job["state"] == "UploadComplete"
    assert job["id"].startswith("750")
    assert len(job["id"]) == 18
    assert job["object"] == "Lead"
    assert (job["operation"], job["contentType"], job["columnDelimiter"]) == (
        "query",
        "CSV",
        "COMMA",
    )
    early = session.get(f"{url}/query/{job['id']}/results")
    assert early.status_code == 412
    assert early.json()[0]["errorCode"] == "JOB_NOT_COMPLETE"
    states = [session.get(f"{url}/query/{job['id']}").json()["state"] for _ in range(3)]
    assert states == ["InProgress", "JobComplete", "JobComplete"]
    info = session.get(f"{url}/query/{job['id']}").json()
    assert info["numberRecordsProcessed"] == 23
    assert info["jobType"] == "V2Query"

    seen: list[str] = []
    locators: list[str] = []
    params: dict[str, str] = {"maxRecords": "7"}
    while True:
        page = session.get(f"{url}/query/{job['id']}/results", params=params)
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/csv")
        body = parse_csv(page.text)
        assert body[0] == ["LastName"]
        assert int(page.headers["Sforce-NumberOfRecords"]) == len(body) - 1
        seen.extend(row[0] for row in body[1:])
        locator = page.headers["Sforce-Locator"]
        locators.append(locator)
        if locator == "null":
            break
        params["locator"] = locator
    assert len(locators) == 4
    assert len(set(locators)) == 4
    assert seen == [f"Last{n:03d}" for n in range(23)]
    # A locator is stable: asking again gives the same page.
    again = session.get(
        f"{url}/query/{job['id']}/results", params={"maxRecords": "7", "locator": locators[0]}
    )
    assert parse_csv(again.text)[1][0] == "Last007"
    bad = session.get(f"{url}/query/{job['id']}/results", params={"locator": "%%%"})
    assert bad.status_code == 400

    listed = session.get(f"{url}/query").json()
    assert job["id"] in [j["id"] for j in listed["records"]]
    assert listed["done"] is True
    assert session.delete(f"{url}/query/{job['id']}").status_code == 204
    gone = session.get(f"{url}/query/{job['id']}")
    assert gone.status_code == 404
    assert gone.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]


def test_query_respects_delimiter_and_line_ending(sf: Salesforce) -> None:
    pages = list(
        sf.bulk2.Lead.query(
            "SELECT LastName, FirstName FROM Lead WHERE NumberOfEmployees < 2",
            column_delimiter=ColumnDelimiter.PIPE,
            line_ending=LineEnding.CRLF,
            wait=0.01,
        )
    )
    assert pages == ['"LastName"|"FirstName"\r\n"Last000"|"First, 0"\r\n"Last001"|"First, 1"\r\n']


def test_query_all_sees_deleted_rows(sf: Salesforce, backend: SqliteBackend) -> None:
    backend.insert({"Id": backend.new_id(), "IsDeleted": 1, "LastName": "Binned"})
    soql = "SELECT LastName FROM Lead WHERE LastName = 'Binned'"
    assert parse_csv("".join(sf.bulk2.Lead.query(soql, wait=0.01))) == [["LastName"]]
    assert parse_csv("".join(sf.bulk2.Lead.query_all(soql, wait=0.01))) == [
        ["LastName"],
        ["Binned"],
    ]


def test_malformed_soql_is_refused_at_creation(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        list(sf.bulk2.Lead.query("SELECT Id FROM Lead WHERE", wait=0.01))
    assert caught.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    assert "unexpected token: <EOF>" in caught.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        list(sf.bulk2.Lead.query("SELECT Nope FROM Lead", wait=0.01))
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as caught:
        list(sf.bulk2.Lead.query("SELECT Id FROM Lead OFFSET 5", wait=0.01))
    assert "OFFSET" in caught.value.content[0]["message"]
    for aggregate in ("SELECT COUNT() FROM Lead", "SELECT COUNT(Id) FROM Lead"):
        with pytest.raises(SalesforceMalformedRequest) as caught:
            list(sf.bulk2.Lead.query(aggregate, wait=0.01))
        assert caught.value.content[0]["errorCode"] == "INVALIDJOB", aggregate


def test_upsert_creates_and_updates(sf: Salesforce, backend: SqliteBackend) -> None:
    records = [
        {"Baton_Id__c": "seed-3", "LastName": "Renamed", "Company": "Acme"},
        {"Baton_Id__c": "new-1", "LastName": "Newcomer", "Company": "Acme"},
    ]
    [result] = sf.bulk2.Lead.upsert(records=records, external_id_field="Baton_Id__c", wait=0.01)
    assert result["numberRecordsProcessed"] == 2
    assert result["numberRecordsFailed"] == 0
    assert result["numberRecordsTotal"] == 2
    successes = parse_csv(sf.bulk2.Lead.get_successful_records(result["job_id"]))
    header, *rows = successes
    assert header[:2] == ["sf__Id", "sf__Created"]
    by_key = {row[header.index("Baton_Id__c")]: row for row in rows}
    assert by_key["seed-3"][1] == "false"
    assert by_key["new-1"][1] == "true"
    assert by_key["new-1"][0].startswith("00Q")
    with backend.lock:
        names = backend.db.execute(
            'SELECT "LastName" FROM "Lead" WHERE "Baton_Id__c" IN (?, ?) ORDER BY 1',
            ["seed-3", "new-1"],
        ).fetchall()
    assert names == [("Newcomer",), ("Renamed",)]
    failed = sf.bulk2.Lead.get_failed_records(result["job_id"])
    assert parse_csv(failed) == [["sf__Id", "sf__Error", *header[2:]]]


def test_insert_reports_failed_rows(sf: Salesforce) -> None:
    records = [
        {"LastName": "Good", "Company": "Acme"},
        {"LastName": "NoCompany", "Company": ""},
    ]
    [result] = sf.bulk2.Lead.insert(records=records, wait=0.01)
    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (2, 1)
    failed = parse_csv(sf.bulk2.Lead.get_failed_records(result["job_id"]))
    header = failed[0]
    assert header[:2] == ["sf__Id", "sf__Error"]
    assert len(failed) == 2
    row = dict(zip(header, failed[1], strict=True))
    assert row["sf__Error"] == (
        "REQUIRED_FIELD_MISSING:Required fields are missing: [Company]:Company --"
    )
    assert row["LastName"] == "NoCompany"
    assert row["sf__Id"] == ""
    ok = parse_csv(sf.bulk2.Lead.get_successful_records(result["job_id"]))
    assert [dict(zip(ok[0], r, strict=True))["LastName"] for r in ok[1:]] == ["Good"]
    unprocessed = parse_csv(sf.bulk2.Lead.get_unprocessed_records(result["job_id"]))
    assert unprocessed == [ok[0][2:]]


def test_unknown_column_fails_the_job(sf: Salesforce) -> None:
    with pytest.raises(SalesforceOperationError) as caught:
        sf.bulk2.Lead.insert(records=[{"LastName": "X", "Foo": "1"}], wait=0.01)
    assert "InvalidBatch : Field name not found : Foo" in str(caught.value)


def test_ingest_protocol_by_hand(server: tuple[str, Path], session: requests.Session) -> None:
    url = jobs_url(server)
    unknown = session.post(
        f"{url}/ingest", json={"object": "Nope", "operation": "insert", "contentType": "CSV"}
    )
    assert unknown.status_code == 400
    assert unknown.json()[0]["errorCode"] == "INVALID_TYPE"
    bad_op = session.post(f"{url}/ingest", json={"object": "Lead", "operation": "merge"})
    assert bad_op.status_code == 400
    assert session.get(f"{url}/ingest/750000000000000AAA").status_code == 404

    job = session.post(
        f"{url}/ingest", json={"object": "lead", "operation": "insert", "lineEnding": "LF"}
    ).json()
    assert (job["state"], job["object"], job["operation"]) == ("Open", "Lead", "insert")
    assert job["contentUrl"] == f"services/data/v59.0/jobs/ingest/{job['id']}/batches"
    data = "LastName,Company\nAborted,Acme\n"
    put = session.put(
        f"{url}/ingest/{job['id']}/batches",
        data=data.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert put.status_code == 201
    aborted = session.patch(f"{url}/ingest/{job['id']}", json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    assert session.get(f"{url}/ingest/{job['id']}").json()["state"] == "Aborted"
    assert session.get(f"{url}/ingest/{job['id']}/unprocessedrecords").text == data
    late = session.put(f"{url}/ingest/{job['id']}/batches", data=data.encode())
    assert late.status_code == 409
    listed = session.get(f"{url}/ingest").json()["records"]
    assert job["id"] in [j["id"] for j in listed]
    assert session.delete(f"{url}/ingest/{job['id']}").status_code == 204
    assert session.get(f"{url}/ingest/{job['id']}").status_code == 404


def test_a_job_takes_its_data_in_one_upload(
    server: tuple[str, Path], session: requests.Session, backend: SqliteBackend
) -> None:
    # Salesforce keeps one upload per job: a second PUT is refused, not appended (appending
    # would read the second file's header row as a record).
    url = jobs_url(server)
    job = session.post(
        f"{url}/ingest",
        json={"object": "Lead", "operation": "upsert", "externalIdFieldName": "Baton_Id__c"},
    ).json()
    data = "Baton_Id__c,LastName,Company\nonce-1,Once,Acme\n"
    first = session.put(f"{url}/ingest/{job['id']}/batches", data=data.encode())
    assert first.status_code == 201
    again = session.put(f"{url}/ingest/{job['id']}/batches", data=data.encode())
    assert again.status_code == 400
    assert again.json()[0]["errorCode"] == "BULK_API_ERROR"
    assert "Found multipe contents for job" in again.json()[0]["message"]
    assert f"<{job['id'][:15]}>" in again.json()[0]["message"]

    session.patch(f"{url}/ingest/{job['id']}", json={"state": "UploadComplete"})
    info = [session.get(f"{url}/ingest/{job['id']}").json() for _ in range(2)][1]
    assert (info["state"], info["numberRecordsProcessed"]) == ("JobComplete", 1)
    with backend.lock:
        stored = backend.db.execute(
            'SELECT "Baton_Id__c" FROM "Lead" WHERE "Baton_Id__c" IN (?, ?)',
            ["once-1", "Baton_Id__c"],
        ).fetchall()
    assert stored == [("once-1",)]


def test_line_ending_mismatch_fails_like_salesforce(
    server: tuple[str, Path], session: requests.Session
) -> None:
    url = jobs_url(server)
    job = session.post(f"{url}/ingest", json={"object": "Lead", "operation": "insert"}).json()
    session.put(f"{url}/ingest/{job['id']}/batches", data=b"LastName,Company\r\nX,Y\r\n")
    closed = session.patch(f"{url}/ingest/{job['id']}", json={"state": "UploadComplete"})
    assert closed.json()["state"] == "UploadComplete"
    states = [session.get(f"{url}/ingest/{job['id']}").json() for _ in range(2)]
    assert [s["state"] for s in states] == ["InProgress", "Failed"]
    assert states[1]["errorMessage"] == (
        "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is LF"
    )


def create_query_job(session: requests.Session, url: str, soql: str) -> str:
    reply = session.post(f"{url}/query", json={"operation": "query", "query": soql})
    assert reply.status_code == 200, reply.text
    job_id = str(reply.json()["id"])
    states = [session.get(f"{url}/query/{job_id}").json()["state"] for _ in range(2)]
    assert states == ["InProgress", "JobComplete"]
    return job_id


def test_locators_are_bound_to_their_job(
    server: tuple[str, Path], session: requests.Session
) -> None:
    url = jobs_url(server)
    first = create_query_job(session, url, "SELECT Id FROM Lead")
    second = create_query_job(session, url, "SELECT Id FROM Lead")
    page = session.get(f"{url}/query/{first}/results", params={"maxRecords": "5"})
    locator = page.headers["Sforce-Locator"]
    assert locator != "null"
    foreign = session.get(f"{url}/query/{second}/results", params={"locator": locator})
    assert foreign.status_code == 400
    assert foreign.json()[0]["errorCode"] == "INVALIDLOCATOR"
    bad_size = session.get(f"{url}/query/{first}/results", params={"maxRecords": "0"})
    assert bad_size.status_code == 400
    assert session.get(f"{url}/query/{first}/results", params={"locator": locator}).ok
    missing = session.get(f"{url}/query/750000000000099AAA/results")
    assert missing.status_code == 404


def test_abort_query_job(server: tuple[str, Path], session: requests.Session) -> None:
    url = jobs_url(server)
    done = create_query_job(session, url, "SELECT Id FROM Lead")
    refused = session.patch(f"{url}/query/{done}", json={"state": "Aborted"})
    assert refused.status_code == 400
    fresh = session.post(f"{url}/query", json={"query": "SELECT Id FROM Lead"}).json()["id"]
    aborted = session.patch(f"{url}/query/{fresh}", json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    assert session.get(f"{url}/query/{fresh}").json()["state"] == "Aborted"
    assert session.get(f"{url}/query/{fresh}/results").status_code == 412


def test_update_and_delete_through_the_client(sf: Salesforce, backend: SqliteBackend) -> None:
    with backend.lock:
        (target,) = backend.db.execute(
            'SELECT "Id" FROM "Lead" WHERE "Baton_Id__c" = ?', ["seed-9"]
        ).fetchone()
    [result] = sf.bulk2.Lead.update(
        records=[{"Id": target, "FirstName": "Updated"}],
        column_delimiter=ColumnDelimiter.SEMICOLON,
        wait=0.01,
    )
    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (1, 0)
    ok = sf.bulk2.Lead.get_successful_records(result["job_id"])
    header, row = parse_csv(ok, delimiter=";")  # column order is the client's set order
    assert header[:2] == ["sf__Id", "sf__Created"]
    assert dict(zip(header, row, strict=True)) == {
        "sf__Id": target,
        "sf__Created": "false",
        "Id": target,
        "FirstName": "Updated",
    }
    with backend.lock:
        (first_name,) = backend.db.execute(
            'SELECT "FirstName" FROM "Lead" WHERE "Id" = ?', [target]
        ).fetchone()
    assert first_name == "Updated"


def test_delete_jobs_take_only_ids(server: tuple[str, Path], session: requests.Session) -> None:
    url = jobs_url(server)
    job = session.post(f"{url}/ingest", json={"object": "Lead", "operation": "delete"}).json()
    session.put(f"{url}/ingest/{job['id']}/batches", data=b"Id,LastName\n00Q000000000001AAA,X\n")
    session.patch(f"{url}/ingest/{job['id']}", json={"state": "UploadComplete"})
    states = [session.get(f"{url}/ingest/{job['id']}").json() for _ in range(2)]
    assert states[1]["state"] == "Failed"
    assert states[1]["errorMessage"] == (
        "InvalidBatch : The 'delete' batch must contain only the 'Id' field"
    )
    unprocessed = session.get(f"{url}/ingest/{job['id']}/unprocessedRecords")
    assert unprocessed.text == "Id,LastName\n00Q000000000001AAA,X\n"


def test_a_job_failing_part_way_keeps_what_it_processed(
    server: tuple[str, Path],
    session: requests.Session,
    backend: SqliteBackend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Salesforce: "If the batch still can't be processed after 20 retries, the entire ingest
    # job is moved to the Failed state and remaining job data isn't processed" -- the rows of
    # earlier batches stay written and the rest are its unprocessedrecords.
    monkeypatch.setattr("sandbox.salesforce.bulk2.ingest.INGEST_CHUNK", 2)
    batches = itertools.count()
    applied = backend.ingest

    def second_batch_fails(*args: Any) -> list[IngestResult]:
        if next(batches) == 1:
            raise SalesforceError(500, "UNKNOWN_EXCEPTION", "batch timed out")
        return applied(*args)

    monkeypatch.setattr(backend, "ingest", second_batch_fails)
    url = jobs_url(server)
    job = session.post(f"{url}/ingest", json={"object": "Lead", "operation": "insert"}).json()
    data = 'LastName,Company\nPart1,Acme\nPart2,\n"Part\n3",Acme\nPart4,Acme\nPart5,Acme\n'
    session.put(f"{url}/ingest/{job['id']}/batches", data=data.encode())
    session.patch(f"{url}/ingest/{job['id']}", json={"state": "UploadComplete"})
    states = [session.get(f"{url}/ingest/{job['id']}").json() for _ in range(2)]

    assert states[1]["state"] == "Failed"
    assert states[1]["errorMessage"] == "InvalidBatch : batch timed out"
    assert (states[1]["numberRecordsProcessed"], states[1]["numberRecordsFailed"]) == (2, 1)
    ok = parse_csv(session.get(f"{url}/ingest/{job['id']}/successfulResults").text)
    assert [row[2] for row in ok[1:]] == ["Part1"]
    failed = parse_csv(session.get(f"{url}/ingest/{job['id']}/failedResults").text)
    assert [row[2] for row in failed[1:]] == ["Part2"]
    unprocessed = session.get(f"{url}/ingest/{job['id']}/unprocessedrecords").text
    assert unprocessed == 'LastName,Company\n"Part\n3",Acme\nPart4,Acme\nPart5,Acme\n'


def test_job_requests_are_validated(
    server: tuple[str, Path], session: requests.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = jobs_url(server)
    garbled = session.post(
        f"{url}/query", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbled.status_code == 400
    assert garbled.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    bad_delimiter = session.post(
        f"{url}/query", json={"query": "SELECT Id FROM Lead", "columnDelimiter": "COLON"}
    )
    assert bad_delimiter.status_code == 400
    assert bad_delimiter.json()[0]["errorCode"] == "INVALIDJOB"
    unknown_object = session.post(f"{url}/query", json={"query": "SELECT Id FROM Nope"})
    assert unknown_object.json()[0]["errorCode"] == "INVALID_TYPE"
    no_external_id = session.post(f"{url}/ingest", json={"object": "Lead", "operation": "upsert"})
    assert no_external_id.status_code == 400

    monkeypatch.setattr("sandbox.salesforce.bulk2.ingest.MAX_UPLOAD_BYTES", 64)
    job = session.post(f"{url}/ingest", json={"object": "Lead", "operation": "insert"}).json()
    too_big = session.put(f"{url}/ingest/{job['id']}/batches", data=b"LastName\n" + b"x\n" * 64)
    assert too_big.status_code == 413
    not_done = session.get(f"{url}/ingest/{job['id']}/successfulResults")
    assert not_done.status_code == 400
    assert session.get(f"{url}/ingest/{job['id']}/nonsense").status_code == 404
