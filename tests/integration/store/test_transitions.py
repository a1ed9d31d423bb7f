"""Funnel transitions: the first entry into a stage is never rewritten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from connectors.records import System
from sync.store.people import add_person
from sync.store.transitions import Transition, first_entries, record_transition, record_transitions

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_first_entry_wins_and_repeats_are_harmless(db: Connection) -> None:
    ann = add_person(db, "ann@example.com", at=T0)
    assert record_transition(db, ann, "mql", T0, System.HUBSPOT)
    assert not record_transition(db, ann, "mql", T0 + timedelta(days=9), System.SALESFORCE)
    assert not record_transition(db, ann, "mql", T0 - timedelta(days=1), System.SALESFORCE)
    assert record_transition(
        db, ann, "recycled", T0 + timedelta(days=1), System.SALESFORCE, "timing"
    )
    entries = first_entries(db, ann)
    assert list(entries) == ["mql", "recycled"]
    assert entries["mql"] == Transition(ann, "mql", T0, System.HUBSPOT, None)
    assert entries["recycled"].reason == "timing"


def test_bulk_transitions_are_idempotent(db: Connection) -> None:
    people = [add_person(db, None, at=T0) for _ in range(50)]
    page = [
        Transition(p, "inquiry", T0 + timedelta(minutes=i), System.HUBSPOT)
        for i, p in enumerate(people)
    ]
    record_transitions(db, page)
    replay = [Transition(p, "inquiry", T0 + timedelta(days=1), System.SALESFORCE) for p in people]
    record_transitions(db, [*replay, Transition(people[0], "mql", T0, System.HUBSPOT)])
    assert first_entries(db, people[7])["inquiry"].entered_at == T0 + timedelta(minutes=7)
    assert set(first_entries(db, people[0])) == {"inquiry", "mql"}
