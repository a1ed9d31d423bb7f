"""`why`: one person's links (and relinks), first stage entries and decisions, in time order."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine

from connectors.records import RecordKey, System
from sync.queries.why import why
from sync.store.decisions import Decision, record_decisions
from sync.store.links import LinkChange, LinkReason, link, relink
from sync.store.people import add_person
from sync.store.transitions import Transition, record_transition

from .conftest import at

HS = RecordKey(System.HUBSPOT, "contacts", "101")
LEAD = RecordKey(System.SALESFORCE, "Lead", "00Q1")
CONTACT = RecordKey(System.SALESFORCE, "Contact", "003A")


@dataclass(frozen=True)
class Seeded:
    person: uuid.UUID
    title_decision: Decision
    stage_decision: Decision


@pytest.fixture
def seeded(store: Engine) -> Seeded:
    with store.begin() as conn:
        person = add_person(conn, "ann@example.com", at=at("03-01 08:00"))
        link(conn, person, HS, LinkReason.EMAIL, at=at("03-01 08:00"))
        link(conn, person, LEAD, LinkReason.CREATED, at=at("03-02 09:05"))
        relink(conn, person, CONTACT, LinkReason.CONVERSION, at=at("03-04 09:00"))
        record_transition(conn, person, "mql", at("03-02 09:00"), System.HUBSPOT)
        record_transition(conn, person, "sal", at("03-02 10:00"), System.SALESFORCE)
        title = Decision(
            person_id=person,
            field="job_title",
            rule="two_way",
            trigger="poll",
            decided_at=at("03-03 12:00"),
            hubspot_old="CTO",
            hubspot_new="Chief Technology Officer",
            salesforce_old="CTO",
            salesforce_new="Chief Technology Officer",
            winner=System.SALESFORCE,
            hubspot_modified_at=at("03-03 10:00"),
            salesforce_modified_at=at("03-03 11:00"),
        )
        stage = Decision(
            person_id=person,
            field="funnel_stage",
            rule="stage_machine",
            trigger="webhook:salesforce",
            decided_at=at("03-02 10:01"),
            hubspot_old="MQL",
            hubspot_new="SAL",
            salesforce_old="SAL",
            salesforce_new="SAL",
            winner=System.SALESFORCE,
        )
        record_decisions(conn, [title, stage])
        other = add_person(conn, "someone@example.com", at=at("03-01 08:00"))
        record_transition(conn, other, "mql", at("03-02 09:00"), System.HUBSPOT)
    return Seeded(person, title, stage)


def test_the_whole_story_in_time_order(store: Engine, seeded: Seeded) -> None:
    with store.connect() as conn:
        report = why(conn, "  Ann@Example.COM ")
    assert report.email == "ann@example.com"
    assert report.found
    (story,) = report.people
    assert (story.person_id, story.email, story.created_at) == (
        seeded.person,
        "ann@example.com",
        at("03-01 08:00"),
    )
    assert [(str(x.key), x.active, x.reason, x.unlinked_at) for x in story.links] == [
        ("hubspot:contacts:101", True, LinkReason.EMAIL, None),
        ("salesforce:Contact:003A", True, LinkReason.CONVERSION, None),
        ("salesforce:Lead:00Q1", False, LinkReason.CREATED, at("03-04 09:00")),
    ]
    assert story.link_history[-1] == LinkChange(
        seeded.person, CONTACT, LEAD, None, LinkReason.CONVERSION, at("03-04 09:00")
    )
    assert story.stages == (
        Transition(seeded.person, "mql", at("03-02 09:00"), System.HUBSPOT),
        Transition(seeded.person, "sal", at("03-02 10:00"), System.SALESFORCE),
    )
    assert story.decisions == (seeded.stage_decision, seeded.title_decision)
    assert [(e.at, e.kind) for e in story.timeline] == [
        (at("03-01 08:00"), "link"),
        (at("03-02 09:00"), "stage"),
        (at("03-02 09:05"), "link"),
        (at("03-02 10:00"), "stage"),
        (at("03-02 10:01"), "decision"),
        (at("03-03 12:00"), "decision"),
        (at("03-04 09:00"), "link"),
    ]
    assert story.timeline[-2].item == seeded.title_decision


def test_one_field_narrows_the_timeline_to_its_decisions(store: Engine, seeded: Seeded) -> None:
    with store.connect() as conn:
        report = why(conn, "ann@example.com", "job_title")
    (story,) = report.people
    assert story.decisions == (seeded.title_decision,)
    assert [e.item for e in story.timeline] == [seeded.title_decision]
    assert len(story.links) == 3
    assert len(story.stages) == 2


def test_a_field_without_decisions_gives_an_empty_timeline(store: Engine, seeded: Seeded) -> None:
    with store.connect() as conn:
        (story,) = why(conn, "ann@example.com", "phone").people
    assert story.decisions == story.timeline == ()


def test_an_unknown_email_finds_nobody(store: Engine, seeded: Seeded) -> None:
    with store.connect() as conn:
        report = why(conn, "nobody@example.com")
    assert not report.found
    assert report.people == ()


def test_a_shared_email_tells_every_story(store: Engine) -> None:
    with store.begin() as conn:
        first = add_person(conn, "info@example.com", at=at("03-01 08:00"))
        second = add_person(conn, "info@example.com", at=at("03-02 08:00"))
    with store.connect() as conn:
        report = why(conn, "INFO@example.com")
    assert [s.person_id for s in report.people] == [first, second]
    assert all(s.links == () and s.timeline == () for s in report.people)


def test_a_former_address_finds_whoever_the_log_says_changed_from_or_to_it(store: Engine) -> None:
    """No person has the address now, but the log of a person's `email` decisions names it as a
    value before or after a change: their story is told, marked as a former address."""
    with store.begin() as conn:
        person = add_person(conn, "ann.new@example.com", at=at("03-01 08:00"))
        moved = Decision(
            person_id=person,
            field="email",
            rule="two_way",
            trigger="poll",
            decided_at=at("03-05 10:00"),
            hubspot_old="ann.new@example.com",
            hubspot_new="ann.new@example.com",
            salesforce_old="ann@example.com",
            salesforce_new="ann.new@example.com",
            winner=System.HUBSPOT,
        )
        zoe = add_person(conn, "zoe@example.com", at=at("03-01 08:00"))
        renamed = Decision(zoe, "email", "two_way", "poll", at("03-06 10:00"), "zoë@example.com")
        bob = add_person(conn, "bob@example.com", at=at("03-01 08:00"))
        # the address in another field's values is not an address the person had
        noted = Decision(bob, "job_title", "two_way", "poll", at("03-05 10:00"), "ann@example.com")
        record_decisions(conn, [moved, renamed, noted])
    with store.connect() as conn:
        former = why(conn, "Ann@Example.com")
        current = why(conn, "ann.new@example.com")
        accented = why(conn, "zoë@example.com")
        nobody = why(conn, "nobody@example.com")
    assert former.found
    assert former.former
    assert [(s.person_id, s.email) for s in former.people] == [(person, "ann.new@example.com")]
    assert former.people[0].decisions == (moved,)
    assert [s.person_id for s in current.people] == [person]
    assert not current.former  # found by the address they have now: the log is not read
    assert ([s.person_id for s in accented.people], accented.former) == ([zoe], True)
    assert (nobody.people, nobody.former) == ((), False)
