"""Pages of records as bytes, for a read-ahead that waits on disk (`readahead.Spill`).

Pickle, because a record's fields may hold what JSON would not give back (a Salesforce
datetime, a Decimal), and the bytes never leave the process that wrote them: they go to a
private, already-unlinked temporary file and come back to the same code.
"""

from __future__ import annotations

import pickle

from connectors.readahead import Spill
from connectors.records import RecordKey, SourceRecord, System

Page = list[SourceRecord]


def encode_page(page: Page) -> bytes:
    return pickle.dumps(
        [
            (
                str(r.key.system),
                r.key.object,
                r.key.id,
                dict(r.fields),
                r.modified_at,
                r.deleted,
                r.merged_into,
                r.other_emails,
            )
            for r in page
        ],
        protocol=pickle.HIGHEST_PROTOCOL,
    )


def decode_page(data: bytes) -> Page:
    return [
        SourceRecord(
            RecordKey(System(system), obj, ident),
            fields,
            modified_at,
            deleted=deleted,
            merged_into=merged_into,
            other_emails=other_emails,
        )
        for system, obj, ident, fields, modified_at, deleted, merged_into, other_emails in (
            pickle.loads(data)  # noqa: S301 (our own bytes, see above)
        )
    ]


def page_spill(limit_bytes: int) -> Spill[Page]:
    """Pages of records spilled to disk, at most `limit_bytes` waiting at a time."""
    return Spill(encode_page, decode_page, limit_bytes)
