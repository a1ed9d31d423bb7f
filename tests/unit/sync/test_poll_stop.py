"""A stop (SIGTERM) ends a poll at the record in hand: what it read is committed, its run is
interrupted, and the next poll goes on from there."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from connectors.errors import RateLimited
from connectors.priority import retries_end_on
from connectors.records import RecordKey, System
from mappings.apply import LEAD
from sync.engine import BackfillStopped, PollStopped
from sync.report import CycleReport
from sync.store.checkpoints import get_checkpoint
from sync.store.links import find_link
from sync.store.runs import RunKind, RunStatus, recent_runs
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import SF_LEAD


def test_a_stop_ends_a_poll_after_the_page_in_hand_and_the_next_poll_goes_on(
    world: World,
) -> None:
    ids = [
        world.sf.put("Lead", {**SF_LEAD, "Email": f"p{n}@example.com", "LastName": f"P{n}"})
        for n in range(3)
    ]
    world.clock.advance(10)
    engine = world.engine(page_size=1)
    # Asked before the Lead read, before its first record, then before its second: the stop
    # comes once the first page was synced.
    asked = iter([False, False, True])

    with pytest.raises(PollStopped, match="salesforce:Lead"):
        engine.poll(stopping=lambda: next(asked, True))

    [run] = [r for r in recent_runs(world.read()) if r.kind is RunKind.DAEMON]
    assert run.status is RunStatus.INTERRUPTED
    linked = [find_link(world.read(), RecordKey(System.SALESFORCE, LEAD, i)) for i in ids]
    assert [link is not None for link in linked] == [True, False, False]
    checkpoint = get_checkpoint(world.read(), System.SALESFORCE, LEAD)
    assert checkpoint is not None
    assert checkpoint.last_id == ids[0]  # the page committed, not the window's bound
    assert world.hs.writes == 0  # nothing of the later passes began

    world.clock.advance(10)
    report = engine.poll()

    assert report.read["salesforce:Lead"] >= 2
    assert all(find_link(world.read(), RecordKey(System.SALESFORCE, LEAD, i)) for i in ids)
    runs = [r.status for r in recent_runs(world.read()) if r.kind is RunKind.DAEMON]
    assert sorted(runs) == sorted([RunStatus.INTERRUPTED, RunStatus.SUCCEEDED])


def _burst_limited(signal: Callable[[], object]) -> Callable[..., None]:
    """A HubSpot call answered with its ten-second 429, `signal()` first: the SIGTERM comes
    while HubSpot refuses calls."""

    def refused(*_args: object) -> None:
        signal()
        raise RateLimited(
            "ten-second burst limit reached", system=System.HUBSPOT, operation="read", status=429
        )

    return refused


@pytest.mark.parametrize("stop", [True, False])
def test_a_read_refused_for_now_after_a_stop_interrupts_the_poll_rather_than_fail_it(
    world: World, monkeypatch: pytest.MonkeyPatch, stop: bool
) -> None:
    """The daemon's stop ends a call's retries rather than wait out the vendor's back-off
    (`connectors.priority.retries_end_on`): the refusal that ends the poll then is the stop,
    its run interrupted as any stopped poll's, what it committed kept. Without a stop the
    refusal, retried in full, is the poll's failure."""
    world.sf.put("Lead", {**SF_LEAD, "Email": "p@example.com"})
    world.clock.advance(10)
    engine = world.engine()
    asked: list[bool] = []
    monkeypatch.setattr(world.hs, "read_changes", _burst_limited(lambda: asked.append(stop)))
    so_far = CycleReport()
    with pytest.raises(PollStopped if stop else RateLimited, match="429"):
        engine.poll(stopping=lambda: any(asked), into=so_far)

    [run] = [r for r in recent_runs(world.read()) if r.kind is RunKind.DAEMON]
    assert run.status is (RunStatus.INTERRUPTED if stop else RunStatus.FAILED)
    assert get_checkpoint(world.read(), System.SALESFORCE, LEAD) is not None
    # the caller knows what the committed pages did (the daemon's metrics count it)
    assert so_far.read["salesforce:Lead"] == 1
    assert so_far.counts() == run.counts


@pytest.mark.parametrize("stop", [True, False])
def test_a_listing_refused_for_now_after_a_stop_interrupts_the_backfill_rather_than_fail_it(
    world: World, monkeypatch: pytest.MonkeyPatch, stop: bool
) -> None:
    """`baton backfill` runs inside `retries_end_on(stop)` too: once stopped, a listing the
    vendor refuses for now ends the backfill as stopped (run interrupted, the next backfill
    goes on from its committed pages), not as failed after minutes of back-off."""
    world.sf.put("Lead", {**SF_LEAD, "Email": "p@example.com"})
    engine = world.engine()
    signal = threading.Event()
    monkeypatch.setattr(world.hs, "list_all", _burst_limited(signal.set))
    watched = signal if stop else threading.Event()  # without a stop, nothing cuts it short
    with retries_end_on(watched), pytest.raises(BackfillStopped if stop else RateLimited):
        engine.backfill()

    [run] = [r for r in recent_runs(world.read()) if r.kind is RunKind.BACKFILL]
    assert run.status is (RunStatus.INTERRUPTED if stop else RunStatus.FAILED)
