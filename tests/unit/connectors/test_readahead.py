"""`read_ahead`: pages in order, fetched ahead in a thread, errors raised where they happened."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing

import pytest

from connectors.errors import TransientError
from connectors.http.budget import ApiBudget, hubspot_spec
from connectors.http.retry import Retrier, RetryPolicy
from connectors.readahead import Spill, read_ahead
from connectors.records import System


def test_given_pages_then_they_come_back_in_order() -> None:
    assert list(read_ahead(iter(range(50)), 3)) == list(range(50))


def test_given_depth_zero_then_pages_are_read_on_demand_only() -> None:
    fetched: list[int] = []

    def pages() -> Iterator[int]:
        for n in range(10):
            fetched.append(n)
            yield n

    stream = read_ahead(pages(), 0)
    assert next(stream) == 0
    assert fetched == [0]


def test_given_a_depth_then_pages_are_fetched_ahead_up_to_it() -> None:
    ahead = threading.Event()
    fetched: list[int] = []

    def pages() -> Iterator[int]:
        for n in range(10):
            fetched.append(n)
            if n == 3:
                ahead.set()
            yield n

    stream = read_ahead(pages(), 2)
    assert next(stream) == 0
    assert ahead.wait(5)  # pages 1 and 2 queued, page 3 fetched and waiting for room
    assert len(fetched) <= 4
    stream.close()


def test_given_a_failing_page_then_the_error_is_raised_after_the_pages_before_it() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("page 3 refused")

    stream = read_ahead(pages(), 4)
    assert [next(stream), next(stream)] == [1, 2]
    with pytest.raises(ValueError, match="page 3 refused"):
        next(stream)


def test_given_the_consumer_stops_then_the_producer_thread_ends() -> None:
    def pages() -> Iterator[int]:
        n = 0
        while True:
            yield n
            n += 1

    before = {t.name for t in threading.enumerate()}
    stream = read_ahead(pages(), 2, name="readahead-under-test")
    next(stream)
    stream.close()
    for thread in threading.enumerate():
        if thread.name == "readahead-under-test" and thread.name not in before:
            thread.join(timeout=5)
            assert not thread.is_alive()


def test_given_a_depth_then_fetching_starts_before_the_first_page_is_asked_for() -> None:
    started = threading.Event()

    def pages() -> Iterator[int]:
        started.set()
        yield from range(3)

    stream = read_ahead(pages(), 2)
    assert started.wait(5)
    assert list(stream) == [0, 1, 2]


def test_given_a_stream_dropped_without_close_then_its_producer_ends() -> None:
    def pages() -> Iterator[int]:
        n = 0
        while True:
            yield n
            n += 1

    stream = read_ahead(pages(), 1, name="readahead-dropped")
    next(stream)
    del stream  # the thread holds only the channel, so the stream is collected
    for thread in threading.enumerate():
        if thread.name == "readahead-dropped":
            thread.join(timeout=5)
            assert not thread.is_alive()


def _spill(limit_bytes: int, encoded: list[int] | None = None) -> Spill[list[int]]:
    def encode(page: list[int]) -> bytes:
        if encoded is not None:
            encoded.append(page[0])
        return json.dumps(page).encode()

    return Spill(encode, lambda data: json.loads(data), limit_bytes)


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, "the producer never got there"
        time.sleep(0.01)


def test_given_a_spill_then_pages_beyond_the_depth_wait_on_disk_in_order() -> None:
    fetched: list[int] = []
    encoded: list[int] = []

    def pages() -> Iterator[list[int]]:
        for n in range(20):
            fetched.append(n)
            yield [n, n]

    stream = read_ahead(pages(), 2, spill=_spill(1 << 20, encoded))
    _wait_until(lambda: len(encoded) == 18)  # all read ahead, with only two pages in memory
    assert encoded == list(range(2, 20))
    assert len(fetched) == 20
    assert list(stream) == [[n, n] for n in range(20)]


def test_given_a_full_spill_then_the_producer_waits_for_the_caller() -> None:
    fetched: list[int] = []

    def pages() -> Iterator[list[int]]:
        for n in range(100):
            fetched.append(n)
            yield [n] * 10

    page_bytes = len(json.dumps([1] * 10))  # pages 1 to 3 take this much each
    stream = read_ahead(pages(), 1, spill=_spill(3 * page_bytes))
    _wait_until(lambda: len(fetched) >= 5)
    time.sleep(0.3)  # time enough to read further, were there room
    assert len(fetched) == 5  # one in memory, three on disk, the fifth waiting for room
    assert [page[0] for page in stream] == list(range(100))  # the file emptied and refilled


def test_given_a_spilled_stream_closed_then_its_file_is_gone_and_the_producer_ends() -> None:
    def pages() -> Iterator[list[int]]:
        n = 0
        while True:
            yield [n]
            n += 1

    stream = read_ahead(pages(), 1, name="readahead-spilled", spill=_spill(1 << 16))
    next(stream)
    stream.close()
    with pytest.raises(StopIteration):
        next(stream)
    for thread in threading.enumerate():
        if thread.name == "readahead-spilled":
            thread.join(timeout=5)
            assert not thread.is_alive()


def test_given_a_failure_after_spilled_pages_then_it_is_raised_after_them() -> None:
    def pages() -> Iterator[list[int]]:
        yield from ([n] for n in range(6))
        raise ValueError("page 7 refused")

    stream = read_ahead(pages(), 1, spill=_spill(1 << 16))
    assert [next(stream) for _ in range(6)] == [[n] for n in range(6)]
    with pytest.raises(ValueError, match="page 7 refused"):
        next(stream)


def test_given_a_caller_keeping_up_with_a_full_spill_then_the_producer_refills_as_it_reads() -> (
    None
):
    """Room on disk is what waits unread: each page read makes room for the next."""
    fetched: list[int] = []

    def pages() -> Iterator[list[int]]:
        for n in range(200):
            fetched.append(n)
            yield [n] * 10

    page_bytes = len(json.dumps([100] * 10))
    stream = read_ahead(pages(), 1, spill=_spill(4 * page_bytes))
    _wait_until(lambda: len(fetched) >= 5)
    for n in range(20):
        assert next(stream)[0] == n
        _wait_until(lambda n=n: len(fetched) >= n + 6)  # the next page went to disk at once
    stream.close()


def test_given_a_disk_that_refuses_then_pages_wait_in_memory_and_none_is_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    disk_full = threading.Event()
    refused: list[int] = []

    def pages() -> Iterator[list[int]]:
        for n in range(30):
            if n == 5:
                assert disk_full.wait(5)  # pages 1 to 4 are on disk by now
            yield [n]

    stream = read_ahead(pages(), 1, spill=_spill(1 << 20))

    def full(fd: int, data: object, offset: int) -> int:
        refused.append(offset)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    disk_full.set()
    assert [next(stream) for _ in range(30)] == [[n] for n in range(30)]
    assert refused  # page 5 was refused by the disk, then waited for memory


def test_given_a_page_that_cannot_be_decoded_then_the_stream_ends_there() -> None:
    produced: list[int] = []

    def pages() -> Iterator[list[int]]:
        for n in range(6):
            produced.append(n)
            yield [n]

    def decode(data: bytes) -> list[int]:
        page: list[int] = json.loads(data)
        if page == [2]:
            raise ValueError("page 2 is corrupt")
        return page

    stream = read_ahead(pages(), 1, spill=Spill(_spill(1 << 16).encode, decode, 1 << 16))
    _wait_until(lambda: len(produced) == 6)  # page 0 in memory, pages 1 to 5 on disk
    assert [next(stream), next(stream)] == [[0], [1]]
    with pytest.raises(ValueError, match="corrupt"):
        next(stream)
    with pytest.raises(StopIteration):
        next(stream)  # never page 3 as if page 2 had been there


def _join(name: str) -> None:
    for thread in threading.enumerate():
        if thread.name == name:
            thread.join(timeout=5)
            assert not thread.is_alive(), f"{name} still running"


def test_given_a_call_in_flight_when_the_stream_closes_then_its_failure_is_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stopped backfill: the vendor goes away (the demo's sandbox stops) under the call the
    read-ahead had in flight. Nobody wants that page now: no retry, no warning."""
    in_flight, released = threading.Event(), threading.Event()
    calls: list[int] = []

    def call() -> list[int]:
        calls.append(1)
        in_flight.set()
        assert released.wait(5)
        raise TransientError("connection failed", system=System.HUBSPOT, operation="list")

    retrier = Retrier(system=System.HUBSPOT, policy=RetryPolicy(base_wait_s=0.01))

    def pages() -> Iterator[list[int]]:
        while True:
            yield retrier.call(call, operation="contacts.list")

    stream = read_ahead(pages(), 1, name="readahead-in-flight")
    assert in_flight.wait(5)
    with caplog.at_level(logging.WARNING):
        stream.close()
        released.set()
        _join("readahead-in-flight")
    assert calls == [1]
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]


