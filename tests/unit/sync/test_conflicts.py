"""Conflicts end to end: what counts as one, and that each is counted and logged once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.records import RecordKey, SourceRecord, System
from sync.store.decisions import Decision, decisions_for
from sync.store.links import find_link
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import pair, settle


def _log(world: World, hs_id: str, field: str) -> list[Decision]:
    link = find_link(world.read(), RecordKey(System.HUBSPOT, "contacts", hs_id))
    assert link is not None
    return decisions_for(world.read(), link.person_id, field)


def test_a_clear_against_a_change_is_a_conflict_and_the_latest_still_wins(world: World) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.sf.put("Lead", {"Title": "Head of Sales"}, id=sf_id)  # the rep types a title
    world.hs.put("contacts", {"jobtitle": ""}, id=hs_id)  # marketing clears it, later
    world.clock.advance(10)
    report = engine.poll()
    assert report.conflicts == 1
    last = _log(world, hs_id, "job_title")[-1]
    assert last.rule == "two_way:conflict"
    # the verdict is as before: the most recent change (the clear) wins, now told as a conflict
    assert last.winner is System.HUBSPOT
    assert (last.salesforce_old, last.salesforce_new) == ("Head of Sales", None)
    assert world.sf.get("Lead", sf_id).get("Title") in (None, "")


def test_a_preferred_side_cleared_is_no_value_and_no_conflict(world: World) -> None:
    """phone is prefer_salesforce_unless_blank: a Lead cleared of it lets HubSpot fill in."""
    hs_id, sf_id = pair(world, hs={"phone": "(415) 555-0100"}, sf={"Phone": "(415) 555-0100"})
    engine = world.engine()
    settle(world, engine)
    world.sf.put("Lead", {"Phone": ""}, id=sf_id)
    world.hs.put("contacts", {"phone": "(415) 555-0199"}, id=hs_id)
    world.clock.advance(10)
    report = engine.poll()
    assert report.conflicts == 0
    last = _log(world, hs_id, "phone")[-1]
    assert (last.rule, last.winner) == ("prefer_salesforce_unless_blank", System.HUBSPOT)
    assert str(world.sf.get("Lead", sf_id)["Phone"]).endswith("5550199")


@pytest.mark.parametrize("locked", [System.HUBSPOT, System.SALESFORCE])
def test_a_write_refused_for_now_counts_and_logs_its_conflict_once(
    world: World, locked: System
) -> None:
    """HubSpot's 423 / Salesforce's row lock for three cycles: the conflict is counted and
    logged once, when the write lands, not on every attempt."""
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    edits = [
        lambda: world.hs.put("contacts", {"jobtitle": "VP Sales"}, id=hs_id),
        lambda: world.sf.put("Lead", {"Title": "Head of Sales"}, id=sf_id),
    ]
    if locked is System.SALESFORCE:  # the most recent edit wins: the locked side loses
        edits.reverse()
    for edit in edits:
        edit()
    world.clock.advance(10)
    fake = world.hs if locked is System.HUBSPOT else world.sf
    fake.locked.add(hs_id if locked is System.HUBSPOT else sf_id)
    counted, retried = [], 0
    for _ in range(3):
        report = engine.poll()
        counted.append(report.conflicts)
        retried += report.retry_later
        world.clock.advance(30)
    assert retried >= 3  # refused for now in each cycle
    assert [d for d in _log(world, hs_id, "job_title") if d.rule.endswith(":conflict")] == []
    fake.locked.clear()
    counted.append(engine.poll().conflicts)
    assert sum(counted) == 1, counted
    [logged] = [d for d in _log(world, hs_id, "job_title") if d.rule.endswith(":conflict")]
    winner = "Head of Sales" if locked is System.HUBSPOT else "VP Sales"
    assert (logged.hubspot_new, logged.salesforce_new) == (winner, winner)
    assert world.hs.get("contacts", hs_id)["jobtitle"] == winner
    assert world.sf.get("Lead", sf_id)["Title"] == winner


def test_a_write_held_by_its_dead_letter_counts_its_conflict_once(world: World) -> None:
    """HubSpot refuses the winning title for good: the write is a dead letter, then held back
    each time its person is planned again; the conflict was counted when it was logged."""
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.hs.rules.append(
        lambda _, fields: ("INVALID", "no") if fields.get("jobtitle") == "Head of Sales" else None
    )
    world.hs.put("contacts", {"jobtitle": "VP Sales"}, id=hs_id)
    world.sf.put("Lead", {"Title": "Head of Sales"}, id=sf_id)
    world.clock.advance(10)
    counted, lettered = [], 0
    for _ in range(3):
        report = engine.poll()
        counted.append(report.conflicts)
        lettered += report.dead_letters
        world.clock.advance(30)
    assert lettered == 1
    assert sum(counted) == 1, counted
    assert len([d for d in _log(world, hs_id, "job_title") if ":conflict" in d.rule]) == 1


def test_a_stale_copy_of_our_own_write_is_not_a_change(world: World) -> None:
    """HubSpot's search answers with the contact as it was before Baton's write (its index
    lags): that old copy must not revert the rep's title Baton just carried."""
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    before = world.hs.objects["contacts"][hs_id]
    old_fields, old_at = dict(before.fields), before.modified_at
    world.sf.put("Lead", {"Title": "Head of Sales"}, id=sf_id)  # the rep
    world.clock.advance(10)
    engine.poll()
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "Head of Sales"  # carried
    real = world.hs.read_changes

    def lagging(obj: str, since: Any, until: Any) -> Iterator[SourceRecord]:
        for r in real(obj, since, until):
            stale = r.key.id == hs_id
            yield SourceRecord(r.key, {**r.fields, **old_fields}, old_at) if stale else r

    world.hs.read_changes = lagging  # type: ignore[method-assign]
    world.clock.advance(5)
    writes = world.writes()
    engine.poll()
    world.hs.read_changes = real  # type: ignore[method-assign]
    assert world.sf.get("Lead", sf_id)["Title"] == "Head of Sales"
    assert world.writes() == writes
    # the write's own echo, read at last, is no change either; an edit just after it is one
    world.clock.advance(5)
    engine.poll()
    assert world.writes() == writes
    world.hs.put("contacts", {"jobtitle": "VP Sales"}, id=hs_id)
    world.clock.advance(10)
    engine.poll()
    assert world.sf.get("Lead", sf_id)["Title"] == "VP Sales"
