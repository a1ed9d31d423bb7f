"""Record addresses: the emails a system also finds a record by, besides its email field.

HubSpot finds a contact by any of its additional emails (a merge keeps the merged-away
contact's address there), and an upsert by one lands on that contact: identity takes such an
address as naming the contact (`sync.identity`). The unit of work keeps each contact's set as
read (`keep_addresses`, in its transaction); the caller normalises, as for people's emails,
and text no address can be is not kept (`storable_address`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import bindparam, delete, insert, select

from connectors.records import RecordKey, System
from sync.store._bulk import Lookup
from sync.store._sql import Db, chunked, connection, keys_by_object
from sync.store.schema import RecordAddress as Row
from sync.store.schema import storable_address


def addresses_of(db: Db, keys: Iterable[RecordKey]) -> dict[RecordKey, frozenset[str]]:
    """The addresses kept for these records (a record with none is left out); one query per
    object and chunk."""
    conn = connection(db)
    found: dict[RecordKey, set[str]] = {}
    for (system, obj), ids in keys_by_object(keys).items():
        for record_id, email in _OF.rows(conn, list(ids), system=system.value, object=obj):
            found.setdefault(ids[record_id], set()).add(email)
    return {key: frozenset(emails) for key, emails in found.items()}


def holders_of(db: Db, emails: Sequence[str]) -> dict[str, list[RecordKey]]:
    """The records each address is kept for (most often none, at most one per system: the
    systems keep them unique), in key order; one query per chunk."""
    conn = connection(db)
    found: dict[str, list[RecordKey]] = {}
    wanted = [e for e in dict.fromkeys(emails) if storable_address(e) is not None]
    for email, system, obj, record_id in _HOLDERS.rows(conn, wanted):
        found.setdefault(email, []).append(RecordKey(System(system), obj, record_id))
    return {email: sorted(keys) for email, keys in found.items()}


def keep_addresses(db: Db, addresses: Mapping[RecordKey, Iterable[str]]) -> None:
    """Make each record's addresses exactly these (none: a record deleted, or whose addresses
    were all removed); records not named keep theirs."""
    if not addresses:
        return
    conn = connection(db)
    for (system, obj), ids in keys_by_object(addresses).items():
        for chunk in chunked(list(ids)):
            conn.execute(
                delete(Row).where(
                    Row.system == system.value, Row.object == obj, Row.record_id.in_(chunk)
                )
            )
    rows = [
        {
            "system": key.system.value,
            "object": key.object,
            "record_id": key.id,
            "email_normalized": email,
        }
        for key, emails in addresses.items()
        for email in sorted(set(emails))
        if storable_address(email) is not None
    ]
    if rows:
        conn.execute(insert(Row), rows)


_OF = Lookup.by_record_ids(Row, Row.record_id, Row.email_normalized)
_HOLDERS = Lookup(
    lambda _: select(Row.email_normalized, Row.system, Row.object, Row.record_id).where(
        Row.email_normalized.in_(bindparam("emails", expanding=True))
    ),
    "emails",
)
