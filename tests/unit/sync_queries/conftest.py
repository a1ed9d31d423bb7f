"""A migrated SQLite store, and a hand-built funnel whose every figure is worked out by hand.

The funnel (all times UTC, 2026; the scorecard period is March, as of 31 March 12:00):

    alice  subscriber 02-20 09:00, inquiry 02-25 09:00, mql 03-02 09:00, sal 03-02 09:30,
           sql 03-04 09:00, opportunity 03-07 09:00, customer 03-22 09:00
    bob    mql 03-03 09:00, sal 03-04 15:00 (30 h later), recycled 03-05 09:00 (bad_timing)
    carol  mql 03-04 09:00, never touched
    dave   inquiry 03-01 10:00, mql 03-05 09:00, disqualified 03-05 09:02 (competitor)
    erin   mql 03-06 09:00, sql 03-06 12:00 (skipped sal)
    frank  inquiry 03-02 10:00
    gina   mql 03-31 10:00 (2 h before the report: SLA still running)
    hank   mql 02-27 09:00, disqualified 03-10 09:00 (competitor)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine

from connectors.records import RecordKey, System
from sync.store import make_engine, sqlite_url, upgrade
from sync.store.links import LinkReason, link
from sync.store.people import add_person
from sync.store.schema import Base
from sync.store.transitions import record_transition
from tests.conftest import scratch_database


def at(text: str) -> datetime:
    """'03-02 09:30' -> 2026-03-02T09:30Z."""
    day, time = text.split()
    month, dom = day.split("-")
    hour, minute = time.split(":")
    return datetime(2026, int(month), int(dom), int(hour), int(minute), tzinfo=UTC)


FUNNEL: dict[str, list[tuple[str, str, str | None]]] = {
    "alice": [
        ("subscriber", "02-20 09:00", None),
        ("inquiry", "02-25 09:00", None),
        ("mql", "03-02 09:00", None),
        ("sal", "03-02 09:30", None),
        ("sql", "03-04 09:00", None),
        ("opportunity", "03-07 09:00", None),
        ("customer", "03-22 09:00", None),
    ],
    "bob": [
        ("mql", "03-03 09:00", None),
        ("sal", "03-04 15:00", None),
        ("recycled", "03-05 09:00", "bad_timing"),
    ],
    "carol": [("mql", "03-04 09:00", None)],
    "dave": [
        ("inquiry", "03-01 10:00", None),
        ("mql", "03-05 09:00", None),
        ("disqualified", "03-05 09:02", "competitor"),
    ],
    "erin": [("mql", "03-06 09:00", None), ("sql", "03-06 12:00", None)],
    "frank": [("inquiry", "03-02 10:00", None)],
    "gina": [("mql", "03-31 10:00", None)],
    "hank": [("mql", "02-27 09:00", None), ("disqualified", "03-10 09:00", "competitor")],
}
SALES = {"sal", "sql", "opportunity", "customer", "recycled", "disqualified", "lost"}

SINCE = at("03-01 00:00")
UNTIL = datetime(2026, 4, 1, tzinfo=UTC)
AS_OF = at("03-31 12:00")


@pytest.fixture(scope="session")
def postgres_store() -> Iterator[Engine]:
    """A migrated PostgreSQL database for this session, dropped at the end."""
    with scratch_database("baton_queries") as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty migrated store: a fresh SQLite file, or the session's PostgreSQL emptied."""
    if request.param == "postgresql":
        engine: Engine = request.getfixturevalue("postgres_store")
        tables = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
        with engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        yield engine
        return
    engine = make_engine(sqlite_url(tmp_path / "baton.db"))
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def hand_off(conn: Connection, pid: uuid.UUID, name: str) -> None:
    """Link the person to a Salesforce Lead: handed off to sales, so the SLA judges them."""
    link(conn, pid, RecordKey(System.SALESFORCE, "Lead", f"00Q-{name}"), LinkReason.CREATED)


def seed_funnel(engine: Engine) -> dict[str, uuid.UUID]:
    people: dict[str, uuid.UUID] = {}
    with engine.begin() as conn:
        for name, entries in FUNNEL.items():
            pid = add_person(conn, f"{name}@example.com", at=at("02-01 00:00"))
            people[name] = pid
            hand_off(conn, pid, name)
            for stage, when, reason in entries:
                system = System.SALESFORCE if stage in SALES else System.HUBSPOT
                record_transition(conn, pid, stage, at(when), system, reason, at=at(when))
    return people


@pytest.fixture
def funnel(store: Engine) -> dict[str, uuid.UUID]:
    return seed_funnel(store)
