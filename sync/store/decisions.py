"""The decision log: every field decision with both sides' values, the rule and the trigger.

`baton why <email> [field]` reads it back through `decisions_for`. Rows are appended, never
updated; `record_decisions` writes a page of them in one executemany, and `unrepeated` keeps a
record read again from logging the same note each time.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, insert, or_, select

from connectors.records import FieldValue, RecordKey, System
from sync.store._bulk import Batch, Lookup, as_json_text
from sync.store._sql import Db, chunked, connection
from sync.store.schema import Decision as DecisionRow


@dataclass(frozen=True, slots=True)
class Decision:
    person_id: uuid.UUID
    field: str
    rule: str
    trigger: str
    decided_at: datetime
    hubspot_old: FieldValue = None
    hubspot_new: FieldValue = None
    salesforce_old: FieldValue = None
    salesforce_new: FieldValue = None
    winner: System | None = None
    hubspot_modified_at: datetime | None = None
    salesforce_modified_at: datetime | None = None
    run_id: uuid.UUID | None = None


def note_about(
    pid: uuid.UUID,
    field_name: str,
    rule: str,
    trigger: str,
    now: datetime,
    run_id: uuid.UUID | None,
    key: RecordKey,
    why: str,
) -> Decision:
    """A decision about a record rather than a field (identity, deletes, merges, refusals):
    in the columns of the record's system, "old" names the record and "new" says what happened."""
    hubspot = key.system is System.HUBSPOT
    return Decision(
        person_id=pid,
        field=field_name,
        rule=rule[:48],
        trigger=trigger[:32],
        decided_at=now,
        hubspot_old=str(key) if hubspot else None,
        hubspot_new=why if hubspot else None,
        salesforce_old=None if hubspot else str(key),
        salesforce_new=None if hubspot else why,
        run_id=run_id,
    )


HELD_SUFFIX = ":held#"
_HELD = re.compile(r"^(?P<rule>.*):held#(?P<letter>\d+)$")


def held_rule(rule: str, letter_id: int) -> str:
    """The rule a field decision is logged under when the write carrying it was held back,
    not sent: the system refused this very payload before, and dead letter `letter_id` is
    open (`baton errors retry <id>` sends it)."""
    suffix = f"{HELD_SUFFIX}{letter_id}"
    return f"{rule[: 48 - len(suffix)]}{suffix}"


def unheld(rule: str) -> tuple[str, int | None]:
    """A logged rule and the dead letter that held its write back (None: not held)."""
    found = _HELD.match(rule)
    if found is None:
        return rule, None
    return found["rule"], int(found["letter"])


def record_decision(db: Db, decision: Decision) -> None:
    record_decisions(db, [decision])


def record_decisions(db: Db, decisions: Sequence[Decision]) -> None:
    rows = [
        (
            d.person_id,
            d.field,
            d.rule,
            d.trigger,
            d.decided_at,
            d.hubspot_old,
            d.hubspot_new,
            d.salesforce_old,
            d.salesforce_new,
            d.winner.value if d.winner else None,
            d.hubspot_modified_at,
            d.salesforce_modified_at,
            d.run_id,
        )
        for d in decisions
    ]
    _INSERT.execute(connection(db), rows)


_INSERT = Batch(
    lambda _: insert(DecisionRow),
    (
        "person_id",
        "field",
        "rule",
        "trigger",
        "decided_at",
        "hubspot_old",
        "hubspot_new",
        "salesforce_old",
        "salesforce_new",
        "winner",
        "hubspot_modified_at",
        "salesforce_modified_at",
        "run_id",
    ),
)


def unrepeated(db: Db, notes: Sequence[Decision]) -> list[Decision]:
    """The notes that say something new: a note about a record (named in the "old" columns)
    that repeats the words of the latest decision of its rule logged for its person, field and
    record is dropped, so a record read again (a lookback, an idle cycle) is not logged each
    time, even when two notes about it alternate (a deleted Lead is flagged, and its person
    waits for it). One query per chunk of people."""
    if not notes:
        return []
    fields_ = sorted({note.field for note in notes})
    conn = connection(db)
    latest: dict[tuple[object, ...], tuple[object, ...]] = {}
    for chunk in chunked(list(dict.fromkeys(note.person_id for note in notes))):
        rows = conn.execute(
            select(*_NOTE_COLUMNS)
            .where(DecisionRow.person_id.in_(chunk), DecisionRow.field.in_(fields_))
            .order_by(DecisionRow.decided_at, DecisionRow.id)
        )
        for row in rows:
            latest[_about(*row[:5])] = tuple(row[5:])
    fresh = []
    for note in notes:
        about = _about(note.person_id, note.field, note.hubspot_old, note.salesforce_old, note.rule)
        said = (note.hubspot_new, note.salesforce_new)
        if latest.get(about) != said:
            latest[about] = said
            fresh.append(note)
    return fresh


_NOTE_COLUMNS = (
    DecisionRow.person_id,
    DecisionRow.field,
    DecisionRow.hubspot_old,
    DecisionRow.salesforce_old,
    DecisionRow.rule,
    DecisionRow.hubspot_new,
    DecisionRow.salesforce_new,
)


