"""An update no commit settled (the process died after sending it) is recognised as Baton's
own write when the person is synced again, so an edit made on the other side while it was in
flight is carried, not overwritten by the echo of the lost write (`sync.store.pending`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from connectors.records import RecordPatch, WriteOutcome
from sync.engine import SyncEngine
from sync.queries.why import why
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import pair, settle


def _pending(world: World) -> int:
    """People with pending updates."""
    return int(
        world.read()
        .exec_driver_sql("select count(distinct person_id) from pending_updates")
        .scalar()
        or 0
    )


def _lose_first_update_commit(engine: SyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit of the first unit that updated a record dies after its writes were sent."""
    real = engine.worker.committer.commit
    crashed: list[bool] = []

    def crash_once(tx: Any, gathered: Any, plans: Any, sent: Any, *args: Any, **kw: Any) -> None:
        if not crashed and any(not s.write.creates for s in sent):
            crashed.append(True)
            raise RuntimeError("killed between write and commit")
        real(tx, gathered, plans, sent, *args, **kw)

    monkeypatch.setattr(engine.worker.committer, "commit", crash_once)


def _sales_retitles_while_the_write_is_in_flight(
    world: World, monkeypatch: pytest.MonkeyPatch, lead_id: str, title: str
) -> None:
    """The rep edits the Lead after Baton read it and before its write to HubSpot lands (so
    the contact's modification, Baton's own, is the newer one)."""
    write = world.hs.write
    edited: list[bool] = []

    def edit_then_write(obj: str, patches: Sequence[RecordPatch]) -> list[WriteOutcome]:
        if not edited:
            edited.append(True)
            world.sf.put("Lead", {"Title": title}, id=lead_id)
            world.clock.advance(1)
        return write(obj, patches)

    monkeypatch.setattr(world.hs, "write", edit_then_write)


def _crash_after_carrying_a_title(
    world: World, monkeypatch: pytest.MonkeyPatch, *, edit_to: str | None
) -> tuple[SyncEngine, str, str]:
    hs_id, lead_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.clock.advance(10)
    world.sf.put("Lead", {"Title": "VP Sales"}, id=lead_id)
    world.clock.advance(10)
    if edit_to is not None:
        _sales_retitles_while_the_write_is_in_flight(world, monkeypatch, lead_id, edit_to)
    _lose_first_update_commit(engine, monkeypatch)
    with pytest.raises(RuntimeError):
        engine.poll()
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "VP Sales"  # the write landed
    return engine, hs_id, lead_id


def test_an_edit_made_while_a_lost_update_was_in_flight_is_carried_not_overwritten(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, hs_id, lead_id = _crash_after_carrying_a_title(
        world, monkeypatch, edit_to="Chief Revenue Officer"
    )
    assert _pending(world) == 1
    world.clock.advance(10)

    engine.poll()

    assert world.sf.get("Lead", lead_id)["Title"] == "Chief Revenue Officer"
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "Chief Revenue Officer"
    assert _pending(world) == 0
    settle(world, engine)


def test_baton_why_tells_how_the_lost_update_was_found(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, hs_id, _ = _crash_after_carrying_a_title(world, monkeypatch, edit_to="CRO")
    world.clock.advance(10)

    engine.poll()

    [person] = why(world.read(), "ann@example.com").people
    [found] = [d for d in person.decisions if d.rule == "update_found"]
    assert found.hubspot_old == f"hubspot:contacts:{hs_id}"
    assert "update no commit settled" in str(found.hubspot_new)


def test_an_update_that_never_went_out_is_sent_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed while sending: the rows are kept, but the contact does not hold what they say,
    so the old snapshots stand and the title is carried again."""
    hs_id, lead_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.clock.advance(10)
    world.sf.put("Lead", {"Title": "VP Sales"}, id=lead_id)
    world.clock.advance(10)
    write = world.hs.write

    def killed(obj: str, patches: Sequence[RecordPatch]) -> list[WriteOutcome]:
        raise RuntimeError("killed while sending")

    monkeypatch.setattr(world.hs, "write", killed)
    with pytest.raises(RuntimeError):
        engine.poll()
    assert _pending(world) == 1
    monkeypatch.setattr(world.hs, "write", write)
    world.clock.advance(10)

    engine.poll()

    assert world.hs.get("contacts", hs_id)["jobtitle"] == "VP Sales"
    assert world.sf.get("Lead", lead_id)["Title"] == "VP Sales"
    assert _pending(world) == 0
    settle(world, engine)


def test_an_edit_made_over_a_lost_update_since_wins_as_the_newest(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Marketing retitled the contact after the lost write landed: the contact no longer holds
    what was written, so nothing is taken as Baton's, and the newest edit is carried."""
    engine, hs_id, lead_id = _crash_after_carrying_a_title(world, monkeypatch, edit_to=None)
    world.clock.advance(10)
    world.hs.put("contacts", {"jobtitle": "Head of Partnerships"}, id=hs_id)
    world.clock.advance(10)

    engine.poll()

    assert world.sf.get("Lead", lead_id)["Title"] == "Head of Partnerships"
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "Head of Partnerships"
    assert _pending(world) == 0


def test_an_update_answered_retry_later_stays_pending_until_a_commit_settles_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read timeout after the request went out: the update may have landed (here it did),
    so its rows outlive the unit, and the next sync takes the echo for Baton's own."""
    hs_id, lead_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.clock.advance(10)
    world.sf.put("Lead", {"Title": "VP Sales"}, id=lead_id)
    world.clock.advance(10)
    _sales_retitles_while_the_write_is_in_flight(world, monkeypatch, lead_id, "CRO")
    write = world.hs.write
    lost: list[bool] = []

    def answer_lost(obj: str, patches: Sequence[RecordPatch]) -> list[WriteOutcome]:
        outcomes = write(obj, patches)  # applied by the server...
        if lost:
            return outcomes
        lost.append(True)  # ...but its answer never came
        return [
            WriteOutcome(
                p, None, error_code="TransientError", error_message="read timeout", retryable=True
            )
            for p in patches
        ]

    monkeypatch.setattr(world.hs, "write", answer_lost)
    first = engine.poll()
    assert first.retry_later == 1
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "VP Sales"
    assert _pending(world) == 1
    world.clock.advance(10)

    engine.poll()

    assert world.sf.get("Lead", lead_id)["Title"] == "CRO"
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "CRO"
    assert _pending(world) == 0


def test_a_unit_that_commits_leaves_no_pending_update(world: World) -> None:
    hs_id, lead_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.clock.advance(10)
    world.sf.put("Lead", {"Title": "VP Sales"}, id=lead_id)
    world.clock.advance(10)

    report = engine.poll()

    assert report.writes >= 1
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "VP Sales"
    assert _pending(world) == 0
