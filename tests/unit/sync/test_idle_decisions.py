"""Idle poll cycles log nothing new: a lookback re-reading an ambiguous pair or a deleted
record must not append the same identity or delete note to the decision log each cycle."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from sync.store.schema import Decision as DecisionRow
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import HS_CONTACT, SF_LEAD, pair, settle


def _decisions(world: World) -> list[tuple[str, str]]:
    rows = world.read().execute(select(DecisionRow.field, DecisionRow.rule))
    return sorted((field, rule) for field, rule in rows)


def test_idle_polls_inside_the_lookback_add_no_decisions(world: World) -> None:
    _, sf_id = pair(world)
    world.sf.put("Lead", {**SF_LEAD, "Email": "twin@example.com", "LastName": "One"})
    world.sf.put("Lead", {**SF_LEAD, "Email": "twin@example.com", "LastName": "Two"})
    engine = world.engine(lookback=timedelta(hours=1))
    settle(world, engine)
    world.sf.remove("Lead", sf_id)  # deleted, flagged (propagation off)
    world.clock.advance(10)
    first = engine.poll()
    assert first.deletes_flagged == 1
    logged = _decisions(world)
    assert logged.count(("identity", "ambiguous:salesforce")) == 2
    assert logged.count(("record", "delete_flagged")) == 1

    for _ in range(3):
        world.clock.advance(10)
        engine.poll()

    assert _decisions(world) == logged


def test_a_delete_with_no_twin_is_flagged_once_with_propagation_on(world: World) -> None:
    hs_id = world.hs.put("contacts", {**HS_CONTACT, "email": "solo@example.com"})
    engine = world.engine(
        lookback=timedelta(hours=1),
        propagate_deletes=True,
        create_contacts_from_salesforce=False,
    )
    settle(world, engine)
    world.hs.remove("contacts", hs_id)
    world.clock.advance(10)
    assert engine.poll().deletes_flagged == 1
    logged = _decisions(world)
    assert logged.count(("record", "delete_flagged")) == 1

    for _ in range(3):
        world.clock.advance(10)
        engine.poll()

    assert _decisions(world) == logged
    assert world.sf.delete_calls == 0