def test_given_a_retry_wait_when_the_stream_closes_then_the_producer_ends_at_once() -> None:
    """A producer sleeping before its next attempt (a long Retry-After) ends when the stream
    closes, rather than waking up to call a vendor for a page nobody will read."""
    waiting, calls = threading.Event(), [0]

    def call() -> list[int]:
        calls[0] += 1
        waiting.set()
        raise TransientError("busy", system=System.HUBSPOT, operation="list", retry_after=30.0)

    retrier = Retrier(system=System.HUBSPOT)

    def pages() -> Iterator[list[int]]:
        yield retrier.call(call, operation="contacts.list")

    stream = read_ahead(pages(), 1, name="readahead-retry-wait")
    assert waiting.wait(5)
    began = time.monotonic()
    stream.close()
    _join("readahead-retry-wait")
    assert time.monotonic() - began < 5
    assert calls == [1]


def test_given_a_budget_wait_when_the_stream_closes_then_no_call_is_made() -> None:
    """A producer waiting for a free permit gives up when the stream closes: the permit and
    the call are for a page nobody will read."""
    budget = ApiBudget(hubspot_spec())
    budget.penalize("default", 60.0)  # a 429: no permit for a minute
    calls: list[int] = []

    def pages() -> Iterator[int]:
        budget.spend()
        calls.append(1)
        yield 1

    stream = read_ahead(pages(), 1, name="readahead-budget-wait")
    time.sleep(0.2)
    began = time.monotonic()
    stream.close()
    _join("readahead-budget-wait")
    assert time.monotonic() - began < 5
    assert calls == []


def test_given_a_read_ahead_within_a_read_ahead_when_the_outer_closes_then_the_inner_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The backfill reads HubSpot's listing ahead, and the listing reads its own pages ahead
    (`connectors.hubspot.reader`): closing the outer stream gives up the inner's call too."""
    in_flight, released = threading.Event(), threading.Event()
    calls: list[int] = []

    def call() -> list[int]:
        calls.append(1)
        in_flight.set()
        assert released.wait(5)
        raise TransientError("connection failed", system=System.HUBSPOT, operation="list")

    retrier = Retrier(system=System.HUBSPOT, policy=RetryPolicy(base_wait_s=0.01))

    def listing() -> Iterator[list[int]]:
        while True:
            yield retrier.call(call, operation="contacts.list")

    def pages() -> Iterator[list[int]]:
        with closing(read_ahead(listing(), 2, name="readahead-inner")) as inner:
            yield from inner

    stream = read_ahead(pages(), 1, name="readahead-outer")
    assert in_flight.wait(5)
    with caplog.at_level(logging.WARNING):
        stream.close()
        released.set()
        _join("readahead-outer")
        _join("readahead-inner")
    assert calls == [1]
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]
