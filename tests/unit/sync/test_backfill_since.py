"""`backfill(since=...)` on fake connectors: only the records modified since are read and
synced, and the checkpoint moves to the run's upper bound only when no change is skipped."""

from __future__ import annotations

from datetime import timedelta

from connectors.records import RecordKey, System
from sync.store.checkpoints import advance_checkpoint, get_checkpoint, set_upper_bound
from sync.store.links import find_link
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import HS_CONTACT, SF_LEAD, quiet


def people(world: World, email: str) -> tuple[str, str]:
    hs_id = world.hs.put("contacts", {**HS_CONTACT, "email": email})
    sf_id = world.sf.put("Lead", {**SF_LEAD, "Email": email})
    return hs_id, sf_id


def linked(world: World, system: System, obj: str, ident: str) -> bool:
    return find_link(world.read(), RecordKey(system, obj, ident)) is not None


def test_only_records_modified_since_are_synced(world: World) -> None:
    old_hs, old_sf = people(world, "old@example.com")
    old_solo = world.sf.put("Lead", {**SF_LEAD, "Email": "old.solo@example.com"})
    since = world.clock.advance(3600)
    new_hs, new_sf = people(world, "new@example.com")
    world.clock.advance(10)

    report = world.engine().backfill(since=since)

    assert report.read == {"hubspot:contacts": 1, "salesforce:Lead": 1}
    assert world.sf.get("Lead", new_sf)["Title"] == "CTO"  # the new pair was synced
    assert linked(world, System.SALESFORCE, "Lead", new_sf)
    assert linked(world, System.HUBSPOT, "contacts", new_hs)
    for system, obj, ident in (
        (System.SALESFORCE, "Lead", old_sf),
        (System.SALESFORCE, "Lead", old_solo),
        (System.HUBSPOT, "contacts", old_hs),
    ):
        assert not linked(world, system, obj, ident)
    assert "Title" not in world.sf.get("Lead", old_sf)
    assert len(world.hs.live("contacts")) == 2  # no contact created for the old solo Lead


def test_a_checkpoint_still_behind_since_is_left_alone(world: World) -> None:
    """Moving it to the run's bound would skip the changes before `since` nobody read yet."""
    people(world, "ann@example.com")
    world.clock.advance(10)
    engine = world.engine()
    engine.poll()
    before = get_checkpoint(world.read(), System.SALESFORCE, "Lead")
    assert before is not None
    assert before.cursor is not None
    unread = world.sf.put("Lead", {**SF_LEAD, "Email": "gap@example.com"})  # before `since`
    since = world.clock.advance(3600)
    world.clock.advance(10)

    engine.backfill(since=since)

    after = get_checkpoint(world.read(), System.SALESFORCE, "Lead")
    assert after is not None
    assert (after.cursor, after.last_id) == (before.cursor, before.last_id)
    assert not linked(world, System.SALESFORCE, "Lead", unread)
    world.clock.advance(10)
    engine.poll()  # the daemon still reads the gap
    assert linked(world, System.SALESFORCE, "Lead", unread)


def test_no_checkpoint_yet_is_left_alone_too(world: World) -> None:
    since = world.clock.advance(10)
    people(world, "ann@example.com")
    world.clock.advance(10)
    world.engine().backfill(since=since)
    assert get_checkpoint(world.read(), System.HUBSPOT, "contacts") is None


def test_a_checkpoint_within_reach_moves_to_the_upper_bound_never_back(world: World) -> None:
    hs_id, _ = people(world, "ann@example.com")
    world.clock.advance(600)
    engine = world.engine()
    engine.backfill()
    first = get_checkpoint(world.read(), System.HUBSPOT, "contacts")
    assert first is not None
    assert first.cursor is not None
    world.clock.advance(600)
    world.hs.put("contacts", {"jobtitle": "CEO"}, id=hs_id)
    world.clock.advance(10)
    ahead = world.clock() + timedelta(hours=1)
    with world.db.begin() as tx:  # a cursor past this run's bound (a clock skew, say)
        set_upper_bound(tx, System.SALESFORCE, "Contact", ahead)
        advance_checkpoint(tx, System.SALESFORCE, "Contact", ahead, "003x")
    upper = world.clock() - engine.policy.settle

    report = engine.backfill(since=first.cursor - timedelta(minutes=1))

    # the contact's edit, and the Lead the first backfill wrote (read back as an echo)
    assert report.read == {"hubspot:contacts": 1, "salesforce:Lead": 1}
    assert report.updated == {"salesforce:Lead": 1}
    assert world.sf.get("Lead", next(iter(world.sf.live("Lead"))))["Title"] == "CEO"
    for obj, system in (("contacts", System.HUBSPOT), ("Lead", System.SALESFORCE)):
        moved = get_checkpoint(world.read(), system, obj)
        assert moved is not None
        assert (moved.cursor, moved.upper_bound) == (upper, upper)
    kept = get_checkpoint(world.read(), System.SALESFORCE, "Contact")
    assert kept is not None
    assert (kept.cursor, kept.last_id) == (ahead, "003x")  # never moved backwards
    quiet(world, engine)


def test_a_dry_run_since_plans_only_the_recent_records_and_writes_nothing(world: World) -> None:
    people(world, "old@example.com")
    world.clock.advance(10)
    world.engine().backfill()  # HubSpot read whole: Salesforce-only people may get contacts
    writes = world.writes()
    checkpoint = get_checkpoint(world.read(), System.SALESFORCE, "Lead")
    since = world.clock.advance(3600)
    world.sf.put("Lead", {**SF_LEAD, "Email": "new.solo@example.com"})
    world.clock.advance(10)
    report = world.engine().backfill(since=since, dry_run=True)
    assert world.writes() == writes
    assert report.read["salesforce:Lead"] == 1
    assert report.created == {"hubspot:contacts": 1}  # the recent Salesforce-only Lead
    assert get_checkpoint(world.read(), System.SALESFORCE, "Lead") == checkpoint
