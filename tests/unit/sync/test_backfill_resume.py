"""A backfill after an interrupted one goes on where each listing stopped, then reads what
changed since the interrupted run began (what it listed was read as of then)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from connectors.records import ListedPage, RecordKey, SourceRecord, System
from sync.recorder import BackfillRunning, RunClosed
from sync.store.checkpoints import get_checkpoint
from sync.store.links import find_links
from sync.store.positions import get_listings
from sync.store.runs import (
    RunKind,
    RunStatus,
    close_stale_runs,
    get_run,
    latest_of_each_kind,
    recent_runs,
    start_run,
    this_process,
)
from sync.store.snapshots import snapshot_states
from tests.integration.store.test_run_heartbeat import dead_owner
from tests.unit.sync.conftest import World, lose_first_create_commit
from tests.unit.sync.test_engine import SF_LEAD

SETTLE = timedelta(seconds=2)  # SyncPolicy's default: a run's signpost is now - settle


class Stopping:
    """Progress that stops the run (as Ctrl-C does) once `pages` pages committed, and keeps
    where each bar started."""

    def __init__(self, world: World, pages: int | None = None) -> None:
        self.world = world
        self.pages = pages
        self.started: dict[str, int] = {}

    def start(self, label: str, total: int | None, done: int = 0) -> None:
        self.started[label] = done

    def advance(self, label: str, count: int) -> None:
        self.world.clock.advance(1)
        if self.pages is not None:
            self.pages -= 1
            if self.pages == 0:
                raise KeyboardInterrupt

    def finish(self, label: str) -> None: ...


def _contacts(world: World, n: int) -> None:
    for i in range(n):
        world.hs.put("contacts", {"email": f"p{i}@example.com", "lastname": f"L{i}"})
    world.hs.list_page = 2
    world.clock.advance(300)  # past the lookback: a resumed run's catch-up reads only edits


def _interrupted(world: World, pages: int, **policy: object) -> datetime:
    """Run a backfill of the HubSpot contacts that stops after `pages` pages; its signpost."""
    began = world.clock() - SETTLE
    with pytest.raises(KeyboardInterrupt):
        world.engine(backfill_page_size=2, **policy).backfill(
            objects=["contacts"], progress=Stopping(world, pages)
        )
    return began


def _interrupted_with_a_locked_write(world: World) -> None:
    """Four synced pairs whose contacts were retitled, then a backfill of the contacts that
    stops after its first page, whose write to Salesforce was answered "locked"."""
    for i in range(4):
        world.sf.put("Lead", {**SF_LEAD, "Email": f"p{i}@example.com", "Title": "Old"})
    world.clock.advance(10)
    world.engine(backfill_page_size=2, prefetch_records=0).backfill()  # makes their contacts
    assert len(world.hs.live("contacts")) == 4
    for ident, fields in world.hs.live("contacts").items():
        world.hs.put("contacts", {**fields, "jobtitle": "New"}, id=ident)
    world.hs.list_page = 2
    world.clock.advance(10)
    world.sf.retry_next = 1  # the first HubSpot page's write to Salesforce is locked
    _interrupted(world, pages=1, prefetch_records=0)


def test_a_backfill_after_an_interrupted_one_lists_on_from_where_it_stopped(
    world: World,
) -> None:
    _contacts(world, 10)
    _interrupted(world, pages=3)
    world.hs.listed_pages = 0
    progress = Stopping(world)
    engine = world.engine(backfill_page_size=2)

    report = engine.backfill(objects=["contacts"], progress=progress)

    assert world.hs.listed_pages == 2  # the two pages the interrupted run had not reached
    assert report.read["hubspot:contacts"] == 4
    assert report.resumed["hubspot:contacts"] == 6
    assert progress.started["hubspot:contacts"] == 6  # the bar starts where the run stopped
    keys = [RecordKey(System.HUBSPOT, "contacts", i) for i in world.hs.live("contacts")]
    assert len(find_links(world.read(), keys)) == 10  # everyone synced, across the two runs
    assert get_listings(world.read()) == {}  # done: the next backfill lists from the start


@pytest.mark.parametrize("creates", [True, False])
def test_the_resumed_backfill_reads_what_changed_since_the_interrupted_one_began(
    world: World, creates: bool
) -> None:
    """What the interrupted run listed was read as of its start: an edit made since to a
    record it listed is read after the listings, as a poll would read it, so the resumed run
    ends as current as an uninterrupted one, with its checkpoint at its own start (creation
    policy or not: the creation pass is not what reads it)."""
    _contacts(world, 6)
    _interrupted(world, pages=1)
    world.clock.advance(3600)
    edited = next(iter(world.hs.live("contacts")))
    world.hs.put("contacts", {"jobtitle": "Edited"}, id=edited)
    world.clock.advance(10)
    upper = world.clock() - SETTLE

    engine = world.engine(backfill_page_size=2, create_contacts_from_salesforce=creates)
    engine.backfill(objects=["contacts"])

    key = RecordKey(System.HUBSPOT, "contacts", edited)
    state = snapshot_states(world.read(), [key])[key]
    assert state.source_modified_at == world.hs.objects["contacts"][edited].modified_at
    checkpoint = get_checkpoint(world.read(), System.HUBSPOT, "contacts")
    assert checkpoint is not None
    assert checkpoint.cursor == upper


def test_a_dry_run_of_a_resumed_backfill_plans_its_catch_up_too(world: World) -> None:
    """A contact that reached MQL after the interrupted run listed it: the real run reads it
    in its catch-up and makes its Lead, so the plan says so (and the dry run moves nothing)."""
    _contacts(world, 6)
    _interrupted(world, pages=1)
    world.clock.advance(3600)
    edited = next(iter(world.hs.live("contacts")))
    mql = {"jobtitle": "Edited", "hubspotscore": "90", "company": "Initech"}
    world.hs.put("contacts", mql, id=edited)
    world.clock.advance(10)
    engine = world.engine(backfill_page_size=2)
    before = get_checkpoint(world.read(), System.HUBSPOT, "contacts")

    dry = engine.backfill(objects=["contacts"], dry_run=True)

    assert get_checkpoint(world.read(), System.HUBSPOT, "contacts") == before
    assert world.sf.live("Lead") == {}
    real = engine.backfill(objects=["contacts"])
    assert dict(dry.created) == dict(real.created) == {"salesforce:Lead": 1}


def test_a_dry_run_of_a_fresh_backfill_plans_no_catch_up(world: World) -> None:
    """Nothing to resume: the real run's listings end at its start and its catch-up reads
    nothing, so the dry run must not read the daemon's window again either."""
    _contacts(world, 4)
    engine = world.engine(backfill_page_size=2)
    engine.poll()  # the daemon's checkpoints
    world.clock.advance(300)
    mql = {"hubspotscore": "90", "company": "Initech", "jobtitle": "X"}
    world.hs.put("contacts", mql, id=next(iter(world.hs.live("contacts"))))
    world.clock.advance(10)

    dry = engine.backfill(objects=["contacts"], dry_run=True)
    real = engine.backfill(objects=["contacts"])

    assert dict(dry.read) == dict(real.read) == {"hubspot:contacts": 4}
    assert dict(dry.created) == dict(real.created) == {"salesforce:Lead": 1}


