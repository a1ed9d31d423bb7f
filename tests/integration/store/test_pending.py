"""Pending creates: kept per person and system until the unit's commit forgets them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Connection

from connectors.records import RecordKey, System
from sync.store.pending import (
    Baseline,
    PendingCreate,
    forget_creates,
    hold_creates,
    pending_creates,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _lead(pid: uuid.UUID, title: str) -> PendingCreate:
    values = {"job_title": title, "score": 75, "entered.mql": "2026-03-01T09:00:00+00:00"}
    source = Baseline(RecordKey(System.HUBSPOT, "contacts", "101"), {"job_title": "CTO"}, T0)
    return PendingCreate(pid, System.SALESFORCE, "Lead", "Baton_Id__c", str(pid), values, source)


def test_a_held_create_is_found_for_its_person_only_until_it_is_forgotten(db: Connection) -> None:
    ann, bo = uuid.uuid4(), uuid.uuid4()
    contact = PendingCreate(bo, System.HUBSPOT, "contacts", "email", "bo@example.com", {})
    hold_creates(db, [_lead(ann, "CTO"), contact], at=T0)
    assert pending_creates(db, [ann]) == [_lead(ann, "CTO")]
    assert pending_creates(db, [uuid.uuid4()]) == []
    forget_creates(db, [ann])
    assert pending_creates(db, [ann, bo]) == [contact]


def test_a_create_sent_again_replaces_the_one_held_before(db: Connection) -> None:
    ann = uuid.uuid4()
    hold_creates(db, [_lead(ann, "CTO")], at=T0)
    hold_creates(db, [_lead(ann, "CEO")], at=T0)
    assert pending_creates(db, [ann]) == [_lead(ann, "CEO")]
