"""Read ahead: fetch the next pages of a listing in a thread while the caller works on this one.

A backfill alternates between waiting (for the API budget's next permit, for the network) and
computing (mapping, planning, committing). One thread doing both leaves the rate limit unused
while it computes, so a full read under a rate limit runs well below the ceiling. `read_ahead`
keeps up to `depth` pages fetched ahead, so permits are spent while the caller computes.

The producer spends the same shared `ApiBudget` as every other call (it is thread-safe), stops
when the consumer is closed or garbage-collected, and re-raises its error in the consumer at
the point the failed page would have been.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()
_POLL_S = 0.1  # how often a blocked producer checks whether the consumer went away


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(pages: Iterable[T], depth: int, *, name: str = "read-ahead") -> Iterator[T]:
    """`pages`, in order, with up to `depth` of them fetched in advance by a daemon thread."""
    if depth < 1:
        yield from pages
        return
    box: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put(page):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failure(exc))
            return
        put(_DONE)

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = box.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
