"""A dead letter closes once a later write reaches its record: the data was fixed where it came
from, the next cycle sent the new payload and the system took it. Left open, the letter would
go on counting in `baton status` and `/metrics`, and `baton why` would call the person's write
held back though it went through."""

from __future__ import annotations

from sync.store.dead_letters import DeadLetterStatus, list_dead_letters
from tests.unit.sync.conftest import World
from tests.unit.sync.fakes import junk_phone_rule
from tests.unit.sync.test_engine import HS_CONTACT, pair


def test_an_update_that_goes_through_once_the_source_is_fixed_closes_its_letter(
    world: World,
) -> None:
    world.sf.rules.append(junk_phone_rule)
    hs_id, sf_id = pair(world, hs={"phone": "n/a"})
    engine = world.engine()
    assert engine.poll().dead_letters == 1
    [letter] = list_dead_letters(world.read())
    world.hs.put("contacts", {"phone": "+33 1 23 45 67 89"}, id=hs_id)  # fixed in HubSpot
    world.clock.advance(10)
    fixed = engine.poll()
    assert fixed.updated["salesforce:Lead"] == 1
    assert world.sf.get("Lead", sf_id)["Phone"] == "+33123456789"
    assert list_dead_letters(world.read()) == []
    [closed] = list_dead_letters(world.read(), None)
    assert (closed.id, closed.status) == (letter.id, DeadLetterStatus.RETRIED)


def test_a_create_that_goes_through_once_the_source_is_fixed_closes_its_letter(
    world: World,
) -> None:
    world.sf.rules.append(junk_phone_rule)
    mql = {**HS_CONTACT, "hubspotscore": "90", "company": "Acme", "phone": "n/a"}
    hs_id = world.hs.put("contacts", mql)
    world.clock.advance(10)
    engine = world.engine()
    assert engine.poll().dead_letters == 1
    [letter] = list_dead_letters(world.read())
    assert letter.key.id.startswith("new:")
    world.hs.put("contacts", {"phone": "+33 1 23 45 67 89"}, id=hs_id)
    world.clock.advance(10)
    assert engine.poll().created["salesforce:Lead"] == 1
    assert list_dead_letters(world.read()) == []


def test_a_write_refused_again_keeps_its_letter_open(world: World) -> None:
    world.sf.rules.append(junk_phone_rule)
    hs_id, _ = pair(world, hs={"phone": "n/a"})
    engine = world.engine()
    engine.poll()
    world.hs.put("contacts", {"phone": "none", "jobtitle": "CEO"}, id=hs_id)  # still junk
    world.clock.advance(10)
    assert engine.poll().dead_letters == 1
    [letter] = list_dead_letters(world.read())
    assert letter.attempts == 2
