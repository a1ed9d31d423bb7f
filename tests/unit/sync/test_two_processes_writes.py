"""Two processes on one store, both writing for one person (the daemon beside a backfill, a
`baton errors retry` or a second daemon): a unit whose writes are out but not yet committed
leaves no stale snapshot for the other process to plan against, so an edit made after its
write is carried, not overwritten as if the write's source had changed again."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

import sync.unit
from connectors.records import RecordKey, System
from sync.engine import SyncEngine
from sync.report import CycleReport
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import pair, settle

#: How long the second process is given to run while the first is held (it finishes in far
#: less unless it waits for the first).
SECOND_GETS_S = 2.0


def second_beside_first_held_after_sending(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    first: Callable[[SyncEngine], CycleReport],
    meanwhile: Callable[[], None],
    second: Callable[[SyncEngine], CycleReport],
) -> tuple[CycleReport, CycleReport]:
    """Run `first` on one engine, held once its writes are sent (before its commit); then
    `meanwhile()` (users' edits), then `second` on another engine over the same store, given
    `SECOND_GETS_S` to run before `first` goes on. Both reports."""
    go, reached = threading.Event(), threading.Event()
    real_send = sync.unit.send

    def held_send(*args: Any, **kwargs: Any) -> Any:
        sent = real_send(*args, **kwargs)
        if threading.current_thread().name == "first":
            reached.set()
            assert go.wait(30)
        return sent

    monkeypatch.setattr(sync.unit, "send", held_send)
    outcomes: dict[str, CycleReport | BaseException] = {}

    def runner(name: str, work: Callable[[SyncEngine], CycleReport]) -> threading.Thread:
        def run() -> None:
            try:
                outcomes[name] = work(world.engine())
            except BaseException as exc:  # handed to the test's thread
                outcomes[name] = exc

        thread = threading.Thread(target=run, name=name)
        thread.start()
        return thread

    one = runner("first", first)
    assert reached.wait(30)
    meanwhile()
    two = runner("second", second)
    two.join(SECOND_GETS_S)
    go.set()
    one.join(30)
    two.join(30)
    reports = []
    for name in ("first", "second"):
        result = outcomes[name]
        if isinstance(result, BaseException):
            raise result
        reports.append(result)
    return reports[0], reports[1]


def test_an_edit_made_after_another_process_wrote_is_carried_not_overwritten(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rep retitles the Lead; process 1 carries it to HubSpot, its commit still to come.
    Marketing then retitles the contact, a rep edits the Lead's phone, and process 2 syncs the
    contact. Planned against the snapshots process 1 has not replaced yet, the title had
    changed on both sides: a conflict the Lead won (its record edited last), marketing's title
    overwritten. Process 1's write is the last sync: only marketing's edit is a change."""
    hs_id, sf_id = pair(world)
    settle(world, world.engine())
    contact = RecordKey(System.HUBSPOT, "contacts", hs_id)
    lead = RecordKey(System.SALESFORCE, "Lead", sf_id)
    world.sf.put("Lead", {"Title": "CEO"}, id=sf_id)
    world.clock.advance(5)

    def meanwhile() -> None:
        assert world.hs.get("contacts", hs_id)["jobtitle"] == "CEO"  # process 1's write
        world.hs.put("contacts", {"jobtitle": "VP Sales"}, id=hs_id)
        world.clock.advance(5)
        world.sf.put("Lead", {"Phone": "+33 1 23 45 67 89"}, id=sf_id)
        world.clock.advance(5)

    _, report = second_beside_first_held_after_sending(
        world,
        monkeypatch,
        lambda engine: engine.sync_keys([lead], trigger="retry"),
        meanwhile,
        lambda engine: engine.sync_keys([contact], trigger="webhook"),
    )

    assert report.conflicts == 0
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "VP Sales"
    assert world.sf.get("Lead", sf_id)["Title"] == "VP Sales"
    settle(world, world.engine())
    assert world.hs.get("contacts", hs_id)["jobtitle"] == "VP Sales"
    assert world.sf.get("Lead", sf_id)["Title"] == "VP Sales"
