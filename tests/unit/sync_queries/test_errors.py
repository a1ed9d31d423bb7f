"""`errors`: list by status and system, mark for retry, drop with a reason in the decision log."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine

from connectors.records import RecordKey, System
from sync.queries.errors import (
    DROP_FIELD,
    get_errors,
    list_errors,
)
from sync.queries.errors import (
    drop as drop_letters,
)
from sync.store.dead_letters import DeadLetterStatus, Direction, add_dead_letter
from sync.store.decisions import decisions_for
from sync.store.links import LinkReason, link
from sync.store.people import add_person

from .conftest import at

LEAD = RecordKey(System.SALESFORCE, "Lead", "00Q1")
LEAD2 = RecordKey(System.SALESFORCE, "Lead", "00Q2")
CONTACT = RecordKey(System.HUBSPOT, "contacts", "7")


@pytest.fixture
def person(store: Engine) -> uuid.UUID:
    """Three dead letters (ids 1-3, oldest first); the first Lead is linked to a person."""
    with store.begin() as conn:
        pid = add_person(conn, "ann@example.com", at=at("03-01 08:00"))
        link(conn, pid, LEAD, LinkReason.CREATED, at=at("03-01 08:00"))
        add_dead_letter(
            conn,
            LEAD,
            Direction.TO_SALESFORCE,
            {"Email": "ann@"},
            "INVALID_EMAIL_ADDRESS",
            "Email: invalid email address: ann@",
            at=at("03-01 09:00"),
        )
        add_dead_letter(
            conn,
            LEAD2,
            Direction.TO_SALESFORCE,
            {},
            "REQUIRED_FIELD_MISSING",
            "Company",
            at=at("03-01 10:00"),
        )
        add_dead_letter(
            conn,
            CONTACT,
            Direction.TO_HUBSPOT,
            {},
            "VALIDATION_ERROR",
            "bad phone",
            at=at("03-01 11:00"),
        )
    return pid


def test_list_by_status_and_system(store: Engine, person: uuid.UUID) -> None:
    with store.connect() as conn:
        everything = list_errors(conn)
        salesforce = list_errors(conn, system=System.SALESFORCE)
        hubspot = list_errors(conn, system=System.HUBSPOT)
        dropped = list_errors(conn, status=DeadLetterStatus.DROPPED)
        first = list_errors(conn, limit=1)
    assert [(x.id, x.key, x.vendor_code) for x in everything] == [
        (1, LEAD, "INVALID_EMAIL_ADDRESS"),
        (2, LEAD2, "REQUIRED_FIELD_MISSING"),
        (3, CONTACT, "VALIDATION_ERROR"),
    ]
    assert everything[0].payload == {"Email": "ann@"}
    assert everything[0].first_seen_at == at("03-01 09:00")
    assert [x.id for x in salesforce] == [1, 2]
    assert [x.id for x in hubspot] == [3]
    assert dropped == ()
    assert [x.id for x in first] == [1]


def test_get_finds_letters_by_id_in_any_status(store: Engine, person: uuid.UUID) -> None:
    with store.begin() as conn:
        drop_letters(conn, [2], reason="gone", at=at("03-02 08:00"))
        found = get_errors(conn, [3, 2, 99, 3])
    assert [(x.id, x.status) for x in found] == [
        (2, DeadLetterStatus.DROPPED),
        (3, DeadLetterStatus.OPEN),
    ]


def test_drop_logs_the_reason_on_the_linked_person(store: Engine, person: uuid.UUID) -> None:
    with store.begin() as conn:
        result = drop_letters(conn, [1, 3, 42], reason="test lead, ignore", at=at("03-02 08:00"))
    assert [x.id for x in result.dropped] == [1, 3]
    assert result.not_open == (42,)
    assert result.reasons_logged == 1  # only the Lead is linked to a person
    with store.connect() as conn:
        (entry,) = decisions_for(conn, person, DROP_FIELD)
        assert [x.id for x in list_errors(conn, status=DeadLetterStatus.DROPPED)] == [1, 3]
    assert (entry.rule, entry.trigger, entry.decided_at) == (
        "dropped",
        "operator",
        at("03-02 08:00"),
    )
    # as the engine writes record notes: the key on its side, the explanation on the other
    assert entry.salesforce_old == "salesforce:Lead:00Q1"
    assert entry.hubspot_new == (
        "dropped by an operator: test lead, ignore "
        "(refused with INVALID_EMAIL_ADDRESS: Email: invalid email address: ann@)"
    )
    assert entry.hubspot_old is None
    assert entry.salesforce_new is None


def test_drop_needs_a_reason(store: Engine, person: uuid.UUID) -> None:
    with store.begin() as conn, pytest.raises(ValueError, match="reason"):
        drop_letters(conn, [1], reason="  ", at=at("03-02 08:00"))
    with store.begin() as conn:
        assert drop_letters(conn, [], reason="x", at=at("03-02 08:00")).dropped == ()


def test_drop_of_a_refused_create_logs_on_the_person_it_was_for(store: Engine) -> None:
    with store.begin() as conn:
        pid = add_person(conn, "new@example.com", at=at("03-01 08:00"))
        for record in (f"new:{pid}", f"new:{uuid.uuid4()}", "new:not-a-uuid"):
            add_dead_letter(
                conn,
                RecordKey(System.SALESFORCE, "Lead", record),
                Direction.TO_SALESFORCE,
                {},
                "REQUIRED_FIELD_MISSING",
                "Company",
                at=at("03-01 09:00"),
            )
    with store.begin() as conn:
        result = drop_letters(conn, [1, 2, 3], reason="no company", at=at("03-02 08:00"))
        (entry,) = decisions_for(conn, pid, DROP_FIELD)
    assert len(result.dropped) == 3
    assert result.reasons_logged == 1  # unknown person and junk id: nothing to log on
    assert entry.salesforce_old == "salesforce:Lead:new:" + str(pid)
    assert (
        entry.hubspot_new
        == "dropped by an operator: no company (refused with REQUIRED_FIELD_MISSING: Company)"
    )


def test_the_refused_create_prefix_is_the_engines() -> None:
    from sync.engine import NEW_PREFIX as ENGINE_PREFIX
    from sync.queries.errors import NEW_PREFIX

    assert NEW_PREFIX == ENGINE_PREFIX
