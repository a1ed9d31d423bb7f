"""People: the one row per human that identity links hang from.

The caller normalises email (the mapping layer owns that rule); the store only indexes it, and
deliberately does not make it unique: shared and duplicate addresses exist, and an ambiguous
match must be reported by the engine, never resolved by a constraint. Text no address can be
(longer than the column's 320 characters, or holding a NUL, which PostgreSQL refuses) is kept
as no email and matches no one: a record's odd value must not fail every unit that reads it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update

from sync.store._bulk import Batch, Lookup
from sync.store._sql import Db, chunked, connection, upsert
from sync.store.schema import Person, storable_address
from sync.store.types import utcnow


def add_person(db: Db, email_normalized: str | None, *, at: datetime | None = None) -> uuid.UUID:
    """Create a person and return their baton id (a fresh UUID4; no commit)."""
    baton_id = uuid.uuid4()
    connection(db).execute(
        insert(Person).values(
            baton_id=baton_id,
            email_normalized=storable_address(email_normalized),
            created_at=at or utcnow(),
        )
    )
    return baton_id


def add_people(
    db: Db, emails_normalized: Sequence[str | None], *, at: datetime | None = None
) -> list[uuid.UUID]:
    """Create one person per email (a backfill page) in one executemany; ids in input order."""
    if not emails_normalized:
        return []
    when = at or utcnow()
    ids = [uuid.uuid4() for _ in emails_normalized]
    rows = [
        (baton_id, storable_address(email), when)
        for baton_id, email in zip(ids, emails_normalized, strict=True)
    ]
    _ADD.execute(connection(db), rows)
    return ids


def people_by_email(db: Db, email_normalized: str) -> list[uuid.UUID]:
    """Every person with this normalised email, oldest first (more than one = ambiguous)."""
    if storable_address(email_normalized) is None:
        return []
    rows = connection(db).execute(
        select(Person.baton_id)
        .where(Person.email_normalized == email_normalized)
        .order_by(Person.created_at, Person.baton_id)
    )
    return list(rows.scalars())


def person_exists(db: Db, baton_id: uuid.UUID) -> bool:
    found = connection(db).execute(select(Person.baton_id).where(Person.baton_id == baton_id))
    return found.first() is not None


def add_people_with_ids(
    db: Db, people: Sequence[tuple[uuid.UUID, str | None]], *, at: datetime | None = None
) -> None:
    """Create people whose baton ids the caller chose (deterministic ids, or ids read back from
    a record's cross-system id after the store was lost); ids already present are skipped."""
    if not people:
        return
    when = at or utcnow()
    rows = [(baton_id, storable_address(email), when) for baton_id, email in people]
    _ADD_NEW.execute(connection(db), rows)


_COLUMNS = ("baton_id", "email_normalized", "created_at")
_ADD = Batch(lambda _: insert(Person), _COLUMNS)
_ADD_NEW = Batch(
    lambda conn: upsert(conn, Person).on_conflict_do_nothing(index_elements=[Person.baton_id]),
    _COLUMNS,
)


def set_emails(db: Db, emails: Sequence[tuple[uuid.UUID, str | None]]) -> None:
    """Give people the address their record carries now (it was edited), so matching by email
    finds them by it; one executemany."""
    _SET_EMAIL.execute(
        connection(db), [(storable_address(email), baton_id) for baton_id, email in emails]
    )


_SET_EMAIL = Batch(
    lambda _: (
        update(Person)
        .where(Person.baton_id == bindparam("k_baton_id"))
        .values(email_normalized=bindparam("k_email"))
    ),
    ("k_email", "k_baton_id"),
)


def existing_people(db: Db, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these baton ids are people in the store (one query per chunk)."""
    conn = connection(db)
    found: set[uuid.UUID] = set()
    for chunk in chunked(list(ids)):
        found.update(
            conn.execute(select(Person.baton_id).where(Person.baton_id.in_(chunk))).scalars()
        )
    return found


def people_by_emails(db: Db, emails: Sequence[str]) -> dict[str, list[uuid.UUID]]:
    """`people_by_email` for a page of addresses, one query per chunk (oldest first each)."""
    conn = connection(db)
    found: dict[str, list[uuid.UUID]] = {email: [] for email in emails}
    wanted = [email for email in dict.fromkeys(emails) if storable_address(email) is not None]
    for email, baton_id in _BY_EMAIL.rows(conn, wanted):
        if email is not None:
            found.setdefault(email, []).append(baton_id)
    return found


_BY_EMAIL = Lookup(
    lambda _: (
        select(Person.email_normalized, Person.baton_id)
        .where(Person.email_normalized.in_(bindparam("emails", expanding=True)))
        .order_by(Person.created_at, Person.baton_id)
    ),
    "emails",
)
