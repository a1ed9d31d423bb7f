"""An ambiguous identity is logged once per change of the ambiguity, not once per sighting: a
record a poll's lookback reads with its twin and a webhook reads alone says the same words both
times, so `baton why` does not fill with repeats."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from connectors.records import RecordKey, System
from sync.identity import IDENTITY_FIELD
from sync.store.schema import Decision as DecisionRow
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import HS_CONTACT, SF_LEAD


def _noted(world: World) -> list[tuple[str, str]]:
    """(record, words) of every ambiguous identity note, oldest first."""
    rows = world.read().execute(
        select(DecisionRow.salesforce_old, DecisionRow.salesforce_new)
        .where(DecisionRow.field == IDENTITY_FIELD, DecisionRow.rule == "ambiguous:salesforce")
        .order_by(DecisionRow.decided_at, DecisionRow.id)
    )
    return [(str(record), str(words)) for record, words in rows]


def test_twins_read_together_and_alone_are_each_noted_once(world: World) -> None:
    first = world.sf.put("Lead", {**SF_LEAD})
    second = world.sf.put("Lead", {**SF_LEAD, "FirstName": "Anne"})
    world.hs.put("contacts", {**HS_CONTACT, "hubspotscore": "90", "company": "Acme"})
    world.clock.advance(10)
    engine = world.engine()
    engine.poll()  # both twins in one page
    for n in range(3):
        world.sf.put("Lead", {"Title": f"CEO {n}"}, id=first)
        world.clock.advance(10)
        engine.poll()  # the lookback reads both again
        engine.sync_keys([RecordKey(System.SALESFORCE, "Lead", second)], trigger="webhook")
    noted = _noted(world)
    assert Counter(record for record, _ in noted) == {
        f"salesforce:Lead:{first}": 1,
        f"salesforce:Lead:{second}": 1,
    }, noted
    assert len({words for _, words in noted}) == 1  # one wording, whoever read them


def test_a_change_of_the_ambiguity_is_noted_again(world: World) -> None:
    first = world.sf.put("Lead", {**SF_LEAD})
    second = world.sf.put("Lead", {**SF_LEAD, "FirstName": "Anne"})
    world.clock.advance(10)
    engine = world.engine()
    engine.poll()
    person = world.read().execute(select(DecisionRow.person_id).limit(1)).scalar_one()
    # A user settles it: the first twin carries the person's cross-system id.
    world.sf.put("Lead", {"Baton_Id__c": str(person)}, id=first)
    world.clock.advance(10)
    engine.poll()
    engine.sync_keys([RecordKey(System.SALESFORCE, "Lead", second)], trigger="webhook")
    engine.poll()
    told = [w for record, w in _noted(world) if record == f"salesforce:Lead:{second}"]
    assert len(told) == 2, told  # the twin, then: the person's Lead has that email now
    assert f"salesforce:Lead:{first}" in told[1]
