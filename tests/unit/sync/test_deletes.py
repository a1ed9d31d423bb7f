"""Deletes on fake connectors: flagged by default; with `propagate_deletes`, a person's record
deleted on one side deletes its twin on the other, once, logged, refusals dead-lettered."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.records import RecordKey, System
from sync.store.dead_letters import DeadLetterStatus, Direction, list_dead_letters
from sync.store.decisions import decisions_for
from sync.store.links import find_link
from sync.store.snapshots import UNREAD, get_snapshot
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import pair, settle

REFUSAL = ("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id")


def _linked(world: World, hs_id: str, sf_id: str) -> tuple[Any, Any]:
    conn = world.read()
    return (
        find_link(conn, RecordKey(System.HUBSPOT, "contacts", hs_id)),
        find_link(conn, RecordKey(System.SALESFORCE, "Lead", sf_id)),
    )


def _synced(world: World, **policy: Any) -> tuple[Any, str, str]:
    hs_id, sf_id = pair(world)
    engine = world.engine(**policy)
    settle(world, engine)
    return engine, hs_id, sf_id


def _poll(world: World, engine: Any, **kwargs: Any) -> Any:
    world.clock.advance(10)
    return engine.poll(**kwargs)


def _delete_refused(world: World) -> tuple[Any, str, str]:
    """A synced pair whose contact the user deleted; the Lead refuses Baton's delete."""
    engine, hs_id, sf_id = _synced(world, propagate_deletes=True)
    world.sf.refuse_deletes[sf_id] = REFUSAL
    world.hs.remove("contacts", hs_id)  # archived: HubSpot no longer returns it by id
    return engine, hs_id, sf_id


def test_by_default_a_delete_is_flagged_and_nothing_is_deleted(world: World) -> None:
    engine, hs_id, sf_id = _synced(world)
    world.hs.remove("contacts", hs_id)

    report = _poll(world, engine)

    assert (report.deletes_flagged, report.deletes_propagated) == (1, 0)
    assert world.sf.delete_calls == 0
    assert sf_id in world.sf.live("Lead")
    hs_link, sf_link = _linked(world, hs_id, sf_id)
    assert hs_link.active
    assert sf_link.active
    rules = [d.rule for d in decisions_for(world.read(), hs_link.person_id, "record")]
    assert rules == ["delete_flagged"]


def test_a_hubspot_contact_deleted_deletes_its_lead_once_and_the_echo_does_nothing(
    world: World,
) -> None:
    engine, hs_id, sf_id = _synced(world, propagate_deletes=True)
    world.hs.remove("contacts", hs_id)

    report = _poll(world, engine)

    assert (report.deletes_propagated, report.deletes_flagged) == (1, 0)
    assert world.sf.deleted == [sf_id]
    assert sf_id not in world.sf.live("Lead")
    hs_link, sf_link = _linked(world, hs_id, sf_id)
    assert not hs_link.active
    assert not sf_link.active
    assert sf_link.person_id == hs_link.person_id  # inactive links still name the person
    for key in (hs_link.key, sf_link.key):  # kept for a restore, never taken as read
        snapshot = get_snapshot(world.read(), key)
        assert snapshot is not None
        assert (snapshot.source_digest, snapshot.source_modified_at) == (UNREAD, None)
        assert snapshot.values["email"] == "ann@example.com"  # what the pair was synced with
    (note,) = [d for d in decisions_for(world.read(), hs_link.person_id, "record")]
    assert (note.rule, note.trigger) == ("delete_propagated", "poll")
    assert note.salesforce_old == f"salesforce:Lead:{sf_id}"
    assert f"hubspot:contacts:{hs_id} was deleted" in str(note.salesforce_new)
    assert "BATON_PROPAGATE_DELETES" in str(note.salesforce_new)

    again = _poll(world, engine)  # reads the Lead's deletion (and the contact's, lookback)

    assert (again.deletes_propagated, again.deletes_flagged, again.writes) == (0, 0, 0)
    assert world.hs.delete_calls == 0
    assert world.sf.delete_calls == 1
    assert len(world.hs.live("contacts")) == 0  # nobody re-created on the deleted side
    assert len(decisions_for(world.read(), hs_link.person_id, "record")) == 1


