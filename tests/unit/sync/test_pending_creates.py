"""A create no commit settled (the process died after sending it, or the person's writes
failed) is found by its upsert key when the person is synced again: the edits made to the new
record since are carried, never overwritten by the source's old values (`sync.store.pending`)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.records import RecordKey, System
from sync.engine import SyncEngine
from tests.unit.sync.conftest import World, lose_first_answer, lose_first_create_commit
from tests.unit.sync.test_engine import HS_CONTACT, SF_LEAD, quiet, settle

MQL = {**HS_CONTACT, "hubspotscore": "75", "company": "Initech"}


def _contact(hs_id: str) -> RecordKey:
    return RecordKey(System.HUBSPOT, "contacts", hs_id)


def _pending(world: World) -> int:
    return int(world.read().exec_driver_sql("select count(*) from pending_creates").scalar() or 0)


def _lost_lead_create(
    world: World, monkeypatch: pytest.MonkeyPatch, *, webhook: bool
) -> tuple[SyncEngine, str, str]:
    """An MQL contact whose Lead was made by a unit killed before its commit (synced by a
    webhook unit, or by a poll); the engine, the contact's id and the Lead's."""
    hs_id = world.hs.put("contacts", MQL)
    world.clock.advance(10)
    engine = world.engine()
    lose_first_create_commit(engine, monkeypatch)

    def sync() -> object:
        return engine.sync_keys([_contact(hs_id)], trigger="webhook") if webhook else engine.poll()

    with pytest.raises(RuntimeError):
        sync()
    [lead_id] = world.sf.live("Lead")
    return engine, hs_id, lead_id


def _edit_the_lead_then_touch_the_contact(world: World, lead_id: str, hs_id: str) -> None:
    """Sales retitles the new Lead; later, marketing edits another field of the contact (its
    modification is then the newer one)."""
    world.sf.put("Lead", {"Title": "Head of Ops"}, id=lead_id)
    world.clock.advance(5)
    world.hs.put("contacts", {"firstname": "Annie"}, id=hs_id)
    world.clock.advance(10)


def _both_say_head_of_ops(world: World, lead_id: str, hs_id: str) -> None:
    assert world.sf.get("Lead", lead_id)["Title"] == "Head of Ops"
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "Head of Ops"


def _refuse_job_titles(obj: str, fields: Any) -> tuple[str, str] | None:
    return ("VALIDATION_ERROR", "refused") if "jobtitle" in fields else None


def test_a_webhook_replaying_a_lost_create_finds_the_lead_and_keeps_its_edit(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the contact is synced again (a webhook unit): the Lead is found by Baton_Id__c."""
    engine, hs_id, lead_id = _lost_lead_create(world, monkeypatch, webhook=True)
    world.sf.put("Lead", {"Title": "Head of Ops"}, id=lead_id)
    world.clock.advance(10)
    before = world.sf.find_calls

    report = engine.sync_keys([_contact(hs_id)], trigger="webhook")

    assert world.sf.find_calls - before == 1
    assert report.created == {}
    _both_say_head_of_ops(world, lead_id, hs_id)
    assert _pending(world) == 0


