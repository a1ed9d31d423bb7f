"""Identity links: one record per person per system, relinks moving with their history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from connectors.records import RecordKey, System
from sync.store.links import (
    LinkConflict,
    LinkReason,
    PageLinks,
    active_keys_for,
    active_links,
    associate,
    associated,
    end_links,
    find_link,
    find_links,
    history,
    link,
    link_many,
    page_links,
    relink,
)
from sync.store.people import (
    add_people,
    add_people_with_ids,
    add_person,
    people_by_email,
    people_by_emails,
    person_exists,
    set_emails,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def contact(record_id: str) -> RecordKey:
    return RecordKey(System.HUBSPOT, "contacts", record_id)


def sf(obj: str, record_id: str) -> RecordKey:
    return RecordKey(System.SALESFORCE, obj, record_id)


def test_people_by_email_returns_every_match_oldest_first(db: Connection) -> None:
    first = add_person(db, "ann@example.com", at=T0)
    second = add_person(db, "ann@example.com", at=T0 + timedelta(seconds=1))
    add_person(db, None, at=T0)
    assert people_by_email(db, "ann@example.com") == [first, second]
    assert people_by_email(db, "nobody@example.com") == []
    assert person_exists(db, first)


@pytest.mark.parametrize(
    "odd",
    ["a" * 320 + "@example.com", "nul\x00x@example.com"],
    ids=["longer than any address", "NUL byte"],
)
def test_an_email_no_address_can_be_is_kept_as_none_and_matches_no_one(
    db: Connection, odd: str
) -> None:
    """A HubSpot contact may hold such text as its email; PostgreSQL's column holds 320
    characters and no NUL, and a refusal here failed every poll that read the contact."""
    first = add_person(db, odd, at=T0)
    [second] = add_people(db, [odd], at=T0)
    third = uuid.uuid4()
    add_people_with_ids(db, [(third, odd)], at=T0)
    fourth = add_person(db, "ann@example.com", at=T0)
    set_emails(db, [(fourth, odd)])
    assert people_by_email(db, odd) == []
    assert people_by_emails(db, [odd, "bob@example.com"]) == {odd: [], "bob@example.com": []}
    for person in (first, second, third, fourth):
        assert person_exists(db, person)
    assert people_by_email(db, "ann@example.com") == []


def test_link_then_find_and_link_again_is_idempotent(db: Connection) -> None:
    person = add_person(db, "ann@example.com", at=T0)
    made = link(db, person, contact("101"), LinkReason.EMAIL, at=T0)
    again = link(db, person, contact("101"), LinkReason.EMAIL, at=T0 + timedelta(hours=1))
    assert made == again
    found = find_link(db, contact("101"))
    assert found is not None
    assert (found.person_id, found.active, found.reason, found.linked_at) == (
        person,
        True,
        LinkReason.EMAIL,
        T0,
    )
    assert find_link(db, contact("999")) is None
    assert [event.reason for event in history(db, person)] == [LinkReason.EMAIL]


def test_link_refuses_to_move_a_record_or_add_a_second_per_system(db: Connection) -> None:
    ann = add_person(db, "ann@example.com", at=T0)
    bob = add_person(db, "bob@example.com", at=T0)
    link(db, ann, contact("1"), LinkReason.EMAIL, at=T0)
    with pytest.raises(LinkConflict, match="already linked"):
        link(db, bob, contact("1"), LinkReason.EMAIL, at=T0)
    with pytest.raises(LinkConflict, match="already has"):
        link(db, ann, contact("2"), LinkReason.EMAIL, at=T0)


def test_constraints_hold_even_for_bulk_links(db: Connection) -> None:
    ann = add_person(db, "ann@example.com", at=T0)
    with pytest.raises(IntegrityError), db.begin_nested():
        link_many(
            db, [(ann, contact("1"), LinkReason.EMAIL), (ann, contact("2"), LinkReason.EMAIL)]
        )
    link_many(
        db,
        [(ann, contact("1"), LinkReason.EMAIL), (ann, sf("Lead", "00Q1"), LinkReason.EMAIL)],
        at=T0,
    )
    assert set(active_links(db, ann)) == {System.HUBSPOT, System.SALESFORCE}


def test_lead_conversion_moves_the_link_and_keeps_the_history(db: Connection) -> None:
    ann = add_person(db, "ann@example.com", at=T0)
    lead, converted = sf("Lead", "00Q1"), sf("Contact", "0031")
    link(db, ann, lead, LinkReason.CREATED, at=T0)
    later = T0 + timedelta(days=2)
    replaced = relink(db, ann, converted, LinkReason.CONVERSION, at=later)
    assert replaced is not None
    assert (replaced.key, replaced.active, replaced.unlinked_at) == (lead, False, later)
    assert active_links(db, ann)[System.SALESFORCE].key == converted
    old = find_link(db, lead)
    assert old is not None
    assert (old.person_id, old.active) == (ann, False)  # a late echo of the Lead still resolves
    changes = history(db, ann)
    assert [(c.key, c.previous_key, c.reason) for c in changes] == [
        (lead, None, LinkReason.CREATED),
        (converted, lead, LinkReason.CONVERSION),
    ]
    assert relink(db, ann, converted, LinkReason.CONVERSION, at=later) is None  # no-op
    assert len(history(db, ann)) == 2


def test_merge_moves_a_record_between_people(db: Connection) -> None:
    ann = add_person(db, "ann@example.com", at=T0)
    dup = add_person(db, "ann@example.com", at=T0)
    link(db, dup, sf("Lead", "00Q9"), LinkReason.EMAIL, at=T0)
    relink(db, ann, sf("Lead", "00Q9"), LinkReason.MERGE, at=T0 + timedelta(minutes=5))
    moved = find_link(db, sf("Lead", "00Q9"))
    assert moved is not None
    assert (moved.person_id, moved.active, moved.reason) == (ann, True, LinkReason.MERGE)
    assert active_links(db, dup) == {}
    [change] = [c for c in history(db, ann) if c.reason is LinkReason.MERGE]
    assert change.previous_person_id == dup
    assert history(db, dup)[-1] == change  # the losing person's history shows the move too


def test_find_links_for_a_page_across_objects(db: Connection) -> None:
    people = add_people(db, [f"p{i}@example.com" for i in range(1200)], at=T0)
    assert people_by_email(db, "p7@example.com") == [people[7]]
    link_many(db, [(p, contact(str(i)), LinkReason.EMAIL) for i, p in enumerate(people)], at=T0)
    link_many(db, [(people[0], sf("Lead", "00QA"), LinkReason.EMAIL)], at=T0)
    keys = [contact(str(i)) for i in range(0, 1300, 2)] + [sf("Lead", "00QA"), sf("Lead", "x")]
    found = find_links(db, keys)
    assert len(found) == 600 + 1
    assert found[contact("1198")].person_id == people[1198]
    assert found[sf("Lead", "00QA")].person_id == people[0]


def test_end_links_deactivates_keeps_the_person_and_ignores_unknown_keys(db: Connection) -> None:
    person = add_person(db, "ann@example.com", at=T0)
    link(db, person, contact("301"), LinkReason.EMAIL, at=T0)
    link(db, person, sf("Lead", "00Q301"), LinkReason.EMAIL, at=T0)
    later = T0 + timedelta(hours=1)
    end_links(db, [contact("301"), sf("Lead", "00Q301"), contact("999")], at=later)
    end_links(db, [contact("301")], at=later + timedelta(hours=1))  # already ended: unchanged
    assert active_links(db, person) == {}
    ended = find_links(db, [contact("301"), sf("Lead", "00Q301")])
    assert {k: (x.active, x.person_id, x.unlinked_at) for k, x in ended.items()} == {
        contact("301"): (False, person, later),
        sf("Lead", "00Q301"): (False, person, later),
    }
    assert find_link(db, contact("999")) is None


def test_page_links_are_the_links_and_active_keys_of_a_page(db: Connection) -> None:
    people = add_people(db, [f"p{i}@example.com" for i in range(620)], at=T0)
    link_many(db, [(p, contact(str(i)), LinkReason.EMAIL) for i, p in enumerate(people)], at=T0)
    both, converted, ended, lonely = people[0], people[1], people[2], people[3]
    link_many(db, [(both, sf("Lead", "00Q0"), LinkReason.EMAIL)], at=T0)
    link(db, converted, sf("Lead", "00Q1"), LinkReason.EMAIL, at=T0)
    relink(db, converted, sf("Contact", "0031"), LinkReason.CONVERSION, at=T0)  # Lead inactive
    associate(db, [(both, sf("Opportunity", "006A"), LinkReason.CONVERSION)], at=T0)
    end_links(db, [contact("2")], at=T0)  # this person has no active link left
    lonely_lead = add_person(db, "lead@example.com", at=T0)
    link(db, lonely_lead, sf("Lead", "00Q9"), LinkReason.EMAIL, at=T0)
    wanted = [contact(str(i)) for i in range(700)]  # 620 linked, 80 unknown
    wanted += [
        sf("Lead", "00Q0"),
        sf("Lead", "00Q1"),
        sf("Opportunity", "006A"),
        sf("Lead", "00Q9"),
    ]
    wanted += [sf("Lead", "missing")]

    page = page_links(db, wanted)
    found, records = page.people, page.records

    assert found == {key: link_.person_id for key, link_ in find_links(db, wanted).items()}
    assert records == active_keys_for(db, found.values())
    assert len(found) == 620 + 4
    assert records[both] == {System.HUBSPOT: contact("0"), System.SALESFORCE: sf("Lead", "00Q0")}
    assert records[converted][System.SALESFORCE] == sf("Contact", "0031")
    assert found[sf("Lead", "00Q1")] == converted
    assert found[sf("Opportunity", "006A")] == both
    assert found[contact("2")] == ended
    assert ended not in records
    assert records[lonely] == {System.HUBSPOT: contact("3")}
    assert records[lonely_lead] == {System.SALESFORCE: sf("Lead", "00Q9")}
    given = {id(k) for k in wanted}
    assert all(id(k) in given for k in found)
    assert records[both][System.SALESFORCE] is wanted[700]  # the caller's own key object
    assert records[both][System.HUBSPOT] is wanted[0]


def test_page_links_of_no_keys_are_empty(db: Connection) -> None:
    assert page_links(db, [], "Opportunity") == PageLinks({}, {}, {})


def _ann_and_bob(db: Connection, *more: str) -> list[uuid.UUID]:
    """Ann (contact 1, Lead 00Q1), Bob (contact 2), and people for `more` emails, unlinked."""
    ann, bob, *others = add_people(db, ["a@example.com", "b@example.com", *more], at=T0)
    link_many(
        db,
        [
            (ann, contact("1"), LinkReason.EMAIL),
            (ann, sf("Lead", "00Q1"), LinkReason.EMAIL),
            (bob, contact("2"), LinkReason.EMAIL),
        ],
        at=T0,
    )
    return [ann, bob, *others]


def test_page_links_bring_each_persons_associated_records_once(db: Connection) -> None:
    ann, bob, cat = _ann_and_bob(db, "c@example.com")
    link(db, cat, sf("Lead", "00Q3"), LinkReason.EMAIL, at=T0)
    relink(db, cat, sf("Contact", "0033"), LinkReason.CONVERSION, at=T0)  # an inactive Lead
    opportunities = [sf("Opportunity", "006A"), sf("Opportunity", "006B")]
    associate(db, [(ann, key, LinkReason.CONVERSION) for key in opportunities], at=T0)
    # ann's contact and Lead are both in the page (two queries, one person)
    wanted = [contact("1"), sf("Lead", "00Q1"), contact("2"), sf("Contact", "0033")]

    page = page_links(db, wanted, "Opportunity")

    plain = page_links(db, wanted)
    assert (page.people, page.records) == (plain.people, plain.records)
    assert {pid: sorted(keys, key=str) for pid, keys in page.associated.items()} == {
        ann: opportunities,
        bob: [],
        cat: [],  # its inactive Lead is not an Opportunity
    }
    stored = associated(db, [ann, bob, cat], "Opportunity")
    assert {pid: set(keys) for pid, keys in page.associated.items() if keys} == {
        pid: set(keys) for pid, keys in stored.items()
    }
    assert page_links(db, wanted).associated == {}


def test_page_links_name_the_people_a_propagated_delete_left_one_sided(db: Connection) -> None:
    """`bereft`: people with a record whose link a delete ended, the ones a restore may leave
    waiting for its twin; not people whose links ended otherwise (a conversion)."""
    ann, bob = _ann_and_bob(db)
    relink(db, bob, sf("Contact", "0032"), LinkReason.CONVERSION, at=T0)
    end_links(db, [sf("Lead", "00Q1")], at=T0)

    page = page_links(db, [contact("1"), contact("2")], "Opportunity")

    assert page.bereft == {ann}
    assert page.records[ann] == {System.HUBSPOT: contact("1")}  # ended links are not records
    assert page.associated[ann] == []  # nor Opportunities