def _about(
    person_id: uuid.UUID, field: str, hubspot_old: FieldValue, salesforce_old: FieldValue, rule: str
) -> tuple[object, ...]:
    return (person_id, field, hubspot_old, salesforce_old, rule)


def latest_of_fields(
    db: Db, about: Iterable[tuple[uuid.UUID, str]]
) -> dict[tuple[uuid.UUID, str], Decision]:
    """The latest decision logged for each of these (person, field) pairs that has one, so
    a decision that would say again what the log already says is not appended (a write held
    back by its dead letter, planned again each cycle). One query per chunk of people."""
    wanted = set(about)
    if not wanted:
        return {}
    fields_ = sorted({name for _, name in wanted})
    conn = connection(db)
    latest: dict[tuple[uuid.UUID, str], Decision] = {}
    for chunk in chunked(sorted({pid for pid, _ in wanted}, key=str)):
        rows = conn.execute(
            _DECISION_QUERY.where(
                DecisionRow.person_id.in_(chunk), DecisionRow.field.in_(fields_)
            ).order_by(DecisionRow.decided_at, DecisionRow.id)
        )
        for row in rows:
            decision = _from_row(row)
            if (decision.person_id, decision.field) in wanted:
                latest[decision.person_id, decision.field] = decision
    return latest


def decisions_for(db: Db, person_id: uuid.UUID, field: str | None = None) -> list[Decision]:
    """A person's decisions (for one field, or all), oldest first."""
    query = _DECISION_QUERY.where(DecisionRow.person_id == person_id)
    if field is not None:
        query = query.where(DecisionRow.field == field)
    rows = connection(db).execute(query.order_by(DecisionRow.decided_at, DecisionRow.id))
    return [_from_row(row) for row in rows]


_DECISION_QUERY = select(
    DecisionRow.person_id,
    DecisionRow.field,
    DecisionRow.rule,
    DecisionRow.trigger,
    DecisionRow.decided_at,
    DecisionRow.hubspot_old,
    DecisionRow.hubspot_new,
    DecisionRow.salesforce_old,
    DecisionRow.salesforce_new,
    DecisionRow.winner,
    DecisionRow.hubspot_modified_at,
    DecisionRow.salesforce_modified_at,
    DecisionRow.run_id,
)


def _from_row(row: Any) -> Decision:
    values = list(row)
    values[9] = System(values[9]) if values[9] else None
    return Decision(*values)


def people_with_value(db: Db, field: str, value: FieldValue) -> list[uuid.UUID]:
    """The people whose decisions of this field hold `value` on either side, before or after
    (everyone the log says had an address, or was given it), by their first such decision.

    Compared as the JSON text the store holds (PostgreSQL's `json` has no equality; the engine
    encodes with orjson on both backends). No index serves it: a whole read of the log, for a
    lookup that found nothing the indexed way."""
    text = orjson.dumps(value).decode()
    columns = (
        DecisionRow.hubspot_old,
        DecisionRow.hubspot_new,
        DecisionRow.salesforce_old,
        DecisionRow.salesforce_new,
    )
    rows = connection(db).execute(
        select(DecisionRow.person_id)
        .where(DecisionRow.field == field, or_(*(as_json_text(c) == text for c in columns)))
        .order_by(DecisionRow.decided_at, DecisionRow.id)
    )
    return list(dict.fromkeys(rows.scalars()))


def people_with_rule(
    db: Db, person_ids: Iterable[uuid.UUID], field: str, rule: str
) -> set[uuid.UUID]:
    """Which of these people have a decision with this field and rule (e.g. an ambiguous
    identity the engine must keep refusing to guess), one query per chunk."""
    conn = connection(db)
    found: set[uuid.UUID] = set()
    rows = _WITH_RULE.rows(conn, list(dict.fromkeys(person_ids)), field=field, rule=rule)
    found.update(person_id for (person_id,) in rows)
    return found


_WITH_RULE = Lookup(
    lambda _: (
        select(DecisionRow.person_id)
        .where(
            DecisionRow.person_id.in_(bindparam("people", expanding=True)),
            DecisionRow.field == bindparam("field"),
            DecisionRow.rule == bindparam("rule"),
        )
        .distinct()
    ),
    "people",
    ("field", "rule"),
)


def noted_records(db: Db, about: Mapping[RecordKey, uuid.UUID], rule: str) -> set[RecordKey]:
    """Which of these records (each with its person) a note of `rule` was logged about
    (`note_about`: the record named in its system's "old" column), one query per chunk of
    people."""
    conn = connection(db)
    names = {str(key): key for key in about}
    found: set[RecordKey] = set()
    for chunk in chunked(list(dict.fromkeys(about.values()))):
        rows = conn.execute(
            select(DecisionRow.hubspot_old, DecisionRow.salesforce_old).where(
                DecisionRow.person_id.in_(chunk), DecisionRow.rule == rule
            )
        )
        for hubspot_old, salesforce_old in rows:
            for name in (hubspot_old, salesforce_old):
                if name in names:
                    found.add(names[name])
    return found
