"""A full backfill lists live records only, then moves each checkpoint to its start: the
records deleted or merged away since the last poll (past the polls' lookback) are read before
each listing (`SyncEngine._deletions`), so a delete is flagged or propagated and a merge is
followed, as a poll would have; a fresh store spends no call on it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from connectors.records import RecordKey, System
from sync.store.checkpoints import get_checkpoint
from sync.store.decisions import decisions_for
from sync.store.links import find_link
from tests.unit.sync.conftest import World
from tests.unit.sync.test_backfill_resume import Stopping
from tests.unit.sync.test_deletes import _linked, _poll, _synced
from tests.unit.sync.test_engine import pair, quiet, settle
from tests.unit.sync.test_merges import _copy, _same_person

LOOKBACK_PASSED = 3600  # well past the polls' 2-minute lookback


def _rules(world: World, person: uuid.UUID) -> list[str]:
    return [d.rule for d in decisions_for(world.read(), person, "record")]


def test_a_delete_made_before_a_backfill_is_propagated(world: World) -> None:
    engine, hs_id, sf_id = _synced(world, propagate_deletes=True)
    world.clock.advance(30)
    world.hs.remove("contacts", hs_id)
    world.clock.advance(LOOKBACK_PASSED)
    engine.backfill()
    for _ in range(3):
        _poll(world, engine)
    assert sf_id not in world.sf.live("Lead")


def test_a_delete_made_before_a_backfill_is_flagged(world: World) -> None:
    engine, hs_id, sf_id = _synced(world)
    person = _linked(world, hs_id, sf_id)[0].person_id
    world.clock.advance(30)
    world.hs.remove("contacts", hs_id)
    world.clock.advance(LOOKBACK_PASSED)
    report = engine.backfill()
    for _ in range(3):
        _poll(world, engine)
    assert report.deletes_flagged == 1
    rules = _rules(world, person)
    assert "delete_flagged" in rules, rules
    assert sf_id in world.sf.live("Lead")


def test_a_lead_deleted_before_a_backfill_is_propagated(world: World) -> None:
    engine, hs_id, sf_id = _synced(world, propagate_deletes=True)
    world.clock.advance(30)
    world.sf.remove("Lead", sf_id)
    world.clock.advance(LOOKBACK_PASSED)
    report = engine.backfill()
    assert report.deletes_propagated == 1
    assert world.hs.deleted == [hs_id]
    for _ in range(3):
        _poll(world, engine)
    assert hs_id not in world.hs.live("contacts")
    assert world.sf.delete_calls == 0  # no echo


def test_a_lead_deleted_before_a_backfill_is_flagged(world: World) -> None:
    engine, hs_id, sf_id = _synced(world)
    person = _linked(world, hs_id, sf_id)[1].person_id
    world.clock.advance(30)
    world.sf.remove("Lead", sf_id)
    world.clock.advance(LOOKBACK_PASSED)
    assert engine.backfill().deletes_flagged == 1
    assert "delete_flagged" in _rules(world, person)
    assert hs_id in world.hs.live("contacts")


def test_a_merge_before_a_backfill_is_followed(world: World) -> None:
    engine, hs_id, sf_id = _synced(world)
    world.clock.advance(600)
    survivor = world.hs.put(
        "contacts", {**_copy(world, "contacts", hs_id), "phone": "+33 1 23 45 67 89"}
    )
    world.hs.remove("contacts", hs_id, merged_into=survivor)
    world.clock.advance(600)
    report = engine.backfill()
    assert report.ambiguous == 0
    settle(world, engine)
    # the survivor and the Lead are one person; the survivor's phone reaches the Lead
    key = RecordKey(System.HUBSPOT, "contacts", survivor)
    assert _same_person(world, key, RecordKey(System.SALESFORCE, "Lead", sf_id))
    link = find_link(world.read(), key)
    assert link is not None
    lead = world.sf.get("Lead", sf_id)
    assert world.hs.get("contacts", survivor)["baton_id"] == lead["Baton_Id__c"]
    assert lead["Phone"] == "+33123456789"
    assert "unreadable" not in _rules(world, link.person_id)
    quiet(world, engine)


def test_a_lead_merged_before_a_backfill_is_followed(world: World) -> None:
    engine, hs_id, sf_id = _synced(world)
    world.clock.advance(600)
    master = world.sf.put("Lead", {**_copy(world, "Lead", sf_id), "Title": "Head of Sales"})
    world.sf.remove("Lead", sf_id, merged_into=master)
    world.clock.advance(600)
    report = engine.backfill()
    assert report.ambiguous == 0
    settle(world, engine)
    assert _same_person(
        world,
        RecordKey(System.SALESFORCE, "Lead", master),
        RecordKey(System.HUBSPOT, "contacts", hs_id),
    )
    contact = world.hs.get("contacts", hs_id)
    assert world.sf.get("Lead", master)["Baton_Id__c"] == contact["baton_id"]
    assert contact["jobtitle"] == "Head of Sales"
    assert len(world.hs.live("contacts")) == 1  # no contact created for the master
    quiet(world, engine)


def test_a_dry_run_plans_the_delete_and_writes_nothing(world: World) -> None:
    engine, hs_id, sf_id = _synced(world, propagate_deletes=True)
    world.clock.advance(30)
    world.hs.remove("contacts", hs_id)
    world.clock.advance(LOOKBACK_PASSED)
    writes, deletes = world.writes(), world.sf.delete_calls

    report = engine.backfill(dry_run=True)

    assert report.deletes_propagated == 1
    assert any(w.key == sf_id and "delete" in w.reason for w in report.planned)
    assert (world.writes(), world.sf.delete_calls) == (writes, deletes)
    assert sf_id in world.sf.live("Lead")
    assert _linked(world, hs_id, sf_id)[1].active


def test_a_backfill_on_a_fresh_store_reads_no_deletions(world: World) -> None:
    pair(world)
    world.hs.remove("contacts", world.hs.put("contacts", {"email": "gone@example.com"}))
    world.clock.advance(10)
    world.engine().backfill()
    assert (world.hs.deletion_reads, world.sf.deletion_reads) == (0, 0)


def test_a_backfill_reads_each_objects_deletions_once(world: World) -> None:
    engine, _, _ = _synced(world)
    world.clock.advance(LOOKBACK_PASSED)
    engine.backfill()
    assert world.hs.deletion_reads == 1  # contacts
    assert world.sf.deletion_reads == 2  # Lead, Contact
    engine.backfill(since=world.clock() - timedelta(minutes=5))  # a `since` backfill reads changes
    assert (world.hs.deletion_reads, world.sf.deletion_reads) == (1, 2)


def test_a_delete_waiting_for_a_retry_holds_the_checkpoint(world: World) -> None:
    """A delete refused for now: the listing leaves the checkpoint, so the deletion is read
    again (here by the backfill's own catch-up, from the checkpoint) and sent then."""
    engine, hs_id, sf_id = _synced(world, propagate_deletes=True)
    world.clock.advance(30)
    world.hs.remove("contacts", hs_id)
    world.clock.advance(LOOKBACK_PASSED)
    world.sf.retry_next = 1  # the Lead's delete: locked, retry later
    report = engine.backfill()
    assert (report.retry_later, report.deletes_propagated) == (1, 1)
    assert world.sf.delete_calls == 2
    assert sf_id not in world.sf.live("Lead")


def test_a_resumed_backfill_does_not_read_the_deletions_again(world: World) -> None:
    """The run that began the listing read its deletions; the resumed one lists on, and its
    catch-up reads only from the listing's signpost (less the lookback)."""
    _, hs_id, sf_id = _synced(world)
    person = _linked(world, hs_id, sf_id)[0].person_id
    for i in range(6):
        world.hs.put("contacts", {"email": f"p{i}@example.com", "lastname": f"L{i}"})
    world.hs.remove("contacts", hs_id)
    world.hs.list_page = 2
    world.clock.advance(LOOKBACK_PASSED)
    with pytest.raises(KeyboardInterrupt):
        world.engine(backfill_page_size=2).backfill(
            objects=["contacts"], progress=Stopping(world, 1)
        )
    assert world.hs.deletion_reads == 1
    assert _rules(world, person) == ["delete_flagged"]

    report = world.engine(backfill_page_size=2).backfill(objects=["contacts"])

    assert world.hs.deletion_reads == 1
    assert report.deletes_flagged == 0
    assert _rules(world, person) == ["delete_flagged"]


def test_a_delete_after_a_held_first_backfill_is_read_by_the_next_backfill(world: World) -> None:
    """A first backfill whose Lead write waits for a retry leaves no checkpoint (held), yet
    links the pair: the contact deleted after it is read by the next backfill all the same."""
    hs_id, sf_id = pair(world)
    world.clock.advance(30)
    world.sf.retry_next = 1  # the first backfill's Lead write: locked, retry later
    first = world.engine().backfill()
    assert first.retry_later >= 1
    assert get_checkpoint(world.read(), System.HUBSPOT, "contacts") is None
    hs_link, sf_link = _linked(world, hs_id, sf_id)
    assert hs_link is not None
    assert sf_link is not None
    assert hs_link.person_id == sf_link.person_id
    person = hs_link.person_id
    world.clock.advance(600)
    world.hs.remove("contacts", hs_id)
    world.clock.advance(LOOKBACK_PASSED)
    world.engine().backfill()
    assert world.hs.deletion_reads == 1  # linked records, no checkpoint: all the bin holds
    for _ in range(3):
        _poll(world, world.engine())
    assert "delete_flagged" in _rules(world, person)


def test_a_delete_after_an_interrupted_first_backfill_is_read_by_a_restart(world: World) -> None:
    """A first backfill interrupted after linking the pair (no checkpoint yet), then the
    contact deleted: `backfill(restart=True)` reads that delete too."""
    hs_id, sf_id = pair(world)
    for i in range(4):
        world.hs.put("contacts", {"email": f"p{i}@example.com", "lastname": f"L{i}"})
    world.hs.list_page = 2
    world.clock.advance(30)
    with pytest.raises(KeyboardInterrupt):
        world.engine(backfill_page_size=2).backfill(progress=Stopping(world, 3))
    hs_link, sf_link = _linked(world, hs_id, sf_id)
    assert hs_link is not None
    assert sf_link is not None
    assert hs_link.person_id == sf_link.person_id
    assert get_checkpoint(world.read(), System.HUBSPOT, "contacts") is None
    world.clock.advance(600)
    world.hs.remove("contacts", hs_id)
    world.clock.advance(LOOKBACK_PASSED)
    world.engine(backfill_page_size=2).backfill(restart=True)
    for _ in range(3):
        _poll(world, world.engine())
    assert "delete_flagged" in _rules(world, hs_link.person_id)


def test_a_fresh_store_reads_no_deletions_for_records_its_own_run_linked(world: World) -> None:
    """The Lead pass links the Contact a Lead was converted into: linked by this run, it
    says nothing was read before, so the Contact listing reads no deletions either."""
    _, sf_id = pair(world)
    world.sf.convert(sf_id)
    world.clock.advance(30)
    world.engine().backfill()
    assert world.sf.deletion_reads == 0
    assert world.hs.deletion_reads == 0