def test_a_completed_backfill_starts_the_next_one_from_the_beginning(world: World) -> None:
    _contacts(world, 6)
    engine = world.engine(backfill_page_size=2)
    engine.backfill(objects=["contacts"])
    world.hs.listed_pages = 0

    engine.backfill(objects=["contacts"])

    assert world.hs.listed_pages == 3


def test_restart_lists_everything_again(world: World) -> None:
    _contacts(world, 10)
    _interrupted(world, pages=3)
    world.hs.listed_pages = 0

    report = world.engine(backfill_page_size=2).backfill(objects=["contacts"], restart=True)

    assert world.hs.listed_pages == 5
    assert report.read["hubspot:contacts"] == 10
    assert not report.resumed


def test_a_dry_run_plans_from_the_kept_position_and_keeps_nothing(world: World) -> None:
    _contacts(world, 10)
    _interrupted(world, pages=3)
    kept = get_listings(world.read())
    world.hs.listed_pages = 0

    report = world.engine(backfill_page_size=2).backfill(objects=["contacts"], dry_run=True)

    assert world.hs.listed_pages == 2
    assert report.read["hubspot:contacts"] == 4
    assert get_listings(world.read()) == kept


def test_a_listing_finished_before_the_interruption_is_not_listed_again(world: World) -> None:
    for i in range(2):
        world.sf.put("Lead", {**SF_LEAD, "Email": f"lead{i}@example.com"})
    _contacts(world, 10)
    with pytest.raises(KeyboardInterrupt):  # the Lead page, then two HubSpot pages
        world.engine(backfill_page_size=2, prefetch_records=0).backfill(
            progress=Stopping(world, pages=3)
        )
    world.sf.listed_pages = world.hs.listed_pages = 0

    report = world.engine(backfill_page_size=2, prefetch_records=0).backfill()

    assert world.sf.listed_pages == 0  # Lead and Contact were listed to their end
    assert world.hs.listed_pages == 3
    assert report.resumed == {"salesforce:Lead": 2, "hubspot:contacts": 4}
    assert get_checkpoint(world.read(), System.SALESFORCE, "Lead") is not None


