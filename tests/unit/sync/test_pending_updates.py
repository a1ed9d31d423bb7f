"""An update no commit settled (the process died after sending it) is recognised as Baton's
own write when the person is synced again, so an edit made on the other side while it was in
flight is carried, not overwritten by the echo of the lost write (`sync.store.pending`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from connectors.records import RecordKey, RecordPatch, System, WriteOutcome
from sync.engine import SyncEngine
from sync.queries.why import why
from sync.store.links import find_link
from sync.store.transitions import recorded_stages
from tests.unit.sync.conftest import World, lose_first_answer
from tests.unit.sync.fakes import FakeConnector
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


def _lead_retitled_after_a_sync(world: World) -> tuple[SyncEngine, str, str]:
    """A synced pair whose Lead sales has just retitled "VP Sales": the next poll carries it."""
    hs_id, lead_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.clock.advance(10)
    world.sf.put("Lead", {"Title": "VP Sales"}, id=lead_id)
    world.clock.advance(10)
    return engine, hs_id, lead_id


def _killed_while_sending(connector: FakeConnector, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies while sending writes to `connector`: none lands there (the other
    system's, sent at the same time, do), and the unit stops there."""

    def killed(obj: str, patches: Sequence[RecordPatch]) -> list[WriteOutcome]:
        raise RuntimeError("killed while sending")

    monkeypatch.setattr(connector, "write", killed)


def _crash_after_carrying_a_title(
    world: World, monkeypatch: pytest.MonkeyPatch, *, edit_to: str | None
) -> tuple[SyncEngine, str, str]:
    engine, hs_id, lead_id = _lead_retitled_after_a_sync(world)
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
    engine, hs_id, lead_id = _lead_retitled_after_a_sync(world)
    write = world.hs.write
    _killed_while_sending(world.hs, monkeypatch)
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
    engine, hs_id, lead_id = _lead_retitled_after_a_sync(world)
    _sales_retitles_while_the_write_is_in_flight(world, monkeypatch, lead_id, "CRO")
    lose_first_answer(world.hs, monkeypatch)
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
    engine, hs_id, _ = _lead_retitled_after_a_sync(world)

    report = engine.poll()

    assert report.writes >= 1
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "VP Sales"
    assert _pending(world) == 0


