"""A write held back by an open dead letter (the system refused this very payload) is not
logged as a change each cycle: its fields' decisions say "held" at most once per distinct
value, and a retry that sends it logs them as what it did."""

from __future__ import annotations

from sqlalchemy import select

from sync.store.dead_letters import list_dead_letters
from sync.store.schema import Decision as DecisionRow
from tests.unit.sync.conftest import World
from tests.unit.sync.fakes import junk_phone_rule
from tests.unit.sync.test_engine import pair

Row = tuple[str, str, str, object, object]


def _logged(world: World) -> list[Row]:
    rows = world.read().execute(
        select(
            DecisionRow.field,
            DecisionRow.rule,
            DecisionRow.trigger,
            DecisionRow.salesforce_old,
            DecisionRow.salesforce_new,
        ).order_by(DecisionRow.id)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_a_held_write_is_not_logged_as_a_change_every_poll(world: World) -> None:
    world.sf.rules.append(junk_phone_rule)
    hs_id, sf_id = pair(world, hs={"phone": "n/a"})
    engine = world.engine()
    assert engine.poll().dead_letters == 1
    [letter] = list_dead_letters(world.read())
    refused = _logged(world)
    phone = [row for row in refused if row[0] == "phone"]
    assert [row[4] for row in phone] == ["n/a"]  # what was tried, next to its refusal
    assert any(row[1] == "rejected" for row in refused)
    calls = world.sf.write_calls

    world.clock.advance(10)  # the lookback reads the pair again: same payload, held back
    assert engine.poll().dead_letters == 0
    told = _logged(world)[len(refused) :]
    # at most what is new: HubSpot took its stage, Salesforce's still waits for the letter
    assert [(r[0], r[1]) for r in told] == [("funnel_stage", f"funnel:R4:held#{letter.id}")]
    logged = _logged(world)
    for _ in range(3):
        world.clock.advance(10)
        assert engine.poll().dead_letters == 0
    assert world.sf.write_calls == calls
    assert _logged(world) == logged  # nothing new to say: the dead letter says it

    world.sf.put("Lead", {"Country": "Spain"}, id=sf_id)  # a rep sets another country
    for _ in range(2):  # HubSpot's wins: the same payload, still held
        world.clock.advance(10)
        assert engine.poll().dead_letters == 0
    assert world.sf.write_calls == calls
    new = _logged(world)[len(logged) :]
    assert [(r[0], r[1], r[3], r[4]) for r in new] == [
        ("country", f"prefer_hubspot_unless_blank:conflict:held#{letter.id}", "Spain", "France")
    ]  # once for the new value, marked held with its letter

    world.hs.put("contacts", {"phone": "+33 1 23 45 67 89"}, id=hs_id)  # the data is fixed
    world.clock.advance(10)
    assert engine.retry_dead_letters().dead_letters == 0
    assert world.sf.get("Lead", sf_id)["Country"] == "France"
    last = _logged(world)[len(logged) + len(new) :]
    assert {(r[0], r[1], r[2], r[4]) for r in last if r[0] in ("phone", "country")} == {
        ("phone", "prefer_salesforce_unless_blank", "retry", "+33123456789"),
        ("country", "prefer_hubspot_unless_blank:conflict", "retry", "France"),
    }  # what the retry did is logged as done
