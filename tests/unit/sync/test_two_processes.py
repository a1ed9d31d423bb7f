"""Two processes syncing one store (the daemon beside a backfill's catch-up, two overlapping
`baton run --once`): a unit whose identities another process settled meanwhile stores
nothing, and its records are read again, so no person is made twice.

Units that write run one at a time on a store (`sync.store.locks.UNIT_RUNS`), so these races
need a process that does not take that lock: one of an earlier version, beside this one during
a rolling upgrade. The check at commit still holds them (`test_two_processes_writes` shows the
lock itself)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import pytest
from sqlalchemy import select

import sync.unit
from connectors.records import RecordKey, System
from sync.engine import SyncEngine
from sync.report import CycleReport
from sync.store.schema import IdentityLink, Person
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import HS_CONTACT, SF_LEAD


def first_held_before_sending(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    first: Callable[[SyncEngine], CycleReport],
    second: Callable[[SyncEngine], CycleReport],
) -> CycleReport:
    """Run `first` on one engine, held after it resolved and planned, while `second` runs
    whole on another engine over the same store, as a process that takes no unit lock; then
    let `first` finish. Its report."""
    go, reached = threading.Event(), threading.Event()
    real_send, real_held = sync.unit.send, sync.unit.held

    def unlocked_second(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "first":
            return real_held(*args, **kwargs)
        return nullcontext()

    def held_send(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "first":
            reached.set()
            assert go.wait(30)
        return real_send(*args, **kwargs)

    monkeypatch.setattr(sync.unit, "send", held_send)
    monkeypatch.setattr(sync.unit, "held", unlocked_second)
    outcome: list[CycleReport | BaseException] = []

    def run_first() -> None:
        try:
            outcome.append(first(world.engine()))
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    thread = threading.Thread(target=run_first, name="first")
    thread.start()
    assert reached.wait(30)
    second(world.engine())
    go.set()
    thread.join(30)
    [result] = outcome
    if isinstance(result, BaseException):
        raise result
    return result


def test_a_person_settled_by_another_process_meanwhile_is_not_made_twice(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    hs_id = world.hs.put("contacts", HS_CONTACT)
    sf_id = world.sf.put("Lead", SF_LEAD)
    world.clock.advance(10)
    contact = RecordKey(System.HUBSPOT, "contacts", hs_id)
    lead = RecordKey(System.SALESFORCE, "Lead", sf_id)

    report = first_held_before_sending(
        world,
        monkeypatch,
        lambda engine: engine.sync_keys([contact], trigger="webhook"),
        lambda engine: engine.sync_keys([lead], trigger="webhook"),
    )

    assert report.retry_later == 1  # nothing of it stored: read again
    conn = world.read()
    [person] = conn.execute(select(Person.baton_id)).scalars().all()
    links = conn.execute(select(IdentityLink.person_id, IdentityLink.record_id)).all()
    assert sorted(links) == sorted([(person, hs_id), (person, sf_id)])
    world.clock.advance(10)
    assert world.engine().poll().ambiguous == 0