def test_a_lead_edited_after_its_listing_finished_reaches_hubspot_in_the_resumed_backfill(
    world: World,
) -> None:
    """The Leads are not listed again, but what changed since the interrupted run began is
    read: the edit reaches the contact in this run, not at the daemon's next poll (found by
    the SIGKILL crash test: titles edited in Salesforce between kills had not arrived)."""
    lead = world.sf.put("Lead", {**SF_LEAD, "Email": "lead@example.com", "Title": "CTO"})
    _contacts(world, 4)
    with pytest.raises(KeyboardInterrupt):  # the Lead page, then a HubSpot page
        world.engine(backfill_page_size=2, prefetch_records=0).backfill(
            progress=Stopping(world, pages=2)
        )
    world.clock.advance(600)
    world.sf.put("Lead", {"Title": "VP Sales"}, id=lead)
    world.clock.advance(10)
    world.sf.listed_pages = 0

    world.engine(backfill_page_size=2, prefetch_records=0).backfill()

    assert world.sf.listed_pages == 0
    [contact] = [c for c in world.hs.live("contacts").values() if c["email"] == "lead@example.com"]
    assert contact["jobtitle"] == "VP Sales"


def test_a_write_held_for_retry_before_the_interruption_still_holds_the_checkpoint(
    world: World,
) -> None:
    _interrupted_with_a_locked_write(world)
    before = get_checkpoint(world.read(), System.HUBSPOT, "contacts")
    # Still locked: the catch-up after the listing reads that page again (it changed since
    # the checkpoint), and its write waits once more.
    world.sf.retry_next = 100
    engine = world.engine(backfill_page_size=2, prefetch_records=0)

    report = engine.backfill(objects=["contacts"])

    # The locked write's page was listed by the interrupted run: only a checkpoint left
    # where it was makes the daemon read it again.
    after = get_checkpoint(world.read(), System.HUBSPOT, "contacts")
    assert before is not None
    assert after is not None
    assert after.cursor == before.cursor
    assert report.retry_later >= 1
    assert {lead["Title"] for lead in world.sf.live("Lead").values()} == {"Old", "New"}
    assert report.creation_waits


def test_a_write_held_before_the_interruption_goes_through_in_the_catch_up(
    world: World,
) -> None:
    """Once the lock is gone, the resumed run's catch-up reads the held page again (it
    changed since the checkpoint), sends its write, and the checkpoint moves on."""
    _interrupted_with_a_locked_write(world)
    upper = world.clock() - SETTLE

    world.engine(backfill_page_size=2, prefetch_records=0).backfill(objects=["contacts"])

    assert {lead["Title"] for lead in world.sf.live("Lead").values()} == {"New"}
    checkpoint = get_checkpoint(world.read(), System.HUBSPOT, "contacts")
    assert checkpoint is not None
    assert checkpoint.cursor == upper


