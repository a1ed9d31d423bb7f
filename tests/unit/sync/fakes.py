"""In-memory connectors implementing `connectors.protocol.Connector`, for engine tests.

They keep the protocol's promises the engine relies on: `read_changes` is half-open and
ordered by (modified_at, id); writes stamp the record with the fake clock (plus `skew`, the
vendor's clock offset from Baton's, which `vendor_now` reflects); `match_on` upserts
find the record carrying that value (emails compared case-insensitively, as HubSpot does; a
HubSpot contact is found by its additional emails too, `hs_additional_emails`, which it reads
as `other_emails`);
refusals come back as outcomes with a vendor code and message. `writes` counts records
created, updated or deleted through the API, like the sandboxes' `/_sandbox/stats`; `remove`
is a user's delete in the UI.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from connectors.records import (
    ContactRole,
    Conversion,
    FieldSchema,
    FieldValue,
    ListedPage,
    PicklistOption,
    RecordKey,
    RecordPatch,
    SourceRecord,
    System,
    WebhookReceipt,
    WebhookRequest,
    WriteOutcome,
)
from mappings.apply import Mapper

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CONTACT_ROLE = "OpportunityContactRole"
ADDITIONAL = "hs_additional_emails"  # a HubSpot contact's other addresses, ';'-separated


def _additional(fields: Mapping[str, FieldValue]) -> tuple[str, ...]:
    value = fields.get(ADDITIONAL)
    return tuple(e.strip() for e in value.split(";") if e.strip()) if isinstance(value, str) else ()


class FakeClock:
    def __init__(self, start: datetime = START) -> None:
        self.at = start
        self._lock = threading.Lock()  # the engine writes to both systems at once

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float = 1.0) -> datetime:
        with self._lock:
            self.at += timedelta(seconds=seconds)
            return self.at


# A rule returns (code, message) to refuse a write, None to accept it.
Rule = Callable[[str, Mapping[str, FieldValue]], tuple[str, str] | None]

# A match_on lookup: `_match_key` of a field's value -> ids (an alias because `write`'s
# parameter named `object` shadows the builtin in its annotations).
_Index = dict[object, list[str]]


@dataclass
class Stored:
    fields: dict[str, FieldValue]
    modified_at: datetime
    deleted: bool = False
    merged_into: str | None = None
    # The record reads hand out, built once per version of the record (see `_maker`): the
    # engine bench times the engine, not this fake. Whatever changes the record drops it.
    record: SourceRecord | None = field(default=None, repr=False, compare=False)
    made_from: tuple[str, ...] = field(default=(), repr=False, compare=False)


@dataclass
class FakeConnector:
    system: System
    clock: FakeClock
    objects: dict[str, dict[str, Stored]] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    retry_next: int = 0  # the next N writes answer "locked, retry later"
    locked: set[str] = field(default_factory=set)  # ids whose writes always answer so
    known: dict[str, tuple[str, ...]] = field(default_factory=dict)  # fields a read returns
    writes: int = 0
    write_calls: int = 0
    find_calls: int = 0  # `find_by` calls: the lookups a replayed create makes
    role_reads: int = 0  # `read_contact_roles` calls
    conversion_reads: int = 0  # `read_conversions` calls
    refuse_deletes: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> refusal
    deleted: list[str] = field(default_factory=list)  # ids deleted through `delete`
    delete_calls: int = 0
    stamps: bool = False  # HubSpot: writes stamp "Became a <stage> date" (see `_stamp`)
    list_page: int = 100  # records per page of a full listing (HubSpot's list endpoint's)
    listed_pages: int = 0  # pages `list_all` handed out
    deletion_reads: int = 0  # `read_deletions` calls (a backfill's, on a store that polled)
    ids_read_bin: bool = False  # `read_by_ids` hands out deleted records too, as Salesforce's
    skew: timedelta = timedelta(0)  # the vendor's clock minus Baton's: its stamps carry it
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    # object -> (the `known` names it was built from, their template); see `_template`
    _templates: dict[str, tuple[tuple[str, ...], dict[str, FieldValue]]] = field(
        default_factory=dict, repr=False, compare=False
    )
    # object -> ids, last changed last: `read_changes` sorts rows already almost in order
    _order: dict[str, dict[str, None]] = field(default_factory=dict, repr=False, compare=False)

    # -- test helpers ------------------------------------------------------------------------------

    def new_id(self, obj: str) -> str:
        n = next(self._ids)
        if self.system is System.HUBSPOT:
            return str(1000 + n)
        prefix = {"Lead": "00Q", "Contact": "003", "Opportunity": "006"}.get(obj, "001")
        return f"{prefix}{n:015d}"

    def put(self, obj: str, fields: Mapping[str, FieldValue], *, id: str | None = None) -> str:
        """A user's create or edit in the UI (not counted as an API write)."""
        table = self.objects.setdefault(obj, {})
        ident = id or self.new_id(obj)
        current = table.get(ident)
        merged = {**(current.fields if current else {}), **fields}
        table[ident] = stored = Stored(merged, self._vendor(self.clock.advance(1)))
        self._changed(obj, ident, stored, stored.modified_at)
        self._maker(obj)(ident, stored)  # built now, as a real system stores it: see `Stored`
        return ident

    def get(self, obj: str, ident: str) -> Mapping[str, FieldValue]:
        """A record's fields, read-only: change them with `put`."""
        return MappingProxyType(self.objects[obj][ident].fields)

    def remove(self, obj: str, ident: str, *, merged_into: str | None = None) -> None:
        """A user's delete (or merge, with `merged_into`) in the UI; not an API write."""
        stored = self.objects[obj][ident]
        stored.deleted = True
        stored.merged_into = merged_into
        self._changed(obj, ident, stored, self._vendor(self.clock.advance(1)))

    def purge(self, obj: str, ident: str) -> None:
        """The record leaves the recycle bin for good (emptied, past its retention, a hard
        delete): nothing about it can be read any more."""
        del self.objects[obj][ident]
        self._order.get(obj, {}).pop(ident, None)

    def restore(self, obj: str, ident: str) -> None:
        """A user's restore from the recycle bin: the record is back, with its id and fields."""
        stored = self.objects[obj][ident]
        stored.deleted = False
        stored.merged_into = None
        self._changed(obj, ident, stored, self._vendor(self.clock.advance(1)))

    def _changed(self, obj: str, ident: str, stored: Stored, at: datetime) -> None:
        """A record changed at `at`: its built record is dropped, and it reads last in order."""
        stored.modified_at = at
        stored.record = None
        order = self._order.setdefault(obj, {})
        order.pop(ident, None)
        order[ident] = None

    def find(self, obj: str, name: str, value: FieldValue) -> list[str]:
        return [
            i
            for i, s in self.objects.get(obj, {}).items()
            if not s.deleted and _same(name, s.fields.get(name), value)
        ]

    def _index(self, obj: str, name: str) -> _Index:
        index: _Index = {}
        for i, s in self.objects.get(obj, {}).items():
            value = s.fields.get(name)
            if not s.deleted and value is not None:
                index.setdefault(_match_key(name, value), []).append(i)
        if self.system is System.HUBSPOT and name == "email":  # HubSpot: additional ones too
            for i, s in self.objects.get(obj, {}).items():
                for other in () if s.deleted else _additional(s.fields):
                    index.setdefault(_match_key(name, other), []).append(i)
        return index

    def live(self, obj: str) -> dict[str, dict[str, FieldValue]]:
        return {i: s.fields for i, s in self.objects.get(obj, {}).items() if not s.deleted}

    def _vendor(self, local: datetime) -> datetime:
        """The vendor's time when Baton's clock reads `local`."""
        return local + self.skew

    # -- Connector ---------------------------------------------------------------------------------

    def vendor_now(self) -> datetime | None:
        return self._vendor(self.clock())

    def _template(self, obj: str) -> dict[str, FieldValue]:
        """Every `known` field of `obj` as None, built once and copied for each record read (the
        bench times the engine, not this). Rebuilt when `known` is assigned or its entry
        replaced: the cache keeps the names tuple it was built from and compares identity."""
        names = self.known.get(obj, ())
        cached = self._templates.get(obj)
        if cached is None or cached[0] is not names:
            cached = self._templates[obj] = (names, dict.fromkeys(names))
        return cached[1]

    def _maker(self, obj: str) -> Callable[[str, Stored], SourceRecord]:
        """A record reader with the object's template and key parts looked up once per read:
        a record's built `SourceRecord` is handed out again until the record or the fields a
        read returns (`known`) change."""
        template, system = self._template(obj), self.system
        names = self._templates[obj][0]
        hubspot = system is System.HUBSPOT

        def make(ident: str, stored: Stored) -> SourceRecord:
            record = stored.record
            if record is None or stored.made_from is not names:
                record = stored.record = SourceRecord(
                    RecordKey(system, obj, ident),
                    {**template, **stored.fields},
                    stored.modified_at,
                    stored.deleted,
                    stored.merged_into,
                    _additional(stored.fields) if hubspot and not stored.deleted else (),
                )
                stored.made_from = names
            return record

        return make

    def _record(self, obj: str, ident: str, stored: Stored) -> SourceRecord:
        return self._maker(obj)(ident, stored)

    def read_changes(
        self, object: str, since: datetime | None, until: datetime
    ) -> Iterator[SourceRecord]:
        # Sorted as (modified_at, id, stored) tuples: ids are unique, so `stored` is never
        # compared, and no key function runs per row. The window is checked as each row is
        # yielded, on its current time, since the engine writes between pages.
        table = self.objects.get(object, {})
        rows = [(table[i].modified_at, i, table[i]) for i in self._order.get(object, ())]
        rows.sort()  # in order already, but for changes made at one instant
        make = self._maker(object)
        for _, ident, stored in rows:
            at = stored.modified_at
            if (since is None or at >= since) and at < until:
                yield make(ident, stored)

    def read_deletions(
        self, object: str, since: datetime | None, until: datetime
    ) -> Iterator[SourceRecord]:
        """`read_changes`' deleted records only; `deletion_reads` counts the calls."""
        self.deletion_reads += 1
        return (r for r in self.read_changes(object, since, until) if r.deleted)

    def count_all(self, object: str) -> int | None:
        return sum(not stored.deleted for stored in self.objects.get(object, {}).values())

    def read_all(self, object: str) -> Iterator[SourceRecord]:
        for page in self.list_all(object):
            yield from page.records

    def list_all(self, object: str, start: str | None = None) -> Iterator[ListedPage]:
        """Pages in creation order; a page resumes at the id of the next record, as HubSpot's
        `after` does."""
        table, make = self.objects.get(object, {}), self._maker(object)
        idents = list(table)
        begin = idents.index(start) if start is not None else 0
        for at in range(begin, len(idents), self.list_page):
            self.listed_pages += 1
            chunk = idents[at : at + self.list_page]
            following = at + self.list_page
            yield ListedPage(
                [make(i, table[i]) for i in chunk if not table[i].deleted],
                idents[following] if following < len(idents) else None,
            )

    def read_by_ids(self, object: str, ids: Sequence[str]) -> list[SourceRecord]:
        get, make = self.objects.get(object, {}).get, self._maker(object)
        out = []
        for ident in ids:
            stored = get(ident)
            if stored is None:
                continue
            if self.ids_read_bin or not stored.deleted:
                out.append(make(ident, stored))
            elif stored.merged_into is not None:
                # HubSpot: a merged-away id reads as its survivor, with a stub saying so
                out.append(make(ident, stored))
                survivor = get(stored.merged_into)
                if survivor is not None and not survivor.deleted:
                    out.append(make(stored.merged_into, survivor))
        return out

    def find_by(self, object: str, field: str, values: Sequence[str]) -> list[SourceRecord]:
        self.find_calls += 1
        index = self._index(object, field)
        found = dict.fromkeys(i for v in values for i in index.get(_match_key(field, v), ()))
        return self.read_by_ids(object, list(found))

    def read_contact_roles(self, opportunity_ids: Sequence[str]) -> list[ContactRole]:
        """The live OpportunityContactRoles of these Opportunities; `role_reads` counts the
        calls (one query per batch in Salesforce's)."""
        self.role_reads += 1
        wanted = set(opportunity_ids)
        return [
            ContactRole(
                ident,
                str(stored.fields["OpportunityId"]),
                str(stored.fields["ContactId"]),
                stored.fields.get("IsPrimary") is True,
                stored.modified_at,  # no CreatedDate kept: the last change stands in
            )
            for ident, stored in self.objects.get(CONTACT_ROLE, {}).items()
            if not stored.deleted
            and stored.fields.get("OpportunityId") in wanted
            and stored.fields.get("ContactId")
        ]

    def read_conversions(self, opportunity_ids: Sequence[str]) -> list[Conversion]:
        """The live Leads converted with these Opportunities; `conversion_reads` counts the
        calls (one query per batch in Salesforce's)."""
        self.conversion_reads += 1
        wanted = set(opportunity_ids)
        return [
            Conversion(ident, str(stored.fields["ConvertedOpportunityId"]))
            for ident, stored in self.objects.get("Lead", {}).items()
            if not stored.deleted and stored.fields.get("ConvertedOpportunityId") in wanted
        ]

    def write(self, object: str, patches: Sequence[RecordPatch]) -> list[WriteOutcome]:
        self.write_calls += 1
        table = self.objects.setdefault(object, {})
        outcomes = []
        # match_on lookups: one scan per field and call, not one per patch (benches write 10k+)
        indexes: dict[str, _Index] = {}
        # HubSpot: an email is one contact's only, checked for every input against the
        # contacts as they were before the call (HubSpot validates a batch before writing any)
        # and as the call's earlier inputs left them
        emails = (
            self._emails(object)
            if self.system is System.HUBSPOT and any("email" in p.fields for p in patches)
            else None
        )
        for patch in patches:
            if self.retry_next > 0 or patch.key.id in self.locked:
                self.retry_next -= patch.key.id not in self.locked
                outcomes.append(
                    WriteOutcome(
                        patch,
                        None,
                        error_code="UNABLE_TO_LOCK_ROW",
                        error_message="unable to obtain exclusive access",
                        retryable=True,
                    )
                )
                continue
            refusal = next((r for rule in self.rules if (r := rule(object, patch.fields))), None)
            if refusal is not None:
                outcomes.append(
                    WriteOutcome(
                        patch, patch.key.id or None, error_code=refusal[0], error_message=refusal[1]
                    )
                )
                continue
            ident = patch.key.id
            if patch.match_on:
                if patch.match_on not in indexes:
                    indexes[patch.match_on] = self._index(object, patch.match_on)
                found = indexes[patch.match_on].get(
                    _match_key(patch.match_on, patch.fields.get(patch.match_on)), []
                )
                ident = found[0] if found else ""
            email = patch.fields.get("email")
            if emails is not None and isinstance(email, str) and email.strip():
                holders = emails.setdefault(email.strip().lower(), set())
                present = table.get(ident) if ident else None
                was = present.fields.get("email") if present is not None else None
                if holders - {ident} and _match_key("email", was) != _match_key("email", email):
                    outcomes.append(
                        WriteOutcome(
                            patch,
                            ident or None,
                            error_code="CONFLICT",
                            error_message="Contact already exists. Existing ID: "
                            + min(holders - {ident}),
                        )
                    )
                    continue
            created = not ident
            if created:
                ident = self.new_id(object)
                table[ident] = Stored({}, self._vendor(self.clock()))
                for name, index in indexes.items():
                    if patch.fields.get(name) is not None:
                        index.setdefault(_match_key(name, patch.fields[name]), []).append(ident)
            elif ident not in table or table[ident].deleted:
                outcomes.append(
                    WriteOutcome(
                        patch, None, error_code="NOT_FOUND", error_message=f"{ident} does not exist"
                    )
                )
                continue
            stored = table[ident]
            if object == "Lead" and stored.fields.get("IsConverted") in (True, "true"):
                outcomes.append(  # as Salesforce: a converted Lead is read-only
                    WriteOutcome(
                        patch,
                        ident,
                        error_code="CANNOT_UPDATE_CONVERTED_LEAD",
                        error_message="cannot reference converted lead",
                    )
                )
                continue
            if emails is not None and isinstance(email, str) and email.strip():
                emails.setdefault(email.strip().lower(), set()).add(ident)
            stored.fields.update(patch.fields)
            self._changed(object, ident, stored, self._vendor(self.clock.advance(0.001)))
            self._stamp(stored, patch.fields)
            self.writes += 1
            outcomes.append(WriteOutcome(patch, ident, created=created))
        return outcomes

    def _emails(self, object: str) -> dict[str, set[str]]:
        """Each email's live records (HubSpot's contacts: one each, as `write` keeps it)."""
        held: dict[str, set[str]] = {}
        for ident, stored in self.objects.get(object, {}).items():
            email = stored.fields.get("email")
            if not stored.deleted and isinstance(email, str) and email.strip():
                held.setdefault(email.strip().lower(), set()).add(ident)
            for other in () if stored.deleted else _additional(stored.fields):
                held.setdefault(other.lower(), set()).add(ident)
        return held

    def delete(self, object: str, ids: Sequence[str]) -> list[WriteOutcome]:
        """Idempotent, like the real ones: an id already deleted or unknown is a success;
        `refuse_deletes` names ids the system refuses (code, message); `retry_next` applies."""
        self.delete_calls += 1
        table = self.objects.setdefault(object, {})
        outcomes = []
        for ident in ids:
            patch = RecordPatch(RecordKey(self.system, object, ident), {})
            if self.retry_next > 0:
                self.retry_next -= 1
                outcomes.append(
                    WriteOutcome(
                        patch,
                        ident,
                        error_code="UNABLE_TO_LOCK_ROW",
                        error_message="unable to obtain exclusive access",
                        retryable=True,
                    )
                )
                continue
            if ident in self.refuse_deletes:
                code, message = self.refuse_deletes[ident]
                outcomes.append(WriteOutcome(patch, ident, error_code=code, error_message=message))
                continue
            stored = table.get(ident)
            if stored is not None and not stored.deleted:
                stored.deleted = True
                self._changed(object, ident, stored, self._vendor(self.clock.advance(0.001)))
                self.deleted.append(ident)
                self.writes += 1
            outcomes.append(WriteOutcome(patch, ident))
        return outcomes

    def _stamp(self, stored: Stored, written: Mapping[str, FieldValue]) -> None:
        """HubSpot sets a contact's "Became a <stage> date" when a write moves it into a
        lifecycle stage for the first time."""
        stage = written.get("lifecyclestage")
        if not self.stamps or not isinstance(stage, str) or not stage:
            return
        became = f"hs_lifecyclestage_{stage}_date"
        if not stored.fields.get(became):
            stored.fields[became] = stored.modified_at.isoformat().replace("+00:00", "Z")

    def describe(self, object: str) -> list[FieldSchema]:
        return []

    def picklists(
        self, object: str, fields: Sequence[str]
    ) -> Mapping[str, tuple[PicklistOption, ...]]:
        return {}

    def verify_webhook(self, request: WebhookRequest) -> WebhookReceipt:
        return WebhookReceipt(())

    # -- Salesforce admin --------------------------------------------------------------------------

    def convert(self, lead_id: str) -> str:
        """Convert a Lead as Salesforce does: a Contact carrying the Lead's fields, Baton id
        included (the org's lead field mapping), and the Lead marked converted."""
        lead = self.objects["Lead"][lead_id].fields
        carried = {k: v for k, v in lead.items() if k not in ("Company", "Status", "IsConverted")}
        contact_id = self.put("Contact", carried)
        self.put(
            "Lead",
            {
                "IsConverted": True,
                "ConvertedContactId": contact_id,
                "ConvertedDate": self._vendor(self.clock()).date().isoformat(),
                "Status": "Closed - Converted",
            },
            id=lead_id,
        )
        return contact_id