def test_a_salesforce_lead_deleted_archives_its_hubspot_contact(world: World) -> None:
    engine, hs_id, sf_id = _synced(world, propagate_deletes=True)
    world.sf.remove("Lead", sf_id)

    report = _poll(world, engine)

    assert report.deletes_propagated == 1
    assert world.hs.deleted == [hs_id]
    assert hs_id not in world.hs.live("contacts")
    hs_link, sf_link = _linked(world, hs_id, sf_id)
    assert not hs_link.active
    assert not sf_link.active
    notes = decisions_for(world.read(), sf_link.person_id, "record")
    assert [(d.rule, d.hubspot_old) for d in notes] == [
        ("delete_propagated", f"hubspot:contacts:{hs_id}")
    ]
    assert _poll(world, engine).deletes_propagated == 0
    assert world.sf.delete_calls == 0


def test_a_merge_is_not_a_delete(world: World) -> None:
    engine, hs_id, sf_id = _synced(world, propagate_deletes=True)
    survivor = world.hs.put("contacts", {"email": "ann.lee@example.com", "firstname": "Ann"})
    world.hs.remove("contacts", hs_id, merged_into=survivor)

    report = _poll(world, engine)

    assert (report.deletes_propagated, report.deletes_flagged) == (0, 0)
    assert world.sf.delete_calls == 0
    assert sf_id in world.sf.live("Lead")


def test_a_refused_delete_is_a_dead_letter_and_is_not_sent_again_while_open(
    world: World,
) -> None:
    engine, hs_id, sf_id = _delete_refused(world)

    report = _poll(world, engine)

    assert (report.dead_letters, report.deletes_propagated) == (1, 0)
    assert sf_id in world.sf.live("Lead")
    (letter,) = list_dead_letters(world.read())
    assert letter.key == RecordKey(System.SALESFORCE, "Lead", sf_id)
    assert letter.direction is Direction.TO_SALESFORCE
    assert (letter.vendor_code, letter.vendor_message) == REFUSAL
    assert letter.payload == {"delete": True, "because": f"hubspot:contacts:{hs_id}"}
    assert letter.status is DeadLetterStatus.OPEN
    hs_link, sf_link = _linked(world, hs_id, sf_id)
    assert hs_link.active
    assert sf_link.active
    notes = decisions_for(world.read(), sf_link.person_id, "record")
    assert [d.rule for d in notes] == ["rejected"]
    assert REFUSAL[0] in str(notes[0].salesforce_new)

    calls = world.sf.delete_calls
    again = _poll(world, engine)  # the lookback reads the contact's deletion again

    assert world.sf.delete_calls == calls  # held: the same refusal cannot pass
    assert (again.dead_letters, again.deletes_propagated) == (0, 0)
    assert len(world.hs.live("contacts")) == 0  # the SF-only person is not re-created


def test_a_delete_refused_for_now_is_sent_again_next_cycle(world: World) -> None:
    engine, hs_id, sf_id = _synced(world, propagate_deletes=True)
    world.sf.retry_next = 1  # the Lead is locked once
    world.hs.remove("contacts", hs_id)

    first = _poll(world, engine)

    assert (first.retry_later, first.deletes_propagated) == (1, 0)
    assert sf_id in world.sf.live("Lead")
    hs_link, _ = _linked(world, hs_id, sf_id)
    assert hs_link.active
    assert _poll(world, engine).deletes_propagated == 1  # the page was read again
    assert world.sf.deleted == [sf_id]


def test_a_dry_run_plans_the_delete_and_deletes_nothing(world: World) -> None:
    engine, hs_id, sf_id = _synced(world, propagate_deletes=True)
    world.hs.remove("contacts", hs_id)

    report = _poll(world, engine, dry_run=True)

    assert report.deletes_propagated == 1
    assert world.sf.delete_calls == 0
    assert sf_id in world.sf.live("Lead")
    (line,) = [w for w in report.planned if w.reason.startswith("delete:")]
    assert (line.key, line.system, line.object, line.changes) == (
        sf_id,
        System.SALESFORCE,
        "Lead",
        {},
    )
    assert f"hubspot:contacts:{hs_id} was deleted" in line.reason
    hs_link, sf_link = _linked(world, hs_id, sf_id)
    assert hs_link.active
    assert sf_link.active
    assert decisions_for(world.read(), hs_link.person_id, "record") == []
    assert _poll(world, engine).deletes_propagated == 1  # the real run still does it
    assert world.sf.deleted == [sf_id]


