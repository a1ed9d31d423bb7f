"""Dead letters: open, count attempts, retry (closed unless refused again), drop, reopen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from connectors.records import RecordKey, System
from sync.store.dead_letters import (
    DeadLetterStatus,
    Direction,
    NewDeadLetter,
    add_dead_letter,
    add_dead_letters,
    close_retried,
    count_dead_letters,
    drop_dead_letters,
    list_dead_letters,
    open_dead_letters,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LEAD = RecordKey(System.SALESFORCE, "Lead", "00Q1")
CODE, MESSAGE = "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Company is required for MQL leads"


def test_lifecycle_open_repeat_retry_fail_again_drop(db: Connection) -> None:
    add_dead_letter(db, LEAD, Direction.TO_SALESFORCE, {"Status": "MQL"}, CODE, MESSAGE, at=T0)
    later = T0 + timedelta(minutes=10)
    add_dead_letter(
        db, LEAD, Direction.TO_SALESFORCE, {"Status": "SAL"}, CODE, "second words", at=later
    )
    [letter] = list_dead_letters(db)
    assert (letter.key, letter.direction, letter.attempts) == (LEAD, Direction.TO_SALESFORCE, 2)
    assert (letter.payload, letter.vendor_code, letter.vendor_message) == (
        {"Status": "SAL"},
        CODE,
        "second words",
    )
    assert (letter.first_seen_at, letter.last_seen_at) == (T0, later)

    [retrying] = open_dead_letters(db)
    assert retrying == letter
    close_retried(db, [retrying])
    [retried] = list_dead_letters(db, DeadLetterStatus.RETRIED)
    assert retried.id == letter.id
    assert list_dead_letters(db) == []
    assert open_dead_letters(db) == []  # nothing open any more

    add_dead_letter(db, LEAD, Direction.TO_SALESFORCE, {"Status": "SAL"}, CODE, MESSAGE)
    [reopened] = list_dead_letters(db)
    assert (reopened.id, reopened.attempts, reopened.status) == (
        letter.id,
        3,
        DeadLetterStatus.OPEN,
    )

    [dropped] = drop_dead_letters(db, [letter.id])
    assert dropped.status is DeadLetterStatus.DROPPED
    assert [d.id for d in list_dead_letters(db, DeadLetterStatus.DROPPED)] == [letter.id]
    assert count_dead_letters(db) == {
        DeadLetterStatus.OPEN: 0,
        DeadLetterStatus.RETRIED: 0,
        DeadLetterStatus.DROPPED: 1,
    }


def test_directions_are_separate_letters_and_retry_by_id(db: Connection) -> None:
    contact = RecordKey(System.HUBSPOT, "contacts", "7")
    add_dead_letters(
        db,
        [
            NewDeadLetter(LEAD, Direction.TO_SALESFORCE, {}, CODE, MESSAGE),
            NewDeadLetter(LEAD, Direction.TO_HUBSPOT, {}, "VALIDATION_ERROR", "bad email"),
            NewDeadLetter(contact, Direction.TO_HUBSPOT, {"email": "x"}, "INVALID_EMAIL", "x"),
        ],
        at=T0,
    )
    letters = list_dead_letters(db)
    assert len(letters) == 3
    chosen = letters[1].id
    retrying = open_dead_letters(db, [chosen, chosen])
    assert [d.id for d in retrying] == [chosen]
    close_retried(db, retrying)
    assert {d.id for d in list_dead_letters(db, None)} == {d.id for d in letters}
    assert count_dead_letters(db)[DeadLetterStatus.OPEN] == 2


def test_a_letter_refused_again_during_its_retry_stays_open(db: Connection) -> None:
    add_dead_letter(db, LEAD, Direction.TO_SALESFORCE, {"Status": "MQL"}, CODE, MESSAGE, at=T0)
    [retrying] = open_dead_letters(db)
    add_dead_letter(db, LEAD, Direction.TO_SALESFORCE, {"Status": "MQL"}, CODE, MESSAGE, at=T0)
    close_retried(db, [retrying])  # the retry's commit: this letter was counted again
    [still] = list_dead_letters(db)
    assert (still.id, still.attempts, still.status) == (retrying.id, 2, DeadLetterStatus.OPEN)
