"""A page of records spilled to disk comes back equal, field types included."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from connectors.pagecodec import decode_page, encode_page
from connectors.records import RecordKey, SourceRecord, System

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_a_page_comes_back_equal_with_its_field_types() -> None:
    page = [
        SourceRecord(
            RecordKey(System.HUBSPOT, "contacts", "101"),
            {"email": "a@example.com", "hubspotscore": "12", "jobtitle": None},
            AT,
            other_emails=("b@example.com",),
        ),
        SourceRecord(
            RecordKey(System.SALESFORCE, "Lead", "00Q000000000000001"),
            {"IsConverted": False, "NumberOfEmployees": 12, "AnnualRevenue": Decimal("1.50")},
            AT,
            deleted=True,
            merged_into="00Q000000000000002",
        ),
        SourceRecord(RecordKey(System.SALESFORCE, "Lead", "00Q3"), {"LastActivity": AT}, AT),
    ]
    back = decode_page(encode_page(page))
    assert back == page
    assert [type(v) for r in back for v in r.fields.values()] == [
        type(v) for r in page for v in r.fields.values()
    ]
    assert back[0].key.system is System.HUBSPOT
