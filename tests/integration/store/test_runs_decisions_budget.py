"""Runs, the decision log and the API budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection

from connectors.records import RecordKey, System
from sync.store.budget import budgets, observe_budget
from sync.store.decisions import (
    Decision,
    decisions_for,
    note_about,
    record_decision,
    record_decisions,
    unrepeated,
)
from sync.store.people import add_person
from sync.store.runs import RunKind, RunStatus, finish_run, get_run, recent_runs, start_run

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_run_lifecycle(db: Connection) -> None:
    run_id = start_run(db, RunKind.BACKFILL, at=T0)
    run = get_run(db, run_id)
    assert run is not None
    assert (run.kind, run.status, run.finished_at, run.counts) == (
        RunKind.BACKFILL,
        RunStatus.RUNNING,
        None,
        {},
    )
    with pytest.raises(ValueError, match="needs its error"):
        finish_run(db, run_id, RunStatus.FAILED)
    finish_run(
        db,
        run_id,
        RunStatus.SUCCEEDED,
        counts={"read": 10, "written": 3},
        at=T0 + timedelta(minutes=1),
    )
    done = get_run(db, run_id)
    assert done is not None
    assert (done.status, done.counts, done.finished_at) == (
        RunStatus.SUCCEEDED,
        {"read": 10, "written": 3},
        T0 + timedelta(minutes=1),
    )
    newer = start_run(db, RunKind.ONCE, at=T0 + timedelta(hours=1))
    assert [r.id for r in recent_runs(db, limit=2)] == [newer, run_id]


def test_decisions_are_kept_per_person_and_field(db: Connection) -> None:
    ann = add_person(db, "ann@example.com", at=T0)
    run_id = start_run(db, RunKind.DAEMON, at=T0)
    conflict = Decision(
        person_id=ann,
        field="lead_status",
        rule="two_way",
        trigger="poll",
        decided_at=T0 + timedelta(seconds=2),
        hubspot_old="Open",
        hubspot_new="Working",
        salesforce_old="Open",
        salesforce_new="Working",
        winner=System.SALESFORCE,
        hubspot_modified_at=T0,
        salesforce_modified_at=T0 + timedelta(seconds=1),
        run_id=run_id,
    )
    record_decision(db, conflict)
    record_decisions(
        db,
        [
            Decision(
                ann, "score", "always_hubspot", "webhook", T0, hubspot_new=42, salesforce_new=42
            ),
            Decision(ann, "phone", "two_way", "poll", T0, hubspot_old="n/a", hubspot_new=None),
        ],
    )
    assert decisions_for(db, ann, "lead_status") == [conflict]
    assert [d.field for d in decisions_for(db, ann)] == ["score", "phone", "lead_status"]
    [phone] = decisions_for(db, ann, "phone")
    assert (phone.hubspot_old, phone.hubspot_new, phone.winner) == ("n/a", None, None)


def test_notes_repeating_their_rules_last_words_about_a_record_are_dropped(
    db: Connection,
) -> None:
    """A deleted Lead re-read on every cycle is flagged, and its person waits for it, each
    time: two notes about one record that alternate are each kept once, and new words (or a
    note about another record) are kept."""
    ann = add_person(db, "ann@example.com", at=T0)
    lead, contact = (
        RecordKey(System.SALESFORCE, "Lead", "00Q1"),
        RecordKey(System.SALESFORCE, "Contact", "0031"),
    )

    def note(rule: str, key: RecordKey, why: str, at: int) -> Decision:
        return note_about(ann, "record", rule, "poll", T0 + timedelta(seconds=at), None, key, why)

    for cycle in range(3):
        at = 10 * cycle
        kept = unrepeated(db, [note("delete_flagged", lead, "deleted", at)])
        kept += unrepeated(db, [note("unreadable", lead, "waits", at + 1)])
        record_decisions(db, kept)
        assert len(kept) == (2 if cycle == 0 else 0)
    fresh = [note("unreadable", lead, "waits longer", 40), note("unreadable", contact, "waits", 40)]
    assert unrepeated(db, fresh) == fresh


def test_budget_keeps_the_latest_observation(db: Connection) -> None:
    observe_budget(db, System.HUBSPOT, "10s", used=10, remaining=180, at=T0)
    observe_budget(db, System.HUBSPOT, "10s", used=12, remaining=178, at=T0 + timedelta(seconds=1))
    observe_budget(db, System.HUBSPOT, "10s", used=1, remaining=189, at=T0)  # stale: ignored
    observe_budget(db, System.SALESFORCE, "daily", used=500, remaining=99_500, at=T0)
    [hubspot] = budgets(db, System.HUBSPOT)
    assert (hubspot.used, hubspot.remaining, hubspot.observed_at) == (
        12,
        178,
        T0 + timedelta(seconds=1),
    )
    assert [b.system for b in budgets(db)] == [System.HUBSPOT, System.SALESFORCE]