def test_a_create_that_landed_but_was_answered_retry_later_is_found_next_time(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read timeout after the request went out: the upsert may have been applied, so the
    pending create stays until a commit settles it."""
    hs_id = world.hs.put("contacts", MQL)
    world.clock.advance(10)
    engine = world.engine()
    lose_first_answer(world.sf, monkeypatch, creates_only=True)
    first = engine.sync_keys([_contact(hs_id)], trigger="webhook")
    assert first.retry_later == 1
    assert _pending(world) == 1
    [lead_id] = world.sf.live("Lead")
    world.sf.put("Lead", {"Title": "Head of Ops"}, id=lead_id)
    world.clock.advance(10)

    engine.sync_keys([_contact(hs_id)], trigger="webhook")

    assert list(world.sf.live("Lead")) == [lead_id]
    _both_say_head_of_ops(world, lead_id, hs_id)
    assert _pending(world) == 0


@pytest.mark.parametrize("known", [False, True], ids=["new person", "known contact"])
def test_a_replay_whose_writes_fail_keeps_the_create_pending_so_no_later_edit_undoes_it(
    world: World, monkeypatch: pytest.MonkeyPatch, known: bool
) -> None:
    """The replay finds the Lead but HubSpot refuses the title: nothing of the person is
    stored, so the pending create keeps both baselines until a commit does. Then a later,
    unrelated edit to the contact must not make its old title look newer than the Lead's."""
    engine = world.engine()
    hs_id = world.hs.put("contacts", {**MQL, "hubspotscore": "20" if known else "75"})
    world.clock.advance(10)
    if known:  # synced below the MQL bar first: the contact has a snapshot of its own
        engine.sync_keys([_contact(hs_id)], trigger="webhook")
        world.hs.put("contacts", {"hubspotscore": "75"}, id=hs_id)
        world.clock.advance(10)
    lose_first_create_commit(engine, monkeypatch)
    with pytest.raises(RuntimeError):
        engine.sync_keys([_contact(hs_id)], trigger="webhook")
    [lead_id] = world.sf.live("Lead")
    world.sf.put("Lead", {"Title": "Head of Ops"}, id=lead_id)
    world.hs.rules.append(_refuse_job_titles)
    world.clock.advance(10)
    refused = engine.sync_keys([_contact(hs_id)], trigger="webhook")
    assert refused.dead_letters == 1
    assert _pending(world) == 1
    world.hs.rules.clear()
    world.clock.advance(5)
    world.hs.put("contacts", {"firstname": "Annie"}, id=hs_id)  # later, unrelated
    world.clock.advance(10)

    engine.sync_keys([_contact(hs_id)], trigger="webhook")

    assert world.sf.get("Lead", lead_id)["Title"] == "Head of Ops"
    assert world.sf.get("Lead", lead_id)["FirstName"] == "Annie"
    # The refused title waits, as any refused payload does, for `baton errors retry`.
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "CTO"
    engine.retry_dead_letters()
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "Head of Ops"
    assert _pending(world) == 0


def test_a_poll_reading_the_new_lead_first_links_the_contact_the_lost_commit_had_linked(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Salesforce pass sees the Lead before the contact is read: the person is new (its
    first commit was lost), so without the pending create's source it would be planned
    Lead-only and the contact, met later without a baseline, would win on its newer edit."""
    engine, hs_id, lead_id = _lost_lead_create(world, monkeypatch, webhook=False)
    _edit_the_lead_then_touch_the_contact(world, lead_id, hs_id)

    engine.poll()

    _both_say_head_of_ops(world, lead_id, hs_id)
    assert world.sf.get("Lead", lead_id)["FirstName"] == "Annie"
    assert _pending(world) == 0


def test_a_person_stalled_on_an_unreadable_contact_keeps_the_create_pending(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contact is in the recycle bin when the Lead's edit is read: the person waits for it
    and stores no snapshot, so the pending create must wait too. Restored (a newer change),
    the contact's old title must not win over the Lead's edit."""
    engine = world.engine()
    hs_id = world.hs.put("contacts", {**MQL, "hubspotscore": "20"})
    world.clock.advance(10)
    engine.sync_keys([_contact(hs_id)], trigger="webhook")  # known, below the MQL bar
    world.hs.put("contacts", {"hubspotscore": "75"}, id=hs_id)
    world.clock.advance(10)
    lose_first_create_commit(engine, monkeypatch)
    with pytest.raises(RuntimeError):
        engine.poll()
    [lead_id] = world.sf.live("Lead")
    world.hs.remove("contacts", hs_id)
    world.sf.put("Lead", {"Title": "Head of Ops"}, id=lead_id)
    world.clock.advance(10)
    engine.poll()
    assert _pending(world) == 1
    world.hs.restore("contacts", hs_id)
    world.clock.advance(10)

    engine.poll()

    _both_say_head_of_ops(world, lead_id, hs_id)
    assert _pending(world) == 0


def test_a_source_deleted_before_the_replay_is_not_claimed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contact a lost commit had linked is gone when the new Lead is read: the person is
    not tied to a record that cannot be read (it would wait on it for good)."""
    hs_id = world.hs.put("contacts", MQL)
    world.clock.advance(10)
    engine = world.engine()
    lose_first_create_commit(engine, monkeypatch)
    with pytest.raises(RuntimeError):
        engine.poll()
    world.hs.remove("contacts", hs_id)
    world.clock.advance(10)

    engine.poll()

    links = world.read().exec_driver_sql(
        "select record_id from identity_links where system = 'hubspot' and active"
    )
    assert hs_id not in set(links.scalars())
    notes = world.read().exec_driver_sql("select rule from decisions").scalars().all()
    assert "unreadable" not in notes


def test_a_replay_that_finds_the_record_unedited_still_stores_its_snapshot(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody touched the new Lead before the replay: its values equal what the create wrote,
    so nothing is "fresh", yet no snapshot row exists to touch. One is stored, or the pair is a
    first sync from then on and a later, unrelated contact change beats a Lead edit."""
    engine, hs_id, lead_id = _lost_lead_create(world, monkeypatch, webhook=True)
    world.clock.advance(10)
    engine.sync_keys([_contact(hs_id)], trigger="webhook")
    stored = world.read().exec_driver_sql("select record_id from snapshots").scalars().all()
    assert {lead_id, hs_id} <= set(stored)
    assert _pending(world) == 0
    _edit_the_lead_then_touch_the_contact(world, lead_id, hs_id)

    engine.poll()

    _both_say_head_of_ops(world, lead_id, hs_id)


def test_an_edit_to_a_lead_made_before_a_crash_was_committed_survives_the_replay(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replayed create must not upsert the contact's old values over the Lead a user edited
    in between (found by the SIGKILL crash test: the edited title was lost on both sides)."""
    engine, hs_id, lead_id = _lost_lead_create(world, monkeypatch, webhook=False)
    world.sf.put("Lead", {"Title": "Head of Ops"}, id=lead_id)  # sales edits the new Lead
    world.clock.advance(10)
    report = engine.poll()
    _both_say_head_of_ops(world, lead_id, hs_id)
    assert report.created == {}
    assert list(world.sf.live("Lead")) == [lead_id]
    settle(world, engine)
    quiet(world, engine)
    assert world.sf.get("Lead", lead_id)["Title"] == "Head of Ops"


def test_an_edit_to_a_contact_made_before_a_crash_was_committed_survives_the_replay(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same for a HubSpot contact made for a Salesforce Lead (an upsert on email)."""
    sf_id = world.sf.put("Lead", {**SF_LEAD, "Email": "bo@example.com", "Title": "CTO"})
    world.clock.advance(10)
    engine = world.engine()
    lose_first_create_commit(engine, monkeypatch)
    with pytest.raises(RuntimeError):
        engine.poll()
    [contact_id] = world.hs.live("contacts")
    world.hs.put("contacts", {"jobtitle": "CEO"}, id=contact_id)  # marketing edits it
    world.clock.advance(10)
    engine.poll()
    assert world.hs.get("contacts", contact_id)["jobtitle"] == "CEO"
    assert world.sf.get("Lead", sf_id)["Title"] == "CEO"
    settle(world, engine)
    quiet(world, engine)
    assert list(world.hs.live("contacts")) == [contact_id]
    assert world.hs.get("contacts", contact_id)["jobtitle"] == "CEO"
