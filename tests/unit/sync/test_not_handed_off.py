"""A HubSpot MQL Baton does not hand off: `baton why` says why (once per change), the cycle
report counts it, and the SLA timer never blames sales for a person they never received."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connectors.records import RecordKey, System
from sync import sla
from sync.commit import NOT_HANDED_OFF
from sync.store.decisions import decisions_for
from sync.store.links import find_link
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import HS_CONTACT

MQL = "marketingqualifiedlead"


def _notes(world: World, hs_id: str) -> list[str]:
    link = find_link(world.read(), RecordKey(System.HUBSPOT, "contacts", hs_id))
    assert link is not None
    return [
        str(d.hubspot_new)
        for d in decisions_for(world.read(), link.person_id, "record")
        if d.rule == NOT_HANDED_OFF
    ]


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"lifecyclestage": MQL, "hubspotscore": "40", "company": "Initech"}, "score 40 is below"),
        ({"lifecyclestage": MQL, "hubspotscore": "80"}, "company is blank"),
        (
            {"lifecyclestage": "salesqualifiedlead", "hubspotscore": "80", "company": "Initech"},
            "HubSpot says SQL, past the handoff, and there is no Salesforce record",
        ),
    ],
)
def test_an_mql_kept_from_sales_is_explained_once(
    world: World, fields: dict[str, str], why: str
) -> None:
    hs_id = world.hs.put("contacts", {**HS_CONTACT, **fields})
    world.clock.advance(10)
    engine = world.engine()
    report = engine.poll()
    assert world.sf.live("Lead") == {}  # the handoff policy is unchanged
    assert report.not_handed_off == 1
    [note] = _notes(world, hs_id)
    assert note.startswith("not handed off: "), note
    assert why in note, note
    # a later edit that changes nothing about it is not logged again
    world.hs.put("contacts", {"jobtitle": "VP"}, id=hs_id)
    world.clock.advance(10)
    again = engine.poll()
    assert again.not_handed_off == 0
    assert _notes(world, hs_id) == [note]


def test_a_new_reason_is_noted_and_the_handoff_still_follows_the_definition(
    world: World,
) -> None:
    hs_id = world.hs.put(
        "contacts", {**HS_CONTACT, "lifecyclestage": MQL, "hubspotscore": "40", "company": "Acme"}
    )
    world.clock.advance(10)
    engine = world.engine()
    engine.poll()
    world.hs.put("contacts", {"hubspotscore": "45"}, id=hs_id)
    world.clock.advance(10)
    assert engine.poll().not_handed_off == 1
    notes = _notes(world, hs_id)
    assert len(notes) == 2, notes
    assert "score 45 is below" in notes[1], notes
    world.hs.put("contacts", {"hubspotscore": "80"}, id=hs_id)
    world.clock.advance(10)
    report = engine.poll()
    assert report.created == {"salesforce:Lead": 1}
    assert report.not_handed_off == 0
    assert len(_notes(world, hs_id)) == 2


def test_a_dry_run_counts_what_it_would_note_and_records_nothing(world: World) -> None:
    hs_id = world.hs.put(
        "contacts", {**HS_CONTACT, "lifecyclestage": MQL, "hubspotscore": "40", "company": "Acme"}
    )
    world.clock.advance(10)
    assert world.engine().poll(dry_run=True).not_handed_off == 1
    assert find_link(world.read(), RecordKey(System.HUBSPOT, "contacts", hs_id)) is None


def test_an_mql_never_handed_off_is_no_sales_breach(world: World) -> None:
    world.hs.put(
        "contacts",
        {**HS_CONTACT, "lifecyclestage": MQL, "hubspotscore": "40", "company": "Initech"},
    )
    world.clock.advance(10)
    engine = world.engine()
    engine.poll()
    assert world.sf.live("Lead") == {}
    world.clock.advance(25 * 3600)
    engine.poll()
    now = world.clock()
    with world.db.begin() as conn:
        assert sla.open_breaches(conn, now=now) == []
        assert sla.count_open_breaches(conn, now=now) == 0
        assert sla.check(conn, now=now) == ([], [])


def test_a_handed_off_mql_left_untouched_is_still_a_breach(world: World) -> None:
    world.hs.put(
        "contacts",
        {**HS_CONTACT, "lifecyclestage": MQL, "hubspotscore": "80", "company": "Initech"},
    )
    world.clock.advance(10)
    engine = world.engine()
    engine.poll()
    assert len(world.sf.live("Lead")) == 1
    world.clock.advance(25 * 3600)
    engine.poll()
    with world.db.begin() as conn:
        [breach] = sla.open_breaches(conn, now=world.clock(), sla=timedelta(hours=24))
    assert breach.email == "ann@example.com"