def test_a_person_without_a_twin_is_flagged_with_propagation_on(world: World) -> None:
    hs_id = world.hs.put("contacts", {"email": "solo@example.com", "lifecyclestage": "lead"})
    engine = world.engine(propagate_deletes=True, create_contacts_from_salesforce=False)
    settle(world, engine)
    assert world.sf.live("Lead") == {}
    world.hs.remove("contacts", hs_id)

    report = _poll(world, engine)

    assert (report.deletes_flagged, report.deletes_propagated) == (1, 0)
    assert world.sf.delete_calls == 0
    hs_link = find_link(world.read(), RecordKey(System.HUBSPOT, "contacts", hs_id))
    assert hs_link is not None
    notes = decisions_for(world.read(), hs_link.person_id, "record")
    assert [d.rule for d in notes] == ["delete_flagged"]
    assert "no linked record on the other side" in str(notes[0].hubspot_new)


def test_retrying_a_refused_delete_sends_the_delete_again(world: World) -> None:
    engine, hs_id, sf_id = _delete_refused(world)
    _poll(world, engine)
    (letter,) = list_dead_letters(world.read())
    del world.sf.refuse_deletes[sf_id]  # the admin granted the access

    report = engine.retry_dead_letters([letter.id])

    assert (report.deletes_propagated, report.dead_letters) == (1, 0)
    assert world.sf.deleted == [sf_id]
    hs_link, sf_link = _linked(world, hs_id, sf_id)
    assert not hs_link.active
    assert not sf_link.active
    notes = decisions_for(world.read(), sf_link.person_id, "record")
    assert [(d.rule, d.trigger) for d in notes] == [
        ("rejected", "poll"),
        ("delete_propagated", "retry"),
    ]
    assert notes[-1].salesforce_old == f"salesforce:Lead:{sf_id}"
    (done,) = list_dead_letters(world.read(), None)
    assert done.status is DeadLetterStatus.RETRIED
    again = _poll(world, engine)
    assert (again.deletes_propagated, again.writes) == (0, 0)
    assert world.sf.delete_calls == 2
    assert len(world.hs.live("contacts")) == 0


def test_a_retried_delete_refused_again_reopens_its_letter_with_the_new_words(
    world: World,
) -> None:
    engine, hs_id, sf_id = _synced(world, propagate_deletes=True)
    world.hs.refuse_deletes[hs_id] = ("FORBIDDEN", "contact is in an active sequence")
    world.sf.remove("Lead", sf_id)
    _poll(world, engine)
    (letter,) = list_dead_letters(world.read())
    assert (letter.key, letter.direction) == (
        RecordKey(System.HUBSPOT, "contacts", hs_id),
        Direction.TO_HUBSPOT,
    )
    world.hs.refuse_deletes[hs_id] = ("FORBIDDEN", "contact is owned by another team")

    report = engine.retry_dead_letters()

    assert (report.dead_letters, report.deletes_propagated) == (1, 0)
    assert world.hs.delete_calls == 2
    (reopened,) = list_dead_letters(world.read())
    assert reopened.id == letter.id
    assert reopened.status is DeadLetterStatus.OPEN
    assert reopened.attempts == 2
    assert reopened.vendor_message == "contact is owned by another team"
    assert reopened.payload == letter.payload
    hs_link, sf_link = _linked(world, hs_id, sf_id)
    assert hs_link.active
    assert sf_link.active
    assert hs_id in world.hs.live("contacts")
    notes = decisions_for(world.read(), hs_link.person_id, "record")
    assert [(d.rule, d.trigger) for d in notes] == [("rejected", "poll"), ("rejected", "retry")]
    assert "owned by another team" in str(notes[-1].hubspot_new)

    del world.hs.refuse_deletes[hs_id]
    assert engine.retry_dead_letters().deletes_propagated == 1
    assert world.hs.deleted == [hs_id]
    assert list_dead_letters(world.read()) == []
    hs_link, sf_link = _linked(world, hs_id, sf_id)
    assert not hs_link.active
    assert not sf_link.active


