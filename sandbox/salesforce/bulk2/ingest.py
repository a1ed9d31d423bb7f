"""Ingest jobs: spool the uploaded CSV, apply it through the backend, keep result CSVs."""

from __future__ import annotations

import csv
import io
import itertools
import re
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from sandbox.salesforce.bulk2.backend import Bulk2Backend, IngestResult
from sandbox.salesforce.bulk2.jobs import IngestJob, JobIds
from sandbox.salesforce.bulk2.wire import (
    DELIMITERS,
    INGEST_CHUNK,
    INGEST_OPERATIONS,
    MAX_UPLOAD_BYTES,
    TERMINAL_STATES,
    csv_writer,
    format_options,
    header_line,
    invalid_job,
    invalid_state,
    second_upload,
    stream,
    timestamp,
)
from sandbox.salesforce.errors import SalesforceError, not_found
from sandbox.salesforce.soql.compile import standard_object_name
from sandbox.shared.clock import Clock

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_NO_SUCH_COLUMN = re.compile(r"No such column '([^']+)'")


class BatchFailure(Exception):
    """The whole job fails with this `errorMessage` (Salesforce's `InvalidBatch : ...`)."""


class IngestJobs:
    def __init__(self, backend: Bulk2Backend, clock: Clock, ids: JobIds) -> None:
        self.backend = backend
        self.clock = clock
        self.ids = ids
        self.jobs: dict[str, IngestJob] = {}
        self.lock = threading.Lock()

    def get(self, job_id: str) -> IngestJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise not_found()
        return job

    def all(self) -> list[IngestJob]:
        with self.lock:
            return list(self.jobs.values())

    def create(self, body: dict[str, Any], version: str) -> IngestJob:
        sobject = body.get("object")
        operation = body.get("operation")
        external_id = body.get("externalIdFieldName")
        if not isinstance(sobject, str) or not _IDENTIFIER.fullmatch(sobject):
            raise invalid_job("InvalidJob : Object is required")
        if operation not in INGEST_OPERATIONS:
            raise invalid_job(f"InvalidJob : Invalid operation: {operation}")
        if operation != "upsert":
            external_id = None
        elif not isinstance(external_id, str) or not _IDENTIFIER.fullmatch(external_id):
            raise invalid_job("InvalidJob : External ID was blank for Upsert")
        delimiter, line_ending = format_options(body)
        # The schema is probed through SOQL: unknown objects and fields fail now, as they do.
        probe = f"SELECT {external_id or 'Id'} FROM {sobject} LIMIT 0"  # noqa: S608 (checked)
        self.backend.query_pages(probe, include_deleted=False)
        if external_id is not None and not self.backend.identifies(sobject, external_id):
            # The org's words (the field name lower-cased), at job creation, not per row.
            raise invalid_job(
                f"InvalidJob : Field name provided, {external_id.lower()} does not match an "
                f"External ID, Salesforce Id, or indexed field for {standard_object_name(sobject)}"
            )
        now = timestamp(self.clock)
        job = IngestJob(
            id=self.ids.next(),
            operation=str(operation),
            object=standard_object_name(sobject),
            delimiter=delimiter,
            line_ending=line_ending,
            created=now,
            state="Open",
            modstamp=now,
            api_version=version,
            external_id_field=external_id,
        )
        with self.lock:
            self.jobs[job.id] = job
        return job

    async def upload(self, job: IngestJob, chunks: AsyncIterator[bytes]) -> None:
        if job.state != "Open":
            raise invalid_state(f"Unable to upload data: job is in state {job.state}", 409)
        if job.upload is not None:
            raise second_upload(job.id)
        job.upload = tempfile.TemporaryFile()  # noqa: SIM115 (owned by the job)
        async for chunk in chunks:
            job.uploaded_bytes += len(chunk)
            if job.uploaded_bytes > MAX_UPLOAD_BYTES:
                raise SalesforceError(
                    413, "EXCEEDED_QUOTA", "The CSV data exceeds the 100 MB limit for a single job"
                )
            job.upload.write(chunk)

    def close(self, job: IngestJob, state: str) -> None:
        """PATCH state: Aborted stops an unfinished job; UploadComplete processes the upload."""
        with job.lock:
            if state == "Aborted":
                if job.state in TERMINAL_STATES:
                    raise invalid_state(f"Cannot abort a job in state {job.state}")
                job.move(self.clock, "Aborted")
                return
            if job.state != "Open":
                raise invalid_state(f"Cannot close a job in state {job.state}")
            job.move(self.clock, "UploadComplete")
            started = self.clock.now()
            try:
                self.apply(job)
            except BatchFailure as failure:
                job.error_message = str(failure)
            job.finish(self.clock, started)

    def apply(self, job: IngestJob) -> None:
        job.successes = tempfile.TemporaryFile()  # noqa: SIM115 (owned by the job)
        job.failures = tempfile.TemporaryFile()  # noqa: SIM115
        if job.upload is None:
            raise BatchFailure("InvalidBatch : No data was uploaded for this job")
        job.upload.seek(0)
        text = io.TextIOWrapper(job.upload, encoding="utf-8-sig", newline="")
        delimiter = DELIMITERS[job.delimiter]
        try:
            first = text.readline()
            if not first.strip():
                raise BatchFailure("InvalidBatch : Empty CSV data")
            if first.endswith("\r\n") != (job.line_ending == "CRLF"):
                raise BatchFailure(
                    "ClientInputError : LineEnding is invalid on user data. "
                    f"Current LineEnding setting is {job.line_ending}"
                )
            names = next(csv.reader([first], delimiter=delimiter, strict=True))
            header = [name.strip() for name in names]
            self.check_header(job, header)
            job.columns = header
            for handle, second in ((job.successes, "sf__Created"), (job.failures, "sf__Error")):
                names = ['"sf__Id"', f'"{second}"', *header]
                handle.write(header_line(names, job.delimiter, job.line_ending).encode())
            reader = csv.reader(text, delimiter=delimiter, strict=True)
            while chunk := list(itertools.islice(reader, INGEST_CHUNK)):
                rows = [_row(header, values) for values in chunk]
                try:
                    results = self.backend.ingest(
                        job.object, job.operation, job.external_id_field, rows
                    )
                except SalesforceError as exc:
                    raise BatchFailure(f"InvalidBatch : {exc.message}") from None
                self.record(job, rows, results)
        except csv.Error as exc:
            raise BatchFailure(f"InvalidBatch : Failed to parse CSV: {exc}") from None
        finally:
            text.detach()

    def check_header(self, job: IngestJob, header: list[str]) -> None:
        seen: set[str] = set()
        for name in header:
            if name.lower() in seen:
                raise BatchFailure(f"InvalidBatch : Duplicate field name: {name}")
            seen.add(name.lower())
            if not _IDENTIFIER.fullmatch(name):
                raise BatchFailure(f"InvalidBatch : Field name not found : {name}")
        if job.operation in ("delete", "hardDelete") and [h.lower() for h in header] != ["id"]:
            raise BatchFailure(
                f"InvalidBatch : The '{job.operation}' batch must contain only the 'Id' field"
            )
        soql = f"SELECT {', '.join(header)} FROM {job.object} LIMIT 0"  # noqa: S608 (checked)
        try:
            self.backend.query_pages(soql, include_deleted=False)
        except SalesforceError as exc:
            missing = _NO_SUCH_COLUMN.search(exc.message)
            if missing:
                message = f"InvalidBatch : Field name not found : {missing.group(1)}"
                raise BatchFailure(message) from None
            raise BatchFailure(f"InvalidBatch : {exc.message}") from None

    def record(
        self, job: IngestJob, rows: list[dict[str, str]], results: list[IngestResult]
    ) -> None:
        if len(results) != len(rows):
            raise BatchFailure("InvalidBatch : backend returned the wrong number of results")
        ok, bad = io.StringIO(), io.StringIO()
        ok_writer = csv_writer(ok, job.delimiter, job.line_ending)
        bad_writer = csv_writer(bad, job.delimiter, job.line_ending)
        for row, result in zip(rows, results, strict=True):
            values = [row[c] for c in job.columns]
            if result.error is None:
                created = "true" if result.created else "false"
                ok_writer.writerow([result.id or "", created, *values])
            else:
                given_id = result.id or next((v for k, v in row.items() if k.lower() == "id"), "")
                bad_writer.writerow([given_id, result.error, *values])
                job.failed += 1
            job.processed += 1
        assert job.successes is not None
        assert job.failures is not None
        job.successes.write(ok.getvalue().encode())
        job.failures.write(bad.getvalue().encode())

    def results(self, job: IngestJob, kind: str) -> Iterator[bytes]:
        """successfulresults / failedresults / unprocessedrecords, streamed from disk."""
        with job.lock:
            if kind == "unprocessedrecords":
                return self.unprocessed(job)
            if job.state not in TERMINAL_STATES:
                raise invalid_state(f"Results are not available in state {job.state}")
            handle = job.successes if kind == "successfulresults" else job.failures
            if handle is None:
                second = "sf__Created" if kind == "successfulresults" else "sf__Error"
                names = ['"sf__Id"', f'"{second}"', *job.columns]
                return iter([header_line(names, job.delimiter, job.line_ending).encode()])
            return stream(handle)

    @staticmethod
    def unprocessed(job: IngestJob) -> Iterator[bytes]:
        """Rows uploaded but never applied, under the upload's header: all of them when the job
        was aborted or failed before its first batch, the rows after the last batch applied
        when it failed part way (Salesforce keeps what it processed), none when it completed."""
        if job.upload is None or (job.processed and job.state == "JobComplete"):
            text = header_line(job.columns, job.delimiter, job.line_ending) if job.columns else ""
            return iter([text.encode()])
        if not job.processed:
            return stream(job.upload)
        return iter([_rows_after(job).encode()])

    def delete(self, job: IngestJob) -> None:
        with self.lock:
            self.jobs.pop(job.id, None)
        with job.lock:
            job.discard()


def _row(header: list[str], values: list[str]) -> dict[str, str]:
    if len(values) != len(header):
        raise BatchFailure(
            f"InvalidBatch : Row has {len(values)} fields but the header has {len(header)}"
        )
    return dict(zip(header, values, strict=True))


def _rows_after(job: IngestJob) -> str:
    """The upload's header line and its raw text after the first `job.processed` records.

    Those records were parsed once already, so they parse again; a record spanning lines
    (a quoted line break) is consumed whole, so what is left starts at a record.
    """
    assert job.upload is not None
    job.upload.seek(0)
    text = io.TextIOWrapper(job.upload, encoding="utf-8-sig", newline="")
    try:
        lines = iter(text.readline, "")
        header = next(lines, "")
        reader = csv.reader(lines, delimiter=DELIMITERS[job.delimiter], strict=True)
        for _ in itertools.islice(reader, job.processed):
            pass
        return header + "".join(lines)
    finally:
        text.detach()