def test_a_poll_running_while_a_resumed_backfill_ends_still_commits(world: World) -> None:
    """The resumed listing ends at the old signpost, but the bound it leaves is its own run's:
    a poll reading meanwhile (the daemon) is past the old one (found in review)."""
    _contacts(world, 10)
    _interrupted(world, pages=1)
    world.clock.advance(3600)
    edited = list(world.hs.live("contacts"))[:2]
    for ident in edited:
        world.hs.put("contacts", {"jobtitle": "Edited"}, id=ident)
    world.clock.advance(10)
    read_changes = world.hs.read_changes

    fired: list[bool] = []

    def meanwhile(obj: str, since: datetime | None, until: datetime) -> Iterator[SourceRecord]:
        if obj == "contacts" and not fired:  # another process: the resumed backfill ends
            fired.append(True)  # as this poll reads
            world.engine(backfill_page_size=2).backfill(objects=["contacts"])
        yield from read_changes(obj, since, until)

    world.hs.read_changes = meanwhile  # type: ignore[method-assign]
    world.engine(backfill_page_size=2).poll()

    checkpoint = get_checkpoint(world.read(), System.HUBSPOT, "contacts")
    assert checkpoint is not None
    assert checkpoint.cursor == world.clock() - SETTLE  # the poll's window, read and kept


def test_a_copy_older_than_what_was_synced_since_is_not_written_back(world: World) -> None:
    """A resumed Bulk 2.0 job hands out records as they were when the job ran; one synced
    since must not be reverted by that older copy (found in review)."""
    lead = world.sf.put("Lead", {**SF_LEAD, "Title": "Old"})
    world.clock.advance(10)
    world.engine().backfill()
    [stale] = world.sf.read_by_ids("Lead", [lead])
    world.clock.advance(10)
    world.sf.put("Lead", {**world.sf.get("Lead", lead), "Title": "New"}, id=lead)
    world.clock.advance(10)
    world.engine().poll()
    [contact] = world.hs.live("contacts").values()
    assert contact["jobtitle"] == "New"
    world.sf.list_all = lambda obj, start=None: iter(  # type: ignore[method-assign]
        [ListedPage([stale] if obj == "Lead" else [], None)]
    )
    writes = world.writes()

    world.engine().backfill(systems=[System.SALESFORCE])

    [contact] = world.hs.live("contacts").values()
    assert contact["jobtitle"] == "New"
    assert world.writes() == writes


def test_a_second_backfill_is_refused_while_one_is_running(world: World) -> None:
    """Two at once would take over each other's listings and send every write twice (found
    in review)."""
    _contacts(world, 4)
    with world.db.begin() as tx:
        start_run(tx, RunKind.BACKFILL, at=world.clock(), owner=this_process())

    with pytest.raises(BackfillRunning, match="another backfill is running"):
        world.engine().backfill()

    assert world.engine().backfill(dry_run=True).read["hubspot:contacts"] == 4  # reads only
    assert world.writes() == 0


def test_a_backfill_killed_outright_is_closed_and_gone_on_from_at_once(world: World) -> None:
    """kill -9 leaves its run `running`; its process is gone, so the next backfill closes it
    without waiting for its heartbeat to go stale, and goes on with its listings."""
    _contacts(world, 10)
    _interrupted(world, pages=3)
    with world.db.begin() as tx:  # as the killed process left it
        killed = start_run(tx, RunKind.BACKFILL, at=world.clock(), owner=dead_owner())

    report = world.engine(backfill_page_size=2).backfill(objects=["contacts"])

    assert report.resumed["hubspot:contacts"] == 6
    run = get_run(world.read(), killed)
    assert run is not None
    assert run.status is RunStatus.INTERRUPTED


def test_a_stop_on_the_last_page_leaves_the_listing_read_to_its_end(world: World) -> None:
    """The stop is raised where a page is reported, after it committed; on the last page the
    listing was read whole, and the next run must not list it again (found in review)."""
    _contacts(world, 10)
    _interrupted(world, pages=5)
    world.hs.listed_pages = 0

    report = world.engine(backfill_page_size=2).backfill(objects=["contacts"])

    assert world.hs.listed_pages == 0
    assert report.resumed["hubspot:contacts"] == 10


