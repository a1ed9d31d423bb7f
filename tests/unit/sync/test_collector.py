"""The collector rules the engine runs under: paused per unit, the old heap frozen per cycle."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.records import SourceRecord
from sync import collector
from tests.unit.sync.conftest import World


def test_a_cycle_leaves_the_objects_alive_at_its_start_out_of_collections_until_it_ends() -> None:
    assert gc.get_freeze_count() == 0
    with collector.cycle_heap_only():
        frozen = gc.get_freeze_count()
        assert frozen > 0
        made_during = [[n] for n in range(10)]  # lists: objects the collector tracks
        assert all(gc.is_tracked(made) for made in made_during)
        assert gc.get_freeze_count() == frozen  # what the cycle makes is collected as usual
    assert gc.get_freeze_count() == 0


def test_overlapping_cycles_unfreeze_only_when_the_last_one_ends() -> None:
    inner_started, outer_may_end = threading.Event(), threading.Event()
    seen: list[int] = []

    def other_cycle() -> None:
        with collector.cycle_heap_only():
            inner_started.set()
            outer_may_end.wait(5)
        seen.append(gc.get_freeze_count())

    with collector.cycle_heap_only():
        thread = threading.Thread(target=other_cycle)
        thread.start()
        assert inner_started.wait(5)
    assert gc.get_freeze_count() > 0  # the other cycle is still running
    outer_may_end.set()
    thread.join(5)
    assert seen == [0]
    assert gc.get_freeze_count() == 0


def test_a_failing_cycle_still_hands_the_heap_back() -> None:
    with pytest.raises(RuntimeError), collector.cycle_heap_only():
        raise RuntimeError("the cycle failed")
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("enabled", [True, False])
def test_a_paused_unit_restores_the_collector_as_it_found_it(enabled: bool) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with collector.paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_an_engine_cycle_reads_with_the_old_heap_frozen_and_hands_it_back(world: World) -> None:
    world.hs.put("contacts", {"email": "ann@example.com", "lifecyclestage": "lead"})
    frozen_while_reading: list[int] = []
    read_changes = world.hs.read_changes

    def reading(*args: Any, **kwargs: Any) -> Iterator[SourceRecord]:
        frozen_while_reading.append(gc.get_freeze_count())
        return read_changes(*args, **kwargs)

    world.hs.read_changes = reading  # type: ignore[method-assign]
    world.engine().poll()
    assert frozen_while_reading
    assert all(count > 0 for count in frozen_while_reading)
    assert gc.get_freeze_count() == 0


class _Node:
    other: object = None


def test_garbage_frozen_with_a_cycle_is_collected_once_the_interval_has_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1_000_000.0]
    monkeypatch.setattr(collector, "monotonic", lambda: now[0])
    monkeypatch.setattr(collector, "_collected_at", now[0])
    was = gc.isenabled()
    gc.disable()  # only the collections the cycles run
    try:
        first, second = _Node(), _Node()
        first.other, second.other = second, first  # a cycle: reference counting cannot free it
        gone = weakref.ref(first)
        del first, second
        with collector.cycle_heap_only():
            pass  # the garbage was frozen with the cycle's heap, then handed back
        assert gone() is not None  # too soon: no full collection yet
        now[0] += collector.FULL_COLLECTION_EVERY
        with collector.cycle_heap_only():
            pass
        assert gone() is None
        assert gc.get_freeze_count() == 0
    finally:
        if was:
            gc.enable()
