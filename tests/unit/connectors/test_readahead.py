"""`read_ahead`: pages in order, fetched ahead in a thread, errors raised where they happened."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from connectors.readahead import Spill, read_ahead


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
    _wait_until(lambda: len(fetched) == 20)  # all read ahead, with only two pages in memory
    assert encoded == list(range(2, 20))
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
