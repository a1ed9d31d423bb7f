"""The demo's closing summary counts each ambiguous record once, however many cycles re-read it
(the reports' `ambiguous` counts every sighting)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from rich.console import Console

from baton.cli.demo import Totals, ambiguous_records, dead_letter_records, moved_table
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
    assert ambiguous_records(db) == 2
    console = Console(record=True, width=200)
    console.print(moved_table(totals, ambiguous_records(db)))
    text = console.export_text()
    assert "ambiguous records (not linked)" in text
    (line,) = [row for row in text.splitlines() if "ambiguous" in row]
    assert line.strip("│ ").split()[-1] == "2"
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
