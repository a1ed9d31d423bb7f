"""The decision log: every field decision with both sides' values, the rule and the trigger.

`baton why <email> [field]` reads it back through `decisions_for`. Rows are appended, never
updated; `record_decisions` writes a page of them in one executemany.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import insert, select

from connectors.records import FieldValue, System
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


def record_decision(db: Db, decision: Decision) -> None:
    record_decisions(db, [decision])


def record_decisions(db: Db, decisions: Sequence[Decision]) -> None:
    if not decisions:
        return
    rows = []
    for decision in decisions:
        row = {f.name: getattr(decision, f.name) for f in fields(decision)}  # no deep copies
        row["winner"] = decision.winner.value if decision.winner else None
        rows.append(row)
    connection(db).execute(insert(DecisionRow), rows)


def decisions_for(db: Db, person_id: uuid.UUID, field: str | None = None) -> list[Decision]:
    """A person's decisions (for one field, or all), oldest first."""
    query = select(
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
    ).where(DecisionRow.person_id == person_id)
    if field is not None:
        query = query.where(DecisionRow.field == field)
    rows = connection(db).execute(query.order_by(DecisionRow.decided_at, DecisionRow.id))
    found = []
    for row in rows:
        values = list(row)
        values[9] = System(values[9]) if values[9] else None
        found.append(Decision(*values))
    return found


def people_with_rule(
    db: Db, person_ids: Iterable[uuid.UUID], field: str, rule: str
) -> set[uuid.UUID]:
    """Which of these people have a decision with this field and rule (e.g. an ambiguous
    identity the engine must keep refusing to guess), one query per chunk."""
    conn = connection(db)
    found: set[uuid.UUID] = set()
    for chunk in chunked(list(dict.fromkeys(person_ids))):
        rows = conn.execute(
            select(DecisionRow.person_id)
            .where(
                DecisionRow.person_id.in_(chunk),
                DecisionRow.field == field,
                DecisionRow.rule == rule,
            )
            .distinct()
        )
        found.update(rows.scalars())
    return found
