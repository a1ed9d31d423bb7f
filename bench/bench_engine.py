"""The sync engine's own throughput: map, identity, plan and store, with no HTTP at all.

Both systems are in-memory fake connectors (the ones the engine's unit tests use), which hand
out each record as built when it was stored (a real connector's parsing is timed by the
connector benches), so what is timed is the engine itself: mapping records, resolving
identities, planning per person, classifying outcomes and committing links, snapshots,
decisions and checkpoints to a SQLite store file. Three phases over BENCH_ENGINE_PEOPLE
people (default 10,000: one HubSpot contact each, half of them also a Salesforce Lead, so
15,000 records):

- backfill: first sight of everyone (identity by email, first-sync plans, cross-id writes);
- steady poll: every record re-read, no mapped field changed (the daemon's common case: a
  field Baton does not sync was edited, or the echo of its own write): each record's source
  digest is compared with its snapshot's, and only its snapshot's time moves;
- full poll: every record re-read with a mapped field changed to a value both sides now
  share (both teams typed the same job title): every record is mapped, planned against its
  twin and its snapshot stored, with nothing to write (the full path without the connectors);
- change poll: 10 % of HubSpot contacts edited, the edits carried to Salesforce;
- reread poll: a day of lookback re-reads every record at the modification time already seen
  (the lookback overlap, a replayed page): the fast path, which maps nothing.

Records per second are records read / wall time on one thread (the engine is single-threaded,
so that is per core). Each poll phase runs BENCH_ENGINE_ROUNDS times (default 3; a shared
machine varies by a fifth from one poll to the next): its figure is the median, with the
slowest and fastest rounds beside it. The 20,000 records/s target is set on the median of the
steady poll and of the full poll.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from bench.report import Target, emit, peak_rss_mb
from mappings.apply import Mapper
from mappings.loader import load_default
from sync.engine import SyncEngine, SyncPolicy
from sync.report import CycleReport
from sync.store.engine import make_engine, sqlite_url
from sync.store.migrate import upgrade
from tests.unit.sync.fakes import (
    FakeClock,
    FakeConnector,
    declare_fields,
    hubspot,
    salesforce,
)

STATUSES = ("Open - Not Contacted", "Working - Contacted")


def _seed(hs: FakeConnector, sf: FakeConnector, people: int) -> None:
    for n in range(people):
        email = f"person{n}@example.com"
        hs.put(
            "contacts",
            {
                "email": email,
                "firstname": f"First{n}",
                "lastname": f"Last{n}",
                "company": f"Company {n % 97}",
                "jobtitle": "Engineer",
                "phone": f"+1 415 555 {n % 10000:04d}",
                "hubspotscore": str(n % 100),
                "lifecyclestage": "lead",
            },
        )
        if n % 2 == 0:
            sf.put(
                "Lead",
                {
                    "Email": email,
                    "FirstName": f"First{n}",
                    "LastName": f"Last{n}",
                    "Company": f"Company {n % 97}",
                    "Status": STATUSES[n % 4 // 2],
                    "IsConverted": False,
                },
            )


def _timed(clock: FakeClock, step: Callable[[], CycleReport]) -> tuple[CycleReport, float]:
    clock.advance(60)
    started = time.perf_counter()
    report = step()
    return report, time.perf_counter() - started


def _rate(report: CycleReport, seconds: float) -> float:
    return round(sum(report.read.values()) / seconds, 1)


class _Phase:
    """One poll phase's rounds: records/s of each, and every round's writes."""

    def __init__(self) -> None:
        self.rates: list[float] = []
        self.writes = 0

    def add(self, timed: tuple[CycleReport, float]) -> None:
        report, seconds = timed
        self.rates.append(_rate(report, seconds))
        self.writes += report.writes

    def figures(self, name: str) -> dict[str, float | int]:
        return {
            f"{name}_records_per_s": round(statistics.median(self.rates), 1),
            f"{name}_records_per_s_slowest": min(self.rates),
            f"{name}_records_per_s_fastest": max(self.rates),
            f"{name}_writes": self.writes,
        }


def run() -> bool:
    people = int(os.environ.get("BENCH_ENGINE_PEOPLE", "10000"))
    rounds = max(1, int(os.environ.get("BENCH_ENGINE_ROUNDS", "3")))
    clock = FakeClock()
    hs, sf = hubspot(clock), salesforce(clock)
    hs.stamps = True  # HubSpot dates a contact's lifecycle moves itself, as the real one does
    dictionary = load_default()
    declare_fields(hs, sf, Mapper(dictionary))
    _seed(hs, sf, people)
    steady, full, changed, reread = _Phase(), _Phase(), _Phase(), _Phase()
    with tempfile.TemporaryDirectory(prefix="baton-bench-engine-") as folder:
        path = Path(folder) / "baton.db"
        upgrade(sqlite_url(path))
        db = make_engine(sqlite_url(path))
        try:
            engine = SyncEngine(
                hubspot=hs,
                salesforce=sf,
                dictionary=dictionary,
                db=db,
                policy=SyncPolicy(page_size=500, lookback=timedelta(0)),
                now=clock,
            )
            rereader = SyncEngine(
                hubspot=hs,
                salesforce=sf,
                dictionary=dictionary,
                db=db,
                policy=SyncPolicy(page_size=500, lookback=timedelta(days=1)),
                now=clock,
            )
            backfill, backfill_s = _timed(clock, engine.backfill)
            engine.poll()  # the backfill's own echoes, once
            for n in range(rounds):
                clock.advance(60)
                for ident in list(hs.live("contacts")):  # touch every record: all are re-read
                    hs.put("contacts", {}, id=ident)
                for ident in list(sf.live("Lead")):
                    sf.put("Lead", {}, id=ident)
                steady.add(_timed(clock, engine.poll))
                title = f"Principal Engineer {n}"  # a new value each round, on both sides
                for ident in list(hs.live("contacts")):
                    hs.put("contacts", {"jobtitle": title}, id=ident)
                for ident in list(sf.live("Lead")):
                    sf.put("Lead", {"Title": title}, id=ident)
                full.add(_timed(clock, engine.poll))
            for n in range(rounds):
                for m, ident in enumerate(list(hs.live("contacts"))):
                    if m % 10 == 0:
                        hs.put("contacts", {"jobtitle": f"Staff Engineer {n}"}, id=ident)
                changed.add(_timed(clock, engine.poll))
                engine.poll()  # the change poll's echoes, once
            for _ in range(rounds):
                reread.add(_timed(clock, rereader.poll))
        finally:
            db.dispose()

    return emit(
        "engine",
        {
            "people": people,
            "records": people + people // 2 + people % 2,
            "rounds": rounds,
            "backfill_records_per_s": _rate(backfill, backfill_s),
            "backfill_writes": backfill.writes,
            **steady.figures("steady_poll"),
            **full.figures("full_poll"),
            **changed.figures("change_poll"),
            **reread.figures("reread_poll"),
            "peak_rss_mb": round(peak_rss_mb(), 1),
        },
        {
            "steady_poll_records_per_s": Target(20_000),
            "steady_poll_writes": Target(0, at_least=False),
            "full_poll_records_per_s": Target(20_000),
            "full_poll_writes": Target(0, at_least=False),
        },
    )


if __name__ == "__main__":
    run()
