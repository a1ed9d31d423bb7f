"""Query jobs: run the SOQL once into a spool file, then serve it as CSV pages by locator."""

from __future__ import annotations

import io
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import orjson

from sandbox.salesforce.bulk2.backend import Bulk2Backend
from sandbox.salesforce.bulk2.jobs import JobIds, QueryJob
from sandbox.salesforce.bulk2.wire import (
    QUERY_OPERATIONS,
    csv_value,
    csv_writer,
    decode_locator,
    encode_locator,
    format_options,
    invalid_job,
    timestamp,
)
from sandbox.salesforce.errors import SalesforceError, not_found
from sandbox.salesforce.soql.compile import standard_object_name
from sandbox.salesforce.soql.parser import parse
from sandbox.shared.clock import Clock


class QueryJobs:
    def __init__(self, backend: Bulk2Backend, clock: Clock, ids: JobIds) -> None:
        self.backend = backend
        self.clock = clock
        self.ids = ids
        self.jobs: dict[str, QueryJob] = {}
        self.lock = threading.Lock()

    def get(self, job_id: str) -> QueryJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise not_found()
        return job

    def all(self) -> list[QueryJob]:
        with self.lock:
            return list(self.jobs.values())

    def create(self, body: dict[str, Any], version: str) -> QueryJob:
        """Validate eagerly (bad SOQL is a 400 on the POST), then run the query to a spool."""
        operation = body.get("operation") or "query"
        if operation not in QUERY_OPERATIONS:
            raise invalid_job(f"Invalid operation: {operation}. Must be query or queryAll")
        soql = body.get("query")
        if not isinstance(soql, str) or not soql.strip():
            raise invalid_job("Query is required")
        delimiter, line_ending = format_options(body)
        columns, rows = self.backend.query_pages(soql, include_deleted=operation == "queryAll")
        parsed = parse(soql)
        if parsed.count_only or parsed.counted is not None or parsed.offset is not None:
            what = "OFFSET" if parsed.offset is not None else "COUNT()"
            raise invalid_job(f"{what} is not supported in Bulk API 2.0 queries")
        now = timestamp(self.clock)
        job = QueryJob(
            id=self.ids.next(),
            operation=operation,
            object=standard_object_name(parsed.sobject.name),
            delimiter=delimiter,
            line_ending=line_ending,
            created=now,
            state="UploadComplete",
            modstamp=now,
            api_version=version,
            columns=list(columns),
        )
        with self.lock:
            self.jobs[job.id] = job
        with job.lock:
            self.run(job, rows)
        return job

    def run(self, job: QueryJob, rows: Iterator[dict[str, Any]]) -> None:
        started = self.clock.now()
        spool = tempfile.TemporaryFile()  # noqa: SIM115 (owned by the job; closed on delete)
        count = 0
        try:
            for row in rows:
                spool.write(orjson.dumps([row.get(c) for c in job.columns]) + b"\n")
                count += 1
        except SalesforceError as exc:
            spool.close()
            job.error_message = exc.message
        else:
            job.rows = spool
            job.records = count
        job.finish(self.clock, started)

    def page(self, job: QueryJob, locator: str | None, max_records: int) -> tuple[str, int, str]:
        """One page: CSV text, its record count and the next locator ("null" at the end)."""
        with job.lock:
            if job.state != "JobComplete" or job.rows is None:
                raise SalesforceError(412, "JOB_NOT_COMPLETE", f"Job {job.id} is not complete")
            index, offset = decode_locator(job.id, locator) if locator else (0, 0)
            job.rows.seek(offset)
            lines = [job.rows.readline() for _ in range(min(max_records, job.records - index))]
            next_offset = job.rows.tell()
        out = io.StringIO()
        writer = csv_writer(out, job.delimiter, job.line_ending)
        writer.writerow(job.columns)
        for line in lines:
            writer.writerow([csv_value(v) for v in orjson.loads(line)])
        end = index + len(lines)
        next_locator = encode_locator(job.id, end, next_offset) if end < job.records else "null"
        return out.getvalue(), len(lines), next_locator

    def abort(self, job: QueryJob) -> None:
        with job.lock:
            job.observe(self.clock)
            if job.state in ("JobComplete", "Failed", "Aborted"):
                raise SalesforceError(
                    400, "INVALIDJOBSTATE", f"Cannot abort a job in state {job.state}"
                )
            job.move(self.clock, "Aborted")
            job.discard()

    def delete(self, job: QueryJob) -> None:
        with self.lock:
            self.jobs.pop(job.id, None)
        with job.lock:
            job.discard()
