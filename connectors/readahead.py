"""Read ahead: fetch the next pages of a listing in a thread while the caller works on this one.

A backfill alternates between waiting (for the API budget's next permit, for the network) and
computing (mapping, planning, committing). One thread doing both leaves the rate limit unused
while it computes, so a full read under a rate limit runs well below the ceiling. `read_ahead`
keeps up to `depth` pages fetched ahead, so permits are spent while the caller computes. The
thread starts at once, so a caller can start a listing early (the engine starts HubSpot's while
it works through Salesforce).

The producer spends the same shared `ApiBudget` as every other call (it is thread-safe), stops
when the consumer is closed or garbage-collected, and re-raises its error in the consumer at
the point the failed page would have been.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()
_POLL_S = 0.1  # how often a blocked producer checks whether the consumer went away


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Channel:
    """What the producer thread shares with its consumer; the thread never holds the
    consumer itself, so a consumer dropped without `close` is collected and stops it."""

    def __init__(self, depth: int) -> None:
        self.box: queue.Queue[object] = queue.Queue(maxsize=depth)
        self.stop = threading.Event()

    def put(self, item: object) -> bool:
        while not self.stop.is_set():
            try:
                self.box.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False


def _produce(pages: Iterator[object], channel: _Channel) -> None:
    try:
        for page in pages:
            if not channel.put(page):
                return
    except BaseException as exc:  # handed to the consumer, raised there
        channel.put(_Failure(exc))
        return
    channel.put(_DONE)


class ReadAhead(Iterator[T], Generic[T]):
    """`pages`, in order, with up to `depth` of them fetched in advance by a daemon thread
    (started on construction; `depth` 0 reads on demand, in the caller's thread)."""

    def __init__(self, pages: Iterable[T], depth: int, *, name: str = "read-ahead") -> None:
        self._pages = iter(pages)
        self._channel: _Channel | None = None
        self._finished = False
        if depth >= 1:
            self._channel = _Channel(depth)
            threading.Thread(
                target=_produce, args=(self._pages, self._channel), name=name, daemon=True
            ).start()

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        if self._channel is None:
            return next(self._pages)
        item = self._channel.box.get()
        if item is _DONE:
            self.close()
            raise StopIteration
        if isinstance(item, _Failure):
            self.close()
            raise item.error
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the producer (it ends at its next page) and end the iteration."""
        self._finished = True
        if self._channel is not None:
            self._channel.stop.set()

    def __del__(self) -> None:
        if self._channel is not None:
            self._channel.stop.set()


def read_ahead(pages: Iterable[T], depth: int, *, name: str = "read-ahead") -> ReadAhead[T]:
    """`pages`, in order, with up to `depth` of them fetched in advance by a daemon thread."""
    return ReadAhead(pages, depth, name=name)
