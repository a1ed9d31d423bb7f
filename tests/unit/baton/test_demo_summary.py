"""The demo's closing summary counts each ambiguous person once, however many cycles re-read
their records (the reports' `ambiguous` counts every sighting), in `baton status`'s unit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console

from baton.cli.backfill import StopRequested
from baton.cli.demo import Totals, ambiguous_counts, dead_letter_records, moved_table
from connectors.records import RecordKey, System
from mappings.apply import Mapper
from mappings.loader import load_default
from sync.report import CycleReport
from sync.store.dead_letters import Direction, add_dead_letter
from sync.store.engine import make_engine, sqlite_url
from sync.store.migrate import upgrade
from tests.unit.sync.conftest import World
from tests.unit.sync.fakes import FakeClock, declare_fields, hubspot, salesforce
from tests.unit.sync.test_engine import SF_LEAD


def test_an_ambiguous_pair_read_by_every_cycle_is_two_records(tmp_path: Path) -> None:
    upgrade(sqlite_url(tmp_path / "baton.db"))
    db = make_engine(sqlite_url(tmp_path / "baton.db"))
    clock = FakeClock()
    world = World(clock, hubspot(clock), salesforce(clock), db)
    declare_fields(world.hs, world.sf, Mapper(load_default()))
    world.sf.put("Lead", {**SF_LEAD})
    world.sf.put("Lead", {**SF_LEAD, "FirstName": "Anne"})
    world.sf.put("Lead", {**SF_LEAD, "Email": "bob@example.com", "FirstName": "Bob"})
    totals = Totals(world.engine(lookback=timedelta(hours=1)))

    sightings = 0
    for _ in range(3):
        clock.advance(10)
        sightings += totals.poll().ambiguous

    assert sightings == 6  # the pair, in each of the three cycles' lookback
    assert ambiguous_counts(db) == (1, 2)  # one person, two records
    console = Console(record=True, width=200)
    console.print(moved_table(totals, ambiguous_counts(db)))
    text = console.export_text()
    # counted in people, as `baton status` counts them, the records named beside
    (line,) = [row for row in text.splitlines() if "ambiguous" in row]
    assert "people left unlinked by an ambiguous match (2 records)" in line
    assert line.strip("│ ").split()[-1] == "1"
    db.dispose()


def test_refused_writes_are_named_as_attempts_not_as_dead_letters(tmp_path: Path) -> None:
    """A record refused on two cycles is two refused writes and one dead letter: the summary
    says which it counts, so it does not contradict `baton status`."""
    totals = Totals(engine=None)  # type: ignore[arg-type]  # only the counts are used
    totals.add(CycleReport(dead_letters=2, conflicts=1))
    console = Console(record=True, width=200)
    console.print(moved_table(totals))
    text = console.export_text()
    assert "write attempts refused (a record's dead letter holds all of its)" in text
    assert "conflicts (a field edited on both sides)" in text


def test_refused_records_are_counted_once_from_the_store(tmp_path: Path) -> None:
    """Three refused attempts on two records: the summary says 2, as 'baton errors list' does."""
    upgrade(sqlite_url(tmp_path / "baton.db"))
    db = make_engine(sqlite_url(tmp_path / "baton.db"))
    lead = RecordKey(System.SALESFORCE, "Lead", "00Q1")
    contact = RecordKey(System.HUBSPOT, "contacts", "7")
    with db.begin() as conn:
        for key, direction in (
            (lead, Direction.TO_SALESFORCE),
            (lead, Direction.TO_SALESFORCE),  # refused again on the next cycle
            (contact, Direction.TO_HUBSPOT),
        ):
            add_dead_letter(conn, key, direction, {}, "INVALID", "refused")
    totals = Totals(engine=None)  # type: ignore[arg-type]  # only the counts are used
    totals.add(CycleReport(dead_letters=2))
    totals.add(CycleReport(dead_letters=1))
    console = Console(record=True, width=200)
    console.print(moved_table(totals, dead_letters=dead_letter_records(db)))
    text = console.export_text()
    (line,) = [row for row in text.splitlines() if "refused" in row]
    assert "records refused (dead letters)" in line
    assert line.strip("│ ").split()[-1] == "2"
    db.dispose()


def test_a_demo_stopped_during_its_backfill_does_not_say_nothing_needed_moving() -> None:
    """Ctrl-C before the backfill wrote anything: the summary says the stop cut it short, not
    that both systems already agreed."""
    totals = Totals(engine=None)  # type: ignore[arg-type]  # only the counts are used
    totals.add(CycleReport(read={"salesforce:Lead": 10_000}))
    console = Console(record=True, width=200)
    console.print(moved_table(totals, backfill_stopped=True))
    text = console.export_text()
    assert "nothing moved before the stop, during the backfill" in text
    assert "nothing needed moving" not in text
    console.print(moved_table(totals))  # a demo that ran to its end with nothing to move
    assert "nothing needed moving" in console.export_text()


def test_updates_are_labelled_as_updates_of_any_field_not_as_verdicts() -> None:
    """A contact update may carry a verdict, a stage, Baton's id or a rep's edit of a name:
    the count is of records updated, and the label says so (the funnel moves have a line of
    their own)."""
    totals = Totals(engine=None)  # type: ignore[arg-type]  # only the counts are used
    totals.add(
        CycleReport(updated={"hubspot:contacts": 3, "salesforce:Lead": 2, "salesforce:Contact": 1})
    )
    console = Console(record=True, width=200)
    console.print(moved_table(totals))
    rows = {
        line.strip("│ ").split("│")[1].strip(): line.strip("│ ").split("│")[-1].strip()
        for line in console.export_text().splitlines()
        if line.startswith("│")
    }
    assert rows == {
        "contacts updated (a stage, a verdict or any synced field)": "3",
        "Contacts updated (a stage, marketing's score or any synced field)": "1",
        "Leads updated (a stage, marketing's score or any synced field)": "2",
    }


class _StopAt:
    """A backfill's progress that asks for a stop when `label`'s listing starts, as Ctrl-C
    does between pages."""

    def __init__(self, label: str) -> None:
        self.label = label

    def start(self, label: str, total: int | None, done: int = 0) -> None:
        if label == self.label:
            raise StopRequested("stopped on request (Ctrl-C or SIGTERM)")

    def advance(self, label: str, count: int) -> None:
        pass

    def finish(self, label: str) -> None:
        pass


def test_what_a_backfill_wrote_before_a_stop_is_in_the_summary(tmp_path: Path) -> None:
    """Ctrl-C during the demo's backfill: the writes its committed pages made are counted, as
    its run in the store counts them, not lost with the report the stop never returned."""
    upgrade(sqlite_url(tmp_path / "baton.db"))
    db = make_engine(sqlite_url(tmp_path / "baton.db"))
    clock = FakeClock()
    world = World(clock, hubspot(clock), salesforce(clock), db)
    declare_fields(world.hs, world.sf, Mapper(load_default()))
    world.hs.put("contacts", {"email": "ann@example.com", "firstname": "Ann", "lastname": "Lee"})
    world.sf.put("Lead", {**SF_LEAD})  # the pair's first sync writes both records
    clock.advance(10)
    totals = Totals(world.engine(), db)

    with pytest.raises(StopRequested):
        totals.backfill(progress=_StopAt("create:hubspot"))  # the pass after the listings

    assert totals.updated == {"hubspot:contacts": 1, "salesforce:Lead": 1}
    assert totals.read == {"hubspot:contacts": 1, "salesforce:Lead": 1}
    console = Console(record=True, width=200)
    console.print(moved_table(totals, backfill_stopped=True))
    text = console.export_text()
    assert "contacts updated (a stage, a verdict or any synced field)" in text
    assert "nothing" not in text
    db.dispose()
