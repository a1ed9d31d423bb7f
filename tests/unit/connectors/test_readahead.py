"""`read_ahead`: pages in order, fetched ahead in a thread, errors raised where they happened."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from connectors.readahead import read_ahead


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
