"""Checkpoints move only forward, break timestamp ties by id, and respect the run's bound."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection

from connectors.records import System
from sync.store.checkpoints import (
    CheckpointPastBound,
    advance_checkpoint,
    get_checkpoint,
    list_checkpoints,
    reset_checkpoint,
    set_upper_bound,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HS = System.HUBSPOT


def test_advance_moves_forward_and_never_back(db: Connection) -> None:
    assert get_checkpoint(db, HS, "contacts") is None
    assert advance_checkpoint(db, HS, "contacts", T0, "500", at=T0)
    assert advance_checkpoint(db, HS, "contacts", T0, "501")  # same time, later id
    assert not advance_checkpoint(db, HS, "contacts", T0, "499")  # same time, earlier id
    assert not advance_checkpoint(db, HS, "contacts", T0 - timedelta(seconds=1), "999")
    assert not advance_checkpoint(db, HS, "contacts", T0, "501")  # same point: no move
    checkpoint = get_checkpoint(db, HS, "contacts")
    assert checkpoint is not None
    assert (checkpoint.cursor, checkpoint.last_id) == (T0, "501")
    assert advance_checkpoint(db, HS, "contacts", T0 + timedelta(microseconds=1), "1")
    moved = get_checkpoint(db, HS, "contacts")
    assert moved is not None
    assert (moved.cursor, moved.last_id) == (T0 + timedelta(microseconds=1), "1")


def test_upper_bound_is_kept_and_never_passed(db: Connection) -> None:
    bound = T0 + timedelta(hours=1)
    set_upper_bound(db, System.SALESFORCE, "Lead", bound, at=T0)
    checkpoint = get_checkpoint(db, System.SALESFORCE, "Lead")
    assert checkpoint is not None
    assert (checkpoint.cursor, checkpoint.upper_bound) == (None, bound)
    assert advance_checkpoint(db, System.SALESFORCE, "Lead", bound, "00Q1")
    with pytest.raises(CheckpointPastBound, match="past the run's upper bound"):
        advance_checkpoint(db, System.SALESFORCE, "Lead", bound + timedelta(seconds=1), "00Q2")
    set_upper_bound(db, System.SALESFORCE, "Lead", bound + timedelta(hours=1))
    kept = get_checkpoint(db, System.SALESFORCE, "Lead")
    assert kept is not None
    assert (kept.cursor, kept.last_id) == (bound, "00Q1")  # a new bound leaves the cursor


def test_an_earlier_runs_bound_never_lowers_a_later_ones(db: Connection) -> None:
    """Runs overlap (a resumed backfill's catch-up while the daemon polls): the backfill's
    earlier bound set after the poll's must not fail the poll's next advance."""
    poll, backfill = T0 + timedelta(hours=2), T0 + timedelta(hours=1)
    set_upper_bound(db, System.SALESFORCE, "Lead", poll, at=T0)
    set_upper_bound(db, System.SALESFORCE, "Lead", backfill, at=T0)
    checkpoint = get_checkpoint(db, System.SALESFORCE, "Lead")
    assert checkpoint is not None
    assert checkpoint.upper_bound == poll
    assert advance_checkpoint(db, System.SALESFORCE, "Lead", poll, "00Q1")


def test_reset_and_list(db: Connection) -> None:
    advance_checkpoint(db, HS, "contacts", T0, "1")
    advance_checkpoint(db, System.SALESFORCE, "Contact", T0, "003")
    assert [(c.system, c.object) for c in list_checkpoints(db)] == [
        (HS, "contacts"),
        (System.SALESFORCE, "Contact"),
    ]
    assert reset_checkpoint(db, HS, "contacts")
    assert not reset_checkpoint(db, HS, "contacts")
    assert get_checkpoint(db, HS, "contacts") is None


points = st.tuples(
    st.integers(min_value=0, max_value=5).map(lambda s: T0 + timedelta(seconds=s)),
    st.sampled_from(["a", "b", "c"]),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(points, min_size=1, max_size=8))
def test_the_cursor_is_the_maximum_of_every_advance(
    db: Connection, advances: list[tuple[datetime, str]]
) -> None:
    obj = uuid.uuid4().hex  # a fresh checkpoint per example; the fixture's rollback cleans up
    for cursor, last_id in advances:
        advance_checkpoint(db, HS, obj, cursor, last_id)
    checkpoint = get_checkpoint(db, HS, obj)
    assert checkpoint is not None
    assert (checkpoint.cursor, checkpoint.last_id) == max(advances)