def _deleted_in_salesforce_refused_in_hubspot(world: World) -> str:
    hs_id = world.hs.put(
        "contacts",
        {"email": "a@example.com", "firstname": "A", "lastname": "Z", "lifecyclestage": "lead"},
    )
    sf_id = world.sf.put("Contact", {"Email": "a@example.com", "LastName": "Z", "FirstName": "A"})
    world.clock.advance(10)
    engine = world.engine(propagate_deletes=True)
    engine.backfill()
    world.clock.advance(10)
    world.hs.refuse_deletes[hs_id] = ("FORBIDDEN", "no")
    world.sf.remove("Contact", sf_id)
    world.clock.advance(10)
    engine.poll()
    world.hs.refuse_deletes.clear()
    return hs_id


def test_a_retried_delete_refused_for_now_stays_an_open_letter(world: World) -> None:
    hs_id = _deleted_in_salesforce_refused_in_hubspot(world)
    engine = world.engine(propagate_deletes=True)
    world.hs.retry_next = 1  # locked, this once
    engine.retry_dead_letters()
    [letter] = list_dead_letters(world.read())
    assert letter.status is DeadLetterStatus.OPEN  # nothing else would send it again
    assert hs_id in world.hs.live("contacts")
    engine.retry_dead_letters()
    assert hs_id not in world.hs.live("contacts")


def test_a_backfill_page_to_retry_later_leaves_its_checkpoint(world: World) -> None:
    since = world.clock()
    hs_id = world.hs.put(
        "contacts",
        {"email": "a@example.com", "firstname": "A", "lastname": "Z", "lifecyclestage": "lead"},
    )
    sf_id = world.sf.put("Contact", {"Email": "a@example.com", "LastName": "Z", "FirstName": "A"})
    world.clock.advance(10)
    engine = world.engine(propagate_deletes=True)
    engine.backfill()
    world.clock.advance(10)
    engine.poll()
    world.clock.advance(5)
    world.sf.remove("Contact", sf_id)
    world.clock.advance(300)  # past the polls' lookback
    world.hs.retry_next = 1  # the propagated delete is refused for now
    engine.backfill(since=since)
    assert hs_id in world.hs.live("contacts")
    world.clock.advance(600)
    engine.poll()  # the checkpoint stayed, so the deletion is read and sent again
    assert hs_id not in world.hs.live("contacts")


def test_a_record_restored_after_a_propagated_delete_is_its_persons_record_again(
    world: World,
) -> None:
    engine, hs_id, sf_id = _synced(world, propagate_deletes=True)
    person = _linked(world, hs_id, sf_id)[0].person_id
    world.hs.remove("contacts", hs_id)
    assert _poll(world, engine).deletes_propagated == 1
    world.hs.restore("contacts", hs_id)  # a user takes it back out of the recycle bin
    _poll(world, engine)
    hs_link, sf_link = _linked(world, hs_id, sf_id)
    assert hs_link.active
    assert hs_link.person_id == person
    assert hs_link.reason == "restored"
    assert not sf_link.active  # the Lead Baton deleted stays deleted
    world.hs.put("contacts", {"jobtitle": "Head of Data"}, id=hs_id)
    _poll(world, engine)
    assert _linked(world, hs_id, sf_id)[0].active  # synced as the person's record from now on


def test_a_record_restored_alone_gets_no_new_twin_and_the_pair_resumes_once_both_are_back(
    world: World,
) -> None:
    """The Lead is deleted, Baton deletes its contact, the user restores the Lead: a new
    contact would duplicate the one in HubSpot's bin, so none is made until that one is
    restored too; then the pair syncs again."""
    hs_id, sf_id = pair(world, hs={"lifecyclestage": "marketingqualifiedlead"})
    engine = world.engine(propagate_deletes=True)
    settle(world, engine)
    person = _linked(world, hs_id, sf_id)[1].person_id
    world.sf.remove("Lead", sf_id)
    assert _poll(world, engine).deletes_propagated == 1
    world.sf.restore("Lead", sf_id)
    report = _poll(world, engine)
    _poll(world, engine)
    assert not report.created
    assert list(world.hs.live("contacts")) == []  # no duplicate of the contact in the bin
    rules = [d.rule for d in decisions_for(world.read(), person, "record")]
    assert rules.count("restored_alone") == 1  # said once, not on every cycle
    world.hs.restore("contacts", hs_id)
    _poll(world, engine)
    hs_link, sf_link = _linked(world, hs_id, sf_id)
    assert (hs_link.active, sf_link.active) == (True, True)
    assert hs_link.person_id == sf_link.person_id == person
    assert list(world.hs.live("contacts")) == [hs_id]


