"""Reconciliation: records purged before a poll read them from a bin are found by reading
every linked record again, and synced as deleted; a mass disappearance is refused."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

import sync.recorder
from connectors.errors import TransientError
from connectors.records import RecordKey, System
from sync.reconcile import Guard, ReconcileStopped, TooManyVanished
from sync.store.decisions import decisions_for
from sync.store.links import find_link
from sync.store.runs import RunKind, RunStatus, recent_runs
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import HS_CONTACT, SF_LEAD, pair, settle


def lead_key(sf_id: str) -> RecordKey:
    return RecordKey(System.SALESFORCE, "Lead", sf_id)


def purged_while_away(world: World, engine: Any, obj: str, ident: str) -> None:
    """Deleted and purged from the bin before any poll read it: the polls see nothing."""
    connector = world.sf if obj == "Lead" else world.hs
    connector.remove(obj, ident)
    connector.purge(obj, ident)
    world.clock.advance(10)
    assert engine.poll().deletes_flagged == 0


def test_a_lead_purged_before_a_poll_read_it_is_flagged_once(world: World) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    purged_while_away(world, engine, "Lead", sf_id)

    report = engine.reconcile()

    assert report.deletes_flagged == 1
    link = find_link(world.read(), lead_key(sf_id))
    assert link is not None
    rules = [d.rule for d in decisions_for(world.read(), link.person_id, "record")]
    assert rules == ["delete_flagged"]
    assert hs_id in world.hs.live("contacts")  # flagged, not propagated (the default)
    assert engine.reconcile().deletes_flagged == 0  # found again, said once


def test_a_reconciliation_counts_every_linked_record_it_reads(world: World) -> None:
    pair(world)
    _, sf_id = pair(world, {"email": "bob@example.com"}, {"Email": "bob@example.com"})
    engine = world.engine()
    settle(world, engine)
    purged_while_away(world, engine, "Lead", sf_id)

    report = engine.reconcile()

    # two contacts and two Leads linked: each read once by id, the purged one not twice
    assert dict(report.read) == {"hubspot:contacts": 2, "salesforce:Lead": 2}
    [run] = [r for r in recent_runs(world.read()) if r.kind is RunKind.RECONCILE]
    assert (run.counts["read.hubspot:contacts"], run.counts["read.salesforce:Lead"]) == (2, 2)


def test_with_propagation_a_purged_contact_deletes_its_lead(world: World) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine(propagate_deletes=True)
    settle(world, engine)
    purged_while_away(world, engine, "contacts", hs_id)

    report = engine.reconcile()

    assert report.deletes_propagated == 1
    assert sf_id not in world.sf.live("Lead")
    link = find_link(world.read(), lead_key(sf_id))
    assert link is not None
    assert not link.active


def test_a_merge_the_polls_missed_moves_the_person_not_deletes(world: World) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    survivor = world.hs.put("contacts", {**HS_CONTACT, "email": "ann@example.org"})
    world.hs.remove("contacts", hs_id, merged_into=survivor)
    # read by id (no poll since): the merged-away id resolves to the survivor, with its stub

    report = engine.reconcile()

    assert report.deletes_flagged == 0
    link = find_link(world.read(), RecordKey(System.HUBSPOT, "contacts", survivor))
    lead = find_link(world.read(), lead_key(sf_id))
    assert link is not None
    assert lead is not None
    assert (link.active, link.person_id) == (True, lead.person_id)


def test_a_mass_disappearance_is_refused_whole_and_the_run_fails(world: World) -> None:
    leads = [
        world.sf.put("Lead", {**SF_LEAD, "Email": f"p{n}@example.com", "LastName": f"P{n}"})
        for n in range(8)
    ]
    engine = world.engine(vanish_guard=Guard(share=0.5, least=3))
    settle(world, engine)
    for sf_id in leads[:5]:  # 5 of 8: more than half, and more than 3
        purged_while_away(world, engine, "Lead", sf_id)

    with pytest.raises(TooManyVanished, match="5 of 8 linked salesforce:Lead records are gone"):
        engine.reconcile()

    [run] = [r for r in recent_runs(world.read()) if r.kind is RunKind.RECONCILE]
    assert run.status is RunStatus.FAILED
    assert run.counts.get("deletes_flagged", 0) == 0
    for sf_id in leads[:5]:
        link = find_link(world.read(), lead_key(sf_id))
        assert link is not None
        rules = {d.rule for d in decisions_for(world.read(), link.person_id, "record")}
        assert "delete_flagged" not in rules


def test_a_dry_run_reports_and_writes_nothing(world: World) -> None:
    hs_id, sf_id = pair(world)
    engine = world.engine(propagate_deletes=True)
    settle(world, engine)
    purged_while_away(world, engine, "contacts", hs_id)

    report = engine.reconcile(dry_run=True)

    assert report.deletes_propagated == 1
    assert sf_id in world.sf.live("Lead")
    assert engine.reconcile().deletes_propagated == 1  # still to do


def test_reconciliation_is_due_once_per_interval(world: World) -> None:
    pair(world)
    engine = world.engine()
    settle(world, engine)
    every = timedelta(hours=24)
    assert engine.reconcile_due(every)
    engine.reconcile()
    assert not engine.reconcile_due(every)
    world.clock.advance(every.total_seconds())
    assert engine.reconcile_due(every)


def test_a_refused_reconciliation_waits_its_interval_too(world: World) -> None:
    """Refused for lost access, it needs a person: not a full read of every link each hour."""
    leads = [
        world.sf.put("Lead", {**SF_LEAD, "Email": f"p{n}@example.com", "LastName": f"P{n}"})
        for n in range(4)
    ]
    engine = world.engine(vanish_guard=Guard(share=0.5, least=1))
    settle(world, engine)
    for sf_id in leads[:3]:
        purged_while_away(world, engine, "Lead", sf_id)
    every = timedelta(hours=24)
    with pytest.raises(TooManyVanished):
        engine.reconcile()
    world.clock.advance(3600)
    assert not engine.reconcile_due(every)


def test_a_salesforce_lead_not_found_by_id_is_flagged_even_with_propagation(
    world: World,
) -> None:
    """Salesforce shares records by user: one its reads no longer return may be hidden from
    Baton's user, not deleted, so its HubSpot contact is not deleted for it."""
    hs_id, sf_id = pair(world)
    engine = world.engine(propagate_deletes=True)
    settle(world, engine)
    purged_while_away(world, engine, "Lead", sf_id)

    report = engine.reconcile()

    assert (report.deletes_flagged, report.deletes_propagated) == (1, 0)
    assert hs_id in world.hs.live("contacts")
    link = find_link(world.read(), lead_key(sf_id))
    assert link is not None
    [note] = decisions_for(world.read(), link.person_id, "record")
    assert "hidden" in (note.salesforce_new or "")