def _match_key(name: str, value: Any) -> object:
    """The value `_same` compares, as a dict key (None never matches)."""
    if value is None:
        return _NO_MATCH
    if name.lower() == "email" and isinstance(value, str):  # SOQL's = ignores case too
        return value.strip().lower()
    return value


_NO_MATCH = object()


def _same(name: str, a: Any, b: Any) -> bool:
    if name.lower() == "email" and isinstance(a, str) and isinstance(b, str):
        return a.strip().lower() == b.strip().lower()
    return a is not None and a == b


def hubspot(clock: FakeClock) -> FakeConnector:
    return FakeConnector(System.HUBSPOT, clock)


def salesforce(clock: FakeClock) -> FakeConnector:
    # Salesforce's reads by id return recycle-bin and merged-away rows too (flagged deleted).
    return FakeConnector(System.SALESFORCE, clock, ids_read_bin=True)


LEAD_SYSTEM_FIELDS = ("IsConverted", "ConvertedContactId")


def declare_fields(hs: FakeConnector, sf: FakeConnector, mapper: Mapper) -> None:
    """Make reads return every field the dictionary maps (None when unset), as the real
    connectors do when told to read them: a field a record lacks is then blank, not unknown."""
    hs.known = {"contacts": mapper.fields_for(System.HUBSPOT, "contacts")}
    sf.known = {
        "Lead": (
            *mapper.fields_for(System.SALESFORCE, "Lead"),
            "IsConverted",
            "ConvertedContactId",
        ),
        "Contact": mapper.fields_for(System.SALESFORCE, "Contact"),
    }


def junk_phone_rule(object: str, fields: Mapping[str, FieldValue]) -> tuple[str, str] | None:
    """Like the Salesforce sandbox's validation rule: a phone must contain digits."""
    phone = fields.get("Phone")
    if isinstance(phone, str) and phone and not any(c.isdigit() for c in phone):
        return ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Phone must contain digits")
    return None