# (object deleted by the user and restored first, the field edited on it, the twin's field)
_RESTORED_FIRST = [("Lead", "Title", "jobtitle"), ("contacts", "jobtitle", "Title")]


@pytest.mark.parametrize(("first", "edited", "twin_field"), _RESTORED_FIRST)
def test_an_edit_made_to_the_record_restored_first_reaches_its_twin_once_that_is_back(
    world: World, first: str, edited: str, twin_field: str
) -> None:
    """A record is deleted, Baton deletes its twin; the user restores the record and edits it,
    then restores the twin too. The pair resumes from what it was last synced with, so the
    edit is the record's change and reaches the twin, rather than losing to the twin's
    restore, the more recent modification."""
    engine, hs_id, sf_id = _synced(world, propagate_deletes=True)
    records = {"Lead": (world.sf, sf_id), "contacts": (world.hs, hs_id)}
    twin_object = "contacts" if first == "Lead" else "Lead"
    (system, ident), (twin_system, twin_id) = records[first], records[twin_object]
    system.remove(first, ident)
    assert _poll(world, engine).deletes_propagated == 1
    system.restore(first, ident)
    _poll(world, engine)
    system.put(first, {edited: "VP Sales"}, id=ident)
    _poll(world, engine)
    _poll(world, engine)
    twin_system.restore(twin_object, twin_id)
    _poll(world, engine)
    assert twin_system.get(twin_object, twin_id)[twin_field] == "VP Sales"
    assert system.get(first, ident)[edited] == "VP Sales"
    settle(world, engine)


def test_a_record_whose_link_ended_without_a_delete_is_not_restored(world: World) -> None:
    """A Contact carrying the person's cross-system id takes over from a Lead that was not
    converted; the Contact is then deleted. Editing the old Lead, never deleted, does not
    make it the person's record again."""
    hs_id, sf_id = pair(world)
    engine = world.engine(propagate_deletes=True)
    settle(world, engine)
    baton_id = world.sf.get("Lead", sf_id)["Baton_Id__c"]
    contact = world.sf.put(
        "Contact", {"Email": "ann2@example.com", "LastName": "Lee", "Baton_Id__c": baton_id}
    )
    settle(world, engine)
    world.sf.remove("Contact", contact)
    assert _poll(world, engine).deletes_propagated == 1
    world.sf.put("Lead", {"Title": "VP"}, id=sf_id)
    report = _poll(world, engine)
    assert not _linked(world, hs_id, sf_id)[1].active
    assert not report.created


def test_a_refused_delete_is_not_sent_on_retry_once_the_deleted_record_is_back(
    world: World,
) -> None:
    engine, hs_id, sf_id = _delete_refused(world)
    _poll(world, engine)
    assert len(list_dead_letters(world.read())) == 1
    world.hs.restore("contacts", hs_id)  # the user undoes the delete
    _poll(world, engine)
    del world.sf.refuse_deletes[sf_id]
    report = engine.retry_dead_letters()
    assert report.deletes_propagated == 0
    assert sf_id in world.sf.live("Lead")
    assert list_dead_letters(world.read()) == []  # nothing left to retry
    hs_link, sf_link = _linked(world, hs_id, sf_id)
    assert (hs_link.active, sf_link.active) == (True, True)
    rules = [d.rule for d in decisions_for(world.read(), hs_link.person_id, "record")]
    assert "delete_moot" in rules