def _edited_in_flight_then_lost(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> tuple[SyncEngine, str, str]:
    """A title carried to the contact, the Lead retitled "CRO" while it was in flight, and
    the commit lost: the edit is the Lead's, the newer modification the contact's echo."""
    engine, hs_id, lead_id = _crash_after_carrying_a_title(world, monkeypatch, edit_to="CRO")
    assert world.sf.get("Lead", lead_id)["Title"] == "CRO"
    world.clock.advance(10)
    return engine, hs_id, lead_id


def test_a_lost_update_found_while_the_other_record_is_out_of_reach_waits_with_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unit that finds the lost update cannot read the Lead (the person waits: its
    snapshots keep their values), so what the lost commit would have stored is stored then:
    once the Lead is back, its edit is still the change, not the contact's echo."""
    engine, hs_id, lead_id = _edited_in_flight_then_lost(world, monkeypatch)
    read_by_ids = world.sf.read_by_ids

    def out_of_reach(obj: str, ids: Sequence[str]) -> list[Any]:
        return [r for r in read_by_ids(obj, ids) if r.key.id != lead_id]

    monkeypatch.setattr(world.sf, "read_by_ids", out_of_reach)
    engine.sync_keys([RecordKey(System.HUBSPOT, "contacts", hs_id)], trigger="webhook")
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "VP Sales"  # waiting
    monkeypatch.setattr(world.sf, "read_by_ids", read_by_ids)
    world.clock.advance(10)

    engine.poll()

    assert world.sf.get("Lead", lead_id)["Title"] == "CRO"
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "CRO"
    settle(world, engine)


def test_a_lost_update_found_by_a_unit_whose_own_write_is_refused_stays_baton_s(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unit that finds the lost update carries the in-flight edit, and HubSpot refuses
    it: the person's fields keep their snapshots, which must be the lost commit's, or the
    retry takes the echo for the newer edit."""
    engine, hs_id, lead_id = _edited_in_flight_then_lost(world, monkeypatch)
    world.hs.rules.append(
        lambda obj, fields: ("INVALID_TITLE", "no") if fields.get("jobtitle") == "CRO" else None
    )
    report = engine.poll()
    assert report.dead_letters == 1
    assert _pending(world) == 0
    world.hs.rules.clear()
    world.clock.advance(10)

    engine.retry_dead_letters()

    assert world.sf.get("Lead", lead_id)["Title"] == "CRO"
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "CRO"


def test_a_lost_update_found_by_a_unit_whose_own_write_is_to_retry_stays_baton_s(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, answered "retry later" (and not applied): the new write's pending rows
    replace the lost one's, so its snapshots must be stored by then."""
    engine, hs_id, lead_id = _edited_in_flight_then_lost(world, monkeypatch)
    world.hs.retry_next = 1
    report = engine.poll()
    assert report.retry_later == 1
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "VP Sales"
    world.clock.advance(10)

    engine.poll()

    assert world.sf.get("Lead", lead_id)["Title"] == "CRO"
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "CRO"
    assert _pending(world) == 0


@pytest.mark.parametrize("retried", [False, True])
def test_an_address_a_lost_update_carried_is_the_person_s_once_found(
    world: World, monkeypatch: pytest.MonkeyPatch, retried: bool
) -> None:
    """The lost commit would have kept the person's new address (matching by email finds
    people by it): the unit taking its write as Baton's own keeps it instead, also when its
    own write (the Lead's retitle, made while the lost one was in flight) is to retry."""
    hs_id, lead_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.clock.advance(10)
    world.sf.put("Lead", {"Email": "ann.lee@example.com"}, id=lead_id)
    world.clock.advance(10)
    if retried:
        _sales_retitles_while_the_write_is_in_flight(world, monkeypatch, lead_id, "CRO")
    _lose_first_update_commit(engine, monkeypatch)
    with pytest.raises(RuntimeError):
        engine.poll()
    assert world.hs.get("contacts", hs_id)["email"] == "ann.lee@example.com"
    world.clock.advance(10)
    world.hs.retry_next = int(retried)

    report = engine.poll()

    assert report.retry_later == int(retried)
    assert _pending(world) == int(retried)
    emails = world.read().exec_driver_sql("select email_normalized from people").scalars().all()
    assert emails == ["ann.lee@example.com"]


def test_a_funnel_move_a_lost_update_carried_is_recorded_once_found(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lost commit would have recorded the person's entry into SAL (the funnel history
    learns from records saying something new): the unit taking its write as Baton's own
    records it, though the records now say what their baselines do."""
    _, lead_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.clock.advance(10)
    world.sf.put("Lead", {"Status": "Working - Contacted"}, id=lead_id)
    world.clock.advance(10)
    _lose_first_update_commit(engine, monkeypatch)
    with pytest.raises(RuntimeError):
        engine.poll()
    assert _pending(world) == 1
    world.clock.advance(10)

    engine.poll()

    assert _pending(world) == 0
    stages = world.read().exec_driver_sql("select stage from funnel_transitions").scalars()
    assert "sal" in set(stages)


@pytest.mark.parametrize("lost", ["commit", "answer"])
def test_a_funnel_move_found_landed_is_recorded_when_sales_made_it(
    world: World, monkeypatch: pytest.MonkeyPatch, lost: str
) -> None:
    """Sales accepts the Lead; the move reaches the contact and the Lead's label is rewritten,
    but the commit is lost (or the Lead's write is answered "retry later" and lands all the
    same). The lost commit would have dated the entry into SAL by the Lead as read, when sales
    accepted it; the unit finding the writes must not date it by the Lead's modification
    since, which is Baton's own relabel."""
    hs_id, lead_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.clock.advance(10)
    world.sf.put("Lead", {"Status": "Working - Contacted"}, id=lead_id)
    accepted = world.sf.read_by_ids("Lead", [lead_id])[0].modified_at
    world.clock.advance(10)
    if lost == "commit":
        _lose_first_update_commit(engine, monkeypatch)
        with pytest.raises(RuntimeError):
            engine.poll()
    else:
        lose_first_answer(world.sf, monkeypatch)
        assert engine.poll().retry_later == 1
    assert world.sf.get("Lead", lead_id)["Funnel_Stage__c"] == "SAL"  # relabelled
    assert _pending(world) == 1
    world.clock.advance(10)

    engine.poll()

    assert _pending(world) == 0
    link = find_link(world.read(), RecordKey(System.HUBSPOT, "contacts", hs_id))
    assert link is not None
    assert recorded_stages(world.read(), [link.person_id])[link.person_id]["sal"] == accepted


def test_a_lost_update_found_by_a_unit_killed_while_sending_its_own_stays_baton_s(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two crashes in a row: the unit that finds the lost update is killed while sending the
    Lead's edit. Its own pending rows replace the lost update's, so what that update's commit
    would have stored is stored before they are sent, or the next unit finds neither."""
    engine, hs_id, lead_id = _edited_in_flight_then_lost(world, monkeypatch)
    write = world.hs.write
    _killed_while_sending(world.hs, monkeypatch)
    with pytest.raises(RuntimeError):
        engine.poll()
    monkeypatch.setattr(world.hs, "write", write)
    world.clock.advance(10)

    engine.poll()

    assert world.sf.get("Lead", lead_id)["Title"] == "CRO"
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "CRO"
    assert _pending(world) == 0


def _only_the_hubspot_write_lands(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    engine: SyncEngine,
    lead_id: str,
    *,
    edit_to: str | None = None,
) -> None:
    """One unit writes both of a person's records and dies: the contact's write lands, the
    Lead's never goes out (with `edit_to`, sales retitles the Lead while it is in flight)."""
    write = world.sf.write
    if edit_to is not None:
        _sales_retitles_while_the_write_is_in_flight(world, monkeypatch, lead_id, edit_to)
    _killed_while_sending(world.sf, monkeypatch)
    with pytest.raises(RuntimeError):
        engine.poll()
    monkeypatch.setattr(world.sf, "write", write)
    assert _pending(world) == 1
    world.clock.advance(10)


def _found(world: World) -> list[str | None]:
    """The records update_found notes name (in their system's "old" column)."""
    [person] = why(world.read(), "ann@example.com").people
    return [d.hubspot_old or d.salesforce_old for d in person.decisions if d.rule == "update_found"]


def test_an_edit_made_while_a_partly_landed_update_was_in_flight_is_carried(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Lead's retitle is carried to the contact and the contact's new country to the Lead;
    only the contact's write lands, and sales retitles the Lead meanwhile. The landed write is
    Baton's own (its echo is no edit), the lost one is sent again."""
    engine, hs_id, lead_id = _lead_retitled_after_a_sync(world)
    world.hs.put("contacts", {"country": "Spain"}, id=hs_id)
    world.clock.advance(10)
    _only_the_hubspot_write_lands(world, monkeypatch, engine, lead_id, edit_to="CRO")
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "VP Sales"
    assert world.sf.get("Lead", lead_id)["Country"] == "France"

    engine.poll()

    assert world.sf.get("Lead", lead_id)["Title"] == "CRO"
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "CRO"
    assert world.sf.get("Lead", lead_id)["Country"] == "Spain"
    assert _pending(world) == 0
    assert _found(world) == [f"hubspot:contacts:{hs_id}"]
    settle(world, engine)


def test_a_funnel_move_a_partly_landed_update_carried_is_recorded(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sales accepts the Lead (its funnel label too) and marketing moves the contact to Spain:
    the move lands on the contact, the country never reaches the Lead. The entry into SAL is
    recorded as the lost commit would have recorded it (its person is news for the funnel
    history, as one whose every write landed is), the country is sent again, and only the
    contact's write is noted as found."""
    hs_id, lead_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.clock.advance(10)
    world.sf.put("Lead", {"Status": "Working - Contacted", "Funnel_Stage__c": "SAL"}, id=lead_id)
    world.hs.put("contacts", {"country": "Spain"}, id=hs_id)
    world.clock.advance(10)
    _only_the_hubspot_write_lands(world, monkeypatch, engine, lead_id)

    engine.poll()

    stages = world.read().exec_driver_sql("select stage from funnel_transitions").scalars()
    assert "sal" in set(stages)
    assert world.sf.get("Lead", lead_id)["Country"] == "Spain"
    assert _found(world) == [f"hubspot:contacts:{hs_id}"]
    settle(world, engine)


def test_a_relabel_that_never_went_out_is_not_found_landed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sales accepts the Lead: the move lands on the contact, the Lead's stale funnel label
    (a value its snapshot does not hold: the Lead says SAL by its Status already) is never
    rewritten. The Lead was not modified since it was read, so no update_found note names it,
    and the label is written again."""
    hs_id, lead_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.clock.advance(10)
    world.sf.put("Lead", {"Status": "Working - Contacted"}, id=lead_id)
    world.clock.advance(10)
    _only_the_hubspot_write_lands(world, monkeypatch, engine, lead_id)
    assert world.sf.get("Lead", lead_id)["Funnel_Stage__c"] == "MQL"

    engine.poll()

    assert _found(world) == [f"hubspot:contacts:{hs_id}"]
    assert world.sf.get("Lead", lead_id)["Funnel_Stage__c"] == "SAL"
    assert _pending(world) == 0
    settle(world, engine)


def test_a_relabel_that_never_went_out_to_a_lead_edited_since_is_written_all_the_same(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, and sales edits the Lead again before the next sync: its modification alone
    cannot tell the relabel from that edit, so it is noted found (README's known limit), yet
    the stale label is told from the Lead itself and written again by that very unit."""
    hs_id, lead_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.clock.advance(10)
    world.sf.put("Lead", {"Status": "Working - Contacted"}, id=lead_id)
    world.clock.advance(10)
    _only_the_hubspot_write_lands(world, monkeypatch, engine, lead_id)
    world.sf.put("Lead", {"Title": "VP Sales"}, id=lead_id)
    world.clock.advance(10)

    engine.poll()

    assert _found(world) == [f"hubspot:contacts:{hs_id}", f"salesforce:Lead:{lead_id}"]
    assert world.sf.get("Lead", lead_id)["Funnel_Stage__c"] == "SAL"
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "VP Sales"
    assert _pending(world) == 0
    settle(world, engine)


@pytest.mark.parametrize("landed", [True, False])
def test_an_address_a_partly_landed_update_carried_is_the_person_s_once_it_landed(
    world: World, monkeypatch: pytest.MonkeyPatch, landed: bool
) -> None:
    """A new address carried by the write that landed becomes the person's (what the lost
    commit would have kept), also when the write sent again is to retry; one carried by the
    write that did not land becomes theirs once it lands, as for a refused write."""
    hs_id, lead_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.clock.advance(10)
    if landed:  # the Lead's new address to the contact, the contact's country to the Lead
        world.sf.put("Lead", {"Email": "ann.lee@example.com"}, id=lead_id)
        world.hs.put("contacts", {"country": "Spain"}, id=hs_id)
    else:  # the Lead's new title to the contact, the contact's new address to the Lead
        world.sf.put("Lead", {"Title": "VP Sales"}, id=lead_id)
        world.hs.put("contacts", {"email": "ann.lee@example.com"}, id=hs_id)
    world.clock.advance(10)
    _only_the_hubspot_write_lands(world, monkeypatch, engine, lead_id)
    world.sf.retry_next = 1

    report = engine.sync_keys([RecordKey(System.HUBSPOT, "contacts", hs_id)], trigger="webhook")

    assert report.retry_later == 1
    assert _pending(world) == 1
    people = "select email_normalized from people"
    emails = world.read().exec_driver_sql(people).scalars().all()
    assert emails == ["ann.lee@example.com" if landed else "ann@example.com"]
    world.clock.advance(10)
    engine.poll()
    assert world.read().exec_driver_sql(people).scalars().all() == ["ann.lee@example.com"]
    assert world.sf.get("Lead", lead_id)["Email"] == "ann.lee@example.com"
    assert _pending(world) == 0
