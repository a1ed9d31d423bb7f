"""A vendor whose clock is behind Baton's: the windows are on the vendor's own stamps, so each
system's bound must be on its clock, or an edit stamped just after a poll falls below the next
window's start (checkpoint at Baton's now, less a lookback shorter than the skew)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from connectors.records import System
from sync.store.checkpoints import get_checkpoint
from tests.unit.sync.conftest import World
from tests.unit.sync.test_engine import pair, settle

BEHIND = timedelta(seconds=-300)  # past lookback + settle (122 s by default)


def test_an_edit_right_after_a_poll_on_a_clock_behind_ours_is_read_by_the_next_poll(
    world: World,
) -> None:
    world.hs.skew = BEHIND
    hs_id, sf_id = pair(world)
    engine = world.engine()
    settle(world, engine)
    world.hs.put("contacts", {"jobtitle": "CEO"}, id=hs_id)  # stamped 300 s before our now
    world.clock.advance(10)
    report = engine.poll()
    assert world.sf.get("Lead", sf_id)["Title"] == "CEO"
    assert report.updated == {"salesforce:Lead": 1}
    checkpoint = get_checkpoint(world.read(), System.HUBSPOT, "contacts")
    assert checkpoint is not None
    assert checkpoint.cursor is not None
    assert checkpoint.cursor <= world.clock() + BEHIND  # never ahead of HubSpot's clock


def test_a_clock_learned_during_the_first_read_caps_its_checkpoint(world: World) -> None:
    """A new process knows no clock before its first response: the bound is set on ours, and
    the checkpoint stops at the vendor's now as the read's responses told it."""
    world.hs.skew = BEHIND
    seen: list[bool] = []
    real = world.hs.read_changes

    def first_read(obj: str, since: object, until: object) -> object:
        seen.append(True)
        return real(obj, since, until)  # type: ignore[arg-type]

    world.hs.read_changes = first_read  # type: ignore[method-assign,assignment]
    real_now = world.hs.vendor_now
    world.hs.vendor_now = lambda: real_now() if seen else None  # type: ignore[method-assign]
    hs_id, sf_id = pair(world)
    engine = world.engine()
    engine.poll()
    world.hs.put("contacts", {"jobtitle": "CEO"}, id=hs_id)
    world.clock.advance(10)
    engine.poll()
    assert world.sf.get("Lead", sf_id)["Title"] == "CEO"


def test_a_skew_past_half_the_lookback_is_logged_once_and_reported(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.sf.skew = timedelta(seconds=90)  # ahead: no edit is lost, but the clock is wrong
    world.hs.skew = timedelta(seconds=-30)  # within half the lookback: not worth a word
    pair(world)
    with caplog.at_level(logging.WARNING, logger="sync.engine"):
        report = world.engine().poll()
    skewed = [r.kv for r in caplog.records if r.getMessage() == "clock skew"]  # type: ignore[attr-defined]
    assert [(kv["system"], kv["clock_offset_s"]) for kv in skewed] == [("salesforce", 90.0)]
    assert report.clock_skew == {"salesforce": 90.0}
    assert report.counts()["clock_skew_s.salesforce"] == 90


def test_no_skew_keeps_the_bound_at_our_now_less_settle(world: World) -> None:
    pair(world)
    started = world.clock()
    report = world.engine().poll()
    assert report.clock_skew == {}
    checkpoint = get_checkpoint(world.read(), System.HUBSPOT, "contacts")
    assert checkpoint is not None
    assert checkpoint.upper_bound == started - timedelta(seconds=2)