def test_a_change_made_while_its_twin_is_in_the_bin_reaches_the_twin_once_it_is_back(
    world: World,
) -> None:
    """Deletes are not propagated: the Lead sits in Salesforce's bin while marketing edits the
    contact. The edit cannot be carried then, and must not be taken as carried: once the Lead
    is restored, it gets the edit, and the person is told why it waited."""
    engine, hs_id, sf_id = _synced(world)
    person = _linked(world, hs_id, sf_id)[0].person_id
    world.sf.remove("Lead", sf_id)
    _poll(world, engine)
    world.hs.put("contacts", {"jobtitle": "CEO"}, id=hs_id)
    _poll(world, engine)
    _poll(world, engine)
    world.sf.restore("Lead", sf_id)
    _poll(world, engine)
    assert world.sf.get("Lead", sf_id)["Title"] == "CEO"
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "CEO"
    notes = [d for d in decisions_for(world.read(), person, "record") if d.rule == "unreadable"]
    assert len(notes) == 1  # said once, though the person was planned on two polls
    assert notes[0].salesforce_old == f"salesforce:Lead:{sf_id}"
    settle(world, engine)


def test_a_person_whose_twin_stays_deleted_reads_it_once_per_change(world: World) -> None:
    """The contact is gone for good: an edit to the Lead is planned once (one read of the
    contact by id), and neither the lookback's re-reads nor an edit Baton does not map plan
    it again."""
    engine, hs_id, sf_id = _synced(world)
    asked: list[str] = []
    read_by_ids = world.hs.read_by_ids

    def counted(obj: str, ids: Any) -> Any:
        asked.extend(ids)
        return read_by_ids(obj, ids)

    world.hs.read_by_ids = counted  # type: ignore[method-assign]
    world.hs.remove("contacts", hs_id)
    for _ in range(3):
        _poll(world, engine)
    asked.clear()
    world.sf.put("Lead", {"Title": "CEO"}, id=sf_id)
    for _ in range(5):
        _poll(world, engine)
    assert asked.count(hs_id) == 1
    world.sf.put("Lead", {"Unmapped__c": "x"}, id=sf_id)
    for _ in range(5):
        _poll(world, engine)
    assert asked.count(hs_id) == 1


def test_a_record_a_webhook_says_was_deleted_for_good_is_flagged(world: World) -> None:
    """A GDPR deletion leaves nothing to read, not even in a recycle bin: the webhook's word is
    taken when the record cannot be read, and the deletion is flagged like any other."""
    engine, hs_id, sf_id = _synced(world)
    key = RecordKey(System.HUBSPOT, "contacts", hs_id)
    world.hs.remove("contacts", hs_id)
    assert engine.sync_keys([key], trigger="webhook").deletes_flagged == 0  # no word of it
    report = engine.sync_keys([key], trigger="webhook", gone={key})
    assert report.deletes_flagged == 1
    person = _linked(world, hs_id, sf_id)[0].person_id
    assert [d.rule for d in decisions_for(world.read(), person, "record")].count(
        "delete_flagged"
    ) == 1
    world.hs.restore("contacts", hs_id)  # a hint about a record that is still there is no word
    assert engine.sync_keys([key], trigger="webhook", gone={key}).deletes_flagged == 0


def test_a_privacy_deletion_whose_propagated_delete_waits_is_kept_as_a_letter(
    world: World,
) -> None:
    """A HubSpot privacy deletion reaches Baton only through its webhook, and the contact is
    in no recycle bin a poll reads: the Lead's delete answered "retry later" is kept as a
    dead letter, and sent again by `retry_dead_letters`."""
    engine, hs_id, sf_id = _synced(world, propagate_deletes=True)
    key = RecordKey(System.HUBSPOT, "contacts", hs_id)
    del world.hs.objects["contacts"][hs_id]  # purged: in no recycle bin
    del world.hs._order["contacts"][hs_id]
    world.sf.retry_next = 1
    report = engine.sync_keys([key], trigger="webhook", gone={key}, purged={key})
    assert report.dead_letters == 1
    [letter] = list_dead_letters(world.read())
    assert letter.key == RecordKey(System.SALESFORCE, "Lead", sf_id)
    assert engine.retry_dead_letters().deletes_propagated == 1
    assert sf_id not in world.sf.live("Lead")


