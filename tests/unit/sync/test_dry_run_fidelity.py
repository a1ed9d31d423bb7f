"""A dry run's plan is what the real run then does: the same writes, field by field, and the
same counts. A real backfill's later passes read back what its earlier ones wrote; a dry run
writes nothing, so it must see its own plan instead, or it plans a write twice, or (a converted
Lead's stage, carried by the write to its Contact) plans a stage the real run never takes."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

import sync.unit
from sync.execute import Sent
from sync.report import CycleReport
from tests.unit.sync.conftest import World
from tests.unit.sync.fakes import junk_phone_rule
from tests.unit.sync.test_engine import HS_CONTACT, SF_LEAD

Planned = Counter[tuple[str, str, str, str]]


def _row(system: object, obj: str, ident: str, changes: Any) -> tuple[str, str, str, str]:
    new = {name: new for name, (_, new) in sorted(changes.items())}
    return str(system), obj, ident or "new", json.dumps(new, default=str)


def _plan(report: CycleReport) -> Planned:
    return Counter(_row(w.system, w.object, w.key, w.changes) for w in report.planned)


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[Sent]:
    """Every write the real run sends, as planned (canonical changes)."""
    sent: list[Sent] = []
    send = sync.unit.send

    def recorded(connectors: Any, writes: Any) -> list[Sent]:
        outcome = send(connectors, writes)
        sent.extend(outcome)
        return outcome

    monkeypatch.setattr(sync.unit, "send", recorded)
    return sent


def _done(sent: list[Sent]) -> Planned:
    return Counter(
        _row(s.write.key.system, s.write.key.object, s.write.key.id, s.write.changes) for s in sent
    )


def test_a_converted_leads_person_is_planned_as_the_backfill_then_writes(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Lead's pass writes the Opportunity's stage to the Contact; the Contact's and
    HubSpot's passes read it back from there. The plan used to show the Contact planned again
    by its own pass, and HubSpot and the Contact taken back to Inquiry by HubSpot's."""
    lead = world.sf.put("Lead", {**SF_LEAD, "Email": "ann@example.com"})
    deal = world.sf.put(
        "Opportunity", {"StageName": "Needs Analysis", "IsClosed": False, "IsWon": False}
    )
    world.sf.convert(lead)
    world.sf.put("Lead", {"ConvertedOpportunityId": deal}, id=lead)
    world.hs.put("contacts", {**HS_CONTACT, "email": "ann@example.com"})
    world.clock.advance(10)
    engine = world.engine()
    plan = engine.backfill(dry_run=True)
    sent = _recording(monkeypatch)
    done = engine.backfill()
    assert _plan(plan) == _done(sent)
    assert [w for w in plan.planned if w.changes.get("funnel_stage", (0, 0))[1] == "Inquiry"] == []
    assert (plan.created, plan.updated) == (done.created, done.updated)
    assert plan.stage_moves == done.stage_moves == Counter({"inquiry->opportunity": 1})


def test_a_dry_poll_counts_each_ambiguous_record_once(world: World) -> None:
    """A dry run's identity is carried from unit to unit: the ambiguities an earlier unit met
    used to be counted again by every later one."""
    world.sf.put("Lead", {**SF_LEAD})
    world.sf.put("Lead", {**SF_LEAD, "FirstName": "Anne"})
    world.hs.put("contacts", {**HS_CONTACT, "hubspotscore": "90", "company": "Acme"})
    world.clock.advance(10)
    engine = world.engine()
    polled = engine.poll(dry_run=True)
    backfilled = engine.backfill(dry_run=True)
    real = engine.poll()
    assert real.ambiguous == 2
    assert polled.ambiguous == backfilled.ambiguous == real.ambiguous


def test_a_write_held_back_by_its_dead_letter_is_not_in_the_plan(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live run does not send again the payload a system refused (its letter is open): the
    plan used to count it as an update, and its funnel move as made."""
    world.sf.rules.append(junk_phone_rule)
    world.hs.put(
        "contacts",
        {**HS_CONTACT, "phone": "n/a", "lifecyclestage": "marketingqualifiedlead"},
    )
    world.sf.put("Lead", {**SF_LEAD})
    world.clock.advance(10)
    engine = world.engine()
    assert engine.poll().dead_letters == 1
    world.clock.advance(10)
    plan = engine.backfill(dry_run=True)
    sent = _recording(monkeypatch)
    done = engine.backfill()
    assert sent == []
    assert plan.planned == []
    assert (plan.created, plan.updated) == (done.created, done.updated) == (Counter(), Counter())
    assert plan.stage_moves == done.stage_moves == Counter()
