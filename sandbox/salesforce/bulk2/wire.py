"""Bulk API 2.0 wire facts: options, CSV rendering, locators, error shapes, timestamps."""

from __future__ import annotations

import base64
import binascii
import csv
import os
import zlib
from collections.abc import Iterator
from typing import IO, Any

import orjson

from sandbox.salesforce.errors import SalesforceError
from sandbox.salesforce.store import make_id
from sandbox.shared.clock import Clock

DELIMITERS = {
    "COMMA": ",",
    "BACKQUOTE": "`",
    "CARET": "^",
    "PIPE": "|",
    "SEMICOLON": ";",
    "TAB": "\t",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
QUERY_OPERATIONS = frozenset({"query", "queryAll"})
INGEST_OPERATIONS = frozenset({"insert", "update", "upsert", "delete", "hardDelete"})
INGEST_RESULTS = ("successfulresults", "failedresults", "unprocessedrecords")  # any case
TERMINAL_STATES = frozenset({"JobComplete", "Failed", "Aborted"})
MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # Salesforce: 100 MB of CSV per job (150 MB base64)
DEFAULT_PAGE_RECORDS = 50_000  # results page size when the client sends no maxRecords
INGEST_CHUNK = 10_000  # Salesforce processes ingest data in internal batches of 10,000 rows
JOB_ID_PREFIX = "750"
CREATED_BY = make_id("005", 1)  # the integration user every session belongs to


def invalid_job(message: str) -> SalesforceError:
    return SalesforceError(400, "INVALIDJOB", message)


def invalid_state(message: str, status: int = 400) -> SalesforceError:
    return SalesforceError(status, "INVALIDJOBSTATE", message)


def second_upload(job_id: str) -> SalesforceError:
    """A job holds one upload: Salesforce refuses a second PUT rather than append it.

    The message is the org's own, typo included (quoted by client libraries that met it);
    its status is not documented, and clients only need it not to be 201.
    """
    return SalesforceError(
        400,
        "BULK_API_ERROR",
        f"Found multipe contents for job: <{job_id[:15]}>, please 'Close' / 'Abort' / "
        "'Delete' the current Job then create a new Job and make sure you only do 'PUT' "
        "once on a given Job.",
    )


def version_conflict(job_id: str, created: str, asked: str) -> SalesforceError:
    """Results asked for under another API version than the job was created with.

    "Use the same API version as the create call (else 409)" (salesforce-api.md §9, from
    Salesforce's Get Results for a Query Job page). The docs give the status only, not the
    errorCode or message: the body is Salesforce's error array, with the Bulk 2.0 code for
    a request the job cannot serve and a message naming both versions.
    """
    return SalesforceError(
        409,
        "INVALIDJOB",
        f"Job {job_id} was created with API version {created}; get its results with "
        f"/services/data/v{created}/, not v{asked}",
    )


def timestamp(clock: Clock) -> str:
    moment = clock.now_dt()
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def format_options(body: dict[str, Any]) -> tuple[str, str]:
    """The job's (columnDelimiter, lineEnding) names, checked; CSV is the only content type."""
    delimiter = body.get("columnDelimiter") or "COMMA"
    line_ending = body.get("lineEnding") or "LF"
    if delimiter not in DELIMITERS:
        raise invalid_job(f"Invalid column delimiter: {delimiter}")
    if line_ending not in LINE_ENDINGS:
        raise invalid_job(f"Invalid line ending: {line_ending}")
    content_type = body.get("contentType") or "CSV"
    if content_type != "CSV":
        raise invalid_job(f"Invalid content type: {content_type}. Only CSV is supported")
    return str(delimiter), str(line_ending)


def csv_value(value: Any) -> str:
    """Salesforce's CSV rendering: null is empty, booleans are true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return orjson.dumps(value).decode()


def csv_writer(out: IO[str], delimiter: str, line_ending: str) -> Any:
    """Every value quoted, as Salesforce writes its result files."""
    return csv.writer(
        out,
        delimiter=DELIMITERS[delimiter],
        lineterminator=LINE_ENDINGS[line_ending],
        quoting=csv.QUOTE_ALL,
    )


def header_line(names: list[str], delimiter: str, line_ending: str) -> str:
    return DELIMITERS[delimiter].join(names) + LINE_ENDINGS[line_ending]


def _locator_check(job_id: str, index: int, offset: int) -> int:
    return zlib.crc32(f"{job_id}:{index}:{offset}".encode())


def encode_locator(job_id: str, index: int, offset: int) -> str:
    """Opaque to clients; carries the next row's index and byte offset, bound to its job."""
    check = _locator_check(job_id, index, offset)
    return base64.urlsafe_b64encode(f"{index}:{offset}:{check}".encode()).decode().rstrip("=")


def decode_locator(job_id: str, locator: str) -> tuple[int, int]:
    invalid = SalesforceError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
    try:
        text = base64.urlsafe_b64decode(locator + "=" * (-len(locator) % 4)).decode()
        index, offset, check = (int(part) for part in text.split(":"))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid from None
    if check != _locator_check(job_id, index, offset):
        raise invalid
    return index, offset


def stream(handle: IO[bytes], chunk: int = 1 << 16) -> Iterator[bytes]:
    """Read a job's file without moving its offset (results may be served concurrently)."""
    handle.flush()
    fd = handle.fileno()
    position = 0
    while data := os.pread(fd, chunk, position):
        position += len(data)
        yield data
