"""The caller owns the transaction: repositories never commit, so a rollback leaves nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from connectors.records import RecordKey, System
from sync.store.checkpoints import advance_checkpoint, get_checkpoint, reset_checkpoint
from sync.store.dead_letters import Direction, add_dead_letter, list_dead_letters
from sync.store.links import LinkReason, find_link, link
from sync.store.people import add_person, person_exists
from sync.store.schema import Person
from sync.store.snapshots import get_snapshot, put_snapshot
from sync.store.transitions import first_entries, record_transition

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _write_a_page(session: Session, tag: str) -> tuple[uuid.UUID, RecordKey]:
    key = RecordKey(System.HUBSPOT, "contacts", tag)
    person = add_person(session, f"{tag}@example.com", at=T0)
    link(session, person, key, LinkReason.EMAIL, at=T0)
    put_snapshot(session, key, {"email": f"{tag}@example.com"}, at=T0)
    record_transition(session, person, "mql", T0, System.HUBSPOT)
    add_dead_letter(session, key, Direction.TO_SALESFORCE, {}, "E", "m", at=T0)
    advance_checkpoint(session, System.HUBSPOT, tag, T0, "1", at=T0)
    return person, key


def test_a_rolled_back_session_leaves_nothing(engine: Engine) -> None:
    tag = uuid.uuid4().hex
    with Session(engine) as session:
        person, key = _write_a_page(session, tag)
        assert find_link(session, key) is not None  # visible inside the transaction
        session.rollback()
    with Session(engine) as session:
        assert not person_exists(session, person)
        assert find_link(session, key) is None
        assert get_snapshot(session, key) is None
        assert first_entries(session, person) == {}
        assert get_checkpoint(session, System.HUBSPOT, tag) is None
        assert all(d.key != key for d in list_dead_letters(session, None, limit=10_000))


def test_a_closed_session_without_commit_leaves_nothing_and_commit_keeps_all(
    engine: Engine,
) -> None:
    tag = uuid.uuid4().hex
    with Session(engine) as session:
        person, _ = _write_a_page(session, tag)
    with Session(engine) as session:
        assert not person_exists(session, person)

    with Session(engine) as session, session.begin():
        person, key = _write_a_page(session, tag)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(Person.baton_id == person)).scalar() == 1
        assert get_snapshot(conn, key) is not None
    with engine.begin() as conn:  # tidy the shared database
        reset_checkpoint(conn, System.HUBSPOT, tag)