def test_a_restored_lead_converted_while_its_contact_is_in_the_bin_gets_no_new_contact(
    world: World,
) -> None:
    """The restored Lead's person has its Contact as its record once converted: the contact
    deleted with the Lead is still in HubSpot's bin, so no new one is made meanwhile."""
    engine, hs_id, sf_id = _synced(world, propagate_deletes=True)
    world.hs.remove("contacts", hs_id)
    assert _poll(world, engine).deletes_propagated == 1
    world.sf.restore("Lead", sf_id)
    _poll(world, engine)
    assert list(world.hs.live("contacts")) == []
    world.sf.convert(sf_id)
    _poll(world, engine)
    _poll(world, engine)
    assert list(world.hs.live("contacts")) == []


def test_webhook_plain_delete_retry_later_is_still_sent_by_the_poll(world: World) -> None:
    """A contact deleted to the bin (the poll reads it) and hinted by a webhook: the Lead's
    delete answered 'retry later' is now an open dead letter, which the poll then holds."""
    engine, hs_id, sf_id = _synced(world, propagate_deletes=True)
    key = RecordKey(System.HUBSPOT, "contacts", hs_id)
    world.hs.remove("contacts", hs_id)  # to the recycle bin: the poll will read it
    world.sf.retry_next = 1
    engine.sync_keys([key], trigger="webhook", gone={key})
    world.clock.advance(10)
    engine.poll()  # reads the contact from the bin, plans the delete: held by the letter
    assert sf_id not in world.sf.live("Lead"), list_dead_letters(world.read())


def _new_lead_after_deletes(world: World, history: bool) -> list[str]:
    engine, hs_id, sf_id = _synced(world, propagate_deletes=True)
    world.clock.advance(10)
    if history:  # restored once, converted, then both back and deleted again
        world.hs.remove("contacts", hs_id)
        world.clock.advance(10)
        assert engine.poll().deletes_propagated == 1
        world.sf.restore("Lead", sf_id)
        settle(world, engine)
        contact = world.sf.convert(sf_id)
        settle(world, engine)
        world.hs.restore("contacts", hs_id)
        settle(world, engine)
        assert (
            world.hs.get("contacts", hs_id)["baton_id"]
            == world.sf.get("Contact", contact)["Baton_Id__c"]
        )
        world.sf.remove("Contact", contact)
    else:
        world.sf.remove("Lead", sf_id)
    world.clock.advance(10)
    assert engine.poll().deletes_propagated == 1
    assert list(world.hs.live("contacts")) == []
    # A brand-new Lead for the same person, made in the UI: not restored from any bin.
    world.sf.put(
        "Lead",
        {
            "Email": "ann@example.com",
            "FirstName": "Ann",
            "LastName": "Lee",
            "Company": "Acme",
            "Status": "Open - Not Contacted",
            "IsConverted": False,
        },
    )
    settle(world, engine)
    return list(world.hs.live("contacts"))


def test_new_lead_gets_a_contact_without_restore_history(world: World) -> None:
    assert len(_new_lead_after_deletes(world, history=False)) == 1


def test_new_lead_gets_a_contact_despite_an_old_restored_link(world: World) -> None:
    """A record restored (then converted) before an earlier delete says nothing of the later
    one: a brand-new Lead of the person gets its contact, as without that history."""
    assert len(_new_lead_after_deletes(world, history=True)) == 1


def test_a_refused_delete_of_a_lead_still_in_the_bin_is_sent_on_retry(world: World) -> None:
    """Salesforce reads a recycle-bin row by id too (flagged deleted): still deleted, the Lead
    is not "back", so the retry sends the refused delete of its contact."""
    world.sf.ids_read_bin = True
    engine, hs_id, sf_id = _synced(world, propagate_deletes=True)
    world.hs.refuse_deletes[hs_id] = ("FORBIDDEN", "contact is in an active sequence")
    world.sf.remove("Lead", sf_id)
    _poll(world, engine)
    assert len(list_dead_letters(world.read())) == 1
    del world.hs.refuse_deletes[hs_id]
    assert engine.retry_dead_letters().deletes_propagated == 1
    assert hs_id not in world.hs.live("contacts")
