"""A run counts the people it left unlinked by an ambiguous match, the unit `baton status`
counts them in, and status takes "the last run" from the last poll or backfill: a reconcile
reads linked records only, so its 0 says nothing about the unlinked."""

from __future__ import annotations

from datetime import timedelta

from sync.queries.status import status
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import HS_CONTACT, SF_LEAD


def test_twins_are_one_person_in_the_run_and_in_status(world: World) -> None:
    world.sf.put("Lead", {**SF_LEAD})
    world.sf.put("Lead", {**SF_LEAD, "FirstName": "Anne"})
    world.hs.put("contacts", {**HS_CONTACT, "hubspotscore": "90", "company": "Acme"})
    world.clock.advance(10)
    engine = world.engine()
    report = engine.poll()
    assert report.ambiguous == 2  # two records...
    assert len(report.ambiguous_people) == 1  # ...of one person left unlinked
    assert report.counts()["ambiguous_people"] == 1
    assert engine.reconcile().ambiguous == 0  # reads linked records: meets neither twin
    shown = status(world.read(), now=world.clock() + timedelta(seconds=1))
    assert (shown.ambiguous_people, shown.ambiguous_last_run) == (1, 1)
    assert [run.kind for run in shown.latest_by_kind] == ["daemon", "reconcile"]
