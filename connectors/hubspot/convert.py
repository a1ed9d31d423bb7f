"""HubSpot wire format -> `SourceRecord`, and the timestamp forms HubSpot speaks.

Record JSON is `{id, properties:{name: str|null}, createdAt, updatedAt, archived, archivedAt?}`
(hubspot-api.md §3). Property values stay raw strings: interpreting them is the mapping
layer's job. Search filters take dates as ms-epoch strings (§5).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.hubspot.objects import ADDITIONAL_EMAILS, MERGED_IDS, ObjectSpec
from connectors.records import FieldValue, RecordKey, SourceRecord, System


def parse_time(value: object) -> datetime | None:
    """An ISO-8601 (`2019-10-30T03:30:17.883Z`) or ms-epoch value as an aware datetime; None
    for anything else, a number past what a datetime holds (year 9999) included."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if text.isdigit():
        try:
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        except (ValueError, OverflowError, OSError):
            return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch (HubSpot's resolution); naive datetimes are refused."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return round(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def modified_at(spec: ObjectSpec, raw: Mapping[str, Any]) -> datetime:
    """The record's cursor time: the table's modified property, else `updatedAt`."""
    props = raw.get("properties") or {}
    for candidate in (props.get(spec.modified), raw.get("updatedAt"), raw.get("createdAt")):
        moment = parse_time(candidate)
        if moment is not None:
            return moment
    return datetime.fromtimestamp(0, tz=UTC)


def merged_ids(raw: Mapping[str, Any]) -> tuple[str, ...]:
    """Ids merged into this record (`hs_merged_object_ids`, ';'-separated)."""
    text = (raw.get("properties") or {}).get(MERGED_IDS) or ""
    return tuple(part.strip() for part in str(text).split(";") if part.strip())


def additional_emails(value: object) -> tuple[str, ...]:
    """The addresses of an `hs_additional_emails` value (';'-separated), as written."""
    text = "" if value is None else str(value)
    return tuple(dict.fromkeys(part.strip() for part in text.split(";") if part.strip()))


def to_record(spec: ObjectSpec, raw: Mapping[str, Any]) -> SourceRecord:
    """One HubSpot record; archived records are `deleted` (HubSpot's recycling bin). A
    contact's additional emails are its `other_emails` (an archived one's free up: none)."""
    props: Mapping[str, Any] = raw.get("properties") or {}
    fields: dict[str, FieldValue] = {
        str(k): (None if v is None else str(v)) for k, v in props.items()
    }
    archived = bool(raw.get("archived"))
    moment = modified_at(spec, raw)
    if archived:
        moment = parse_time(raw.get("archivedAt")) or moment
    return SourceRecord(
        key=RecordKey(System.HUBSPOT, spec.name, str(raw["id"])),
        fields=fields,
        modified_at=moment,
        deleted=archived,
        other_emails=() if archived else additional_emails(props.get(ADDITIONAL_EMAILS)),
    )


def merge_stubs(survivor: SourceRecord) -> Iterator[SourceRecord]:
    """For each id merged into `survivor`: a deleted stub saying where it went."""
    text = survivor.fields.get(MERGED_IDS) or ""
    for loser in (part.strip() for part in str(text).split(";")):
        if loser and loser != survivor.key.id:
            yield SourceRecord(
                key=RecordKey(System.HUBSPOT, survivor.key.object, loser),
                fields={},
                modified_at=survivor.modified_at,
                deleted=True,
                merged_into=survivor.key.id,
            )