def test_a_backfill_silent_for_three_pulses_is_taken_for_dead(world: World) -> None:
    """Its process may be in another container, where its pid cannot be looked at; a live
    run beats every `pulse_every` from its own thread."""
    _contacts(world, 4)
    with world.db.begin() as tx:
        silent = start_run(tx, RunKind.BACKFILL, at=world.clock(), owner="elsewhere:1:1:1")
    world.clock.advance(3 * 60 + 1)

    world.engine(pulse_every=timedelta(minutes=1)).backfill()

    run = get_run(world.read(), silent)
    assert run is not None
    assert run.status is RunStatus.INTERRUPTED


def test_a_backfill_seen_alive_on_this_host_is_waited_for_however_silent(world: World) -> None:
    """Only a run whose process cannot be seen is taken for dead after three silent pulses:
    one stopped (Ctrl-Z, a debugger) would otherwise run beside its successor (found in
    review)."""
    _contacts(world, 4)
    with world.db.begin() as tx:
        live = start_run(tx, RunKind.BACKFILL, at=world.clock(), owner=this_process())
    world.clock.advance(3 * 60 + 1)

    with pytest.raises(BackfillRunning):
        world.engine(pulse_every=timedelta(minutes=1)).backfill()

    run = get_run(world.read(), live)
    assert run is not None
    assert run.status is RunStatus.RUNNING


def test_a_backfill_closed_by_another_process_stops_at_its_next_page(world: World) -> None:
    """Taken for dead (its heartbeat late) and closed, it must not run on beside the backfill
    that took over (found in review)."""
    _contacts(world, 10)
    stopped_on: list[int] = []

    class Closing(Stopping):
        def advance(self, label: str, count: int) -> None:
            super().advance(label, count)
            stopped_on.append(count)
            if len(stopped_on) == 1:  # after the first page: another process closes the run
                with world.db.begin() as tx:
                    close_stale_runs(tx, stale_after=timedelta(0), at=world.clock())

    engine = world.engine(backfill_page_size=2, heartbeat_every=timedelta(0))
    with pytest.raises(RunClosed):
        engine.backfill(objects=["contacts"], progress=Closing(world))

    assert len(stopped_on) == 1  # it stopped at the next page's heartbeat, before reporting it
    [run] = recent_runs(world.read())
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert "closed as interrupted by another process" in run.error


def test_a_lead_edited_after_a_killed_backfill_made_it_keeps_the_edit_when_the_create_replays(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resumed backfill replays the uncommitted page whose unit made a Lead, but does not
    list the Leads again: the replayed create must find the Lead it made and treat it as
    linked, not upsert the contact's values over it (found by the SIGKILL crash test)."""
    hs_id = world.hs.put(
        "contacts",
        {
            "email": "mql@example.com",
            "lastname": "Q",
            "jobtitle": "CTO",
            "hubspotscore": "80",
            "company": "Initech",
        },
    )
    world.clock.advance(10)
    engine = world.engine(backfill_page_size=2)
    lose_first_create_commit(engine, monkeypatch, killed=KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        engine.backfill()
    monkeypatch.undo()
    [lead_id] = world.sf.live("Lead")
    world.sf.put("Lead", {"Title": "Head of Ops"}, id=lead_id)  # sales edits the new Lead
    world.clock.advance(10)
    report = world.engine(backfill_page_size=2).backfill()
    assert list(world.sf.live("Lead")) == [lead_id]
    assert world.sf.get("Lead", lead_id)["Title"] == "Head of Ops"
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "Head of Ops"
    assert report.created == {}  # the Lead was found, not made again
    assert world.sf.find_calls == 1
    conn = world.read()
    assert conn.exec_driver_sql("select count(*) from pending_creates").scalar() == 0
    rules = conn.exec_driver_sql("select rule from decisions").scalars().all()
    assert rules.count("create_found") == 1  # `baton why` says how the Lead was found


def test_a_run_stopped_by_a_bare_ctrl_c_says_so_in_its_error(world: World) -> None:
    """A second Ctrl-C stops at once with a KeyboardInterrupt that carries no message:
    `baton status` showed 'KeyboardInterrupt:' and nothing after it."""
    _contacts(world, 4)
    _interrupted(world, pages=1)
    run = latest_of_each_kind(world.read())[RunKind.BACKFILL]
    assert run.status is RunStatus.INTERRUPTED
    assert run.error == "KeyboardInterrupt (Ctrl-C)"
