"""The batch write path (raw executemany) stores exactly what SQLAlchemy's ordinary path stores.

Each case writes the same rows twice, once through the store function (a `Batch`) and once
through `conn.execute(<Core statement>, dicts)`, then compares the stored values as the driver
returns them (no type processing: SQLite text, PostgreSQL native values) and as the typed
readers return them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from connectors.records import RecordKey, System
from sync.store._bulk import Lookup
from sync.store._sql import upsert
from sync.store.dead_letters import Direction, NewDeadLetter, add_dead_letters, open_payloads
from sync.store.decisions import Decision, decisions_for, people_with_rule, record_decisions
from sync.store.links import (
    LinkReason,
    active_keys_for,
    associate,
    associated,
    find_links,
    history,
    link_many,
    page_links,
)
from sync.store.people import add_people, people_by_emails
from sync.store.schema import Decision as DecisionRow
from sync.store.schema import IdentityLink
from sync.store.schema import Snapshot as SnapshotRow
from sync.store.snapshots import (
    SnapshotWrite,
    fingerprint,
    get_snapshots,
    put_snapshots,
    snapshot_states,
    snapshot_values,
    touch_snapshots,
)
from sync.store.transitions import Transition, record_transitions, recorded_stages

EAST = timezone(timedelta(hours=5, minutes=30))
TIMES = [
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
    datetime(2026, 1, 2, 1, 0, tzinfo=EAST),  # the day before, in UTC
    None,
]
VALUES: list[Any] = [None, "ann@example.com", 42, 0.5, True, {"nested": [1, "x"]}]


def _raw(conn: Connection, table: str, columns: str, where: str) -> list[tuple[Any, ...]]:
    sql = f"SELECT {columns} FROM {table} WHERE {where} ORDER BY {columns}"  # noqa: S608 (test's own constants)
    return [tuple(row) for row in conn.exec_driver_sql(sql)]


def test_decisions_store_the_same_values_as_the_ordinary_insert(db: Connection) -> None:
    [person] = add_people(db, ["ann@example.com"], at=TIMES[0])
    notes = [
        Decision(
            person,
            "batch",
            f"rule{i}",
            "poll",
            TIMES[i % 3] or TIMES[0],
            hubspot_old=VALUES[i % len(VALUES)],
            hubspot_new=VALUES[(i + 1) % len(VALUES)],
            salesforce_old=VALUES[(i + 2) % len(VALUES)],
            salesforce_new=None,
            winner=System.HUBSPOT if i % 2 else None,
            hubspot_modified_at=TIMES[i % len(TIMES)],
            salesforce_modified_at=TIMES[(i + 1) % len(TIMES)],
        )
        for i in range(8)
    ]
    record_decisions(db, notes)
    db.execute(
        insert(DecisionRow),
        [
            {
                "person_id": n.person_id,
                "field": "core",
                "rule": n.rule,
                "trigger": n.trigger,
                "decided_at": n.decided_at,
                "hubspot_old": n.hubspot_old,
                "hubspot_new": n.hubspot_new,
                "salesforce_old": n.salesforce_old,
                "salesforce_new": n.salesforce_new,
                "winner": n.winner.value if n.winner else None,
                "hubspot_modified_at": n.hubspot_modified_at,
                "salesforce_modified_at": n.salesforce_modified_at,
                "run_id": n.run_id,
            }
            for n in notes
        ],
    )
    columns = (
        "person_id, rule, trigger, decided_at, CAST(hubspot_old AS TEXT), "
        "CAST(hubspot_new AS TEXT), CAST(salesforce_old AS TEXT), "
        "CAST(salesforce_new AS TEXT), winner, hubspot_modified_at, salesforce_modified_at, run_id"
    )
    batch = _raw(db, "decisions", columns, "field = 'batch'")
    ordinary = _raw(db, "decisions", columns, "field = 'core'")
    assert len(batch) == 8
    assert batch == ordinary
    # NULL stays SQL NULL (none_as_null), and JSON values read back as written.
    assert sum(row[4] is None for row in batch) == sum(n.hubspot_old is None for n in notes)
    read = decisions_for(db, person, "batch")
    assert [(d.hubspot_old, d.hubspot_new, d.winner) for d in read] == [
        (n.hubspot_old, n.hubspot_new, n.winner) for n in sorted(notes, key=_by_time)
    ]
    assert {d.hubspot_modified_at for d in read} == {n.hubspot_modified_at for n in notes}
    assert all(d.decided_at.tzinfo is UTC for d in read)


def _by_time(note: Decision) -> datetime:
    return note.decided_at


def test_snapshots_upsert_like_the_ordinary_upsert_and_count_versions(db: Connection) -> None:
    def key(kind: str, n: int) -> RecordKey:
        return RecordKey(System.SALESFORCE, kind, f"00Q{n:015d}")

    pages = [
        [
            SnapshotWrite(
                key("Batch", n),
                {"email": f"p{n}@example.com", "score": n + round_, "blank": None},
                written_by_us=bool(n % 2),
                source_modified_at=TIMES[(n + round_) % len(TIMES)],
                source_digest=None if n % 3 else f"{n:032x}",
            )
            for n in range(6)
        ]
        for round_ in range(2)
    ]
    for round_, page in enumerate(pages):
        at = TIMES[round_ + 1]
        put_snapshots(db, page, at=at)
        stmt = upsert(db, SnapshotRow)
        stmt = stmt.on_conflict_do_update(
            index_elements=[SnapshotRow.system, SnapshotRow.object, SnapshotRow.record_id],
            set_={
                "field_values": stmt.excluded.field_values,
                "hash": stmt.excluded.hash,
                "written_by_us": stmt.excluded.written_by_us,
                "version": SnapshotRow.version + 1,
                "source_modified_at": stmt.excluded.source_modified_at,
                "updated_at": stmt.excluded.updated_at,
                "source_digest": stmt.excluded.source_digest,
            },
        )
        db.execute(
            stmt,
            [
                {
                    "system": w.key.system.value,
                    "object": "Core",
                    "record_id": w.key.id,
                    # put_snapshots stores the JSON its hash is taken of: keys sorted.
                    "field_values": dict(sorted(w.values.items())),
                    "hash": fingerprint(w.values),
                    "written_by_us": w.written_by_us,
                    "version": 1,
                    "source_modified_at": w.source_modified_at,
                    "updated_at": at,
                    "source_digest": w.source_digest,
                }
                for w in page
            ],
        )
    columns = (
        "record_id, CAST(field_values AS TEXT), hash, written_by_us, version, "
        "source_modified_at, updated_at, source_digest"
    )
    batch = _raw(db, "snapshots", columns, "object = 'Batch'")
    ordinary = _raw(db, "snapshots", columns, "object = 'Core'")
    assert len(batch) == 6
    assert batch == ordinary
    found = get_snapshots(db, [w.key for w in pages[1]])
    assert {k: (s.values, s.version) for k, s in found.items()} == {
        w.key: (w.values, 2) for w in pages[1]
    }

    # A touch is an UPDATE with named parameters: check it against the values it must set.
    touch_snapshots(db, [(key("Batch", 0), TIMES[2], "f" * 32)], at=TIMES[0])
    touched = get_snapshots(db, [key("Batch", 0)])[key("Batch", 0)]
    assert (touched.version, touched.written_by_us, touched.source_digest) == (3, False, "f" * 32)
    assert (touched.source_modified_at, touched.updated_at) == (TIMES[2], TIMES[0])


def test_bulk_links_and_their_history_read_back(db: Connection) -> None:
    people = add_people(db, ["a@example.com", None], at=TIMES[2] or TIMES[0])
    keys = [RecordKey(System.HUBSPOT, "contacts", str(900 + n)) for n in range(2)]
    link_many(db, list(zip(people, keys, [LinkReason.EMAIL] * 2, strict=True)), at=TIMES[1])
    links = find_links(db, keys)
    assert {k: (v.person_id, v.active, v.linked_at) for k, v in links.items()} == {
        keys[0]: (people[0], True, TIMES[1]),
        keys[1]: (people[1], True, TIMES[1]),
    }
    [change] = history(db, people[0])
    assert (change.key, change.previous_key, change.reason, change.at) == (
        keys[0],
        None,
        LinkReason.EMAIL,
        TIMES[1],
    )
    assert isinstance(change.person_id, uuid.UUID)


_SNAPSHOT_COLUMNS = (
    SnapshotRow.record_id,
    SnapshotRow.field_values,
    SnapshotRow.written_by_us,
    SnapshotRow.source_modified_at,
    SnapshotRow.updated_at,
    SnapshotRow.source_digest,
)
_LINK_COLUMNS = (
    IdentityLink.person_id,
    IdentityLink.record_id,
    IdentityLink.active,
    IdentityLink.linked_at,
    IdentityLink.unlinked_at,
)


def _ordered(rows: Any) -> list[tuple[Any, ...]]:
    return sorted((tuple(row) for row in rows), key=repr)


def test_lookups_return_what_the_ordinary_select_returns(db: Connection) -> None:
    """Every type the store reads by page (UUIDs, times, JSON, booleans), in short pages
    (padded to a bucket), full ones and several chunks, with and without extra parameters."""
    people = add_people(db, [f"p{n}@example.com" for n in range(700)], at=TIMES[2] or TIMES[0])
    keys = [RecordKey(System.HUBSPOT, "contacts", str(5000 + n)) for n in range(700)]
    link_many(db, list(zip(people, keys, [LinkReason.EMAIL] * 700, strict=True)), at=TIMES[1])
    put_snapshots(
        db,
        [
            SnapshotWrite(
                k,
                {"n": n, "blank": None, "ok": n % 2 == 0},
                written_by_us=n % 3 == 0,
                source_modified_at=TIMES[n % len(TIMES)],
            )
            for n, k in enumerate(keys)
        ],
        at=TIMES[0],
    )
    lookups = [
        (
            Lookup(
                lambda _: select(*_SNAPSHOT_COLUMNS).where(
                    SnapshotRow.system == bindparam("system"),
                    SnapshotRow.record_id.in_(bindparam("ids", expanding=True)),
                    SnapshotRow.version == 1,  # a value built into the statement
                ),
                "ids",
                ("system",),
            ),
            [k.id for k in keys] + ["missing"],
            {"system": "hubspot"},
            lambda ids, system: select(*_SNAPSHOT_COLUMNS).where(
                SnapshotRow.system == system,
                SnapshotRow.record_id.in_(ids),
                SnapshotRow.version == 1,
            ),
        ),
        (
            Lookup(
                lambda _: select(*_LINK_COLUMNS).where(
                    IdentityLink.person_id.in_(bindparam("people", expanding=True))
                ),
                "people",
            ),
            people,
            {},
            lambda ids: select(*_LINK_COLUMNS).where(IdentityLink.person_id.in_(ids)),
        ),
    ]
    for lookup, values, params, ordinary in lookups:
        for count in (1, 3, 500, 501, len(values)):
            page = list(values[:count])
            expected = []
            for start in range(0, len(page), 500):
                expected += db.execute(ordinary(page[start : start + 500], **params)).all()
            found = lookup.rows(db, page, **params)
            assert _ordered(found) == _ordered(expected)
            assert len(found) == min(count, 700)
    assert all(type(row[0]) is uuid.UUID for row in lookup.rows(db, people[:3]))


def test_page_readers_return_the_stored_values(db: Connection) -> None:
    [ann, bob] = add_people(db, ["ann@example.com", "ann@example.com"], at=TIMES[0])
    contact = RecordKey(System.HUBSPOT, "contacts", "71")
    lead = RecordKey(System.SALESFORCE, "Lead", "00Q000000000071")
    opportunity = RecordKey(System.SALESFORCE, "Opportunity", "006000000000071")
    link_many(db, [(ann, contact, LinkReason.EMAIL), (ann, lead, LinkReason.EMAIL)], at=TIMES[1])
    associate(db, [(ann, opportunity, LinkReason.CONVERSION)], at=TIMES[1])
    put_snapshots(
        db,
        [SnapshotWrite(contact, {"email": "ann@example.com"}, False, TIMES[2], "a" * 32)],
        at=TIMES[0],
    )
    record_transitions(db, [Transition(ann, "mql", TIMES[1] or TIMES[0], System.HUBSPOT)])
    record_decisions(db, [Decision(bob, "identity", "ambiguous", "poll", TIMES[0] or TIMES[1])])
    add_dead_letters(
        db,
        [NewDeadLetter(lead, Direction.TO_SALESFORCE, {"Email": "x"}, "BAD", "refused")],
        at=TIMES[0],
    )
    missing = RecordKey(System.HUBSPOT, "contacts", "404")

    page = page_links(db, [contact, lead, missing])
    assert (page.people, page.records) == (
        {contact: ann, lead: ann},
        {ann: {System.HUBSPOT: contact, System.SALESFORCE: lead}},
    )
    assert set(find_links(db, [contact, opportunity, missing])) == {contact, opportunity}
    assert active_keys_for(db, [ann, bob]) == {
        ann: {System.HUBSPOT: contact, System.SALESFORCE: lead}
    }
    assert associated(db, [ann, bob], "Opportunity") == {ann: [opportunity]}
    assert snapshot_values(db, [contact, missing]) == {
        contact: ({"email": "ann@example.com"}, TIMES[2])
    }
    [state] = snapshot_states(db, [contact, missing]).values()
    digest, modified = state.source_digest, state.source_modified_at
    assert (digest, modified) == ("a" * 32, TIMES[2])
    assert modified is not None
    assert modified.tzinfo is UTC
    assert recorded_stages(db, [ann, bob]) == {ann: {"mql": TIMES[1]}}
    assert people_with_rule(db, [ann, bob], "identity", "ambiguous") == {bob}
    assert people_by_emails(db, ["ann@example.com", "nobody@example.com"]) == {
        "ann@example.com": [ann, bob] if ann.hex < bob.hex else [bob, ann],
        "nobody@example.com": [],
    }
    assert open_payloads(db, [lead, contact]) == {lead: {"Email": "x"}}
