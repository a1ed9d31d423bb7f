"""Job records and their life cycle as a poller sees it."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import IO, Any

from sandbox.salesforce.bulk2.wire import CREATED_BY, JOB_ID_PREFIX, TERMINAL_STATES, timestamp
from sandbox.salesforce.soql.values import to_18_char_id
from sandbox.shared.clock import Clock

POLLS_IN_PROGRESS = 1  # polls that see InProgress before the final state
SECONDS_IN_PROGRESS = 2.0  # ... unless this much clock time has passed since processing


class JobIds:
    """`750…` ids, unique across query and ingest jobs of one router."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            number = next(self._counter)
        job_id = to_18_char_id(f"{JOB_ID_PREFIX}{number:012d}")
        assert job_id is not None
        return job_id


@dataclass
class Job:
    id: str
    operation: str
    object: str
    delimiter: str
    line_ending: str
    created: str
    state: str
    modstamp: str
    api_version: str  # the version in the creating URL
    processed_at: float = 0.0  # clock time when processing finished
    polls: int = 0
    processing_ms: int = 0
    error_message: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def finish(self, clock: Clock, started: float) -> None:
        """Processing is over; the next poll still sees InProgress once."""
        self.processing_ms = int((clock.now() - started) * 1000)
        self.processed_at = clock.now()
        self.state = "InProgress"

    def observe(self, clock: Clock) -> str:
        """The state a poll sees: a finished job shows InProgress once (or briefly) first."""
        if self.state != "InProgress":
            return self.state
        self.polls += 1
        waited = clock.now() - self.processed_at >= SECONDS_IN_PROGRESS
        if self.polls > POLLS_IN_PROGRESS or waited:
            self.state = "Failed" if self.error_message else "JobComplete"
            self.modstamp = timestamp(clock)
        return self.state

    def move(self, clock: Clock, state: str) -> None:
        self.state = state
        self.modstamp = timestamp(clock)

    def common_info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": CREATED_BY,
            "createdDate": self.created,
            "systemModstamp": self.modstamp,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
        }

    def discard(self) -> None:
        """Close the job's files (they vanish with their handles)."""


@dataclass
class QueryJob(Job):
    columns: list[str] = field(default_factory=list)
    records: int = 0
    rows: IO[bytes] | None = None  # JSON lines, one list of values per record

    def info(self) -> dict[str, Any]:
        done = self.state == "JobComplete"
        data = self.common_info()
        data.update(
            jobType="V2Query",
            lineEnding=self.line_ending,
            columnDelimiter=self.delimiter,
            numberRecordsProcessed=self.records if done else 0,
            retries=0,
            totalProcessingTime=self.processing_ms if done else 0,
        )
        if self.state == "Failed":
            data["errorMessage"] = self.error_message
        return data

    def created_info(self) -> dict[str, Any]:
        """The POST answer: the job as queued."""
        data = self.common_info()
        data.update(state="UploadComplete", lineEnding=self.line_ending)
        data["columnDelimiter"] = self.delimiter
        return data

    def discard(self) -> None:
        if self.rows is not None:
            self.rows.close()
            self.rows = None


@dataclass
class IngestJob(Job):
    external_id_field: str | None = None
    upload: IO[bytes] | None = None  # the uploaded CSV, as sent
    uploaded_bytes: int = 0
    processed: int = 0
    failed: int = 0
    columns: list[str] = field(default_factory=list)
    successes: IO[bytes] | None = None  # ready-to-serve CSV
    failures: IO[bytes] | None = None

    def info(self, *, full: bool) -> dict[str, Any]:
        data = self.common_info()
        if self.external_id_field is not None:
            data["externalIdFieldName"] = self.external_id_field
        data.update(
            contentUrl=f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches",
            lineEnding=self.line_ending,
            columnDelimiter=self.delimiter,
        )
        if full:
            done = self.state in TERMINAL_STATES
            data.update(
                jobType="V2Ingest",
                retries=0,
                totalProcessingTime=self.processing_ms if done else 0,
                apiActiveProcessingTime=self.processing_ms if done else 0,
                apexProcessingTime=0,
                numberRecordsProcessed=self.processed if done else 0,
                numberRecordsFailed=self.failed if done else 0,
            )
            if self.state == "Failed":
                data["errorMessage"] = self.error_message
        return data

    def discard(self) -> None:
        for handle in (self.upload, self.successes, self.failures):
            if handle is not None:
                handle.close()
        self.upload = self.successes = self.failures = None