def test_a_stop_ends_a_reconciliation_at_the_page_in_hand_and_it_is_begun_again(
    world: World,
) -> None:
    _hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    purged_while_away(world, engine, "Lead", sf_id)
    asked = iter([False, True])  # the stop comes after the first page was read

    with pytest.raises(ReconcileStopped):
        engine.reconcile(stopping=lambda: next(asked, True))

    [run] = [r for r in recent_runs(world.read()) if r.kind is RunKind.RECONCILE]
    assert run.status is RunStatus.INTERRUPTED
    assert engine.reconcile_due(timedelta(hours=24))  # the next start begins it again
    assert engine.reconcile().deletes_flagged == 1


def test_a_read_refused_for_now_after_a_stop_interrupts_the_reconciliation(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's stop ends a call's retries (`connectors.priority.retries_end_on`): the
    refusal then is the stop, so the run is interrupted and begun again at the next start,
    not failed, which would leave it for `BATON_RECONCILE_HOURS`."""
    pair(world)
    engine = world.engine()
    settle(world, engine)
    asked: list[bool] = []

    def refused(*_args: object) -> None:
        asked.append(True)  # the SIGTERM comes while Salesforce refuses calls
        raise TransientError(
            "Server temporarily unavailable",
            system=System.SALESFORCE,
            operation="Lead.query",
            status=503,
        )

    monkeypatch.setattr(world.sf, "read_by_ids", refused)
    with pytest.raises(ReconcileStopped, match="503"):
        engine.reconcile(stopping=lambda: any(asked))

    [run] = [r for r in recent_runs(world.read()) if r.kind is RunKind.RECONCILE]
    assert run.status is RunStatus.INTERRUPTED
    assert engine.reconcile_due(timedelta(hours=24))


def test_two_daemons_asking_together_start_one_reconciliation(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two daemons on one store (a rolling deploy) ask at once and both find a reconciliation
    due; the one that starts second, its run's start waiting for the first's, finds it begun
    and reads nothing (each would read every linked record again)."""
    from baton.wiring import reconcile_timer

    pair(world)
    settle(world, world.engine())
    first, second = world.engine(), world.engine()
    go, started = threading.Event(), threading.Event()
    real_start = sync.recorder.start_run

    def slow_start(*args: Any, **kwargs: Any) -> Any:
        run_id = real_start(*args, **kwargs)
        if threading.current_thread().name == "first":  # its run not committed yet
            started.set()
            assert go.wait(30)
        return run_id

    monkeypatch.setattr(sync.recorder, "start_run", slow_start)
    due = timedelta(hours=24)
    assert first.reconcile_due(due)  # both asked at once
    assert second.reconcile_due(due)
    monkeypatch.setattr(type(first), "reconcile_due", lambda _self, _every: True)
    failed: list[BaseException] = []

    def tick(engine: Any) -> None:
        try:
            reconcile_timer(engine, hours=24).run()
        except BaseException as exc:  # handed to the test's thread
            failed.append(exc)

    one = threading.Thread(target=tick, args=(first,), name="first")
    one.start()
    assert started.wait(30)
    two = threading.Thread(target=tick, args=(second,))
    two.start()
    two.join(1.0)  # it ends in far less unless it waits for the first
    go.set()
    one.join(30)
    two.join(30)
    assert failed == []
    runs = [run for run in recent_runs(world.read()) if run.kind is RunKind.RECONCILE]
    assert [run.status for run in runs] == [RunStatus.SUCCEEDED]
    assert runs[0].counts  # every linked record read again, once
